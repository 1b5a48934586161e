/**
 * Inbound rate bounds in the sans-IO connection core, on a manual clock: the meter's buckets, and the core
 * ending a connection whose peer breaks one with Goodbye{RATE_LIMITED, retry_after_ms}, delivering nothing
 * past the bound.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { GoodbyeReason } from "../../generated/peerlink/v1/goodbye_pb.js";
import { ConnectionCore } from "../../src/connection/connection-core.js";
import { DEFAULT_INBOUND_RATE_LIMITS, InboundRateMeter, type InboundRateLimits } from "../../src/connection/inbound-rate.js";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { DisconnectReason } from "../../src/reasons.js";
import { encodePingFrame } from "../../src/wire/frame-encoder.js";
import { prefixWithLength } from "../../src/handshake/frame-bytes.js";
import { corePair, eventsOf, type CorePair, type CoreSide } from "./core-pair.js";

const alice = Identity.generate();
const bob = Identity.generate();
const chat = { name: "/chat", versions: [1], alias: 5 };

const LIMITS: InboundRateLimits = {
  messagesPerSecond: 10,
  messageBurst: 20,
  bytesPerSecond: 10_000,
  byteBurst: 50_000,
  pingsPerSecond: 2,
  pingBurst: 5,
  retryAfterMs: 45_000,
};

function frameBytes(init: Parameters<typeof create<typeof FrameSchema>>[1]): Uint8Array {
  return prefixWithLength(toBinary(FrameSchema, create(FrameSchema, init)));
}

/** Dialer unbounded, listener bounded by `limits`; both open. */
function openPair(limits: InboundRateLimits = LIMITS): CorePair {
  const pair = corePair(
    { secure: false, handshake: { identity: alice, protocols: [chat] } },
    { secure: false, handshake: { identity: bob, protocols: [{ ...chat, alias: 9 }] }, inboundRate: limits },
    { type: "nonces" },
  );
  pair.pump();
  expect(pair.listener.core.state).toBe("open");
  return pair;
}

function send(pair: CorePair, count: number, bytes = 1): void {
  for (let i = 0; i < count; i++) pair.take(pair.dialer, pair.dialer.core.send("/chat", new Uint8Array(bytes), pair.now));
}

/** The Goodbye frames `side` wrote, decoded. */
function goodbyesOf(side: CoreSide): { reason: GoodbyeReason; detail: string; retryAfterMs: number }[] {
  const out = [];
  for (const action of side.actions) {
    if (action.type !== "write") continue;
    // Every frame the core writes is one length-prefixed frame per write action.
    let i = 0;
    while ((action.bytes[i]! & 0x80) !== 0) i++;
    const frame = fromBinary(FrameSchema, action.bytes.subarray(i + 1));
    if (frame.kind.case === "goodbye") out.push(frame.kind.value);
  }
  return out;
}

