import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode } from "../../src/errors.js";
import { Handshake } from "../../src/handshake/handshake.js";
import { createFrameDecoder } from "../../src/wire/frame-decoder.js";
import { encodeDataFrame, encodeFrame } from "../../src/wire/frame-encoder.js";
import { create } from "@bufbuild/protobuf";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { Identity } from "../../src/identity/identity.js";
import { sessionCacheKey } from "../../src/transport/session-cache.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import { startTcpRelay, startTlsMitmRelay, type Relay } from "../helpers/tls-mitm-relay.js";
import { activeHandles, handlesAfterClose, startNode, trackTimers, type TestNode } from "./nodes.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Everything an inbound connection emitted, recorded from before its handshake. */
interface Recorded {
  readonly events: string[];
  readonly messages: string[];
}

function recorder(): { onEarly: (c: Connection) => void; records: Recorded[] } {
  const records: Recorded[] = [];
  return {
    records,
    onEarly(c) {
      const r: Recorded = { events: [], messages: [] };
      records.push(r);
      c.on("open", () => r.events.push("open"));
      c.on("message", (m) => {
        r.events.push("message");
        r.messages.push(dec(m.data));
      });
      c.on("close", () => r.events.push("close"));
    },
  };
}

const nodes: TestNode[] = [];
const relays: Relay[] = [];
let baseline: Record<string, number>;
let timers: ReturnType<typeof trackTimers>;

beforeEach(() => {
  baseline = activeHandles({ timers: false });
  timers = trackTimers();
});

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  timers.restore();
  expect(await handlesAfterClose({ timers: false })).toEqual(baseline);
  expect(timers.pending()).toEqual([]);
});

async function node(options: Parameters<typeof startNode>[0]): Promise<TestNode> {
  const n = await startNode(options);
  nodes.push(n);
  return n;
}

// With certificate binding (the default) the relay's own certificate key is not the Hello's key; with
// peerlink/1 the two legs' exporters differ, so the signed proofs do not verify.
describe.each([
  ["peerlink/1+cert", true],
  ["peerlink/1", false],
])("a man in the middle that terminates TLS on both sides and forwards the frames (ALPN %s)", (_alpn, certificateBinding) => {
  it("is rejected by both ends with AUTHENTICATION_FAILED and no open event fires", async () => {
    const rec = recorder();
    const b = await node({ tls: true, inbound: "early-listener", onEarly: rec.onEarly });
    const a = await node({ tls: true });
    const relay = await startTlsMitmRelay({
      targetPort: b.port,
      tls: await resolveTls(Identity.generate(), { sessionCache: false, certificateBinding }),
    });
    relays.push(relay);
    const dialerEvents: string[] = [];
    await expect(
      a.dial(relay.port, {}, { onConnection: (c) => c.on("open", () => dialerEvents.push("open")) }),
    ).rejects.toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED, initiator: "local" });
    const inbound = await b.nextInbound();
    expect(inbound.error?.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(dialerEvents).toEqual([]);
    expect(rec.records[0]?.events.includes("open")).toBe(false);
  });

  it("drops the dialer's 0-RTT messages undelivered", async () => {
    const rec = recorder();
    const b = await node({ tls: true, inbound: "early-listener", onEarly: rec.onEarly });
    const a = await node({ tls: true });
    const relay = await startTlsMitmRelay({
      targetPort: b.port,
      tls: await resolveTls(Identity.generate(), { sessionCache: false, certificateBinding }),
    });
    relays.push(relay);
    await expect(
      a.dial(relay.port, { earlyData: true }, { earlyMessages: [{ protocol: "/chat", data: enc("for b only") }] }),
    ).rejects.toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED });
    expect((await b.nextInbound()).error?.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    await vi.waitFor(() => expect(rec.records[0]?.events.at(-1)).toBe("close"));
    expect(rec.records[0]?.messages).toEqual([]);
  });
});

describe("a plain TCP relay that forwards bytes unchanged", () => {
  it("is transparent: the nonce binding proves a live key holder, not the path (use TLS on untrusted networks)", async () => {
    const b = await node({ tls: false });
    const a = await node({ tls: false });
    const relay = await startTcpRelay({ targetPort: b.port });
    relays.push(relay);
    const conn = await a.dial(relay.port, { expectedPeerId: b.identity.peerId });
    expect(conn.remotePeer.equals(b.identity.peerId)).toBe(true);
  });
});

