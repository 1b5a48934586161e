/**
 * The pre-authentication frame limit in the connection core (issue 11, defect 8), without sockets:
 * until the peer is authenticated frames are bounded by MAX_PREAUTH_FRAME_BYTES, and the decoder's
 * buffer grows with the bytes received, not with the declared length.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { MAX_PREAUTH_FRAME_BYTES } from "../../src/handshake/defaults.js";
import { Identity } from "../../src/identity/identity.js";
import { DisconnectReason } from "../../src/reasons.js";
import { encodeDataFrame } from "../../src/wire/frame-encoder.js";
import { createFrameDecoder } from "../../src/wire/frame-decoder.js";
import { corePair, eventsOf, type CoreSide } from "./core-pair.js";

const alice = Identity.generate();
const bob = Identity.generate();
const chat = { name: "/chat", versions: [1], alias: 5 };
const exporter = new Uint8Array(randomBytes(32));

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** The peer's Goodbye reasons found in what `side` wrote (parsed with a decoder). */
function goodbyesWritten(side: CoreSide): string[] {
  const decoder = createFrameDecoder();
  const reasons: string[] = [];
  for (const a of side.actions) {
    if (a.type !== "write") continue;
    decoder.push(a.bytes, {
      onData: () => undefined,
      onPing: () => undefined,
      onPong: () => undefined,
      onControl: (frame) => {
        if (frame.kind.case === "goodbye") reasons.push(String(frame.kind.value.reason));
      },
    });
  }
  decoder.dispose();
  return reasons;
}

function pendingPair(engine: "js" | "wasm", secure = false) {
  return corePair(
    { secure, decoderEngine: engine, handshake: { identity: alice, protocols: [chat], earlyData: true } },
    { secure, decoderEngine: engine, handshake: { identity: bob, protocols: [{ ...chat, alias: 9 }] } },
    secure ? { type: "tls", exporter } : { type: "nonces" },
  );
}

describe.each(["js", "wasm"] as const)("a connection core with the %s decoder, before the peer is authenticated", (engine) => {
  it("refuses a length prefix above the pre-authentication limit with FRAME_TOO_LARGE and a PROTOCOL_VIOLATION Goodbye", () => {
    const pair = pendingPair(engine);
    const { listener } = pair;
    const declared = MAX_PREAUTH_FRAME_BYTES + 1; // legal after authentication (1 MiB maximum)
    pair.take(listener, listener.core.receive(Uint8Array.from([...varint(declared), 1, 2, 3]), pair.now));
    expect(listener.core.state).toBe("closing");
    expect(listener.core.closeInfo?.error?.code).toBe(ErrorCode.FRAME_TOO_LARGE);
    expect(listener.core.closeInfo?.error?.message).toContain(`before authentication frames are limited to ${MAX_PREAUTH_FRAME_BYTES} bytes`);
    expect(listener.core.closeInfo?.reason).toBe(DisconnectReason.PROTOCOL_VIOLATION);
    expect(goodbyesWritten(listener)).toHaveLength(1);
    expect(eventsOf(listener, "open")).toEqual([]);
  });

  it("accepts a frame up to the limit, buffering only the bytes received while it trickles in", () => {
    const pair = pendingPair(engine);
    const { listener } = pair;
    const base = listener.core.decoderBufferCapacity;
    pair.take(listener, listener.core.receive(Uint8Array.from(varint(MAX_PREAUTH_FRAME_BYTES)), pair.now));
    for (let i = 0; i < 50; i++) pair.take(listener, listener.core.receive(new Uint8Array(20), pair.now));
    expect(listener.core.state).toBe("handshaking");
    expect(listener.core.decoderBufferCapacity).toBeLessThanOrEqual(Math.max(base, 2 * 1003 + 16));
  });

  it.each([
    ["TLS", true],
    ["plain TCP", false],
  ])("applies the full maximum from the frame right after the one that opened the connection, in the same chunk (%s)", (_name, secure) => {
    const pair = pendingPair(engine, secure);
    const { dialer, listener } = pair;
    // Run the handshake until the dialer is open, holding back what it sends to the listener.
    const toListener: Uint8Array[] = [];
    for (let moved = true; moved && dialer.core.state !== "open"; ) {
      moved = false;
      toListener.push(...dialer.outbox.splice(0));
      for (const bytes of listener.outbox.splice(0)) {
        pair.take(dialer, dialer.core.receive(bytes, pair.now));
        moved = true;
      }
      if (!moved && listener.core.state === "handshaking") {
        for (const bytes of toListener.splice(0, 1)) pair.take(listener, listener.core.receive(bytes, pair.now));
        moved = true;
      }
    }
    expect(dialer.core.state).toBe("open");
    const big = new Uint8Array(300_000).fill(7);
    pair.take(dialer, dialer.core.send("/chat", big, pair.now));
    toListener.push(...dialer.outbox.splice(0));
    const chunk = new Uint8Array(toListener.reduce((n, b) => n + b.length, 0));
    let offset = 0;
    for (const b of toListener) {
      chunk.set(b, offset);
      offset += b.length;
    }
    pair.take(listener, listener.core.receive(chunk, pair.now));
    expect(listener.core.state).toBe("open");
    expect(eventsOf(listener, "message").map((e) => e.message.data.length)).toEqual([300_000]);
  });

  it("grows the buffer with the bytes received for a large declared frame after open, too", () => {
    const pair = pendingPair(engine);
    pair.pump();
    const { listener } = pair;
    expect(listener.core.state).toBe("open");
    const frame = encodeDataFrame(5, new Uint8Array(1_000_000));
    pair.take(listener, listener.core.receive(frame.subarray(0, 2_000), pair.now));
    expect(listener.core.decoderBufferCapacity).toBeLessThanOrEqual(64 * 1024);
    pair.take(listener, listener.core.receive(frame.subarray(2_000), pair.now));
    expect(eventsOf(listener, "message")).toHaveLength(1);
  });
});