describe("InboundRateMeter", () => {
  it("allows a burst, then the sustained rate, and names the bound broken", () => {
    const meter = new InboundRateMeter(LIMITS, 0);
    for (let i = 0; i < 20; i++) expect(meter.message(0)).toBeUndefined();
    expect(meter.message(0)).toMatchObject({ kind: "messages", perSecond: 10, burst: 20, retryAfterMs: 45_000 });
    // Tripped stays tripped: the connection is ending.
    expect(meter.message(10_000)).toMatchObject({ kind: "messages" });
  });

  it("refills at the sustained rate: a peer at exactly that rate is never limited", () => {
    const meter = new InboundRateMeter(LIMITS, 0);
    for (let i = 0; i < 20; i++) meter.message(0);
    // 10 per second = one per 100 ms, for a simulated minute.
    for (let t = 100; t <= 60_000; t += 100) expect(meter.message(t)).toBeUndefined();
    expect(meter.tripped).toBeUndefined();
  });

  it("keeps the three buckets apart", () => {
    const meter = new InboundRateMeter(LIMITS, 0);
    for (let i = 0; i < 5; i++) expect(meter.ping(0)).toBeUndefined();
    expect(meter.ping(0)).toMatchObject({ kind: "pings", perSecond: 2, burst: 5 });
    const other = new InboundRateMeter(LIMITS, 0);
    expect(other.bytes(50_000, 0)).toBeUndefined();
    expect(other.bytes(1, 0)).toMatchObject({ kind: "bytes" });
  });

  it("judges a read larger than the whole byte burst against a full bucket", () => {
    const meter = new InboundRateMeter({ ...LIMITS, byteBurst: 1_000 }, 0);
    expect(meter.bytes(65_536, 0)).toBeUndefined();
    expect(meter.bytes(65_536, 0)).toMatchObject({ kind: "bytes" });
  });

  it("refuses bad limits with INVALID_ARGUMENT naming every bad field", () => {
    expect(() => new InboundRateMeter({ ...LIMITS, messageBurst: 0, pingsPerSecond: -1, retryAfterMs: 1.5 }, 0)).toThrow(
      /messageBurst.*pingsPerSecond|pingsPerSecond.*messageBurst/,
    );
    expect(() => new ConnectionCore({ direction: "inbound", secure: false, handshake: { identity: bob }, now: 0, inboundRate: { ...LIMITS, byteBurst: Number.NaN } })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });

  it("has defaults far above the test suite's fastest honest streams", () => {
    expect(DEFAULT_INBOUND_RATE_LIMITS.messageBurst).toBeGreaterThanOrEqual(100_000);
    expect(DEFAULT_INBOUND_RATE_LIMITS.byteBurst).toBeGreaterThanOrEqual(256 * 1_048_576);
    // The interop suite exchanges 1,000 back-to-back pings each way.
    expect(DEFAULT_INBOUND_RATE_LIMITS.pingBurst).toBeGreaterThanOrEqual(10 * 1_000);
    expect(DEFAULT_INBOUND_RATE_LIMITS.retryAfterMs).toBe(60_000);
  });
});

describe("a ConnectionCore with inbound rate bounds", () => {
  it("delivers the burst, then ends with Goodbye{RATE_LIMITED, retry_after_ms} and delivers nothing more", () => {
    const pair = openPair();
    send(pair, 25);
    pair.pump();
    expect(eventsOf(pair.listener, "message")).toHaveLength(20);
    const [goodbye] = goodbyesOf(pair.listener);
    expect(goodbye).toMatchObject({ reason: GoodbyeReason.RATE_LIMITED, retryAfterMs: 45_000 });
    expect(goodbye!.detail).toBe("inbound messages above 10/s (burst 20)");
    const info = pair.listener.core.closeInfo!;
    expect(info).toMatchObject({ reason: DisconnectReason.RATE_LIMITED, initiator: "local" });
    expect(info.error?.code).toBe(ErrorCode.RATE_LIMITED);
    // The peer reads the reason and its retry-after.
    expect(pair.dialer.core.remoteGoodbye).toEqual({ reason: DisconnectReason.RATE_LIMITED, detail: goodbye!.detail, retryAfterMs: 45_000 });
    expect(pair.dialer.core.closeInfo?.error?.code).toBe(ErrorCode.RATE_LIMITED);
  });

  it("counts a CapabilityUpdate as the work it causes: one message per 16 list entries on both sides, plus one", () => {
    // Every update renegotiates both sides' whole lists: counted as one message, tiny updates against lists
    // filled to the limits kept a core busy within the default bound.
    const pair = openPair({ ...LIMITS, messagesPerSecond: 1_000, messageBurst: 2_000 });
    const toggle = (i: number): void =>
      pair.take(pair.dialer, pair.dialer.core.updateCapabilities(i % 2 === 0 ? { addCapabilities: [{ name: "t", version: 1 }] } : { removeCapabilities: ["t"] }, pair.now));
    // Small lists (a protocol of one version each side, at most one capability): 1 message each.
    for (let i = 0; i < 1_000; i++) toggle(i);
    pair.pump();
    expect(pair.listener.core.state).toBe("open");
    // 100 protocols of 16 versions on the dialer's side: 1 + 1,601 / 16 = 101 messages per update after this one.
    pair.now += 10_000; // the bucket refills
    const versions = Array.from({ length: 16 }, (_, v) => v + 1);
    pair.take(pair.dialer, pair.dialer.core.updateCapabilities({ addProtocols: Array.from({ length: 100 }, (_, i) => ({ name: `/p${i}`, versions })) }, pair.now));
    for (let i = 0; i < 25; i++) toggle(i);
    pair.pump();
    expect(pair.listener.core.closeInfo?.error?.code).toBe(ErrorCode.RATE_LIMITED);
    expect(goodbyesOf(pair.listener)[0]?.detail).toBe("inbound messages above 1000/s (burst 2000)");
  });

  it("counts a frame but Data, Ping and Pong as one message per 4 items its encoding held (what decoding it cost), plus one", () => {
    // The generated decoder makes an object of every entry: a frame of half a million empty ones cost ~0.6 s, and
    // frames within every bound of the walk still cost up to tens of ms.
    const pair = openPair({ ...LIMITS, messagesPerSecond: 10, messageBurst: 100 });
    const peerAddresses = (peers: number, addrs: number): Uint8Array =>
      frameBytes({
        kind: {
          case: "peerAddresses",
          value: { peers: Array.from({ length: peers }, () => ({ peerId: new Uint8Array(32), addrs: Array.from({ length: addrs }, () => "127.0.0.1:1") })), request: false },
        },
      });
    // 8 peers of 3 addresses: the kind, and each peer's entry, id and addresses: 1 + 8 × 5 = 41 items, 1 + 41 / 4 = 11
    // messages; nine of them fit a burst of 100 (99).
    for (let i = 0; i < 9; i++) pair.take(pair.listener, pair.listener.core.receive(peerAddresses(8, 3), pair.now));
    expect(pair.listener.core.state).toBe("open");
    // An empty PeerAddresses (1 item: 1 message) fits the one left; 8 peers without addresses (17 items: 5) do not.
    pair.take(pair.listener, pair.listener.core.receive(peerAddresses(0, 0), pair.now));
    expect(pair.listener.core.state).toBe("open");
    pair.take(pair.listener, pair.listener.core.receive(peerAddresses(8, 0), pair.now));
    expect(pair.listener.core.closeInfo?.error?.code).toBe(ErrorCode.RATE_LIMITED);
  });

  it("counts a Data or Pong the generic decoder read (an unusual encoding) by what decoding it cost", () => {
    // Frame{data{protocol: 5, payload: "x"}} with 400 unknown fields after it: 1 + 403 / 4 = 101 messages, where
    // the plain encoding (the fast path's) is 1. Padded so, 20,000 a second would have cost a core.
    const pair = openPair({ ...LIMITS, messagesPerSecond: 10, messageBurst: 200 });
    const data = [0x0a, 0x05, 0x08, 0x05, 0x12, 0x01, 0x78];
    const padded = prefixWithLength(Uint8Array.from([...data, ...Array.from({ length: 400 }, () => [0xa0, 0x01, 0x01]).flat()]));
    for (let i = 0; i < 150; i++) pair.take(pair.listener, pair.listener.core.receive(prefixWithLength(Uint8Array.from(data)), pair.now));
    expect(pair.listener.core.state).toBe("open");
    pair.take(pair.listener, pair.listener.core.receive(padded, pair.now));
    expect(pair.listener.core.closeInfo?.error?.code).toBe(ErrorCode.RATE_LIMITED);
    expect(eventsOf(pair.listener, "message")).toHaveLength(150);
  });

  it("never limits a peer that keeps to the sustained rate on the clock", () => {
    const pair = openPair();
    for (let second = 0; second < 30; second++) {
      send(pair, 10);
      pair.pump();
      pair.now += 1_000;
    }
    expect(eventsOf(pair.listener, "message")).toHaveLength(300);
    expect(pair.listener.core.state).toBe("open");
  });

  it("counts Pings apart from messages, and answers no Ping past the bound", () => {
    const pair = openPair();
    for (let i = 0; i < 8; i++) pair.take(pair.dialer, pair.dialer.core.sendPing(i, 0, pair.now));
    pair.pump();
    expect(eventsOf(pair.listener, "ping")).toHaveLength(5);
    expect(eventsOf(pair.dialer, "pong")).toHaveLength(5);
    expect(goodbyesOf(pair.listener)[0]).toMatchObject({ reason: GoodbyeReason.RATE_LIMITED, detail: "inbound pings above 2/s (burst 5)" });
  });

  it("counts a Pong as a message: it costs no write", () => {
    const pair = openPair();
    // The listener pings 30 times; the dialer's 30 Pongs come back past the message burst of 20.
    for (let i = 0; i < 30; i++) pair.take(pair.listener, pair.listener.core.sendPing(i, 0, pair.now));
    pair.pump();
    expect(eventsOf(pair.listener, "pong")).toHaveLength(20);
    expect(goodbyesOf(pair.listener)[0]).toMatchObject({ reason: GoodbyeReason.RATE_LIMITED, detail: "inbound messages above 10/s (burst 20)" });
  });

  it("meters bytes as they are read, before decoding", () => {
    const pair = openPair();
    send(pair, 6, 10_000);
    pair.pump();
    expect(eventsOf(pair.listener, "message").length).toBeLessThan(6);
    expect(goodbyesOf(pair.listener)[0]).toMatchObject({ reason: GoodbyeReason.RATE_LIMITED, detail: "inbound bytes above 10000 bytes/s (burst 50000 bytes)" });
  });

  it("does not meter an exempt connection", () => {
    const pair = openPair();
    pair.listener.core.exemptFromInboundRate();
    send(pair, 200);
    for (let i = 0; i < 50; i++) pair.take(pair.dialer, pair.dialer.core.sendPing(i, 0, pair.now));
    pair.pump();
    expect(eventsOf(pair.listener, "message")).toHaveLength(200);
    expect(pair.listener.core.state).toBe("open");
  });

  it("is unbounded without the option (a bare connection)", () => {
    const pair = corePair(
      { secure: false, handshake: { identity: alice, protocols: [chat] } },
      { secure: false, handshake: { identity: bob, protocols: [{ ...chat, alias: 9 }] } },
      { type: "nonces" },
    );
    pair.pump();
    send(pair, 1_000);
    pair.take(pair.dialer, [{ type: "write", bytes: encodePingFrame(1, 0) }]);
    pair.pump();
    expect(eventsOf(pair.listener, "message")).toHaveLength(1_000);
    expect(pair.listener.core.state).toBe("open");
  });
});
