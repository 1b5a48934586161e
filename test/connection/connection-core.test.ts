import { create, toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { ConnectionCore, controlFrame, recycleActions } from "../../src/connection/connection-core.js";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { prefixWithLength } from "../../src/handshake/frame-bytes.js";
import { encodeGoodbye } from "../../src/handshake/handshake.js";
import { encodePingFrame } from "../../src/wire/frame-encoder.js";
import { corePair, eventsOf, transitionsOf, type CorePair } from "./core-pair.js";

const alice = Identity.generate();
const bob = Identity.generate();
const chat = { name: "/chat", versions: [1], alias: 5 };
const exporter = new Uint8Array(randomBytes(32));
const bindings = [
  ["TLS", { type: "tls", exporter } as const, true],
  ["plain TCP", { type: "nonces" } as const, false],
] as const;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function openPair(binding: (typeof bindings)[number][1] = { type: "nonces" }, secure = false, extra: { dialer?: object; listener?: object } = {}): CorePair {
  const pair = corePair(
    { secure, handshake: { identity: alice, protocols: [chat], ...extra.dialer } },
    { secure, handshake: { identity: bob, protocols: [{ ...chat, alias: 9 }], ...extra.listener } },
    binding,
  );
  pair.pump();
  return pair;
}

function frameBytes(init: Parameters<typeof create<typeof FrameSchema>>[1]): Uint8Array {
  return prefixWithLength(toBinary(FrameSchema, create(FrameSchema, init)));
}

describe.each(bindings)("two cores over %s", (_name, binding, secure) => {
  it("walk connecting → securing → handshaking → open with named transitions", () => {
    const { dialer, listener } = openPair(binding, secure);
    const expected = [
      "connecting->securing:transport-connected",
      "securing->handshaking:transport-secured",
      "handshaking->open:handshake-succeeded",
    ];
    expect(transitionsOf(dialer)).toEqual(expected);
    expect(transitionsOf(listener)).toEqual(expected);
    expect(eventsOf(dialer, "open")[0]?.result.remotePeerId.equals(bob.peerId)).toBe(true);
    expect(dialer.core.state).toBe("open");
    expect(dialer.core.nextDeadline()).toBeUndefined();
  });

  it("keep a result with the handshake's values: the open event's object, its key the peer's, the same array on every read", () => {
    const { dialer, listener } = openPair(binding, secure);
    const result = dialer.core.result!;
    expect(eventsOf(dialer, "open")[0]?.result).toBe(result);
    expect(result.remotePublicKey).toEqual(bob.publicKey);
    expect(result.remotePublicKey).toBeInstanceOf(Uint8Array);
    expect(result.remotePublicKey).toBe(result.remotePublicKey);
    expect(listener.core.result!.remotePublicKey).toEqual(alice.publicKey);
    expect([result.remotePeerId.toString(), result.version, result.binding, result.earlyData]).toEqual([bob.peerId.toString(), 1, binding.type, false]);
    expect(result.protocols.map((p) => [p.name, p.localAlias, p.remoteAlias])).toEqual([["/chat", 5, 9]]);
  });

  it("deliver messages both ways under the protocol's name", () => {
    const pair = openPair(binding, secure);
    pair.take(pair.dialer, pair.dialer.core.send("/chat", enc("hi bob"), pair.now));
    pair.take(pair.listener, pair.listener.core.send("/chat", enc("hi alice"), pair.now));
    pair.pump();
    expect(eventsOf(pair.listener, "message").map((e) => [e.message.protocol, dec(e.message.data)])).toEqual([["/chat", "hi bob"]]);
    expect(eventsOf(pair.dialer, "message").map((e) => [e.message.protocol, dec(e.message.data)])).toEqual([["/chat", "hi alice"]]);
  });
});

describe("counters", () => {
  it("count bytes and frames both ways and the last send/receive times", () => {
    const pair = openPair();
    const before = pair.dialer.core.stats;
    expect(before.framesOut).toBe(2); // Hello + Auth
    expect(before.framesIn).toBe(2);
    expect(before.openedAt).toBe(1_000);
    pair.now = 1_500;
    const actions = pair.dialer.core.send("/chat", enc("12345"), pair.now);
    pair.take(pair.dialer, actions);
    const written = actions.reduce((n, a) => n + (a.type === "write" ? a.bytes.length : 0), 0);
    pair.now = 1_600;
    pair.pump();
    const d = pair.dialer.core.stats;
    const l = pair.listener.core.stats;
    expect(d.framesOut).toBe(3);
    expect(d.bytesOut).toBe(before.bytesOut + written);
    expect(d.lastSentAt).toBe(1_500);
    expect(l.framesIn).toBe(3);
    expect(l.bytesIn).toBe(d.bytesOut);
    expect(l.lastReceivedAt).toBe(1_600);
  });

  it("can be read into a reused object that then equals the stats snapshot", () => {
    const pair = openPair();
    const into = { ...pair.dialer.core.stats };
    pair.now = 1_700;
    pair.take(pair.dialer, pair.dialer.core.send("/chat", enc("abc"), pair.now));
    pair.pump();
    expect(pair.dialer.core.readStats(into)).toBe(into);
    expect(into).toEqual(pair.dialer.core.stats);
    expect(into.framesOut).toBe(3);
    expect(into.lastSentAt).toBe(1_700);
  });
});

describe("keepalive frames", () => {
  it("a Ping is answered with a Pong echoing nonce and timestamp, and the pinger sees a pong event", () => {
    const pair = openPair();
    pair.take(pair.dialer, pair.dialer.core.sendPing(77, 123_456, pair.now));
    pair.pump();
    expect(eventsOf(pair.listener, "ping")).toEqual([{ type: "ping", nonce: 77, timestampUs: 123_456 }]);
    expect(eventsOf(pair.dialer, "pong")).toEqual([{ type: "pong", nonce: 77, timestampUs: 123_456 }]);
  });

  it("a Ping during the handshake is a protocol violation", () => {
    const pair = corePair({ secure: false, handshake: { identity: alice } }, { secure: false, handshake: { identity: bob } }, { type: "nonces" });
    pair.take(pair.listener, pair.listener.core.receive(encodePingFrame(1, 2), pair.now));
    expect(pair.listener.core.closeInfo?.error?.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    expect(pair.listener.core.state).toBe("closing");
  });

  it("sendPing before open throws CONNECTION_CLOSED", () => {
    const pair = corePair({ secure: false, handshake: { identity: alice } }, { secure: false, handshake: { identity: bob } }, { type: "nonces" });
    expect(() => pair.dialer.core.sendPing(1, 1, pair.now)).toThrow(expect.objectContaining({ code: ErrorCode.CONNECTION_CLOSED }));
  });
});

describe("control frames for maintenance", () => {
  it("BandwidthProbe, BandwidthReport and CapabilityUpdate reach the peer as control events", () => {
    const pair = openPair();
    pair.take(pair.dialer, pair.dialer.core.sendControl(controlFrame({ kind: { case: "bandwidthProbe", value: { probeId: 1, index: 0, count: 1 } } }), pair.now));
    pair.take(pair.dialer, pair.dialer.core.sendControl(controlFrame({ kind: { case: "bandwidthReport", value: { probeId: 1, framesReceived: 1 } } }), pair.now));
    pair.take(pair.dialer, pair.dialer.core.sendControl(controlFrame({ kind: { case: "capabilityUpdate", value: { removed: ["x"] } } }), pair.now));
    pair.pump();
    expect(eventsOf(pair.listener, "control").map((e) => e.frame.kind.case)).toEqual(["bandwidthProbe", "bandwidthReport", "capabilityUpdate"]);
  });

  it("sendControl refuses frame kinds the core owns", () => {
    const pair = openPair();
    expect(() => pair.dialer.core.sendControl(controlFrame({ kind: { case: "goodbye", value: {} } }), pair.now)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });

  it("a frame of a kind from a later version is ignored once open", () => {
    const pair = openPair();
    // Frame field 12 (unknown here), length-delimited, 1 byte.
    pair.take(pair.listener, pair.listener.core.receive(Uint8Array.of(3, 0x62, 1, 0), pair.now));
    expect(pair.listener.core.state).toBe("open");
    expect(pair.listener.core.stats.framesIn).toBe(3);
  });

  it("an empty frame once open is a protocol violation", () => {
    const pair = openPair();
    pair.take(pair.listener, pair.listener.core.receive(Uint8Array.of(0), pair.now));
    expect(pair.listener.core.closeInfo).toMatchObject({ reason: "protocol_violation", initiator: "local" });
  });

  it("a second Hello once open is a protocol violation answered with Goodbye", () => {
    const pair = openPair();
    pair.take(pair.listener, pair.listener.core.receive(frameBytes({ kind: { case: "hello", value: {} } }), pair.now));
    expect(pair.listener.core.closeInfo?.error?.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    pair.pump();
    expect(pair.dialer.core.remoteGoodbye?.reason).toBe("protocol_violation");
  });
});

describe("sending", () => {
  it("rejects a protocol that was not agreed with UNKNOWN_PROTOCOL", () => {
    const pair = openPair();
    expect(() => pair.dialer.core.send("/nope", enc("x"), pair.now)).toThrow(expect.objectContaining({ code: ErrorCode.UNKNOWN_PROTOCOL }));
  });

  it("rejects sends before open (no early data) and after close with CONNECTION_CLOSED", () => {
    const pair = corePair({ secure: false, handshake: { identity: alice, protocols: [chat] } }, { secure: false, handshake: { identity: bob } }, { type: "nonces" });
    expect(pair.dialer.core.canSend).toBe(false);
    expect(() => pair.dialer.core.send("/chat", enc("x"), pair.now)).toThrow(expect.objectContaining({ code: ErrorCode.CONNECTION_CLOSED }));
    const open = openPair();
    open.take(open.dialer, open.dialer.core.close("normal", {}, open.now));
    expect(() => open.dialer.core.send("/chat", enc("x"), open.now)).toThrow(expect.objectContaining({ code: ErrorCode.CONNECTION_CLOSED }));
  });

  it("rejects a message larger than the maximum frame size with FRAME_TOO_LARGE", () => {
    const pair = openPair(undefined, false);
    const small = corePair(
      { secure: false, maxFrameSize: 300, handshake: { identity: alice, protocols: [chat] } },
      { secure: false, handshake: { identity: bob, protocols: [chat] } },
      { type: "nonces" },
      1_000,
    );
    small.pump();
    expect(small.dialer.core.state).toBe("open");
    expect(() => small.dialer.core.send("/chat", new Uint8Array(400), small.now)).toThrow(expect.objectContaining({ code: ErrorCode.FRAME_TOO_LARGE }));
    expect(() => pair.dialer.core.send("/chat", new Uint8Array(200), pair.now)).not.toThrow();
  });

  it("drops and counts Data for an alias that names no agreed protocol", () => {
    const pair = openPair();
    pair.take(pair.listener, pair.listener.core.receive(frameBytes({ kind: { case: "data", value: { protocol: 99, payload: enc("?") } } }), pair.now));
    expect(eventsOf(pair.listener, "message")).toEqual([]);
    expect(pair.listener.core.stats.unknownProtocolFrames).toBe(1);
    expect(pair.listener.core.state).toBe("open");
  });
});

describe("early data through the cores", () => {
  it("a 0-RTT dialer's messages reach the listener after its open event, in order", () => {
    const pair = corePair(
      { secure: false, handshake: { identity: alice, protocols: [chat], earlyData: true } },
      { secure: false, handshake: { identity: bob, protocols: [{ ...chat, alias: 2 }] } },
      { type: "nonces" },
    );
    expect(pair.dialer.core.canSend).toBe(true);
    for (const text of ["one", "two", "three"]) pair.take(pair.dialer, pair.dialer.core.send("/chat", enc(text), pair.now));
    pair.pump();
    const kinds = pair.listener.events.filter((e) => e.type === "open" || e.type === "message").map((e) => e.type);
    expect(kinds).toEqual(["open", "message", "message", "message"]);
    expect(eventsOf(pair.listener, "message").map((e) => dec(e.message.data))).toEqual(["one", "two", "three"]);
  });

  it("refuses early data beyond what a peerlink listener holds (64 KiB) with FRAME_TOO_LARGE, and sends nothing for it", () => {
    const pair = corePair(
      { secure: false, handshake: { identity: alice, protocols: [chat], earlyData: true } },
      { secure: false, handshake: { identity: bob, protocols: [{ ...chat, alias: 2 }] } },
      { type: "nonces" },
    );
    const block = new Uint8Array(20_000);
    for (let i = 0; i < 3; i++) pair.take(pair.dialer, pair.dialer.core.send("/chat", block, pair.now));
    const writesBefore = pair.dialer.outbox.length;
    expect(() => pair.dialer.core.send("/chat", block, pair.now)).toThrow(expect.objectContaining({ code: ErrorCode.FRAME_TOO_LARGE }));
    expect(pair.dialer.outbox.length).toBe(writesBefore);
    pair.pump();
    // The three that fit arrive; the connection opened (no protocol violation), and after open the limit is gone.
    expect(pair.listener.core.state).toBe("open");
    expect(eventsOf(pair.listener, "message")).toHaveLength(3);
    pair.take(pair.dialer, pair.dialer.core.send("/chat", block, pair.now));
    pair.take(pair.dialer, pair.dialer.core.send("/chat", block, pair.now));
    pair.pump();
    expect(eventsOf(pair.listener, "message")).toHaveLength(5);
  });

  it("a 0-RTT dialer that fails verification has its messages dropped", () => {
    const pair = corePair(
      { secure: false, handshake: { identity: alice, protocols: [chat], earlyData: true, versions: { min: 7, max: 7 } } },
      { secure: false, handshake: { identity: bob, protocols: [chat] } },
      { type: "nonces" },
    );
    pair.take(pair.dialer, pair.dialer.core.send("/chat", enc("secret"), pair.now));
    pair.pump();
    expect(eventsOf(pair.listener, "message")).toEqual([]);
    expect(eventsOf(pair.listener, "open")).toEqual([]);
    expect(pair.listener.core.closeInfo?.error?.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
  });
});

describe("a Goodbye with a long detail", () => {
  it("keeps at most 1 KiB of the peer's text in remoteGoodbye and in the close error", () => {
    // peerlink sends at most 1 KiB; another peer may send up to a frame (1 MiB) of it after open.
    const pair = openPair();
    const long = "x".repeat(200_000);
    pair.take(pair.listener, pair.listener.core.receive(encodeGoodbye("protocol_violation", long), pair.now));
    expect(pair.listener.core.remoteGoodbye).toEqual({ reason: "protocol_violation", detail: "x".repeat(1024), retryAfterMs: 0 });
    expect(pair.listener.core.closeInfo?.error?.rawMessage).toBe(`peer closed the connection (protocol_violation): ${"x".repeat(1024)}`);
  });
});

describe("graceful close", () => {
  it("sends Goodbye, half-closes, and closes when the peer closes its direction", () => {
    const pair = openPair();
    pair.take(pair.dialer, pair.dialer.core.close("shutdown", { detail: "bye", retryAfterMs: 3_000 }, pair.now));
    expect(pair.dialer.core.state).toBe("closing");
    expect(pair.dialer.ended).toBe(true);
    expect(pair.dialer.core.nextDeadline()).toBe(pair.now + 5_000);
    pair.pump();
    expect(pair.listener.core.remoteGoodbye).toEqual({ reason: "shutdown", detail: "bye", retryAfterMs: 3_000 });
    expect(transitionsOf(pair.listener).slice(-2)).toEqual(["open->closing:goodbye-received", "closing->closed:peer-closed"]);
    expect(transitionsOf(pair.dialer).slice(-2)).toEqual(["open->closing:goodbye-sent", "closing->closed:peer-closed"]);
    expect(pair.dialer.core.closeInfo).toEqual({ reason: "shutdown", initiator: "local" });
    expect(pair.listener.core.closeInfo).toEqual({ reason: "shutdown", initiator: "remote" });
    expect(eventsOf(pair.dialer, "close")).toHaveLength(1);
    expect(pair.dialer.destroyed && pair.listener.destroyed).toBe(true);
  });

  it("gives up and closes at the graceful timeout when the peer never closes", () => {
    const pair = openPair();
    pair.take(pair.dialer, pair.dialer.core.close("normal", { timeoutMs: 2_000 }, pair.now));
    expect(pair.dialer.core.tick(pair.now + 1_999)).toEqual([]);
    pair.take(pair.dialer, pair.dialer.core.tick(pair.now + 2_000));
    expect(transitionsOf(pair.dialer).at(-1)).toBe("closing->closed:close-timed-out");
    expect(pair.dialer.destroyed).toBe(true);
  });

  it("is idempotent: a second close or abort while closing does nothing", () => {
    const pair = openPair();
    pair.take(pair.dialer, pair.dialer.core.close("normal", {}, pair.now));
    expect(pair.dialer.core.close("shutdown", {}, pair.now)).toEqual([]);
    expect(pair.dialer.core.closeInfo?.reason).toBe("normal");
  });

  it("ignores frames received after the peer's Goodbye", () => {
    const pair = openPair();
    const goodbye = frameBytes({ kind: { case: "goodbye", value: { reason: 1 } } });
    const data = frameBytes({ kind: { case: "data", value: { protocol: 5, payload: enc("late") } } });
    const both = new Uint8Array([...goodbye, ...data]);
    pair.take(pair.listener, pair.listener.core.receive(both, pair.now));
    expect(eventsOf(pair.listener, "message")).toEqual([]);
    expect(pair.listener.core.state).toBe("closing");
  });

  it("reads and discards what the peer sends after our Goodbye (counted), and still sees the peer's Goodbye", () => {
    const pair = openPair();
    pair.take(pair.dialer, pair.dialer.core.close("normal", {}, pair.now));
    pair.take(pair.listener, pair.listener.core.send("/chat", enc("in flight"), pair.now));
    pair.take(pair.listener, pair.listener.core.sendPing(1, 2, pair.now));
    // Deliver only the listener's frames, before it sees the Goodbye.
    for (const bytes of pair.listener.outbox.splice(0)) pair.take(pair.dialer, pair.dialer.core.receive(bytes, pair.now));
    expect(eventsOf(pair.dialer, "message")).toEqual([]);
    expect(eventsOf(pair.dialer, "ping")).toEqual([]);
    expect(pair.dialer.core.stats.discardedFrames).toBe(2);
    pair.take(pair.dialer, pair.dialer.core.receive(frameBytes({ kind: { case: "goodbye", value: { reason: 1 } } }), pair.now));
    expect(pair.dialer.core.remoteGoodbye?.reason).toBe("normal");
    expect(pair.dialer.core.stats.discardedFrames).toBe(2);
  });

  it("closing before the transport is ready closes at once without a Goodbye", () => {
    const core = new ConnectionCore({ direction: "outbound", secure: false, handshake: { identity: alice }, now: 0 });
    const actions = core.close("normal", {}, 0);
    expect(actions.filter((a) => a.type === "write")).toEqual([]);
    expect(core.state).toBe("closed");
  });
});

describe("abort", () => {
  it("closes at once with the given error, and is idempotent", () => {
    const pair = openPair();
    const first = pair.dialer.core.abort(undefined, pair.now);
    expect(first.map((a) => a.type)).toEqual(["destroy", "event", "event"]);
    expect(pair.dialer.core.closeInfo).toMatchObject({ reason: "normal", initiator: "local", error: { code: ErrorCode.ABORTED } });
    expect(pair.dialer.core.abort(undefined, pair.now)).toEqual([]);
  });

  it("produces nothing at all after close, whatever the input", () => {
    const pair = openPair();
    pair.take(pair.dialer, pair.dialer.core.abort(undefined, pair.now));
    const c = pair.dialer.core;
    expect([
      ...c.receive(encodePingFrame(1, 1), pair.now),
      ...c.transportEnded(pair.now),
      ...c.transportError(new Error("x"), pair.now),
      ...c.tick(pair.now + 1e9),
      ...c.close("normal", {}, pair.now),
    ]).toEqual([]);
  });
});

describe("the handshake deadline", () => {
  it("fails a handshake still running at the deadline with HANDSHAKE_TIMEOUT and Goodbye TIMEOUT", () => {
    const pair = corePair({ secure: false, handshakeDeadline: 1_500, handshake: { identity: alice } }, { secure: false, handshake: { identity: bob } }, { type: "nonces" });
    expect(pair.dialer.core.nextDeadline()).toBe(1_500);
    expect(pair.dialer.core.tick(1_499)).toEqual([]);
    pair.now = 1_500;
    pair.take(pair.dialer, pair.dialer.core.tick(1_500));
    expect(pair.dialer.core.closeInfo).toMatchObject({ reason: "timeout", initiator: "local", error: { code: ErrorCode.HANDSHAKE_TIMEOUT } });
    expect(pair.dialer.core.state).toBe("closing");
    expect(pair.dialer.core.nextDeadline()).toBe(2_500); // failure linger
  });

  it("fails a transport that never became ready with HANDSHAKE_TIMEOUT and no Goodbye", () => {
    const core = new ConnectionCore({ direction: "outbound", secure: true, handshake: { identity: alice }, now: 0, handshakeDeadline: 100 });
    const actions = core.tick(100);
    expect(actions.filter((a) => a.type === "write")).toEqual([]);
    expect(core.state).toBe("closed");
    expect(core.closeInfo?.error?.code).toBe(ErrorCode.HANDSHAKE_TIMEOUT);
  });

  it("defaults to 10 s after the start", () => {
    const core = new ConnectionCore({ direction: "outbound", secure: false, handshake: { identity: alice }, now: 5 });
    expect(core.nextDeadline()).toBe(10_005);
  });
});

describe("bad bytes from the peer", () => {
  it("a malformed length prefix during the handshake fails with MALFORMED_FRAME and Goodbye PROTOCOL_VIOLATION", () => {
    const pair = corePair({ secure: false, handshake: { identity: alice } }, { secure: false, handshake: { identity: bob } }, { type: "nonces" });
    pair.take(pair.listener, pair.listener.core.receive(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), pair.now));
    expect(pair.listener.core.closeInfo).toMatchObject({ reason: "protocol_violation", error: { code: ErrorCode.MALFORMED_FRAME } });
    pair.pump();
    expect(pair.dialer.core.remoteGoodbye?.reason).toBe("protocol_violation");
  });

  it("a length above the maximum frame size fails with FRAME_TOO_LARGE once open", () => {
    const pair = openPair();
    pair.take(pair.listener, pair.listener.core.receive(Uint8Array.of(0x80, 0x80, 0x80, 0x08), pair.now));
    expect(pair.listener.core.closeInfo).toMatchObject({ reason: "protocol_violation", error: { code: ErrorCode.FRAME_TOO_LARGE } });
  });

  it("stops decoding after a malformed frame", () => {
    const pair = openPair();
    pair.take(pair.listener, pair.listener.core.receive(Uint8Array.of(2, 0x0a, 0xff), pair.now));
    const framesIn = pair.listener.core.stats.framesIn;
    pair.take(pair.listener, pair.listener.core.receive(encodePingFrame(1, 1), pair.now));
    expect(pair.listener.core.stats.framesIn).toBe(framesIn);
    expect(eventsOf(pair.listener, "ping")).toEqual([]);
  });
});

describe("the transport going away", () => {
  it("before the peer's Hello on a secure channel fails with AUTHENTICATION_FAILED (rejected client certificate)", () => {
    const pair = corePair({ secure: true, handshake: { identity: alice } }, { secure: true, handshake: { identity: bob } }, { type: "tls", exporter });
    pair.take(pair.dialer, pair.dialer.core.transportEnded(pair.now));
    expect(pair.dialer.core.closeInfo).toMatchObject({ initiator: "remote", reason: "authentication_failed", error: { code: ErrorCode.AUTHENTICATION_FAILED } });
    expect(transitionsOf(pair.dialer).at(-1)).toBe("handshaking->closed:transport-lost");
  });

  it("before the peer's Hello on plain TCP fails with CONNECTION_CLOSED", () => {
    const pair = corePair({ secure: false, handshake: { identity: alice } }, { secure: false, handshake: { identity: bob } }, { type: "nonces" });
    pair.take(pair.dialer, pair.dialer.core.transportError(new Error("ECONNRESET"), pair.now));
    expect(pair.dialer.core.closeInfo?.error?.code).toBe(ErrorCode.CONNECTION_CLOSED);
  });

  it("while open without a Goodbye closes with CONNECTION_CLOSED from the remote, reason connection_lost", () => {
    const pair = openPair();
    pair.take(pair.dialer, pair.dialer.core.transportEnded(pair.now));
    expect(pair.dialer.core.closeInfo).toMatchObject({ initiator: "remote", reason: "connection_lost", error: { code: ErrorCode.CONNECTION_CLOSED } });
    expect(transitionsOf(pair.dialer).at(-1)).toBe("open->closed:transport-lost");
  });

  it("a transport binding that does not match the core's security is refused", () => {
    const core = new ConnectionCore({ direction: "outbound", secure: true, handshake: { identity: alice }, now: 0 });
    expect(() => core.transportSecured({ type: "nonces" }, 0)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});

describe("action lists given back (recycleActions)", () => {
  it("hands a given-back list out again, emptied, and never a list its caller kept", () => {
    const { dialer, listener } = openPair();
    const kept = dialer.core.sendPing(1, 10, 2_000);
    expect(kept).toHaveLength(1);
    const given = dialer.core.sendPing(2, 20, 2_000);
    recycleActions(given);
    expect(given).toHaveLength(0);
    // Another core's next input returns the given-back list, holding only that input's actions.
    const pong = listener.core.receive(kept[0]?.type === "write" ? kept[0].bytes : new Uint8Array(), 2_000);
    expect(pong).toBe(given);
    expect(pong.map((a) => a.type)).toEqual(["write", "event"]);
    // The kept list is untouched, and the next input (nothing given back) gets a list of its own.
    expect(kept).toHaveLength(1);
    const next = dialer.core.sendPing(3, 30, 2_000);
    expect(next).not.toBe(given);
    expect(next).not.toBe(kept);
  });

  it("keeps no list longer than 16 actions", () => {
    const { dialer } = openPair();
    const long = dialer.core.sendPing(1, 10, 2_000);
    for (let i = 0; i < 16; i++) long.push(long[0] as (typeof long)[number]);
    recycleActions(long);
    expect(long).toHaveLength(17);
    expect(dialer.core.sendPing(2, 20, 2_000)).not.toBe(long);
  });
});