describe.each([
  ["with TLS", true],
  ["over plain TCP", false],
])("0-RTT early data %s", (_name, tls) => {
  it("from a verified dialer is delivered exactly once, in order, after open and before later messages", async () => {
    const rec = recorder();
    const b = await node({ tls, inbound: "early-listener", onEarly: rec.onEarly });
    const a = await node({ tls });
    const conn = await a.dial(
      b.port,
      { earlyData: true },
      { earlyMessages: ["e1", "e2", "e3"].map((t) => ({ protocol: "/chat", data: enc(t) })) },
    );
    await conn.send("/chat", enc("later"));
    await vi.waitFor(() => expect(rec.records[0]?.messages.length).toBe(4));
    expect(rec.records[0]?.messages).toEqual(["e1", "e2", "e3", "later"]);
    expect(rec.records[0]?.events.slice(0, 2)).toEqual(["open", "message"]);
    const inbound = await b.nextInbound();
    expect(inbound.connection?.handshake?.earlyData).toBe(true);
  });

  it("is refused up front when the handshake does not announce early data", async () => {
    const b = await node({ tls });
    const a = await node({ tls });
    await expect(a.dial(b.port, {}, { earlyMessages: [{ protocol: "/chat", data: enc("x") }] })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
    });
  });
});

describe("0-RTT early data from a dialer whose proof does not verify (plain TCP)", () => {
  it("is never delivered and the connection fails with AUTHENTICATION_FAILED", async () => {
    const rec = recorder();
    const b = await node({ tls: false, inbound: "early-listener", onEarly: rec.onEarly });
    const forger = await node({ tls: false });
    const channel = await forger.dialChannel(b.port);
    channel.socket.on("error", () => undefined);
    const hs = new Handshake({
      identity: forger.identity,
      role: "dialer",
      binding: { type: "nonces" },
      earlyData: true,
      protocols: [{ name: "/chat", versions: [1], alias: 1 }],
    });
    for (const a of hs.start()) if (a.type === "send") channel.socket.write(a.bytes);
    channel.socket.write(encodeDataFrame(1, enc("forged 1")));
    channel.socket.write(encodeDataFrame(1, enc("forged 2")));
    // Answer the listener's Hello with an Auth whose proof is garbage.
    const decoder = createFrameDecoder();
    channel.socket.on("data", (chunk: Buffer) => {
      try {
        decoder.push(chunk, {
          onData: () => undefined,
          onPing: () => undefined,
          onPong: () => undefined,
          onControl: (frame) => {
            if (frame.kind.case === "hello") {
              channel.socket.write(encodeFrame(create(FrameSchema, { kind: { case: "auth", value: { proof: new Uint8Array(64) } } })));
            }
          },
        });
      } catch {
        // the listener's Goodbye may be followed by nothing decodable; irrelevant here
      }
    });
    const inbound = await b.nextInbound();
    expect(inbound.error?.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    await vi.waitFor(() => expect(rec.records[0]?.events.at(-1)).toBe("close"));
    expect(rec.records[0]?.messages).toEqual([]);
    expect(rec.records[0]?.events).toEqual(["close"]);
    decoder.dispose();
  });
});

describe("TLS session resumption on redial", () => {
  it("the second connection to the same address resumes the TLS session, the first does not", async () => {
    const b = await node({ tls: true });
    const a = await node({ tls: true });
    const first = await a.dial(b.port);
    expect(first.sessionReused).toBe(false);
    await vi.waitFor(() => expect(a.tls?.sessionCache?.has(sessionCacheKey("127.0.0.1", b.port))).toBe(true));
    await first.close();
    const second = await a.dial(b.port);
    expect(second.sessionReused).toBe(true);
    expect(second.remotePeer.equals(b.identity.peerId)).toBe(true);
    const inbound = [await b.nextInbound(), await b.nextInbound()];
    expect(inbound.map((i) => i.connection?.sessionReused)).toEqual([false, true]);
  });
});
