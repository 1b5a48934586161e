import { create } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { GoPeerProcess } from "./go-peer-process.js";
import { buildGoPeer, GO_BUILD_TIMEOUT_MS } from "./go-toolchain.js";
import type { PeerEvent } from "./peer-process.js";
import { nextEvent, TsNode } from "./ts-node.js";

let binary: string;
let scratch: string;
let ts: TsNode | undefined;

beforeAll(async () => {
  binary = await buildGoPeer();
  scratch = await mkdtemp(join(tmpdir(), "peerlink-conformance-"));
}, GO_BUILD_TIMEOUT_MS);
afterEach(async () => {
  await ts?.close();
  ts = undefined;
  await GoPeerProcess.killAll();
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** A TypeScript listener (plain TCP unless `secure`) and a Go dialer with `args`. */
async function goDialsTs(args: string[], options: { secure?: boolean; handshake?: Parameters<TsNode["listen"]>[0]; identity?: Identity } = {}) {
  ts = await TsNode.create(options.secure ?? false, options.identity);
  await ts.listen(options.handshake ?? {});
  const go = GoPeerProcess.start(binary, ["dial", "--addr", `127.0.0.1:${ts.port}`, "--no-ping", ...(options.secure ? ["--tls"] : []), ...args]);
  return { go, inbound: ts.nextInbound() };
}

const remoteGoodbye = (go: GoPeerProcess): Promise<PeerEvent> =>
  go.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "the Goodbye TypeScript sent");

describe("TypeScript reading malformed or unexpected frames from the Go peer (§1)", () => {
  const violations = [
    { what: "an overlong length prefix (80 00)", hex: "8000", code: ErrorCode.MALFORMED_FRAME },
    { what: "a length prefix above 32 bits (ff ff ff ff 10)", hex: "ffffffff10", code: ErrorCode.MALFORMED_FRAME },
    { what: "a length of 1 MiB + 1, before any body byte", hex: "818040", code: ErrorCode.FRAME_TOO_LARGE },
    { what: "an empty Frame (no kind)", hex: "00", code: ErrorCode.PROTOCOL_VIOLATION },
    { what: "a body that is not a protobuf Frame", hex: "030a0501", code: ErrorCode.MALFORMED_FRAME },
    { what: "a second Hello after the handshake", hex: "022200", code: ErrorCode.PROTOCOL_VIOLATION },
  ];
  it.each(violations)("ends the connection with Goodbye{PROTOCOL_VIOLATION} on $what", async ({ hex, code }) => {
    const { go, inbound } = await goDialsTs([]);
    const conn = (await inbound).connection as Connection;
    expect(conn.state).toBe("open");
    await go.waitFor((e) => e.event === "open", "Go open");
    go.command({ cmd: "raw", hex });
    expect(await remoteGoodbye(go)).toMatchObject({ reason: "PROTOCOL_VIOLATION" });
    const info = await conn.closed;
    expect(info).toMatchObject({ reason: "protocol_violation", initiator: "local" });
    expect(info.error?.code).toBe(code);
    await go.waitFor((e) => e.event === "closed", "Go closed");
  });

  it("ignores a frame kind it does not know (field 10) and stays open", async () => {
    const { go, inbound } = await goDialsTs([]);
    const conn = (await inbound).connection as Connection;
    await go.waitFor((e) => e.event === "open", "Go open");
    go.command({ cmd: "raw", hex: "025200" });
    go.command({ cmd: "ping" });
    expect(await go.waitFor((e) => e.event === "pong", "pong after the unknown frame")).toMatchObject({ nonce: 1 });
    expect(conn.state).toBe("open");
  });

  it("reads a Goodbye with a reason value it does not know as NORMAL (§8)", async () => {
    const { go, inbound } = await goDialsTs([]);
    const conn = (await inbound).connection as Connection;
    await go.waitFor((e) => e.event === "open", "Go open");
    const goodbye = nextEvent(conn, "goodbye");
    go.command({ cmd: "raw", hex: "0432020863" }); // Frame{goodbye: {reason: 99}}
    expect((await goodbye).reason).toBe("normal");
    expect(await conn.closed).toMatchObject({ reason: "normal", initiator: "remote" });
  });

  it("drops Data on an alias the Go peer never declared, counts it and stays open", async () => {
    const { go, inbound } = await goDialsTs([]);
    const conn = (await inbound).connection as Connection;
    await go.waitFor((e) => e.event === "open", "Go open");
    // Frame{data: {protocol: 99, payload: "x"}}
    go.command({ cmd: "raw", hex: "070a050863120178" });
    go.command({ cmd: "ping" });
    await go.waitFor((e) => e.event === "pong", "pong after the stray Data");
    expect(conn.stats.unknownProtocolFrames).toBe(1);
    expect(conn.state).toBe("open");
  });
});

describe("early data from the Go dialer over plain TCP (§3.5)", () => {
  it("is a protocol violation when the Hello did not announce it", async () => {
    const { go, inbound } = await goDialsTs(["--early", "/echo=sneaky", "--early-unannounced"]);
    expect((await inbound).error?.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    expect(await go.waitFor((e) => e.event === "goodbye", "Go goodbye")).toMatchObject({ from: "remote", reason: "PROTOCOL_VIOLATION" });
  });

  it("is a protocol violation beyond the 64 KiB the listener holds", async () => {
    const big = "x".repeat(40_000);
    const { go, inbound } = await goDialsTs(["--early", `/echo=${big}`, "--early", `/echo=${big}`]);
    expect((await inbound).error?.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    expect(await go.waitFor((e) => e.event === "goodbye", "Go goodbye")).toMatchObject({ from: "remote", reason: "PROTOCOL_VIOLATION" });
  });
});

describe("handshake checks against the Go peer (§3.3, §3.4)", () => {
  it.each([
    { binding: "TLS", secure: true },
    { binding: "plain TCP", secure: false },
  ])("rejects the other transport's channel binding over $binding with AUTHENTICATION_FAILED", async ({ secure }) => {
    const { go, inbound } = await goDialsTs(["--wrong-binding"], { secure });
    expect((await inbound).error?.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(await remoteGoodbye(go)).toMatchObject({ reason: "AUTHENTICATION_FAILED" });
  });

  it.each([
    { binding: "TLS", secure: true },
    { binding: "plain TCP", secure: false },
  ])("refuses a Go peer claiming another node's peer id over $binding with AUTHENTICATION_FAILED", async ({ secure }) => {
    const victim = Identity.generate().peerId.toString();
    const { go, inbound } = await goDialsTs(["--claim-peer-id", victim], { secure });
    expect((await inbound).error?.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(await remoteGoodbye(go)).toMatchObject({ reason: "AUTHENTICATION_FAILED" });
  });

  it("refuses a Go peer that only speaks wire version 2 with INCOMPATIBLE_VERSION", async () => {
    const { go, inbound } = await goDialsTs(["--min-version", "2", "--max-version", "2"]);
    expect((await inbound).error?.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
    // Both sides detect it; each reports the Goodbye it sent or got.
    expect(await go.waitFor((e) => e.event === "goodbye", "Go goodbye")).toMatchObject({ reason: "INCOMPATIBLE_VERSION" });
  });

  it("agrees on version 1 with a Go peer that speaks versions 1 to 3", async () => {
    const { go, inbound } = await goDialsTs(["--min-version", "1", "--max-version", "3"]);
    expect((await inbound).connection?.protocolVersion).toBe(1);
    expect(await go.waitFor((e) => e.event === "open", "Go open")).toMatchObject({ version: 1 });
  });

  it("refuses a Go peer that requires a capability TypeScript lacks", async () => {
    const { go, inbound } = await goDialsTs(["--capability", "test.go-only@1!"]);
    expect((await inbound).error?.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
    expect(await go.waitFor((e) => e.event === "goodbye", "Go goodbye")).toMatchObject({ reason: "INCOMPATIBLE_VERSION" });
  });

  it("is refused by the Go peer when TypeScript requires a capability Go lacks", async () => {
    const { go, inbound } = await goDialsTs([], { handshake: { capabilities: [{ name: "test.ts-only", version: 1, required: true }] } });
    expect((await inbound).error?.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
    expect(await go.waitFor((e) => e.event === "handshake-failed", "Go failure")).toMatchObject({ code: "PROTOCOL_MISMATCH" });
  });

  it("agrees on the same capabilities and protocol versions as the Go peer", async () => {
    const { go, inbound } = await goDialsTs(
      ["--capability", "test.shared@3", "--capability", "test.go-only@1", "--protocol", "/chat@1,2,3", "--protocol", "/echo@5"],
      {
        handshake: {
          capabilities: [{ name: "test.shared", version: 2 }, { name: "test.ts-only", version: 1 }],
          protocols: [{ name: "/chat", versions: [2, 4], alias: 2 }, { name: "/echo", versions: [1], alias: 1 }],
        },
      },
    );
    const conn = (await inbound).connection as Connection;
    const open = await go.waitFor((e) => e.event === "open", "Go open");
    expect(conn.capabilities).toEqual([{ name: "test.shared", version: 2 }]);
    expect(open["capabilities"]).toEqual([{ name: "test.shared", version: 2 }]);
    expect(conn.protocols.map((p) => [p.name, p.version])).toEqual([["/chat", 2]]);
    expect((open["protocols"] as { name: string; version: number }[]).map((p) => [p.name, p.version])).toEqual([["/chat", 2]]);
  });

  it("detects SELF_CONNECTION when the Go peer uses the TypeScript node's own key file", async () => {
    const identity = Identity.generate();
    const keyFile = join(scratch, "self.key");
    await identity.save(keyFile);
    const { go, inbound } = await goDialsTs(["--key", keyFile], { identity });
    expect((await inbound).error?.code).toBe(ErrorCode.SELF_CONNECTION);
    expect(await go.waitFor((e) => e.event === "handshake-failed", "Go failure")).toMatchObject({ code: "SELF_CONNECTION" });
  });
});

describe("large frames and bandwidth probes between TypeScript and Go", () => {
  it.each([
    { binding: "TLS", secure: true },
    { binding: "plain TCP", secure: false },
  ])("echoes a message just under the 1 MiB frame limit over $binding", async ({ secure }) => {
    const { go, inbound } = await goDialsTs([], { secure });
    const conn = (await inbound).connection as Connection;
    await go.waitFor((e) => e.event === "open", "Go open");
    const payload = new Uint8Array(1_048_576 - 16);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const echoed = nextEvent(conn, "message");
    await conn.send("/echo", payload);
    const message = await echoed;
    expect(message.data.length).toBe(payload.length);
    expect(Buffer.from(message.data).equals(Buffer.from(payload))).toBe(true);
  });

  it("gets a BandwidthReport from the Go peer for a probe burst (§6)", async () => {
    const { go, inbound } = await goDialsTs([]);
    const conn = (await inbound).connection as Connection;
    await go.waitFor((e) => e.event === "open", "Go open");
    const report = nextEvent(conn, "control", (f) => f.kind.case === "bandwidthReport");
    for (let index = 0; index < 4; index++) {
      conn.sendControl(
        create(FrameSchema, { kind: { case: "bandwidthProbe", value: { probeId: 5, index, count: 4, padding: new Uint8Array(1000) } } }),
      );
    }
    const frame = await report;
    expect(frame.kind.case === "bandwidthReport" && frame.kind.value).toMatchObject({ probeId: 5, framesReceived: 4 });
    const bytes = frame.kind.case === "bandwidthReport" ? frame.kind.value.bytesReceived : 0;
    expect(bytes).toBeGreaterThan(4 * 1000);
  });
});
