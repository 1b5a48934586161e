// What an open connection keeps while idle is small and shared where it can be (the peer's declarations, the
// protocol lookups, the decoder's buffers); these check that the sharing and the lazily made parts behave
// exactly as per-connection state did.
import { afterEach, describe, expect, it } from "vitest";
import type { CapabilityChanges } from "../../src/connection/types.js";
import { ErrorCode } from "../../src/errors.js";
import type { ProtocolSpec } from "../../src/handshake/types.js";
import { Identity } from "../../src/identity/identity.js";
import { createFrameDecoder } from "../../src/wire/frame-decoder.js";
import { encodeDataFrame } from "../../src/wire/frame-encoder.js";
import { throwsWithCode } from "../helpers/error-code.js";
import { recordingSink, type Event } from "../wire/frame-fixtures.js";
import { corePair, eventsOf, type CorePair, type CoreSide } from "./core-pair.js";
import { startNode, type TestNode } from "./nodes.js";

const listenerId = Identity.generate();
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function openPair(dialerProtocols: readonly ProtocolSpec[], listenerProtocols: readonly ProtocolSpec[]): CorePair {
  const pair = corePair(
    { secure: false, handshake: { identity: Identity.generate(), protocols: dialerProtocols } },
    { secure: false, handshake: { identity: listenerId, protocols: listenerProtocols } },
    { type: "nonces" },
  );
  pair.pump();
  expect(pair.dialer.core.state).toBe("open");
  expect(pair.listener.core.state).toBe("open");
  return pair;
}

function update(pair: CorePair, s: CoreSide, changes: CapabilityChanges): void {
  pair.take(s, s.core.updateCapabilities(changes, pair.now));
  pair.pump();
}

function send(pair: CorePair, s: CoreSide, protocol: string, text: string): void {
  pair.take(s, s.core.send(protocol, enc(text), pair.now));
  pair.pump();
}

const names = (s: CoreSide): string[] => (s.core.agreed?.protocols ?? []).map((p) => p.name);
const received = (s: CoreSide): string[][] => eventsOf(s, "message").map((e) => [e.message.protocol, dec(e.message.data)]);

describe("connections opened with equal Hellos", () => {
  it("keep independent capability views: an update on one changes nothing on the other", () => {
    const dialerSide: ProtocolSpec[] = [
      { name: "/chat", versions: [1], alias: 1 },
      { name: "/files", versions: [1], alias: 2 },
    ];
    const listenerSide: ProtocolSpec[] = [
      { name: "/chat", versions: [1], alias: 7 },
      { name: "/files", versions: [1], alias: 8 },
    ];
    // Three dialers with the same declarations to one listener: the listener sees three equal Hellos.
    const pairs = [openPair(dialerSide, listenerSide), openPair(dialerSide, listenerSide), openPair(dialerSide, listenerSide)];
    const [a, b, c] = pairs as [CorePair, CorePair, CorePair];

    update(a, a.dialer, { removeProtocols: ["/files"] });
    update(b, b.dialer, { addProtocols: [{ name: "/extra", versions: [1] }] });
    update(b, b.listener, { addProtocols: [{ name: "/extra", versions: [1] }] });

    expect(names(a.listener)).toEqual(["/chat"]);
    expect(names(b.listener)).toEqual(["/chat", "/extra", "/files"]);
    expect(names(c.listener)).toEqual(["/chat", "/files"]);
    throwsWithCode(() => a.listener.core.send("/files", enc("x"), a.now), ErrorCode.UNKNOWN_PROTOCOL);
    send(b, b.listener, "/extra", "to b");
    send(c, c.listener, "/files", "to c");
    expect(received(b.dialer)).toEqual([["/extra", "to b"]]);
    expect(received(c.dialer)).toEqual([["/files", "to c"]]);

    // The peer's later update on the untouched connection still starts from its own Hello.
    update(c, c.dialer, { removeProtocols: ["/chat"] });
    expect(names(c.listener)).toEqual(["/files"]);
    expect(names(b.listener)).toEqual(["/chat", "/extra", "/files"]);
  });
});

