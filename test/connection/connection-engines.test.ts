import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { JsFrameDecoder } from "../../src/wire/js-frame-decoder.js";
import { WasmFrameDecoder } from "../../src/wire/wasm-frame-decoder.js";
import type { FrameDecoderEngine } from "../../src/wire/frame-sink.js";
import { startNode, type TestNode } from "./nodes.js";

// The connection layer's default frame decoder is "js" (BENCHMARKS.md, "Default engines"); this keeps
// the "wasm" engine covered on real sockets too, with TLS and without, on messages that span many
// socket chunks and messages smaller than a chunk.

/** Sizes that give empty, tiny, prefix-boundary (127/128 B, 16 KiB) and multi-chunk (300 KiB) frames. */
const SIZES = [0, 1, 64, 120, 127, 128, 1000, 16_377, 16_384, 65_536, 300_000, 3];

describe.each([
  ["wasm", true],
  ["wasm", false],
  ["js", true],
  ["js", false],
] as [FrameDecoderEngine, boolean][])("a connection whose frame decoders are %s (TLS %s)", (engine, tls) => {
  let a: TestNode;
  let b: TestNode;

  beforeEach(async () => {
    a = await startNode({ tls, connection: { engine } });
    b = await startNode({ tls, connection: { engine } });
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await a.close();
    await b.close();
  });

  it("delivers every message byte for byte and in order both ways, through that engine", async () => {
    // A socket's reads reach the decoder as owned chunks (pushOwned, which the WASM engine passes to its push).
    const used = vi.spyOn((engine === "wasm" ? WasmFrameDecoder : JsFrameDecoder).prototype, "pushOwned");
    const other = vi.spyOn((engine === "wasm" ? JsFrameDecoder : WasmFrameDecoder).prototype, "pushOwned");
    const otherPush = vi.spyOn((engine === "wasm" ? JsFrameDecoder : WasmFrameDecoder).prototype, "push");
    const out = await a.dial(b.port);
    const inbound = await b.nextInbound();
    if (inbound.connection === undefined) throw inbound.error;
    const inc: Connection = inbound.connection;

    const payloads = SIZES.map((n) => new Uint8Array(randomBytes(n)));
    const collect = (c: Connection) =>
      new Promise<Uint8Array[]>((resolve) => {
        const got: Uint8Array[] = [];
        c.on("message", (m) => {
          got.push(m.data);
          if (got.length === payloads.length) resolve(got);
        });
      });
    const atB = collect(inc);
    const atA = collect(out);
    await Promise.all(payloads.map((p) => out.send("/chat", p)));
    await Promise.all(payloads.map((p) => inc.send("/chat", p)));
    const [gotByB, gotByA] = await Promise.all([atB, atA]);

    for (const got of [gotByB, gotByA]) {
      expect(got.map((m) => m.length)).toEqual(SIZES);
      got.forEach((m, i) => expect(Buffer.from(m).equals(Buffer.from(payloads[i] as Uint8Array))).toBe(true));
    }
    expect(inc.stats.framesIn).toBe(out.stats.framesOut);
    expect(used).toHaveBeenCalled();
    expect(other).not.toHaveBeenCalled();
    expect(otherPush).not.toHaveBeenCalled();
  });
});