describe("a connection with many protocols", () => {
  it("finds each by name and by the peer's alias, and forgets a removed one", () => {
    const many = (base: number): ProtocolSpec[] => Array.from({ length: 12 }, (_, i) => ({ name: `/p${i}`, versions: [1], alias: base + i }));
    const pair = openPair(many(0), many(100));
    for (let i = 0; i < 12; i++) {
      send(pair, pair.dialer, `/p${i}`, `d${i}`);
      send(pair, pair.listener, `/p${i}`, `l${i}`);
    }
    expect(received(pair.listener)).toEqual(Array.from({ length: 12 }, (_, i) => [`/p${i}`, `d${i}`]));
    expect(received(pair.dialer)).toEqual(Array.from({ length: 12 }, (_, i) => [`/p${i}`, `l${i}`]));

    update(pair, pair.listener, { removeProtocols: ["/p3"] });
    throwsWithCode(() => pair.listener.core.send("/p3", enc("x"), pair.now), ErrorCode.UNKNOWN_PROTOCOL);
    throwsWithCode(() => pair.dialer.core.send("/p3", enc("x"), pair.now), ErrorCode.UNKNOWN_PROTOCOL);
    send(pair, pair.dialer, "/p11", "after");
    expect(received(pair.listener).at(-1)).toEqual(["/p11", "after"]);
    expect(names(pair.listener)).toHaveLength(11);
  });
});

describe("a JS frame decoder", () => {
  it("holds no reassembly buffer until a frame is cut by a chunk boundary", () => {
    const decoder = createFrameDecoder({ engine: "js" });
    const events: Event[] = [];
    expect(decoder.bufferCapacity).toBe(0);
    const frame = encodeDataFrame(1, new Uint8Array(40).fill(7));
    decoder.push(frame, recordingSink(events));
    decoder.push(encodeDataFrame(2, new Uint8Array(3)), recordingSink(events));
    expect(decoder.bufferCapacity).toBe(0);
    decoder.push(frame.subarray(0, 10), recordingSink(events));
    expect(decoder.bufferCapacity).toBeGreaterThanOrEqual(10);
    decoder.push(frame.subarray(10), recordingSink(events));
    expect(events).toHaveLength(3);
    expect(decoder.bufferedBytes).toBe(0);
  });
});

describe("a connection over real TLS sockets", () => {
  const nodes: TestNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });

  it("reads its socket through shared listeners, releases them at close, and settles `closed` asked before or after", async () => {
    const a = await startNode({ tls: true });
    const b = await startNode({ tls: true });
    nodes.push(a, b);
    const dialed = await a.dial(b.port);
    const inbound = await b.nextInbound();
    if (inbound.connection === undefined) throw inbound.error;
    const accepted = inbound.connection;
    const socket = inbound.socket!;
    expect(accepted.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(accepted.direction).toBe("inbound");
    expect(accepted.secure).toBe(true);
    const ownListeners = (event: string) => socket.listeners(event).length;
    const before = { data: ownListeners("data"), end: ownListeners("end"), error: ownListeners("error"), close: ownListeners("close") };
    expect(before.data).toBe(1);

    // A connection feeds only itself: messages both ways on two connections sharing the listener functions.
    const got: string[] = [];
    accepted.on("message", (m) => got.push(dec(m.data)));
    await dialed.send("/chat", enc("one"));
    const back = new Promise<string>((resolve) => dialed.on("message", (m) => resolve(dec(m.data))));
    await accepted.send("/chat", enc("two"));
    expect(await back).toBe("two");
    await expect.poll(() => got).toEqual(["one"]);

    const closedEarly = dialed.closed;
    await dialed.close();
    const info = await closedEarly;
    expect(await dialed.closed).toBe(info);
    const acceptedInfo = await accepted.closed;
    expect(await accepted.closed).toBe(acceptedInfo);
    expect(acceptedInfo.reason).toBe(info.reason);
    // Released: no data or end listener of the connection left; 'error' holds the noop guard instead.
    expect(ownListeners("data")).toBe(before.data - 1);
    expect(ownListeners("end")).toBe(before.end - 1);
    expect(socket.destroyed).toBe(true);
    expect(accepted.transitions.map((t) => `${t.from}>${t.to}:${t.transition}`)).toEqual([
      "connecting>securing:transport-connected",
      "securing>handshaking:transport-secured",
      "handshaking>open:handshake-succeeded",
      "open>closing:goodbye-received",
      "closing>closed:peer-closed",
    ]);
  });
});
