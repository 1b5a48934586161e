import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode } from "../../src/errors.js";
import { activeHandles, handlesAfterClose, startNode, trackTimers, type Inbound, type TestNode } from "./nodes.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function inboundConnection(i: Inbound): Connection {
  if (i.connection === undefined) throw i.error;
  return i.connection;
}

describe.each([
  ["with TLS", true],
  ["over plain TCP", false],
])("two nodes on loopback %s", (_name, tls) => {
  let a: TestNode;
  let b: TestNode;
  let baseline: Record<string, number>;
  let timers: ReturnType<typeof trackTimers>;

  beforeEach(async () => {
    baseline = activeHandles({ timers: false });
    timers = trackTimers();
    a = await startNode({ tls });
    b = await startNode({ tls, handshake: { capabilities: [{ name: "peerlink.bandwidth-probe", version: 1 }] } });
  });

  afterEach(async () => {
    await a.close();
    await b.close();
    timers.restore();
    expect(await handlesAfterClose({ timers: false })).toEqual(baseline);
    expect(timers.pending()).toEqual([]);
  });

  it("open a connection with each other's verified identity and the agreed settings", async () => {
    const out = await a.dial(b.port, { expectedPeerId: b.identity.peerId });
    const inc = inboundConnection(await b.nextInbound());
    expect(out.state).toBe("open");
    expect(out.direction).toBe("outbound");
    expect(inc.direction).toBe("inbound");
    expect(out.remotePeer.equals(b.identity.peerId)).toBe(true);
    expect(inc.remotePeer.equals(a.identity.peerId)).toBe(true);
    expect(out.protocolVersion).toBe(1);
    expect(out.protocols.map((p) => p.name)).toEqual(["/chat"]);
    expect(out.capabilities).toEqual([]);
    expect(out.secure).toBe(tls);
    expect(out.remoteAddress).toBe(`127.0.0.1:${b.port}`);
    expect(out.transitions.map((t) => t.transition)).toEqual(["transport-connected", "transport-secured", "handshake-succeeded"]);
  });

  it("resolve `closed` with the close information whether read before the close or first read after it", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const early = out.closed;
    const closeEvent = new Promise((resolve) => inc.on("close", resolve));
    await out.close();
    const info = await early;
    expect(info).toBe(out.closeInfo);
    expect(info.initiator).toBe("local");
    expect(out.closed).toBe(early);
    const seen = await closeEvent;
    const late = await inc.closed;
    expect(late).toBe(seen);
    expect(late).toBe(inc.closeInfo);
    expect(late.initiator).toBe("remote");
  });

  it("exchange messages both ways, in order", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const gotByB: string[] = [];
    const gotByA: string[] = [];
    const bDone = new Promise<void>((resolve) =>
      inc.on("message", (m) => {
        gotByB.push(`${m.protocol} ${dec(m.data)}`);
        if (gotByB.length === 3) resolve();
      }),
    );
    const aDone = new Promise<void>((resolve) =>
      out.on("message", (m) => {
        gotByA.push(dec(m.data));
        if (gotByA.length === 2) resolve();
      }),
    );
    await Promise.all([out.send("/chat", enc("one")), out.send("/chat", enc("two")), out.send("/chat", enc("three"))]);
    await inc.send("/chat", enc("back 1"));
    await inc.send("/chat", enc("back 2"));
    await Promise.all([aDone, bDone]);
    expect(gotByB).toEqual(["/chat one", "/chat two", "/chat three"]);
    expect(gotByA).toEqual(["back 1", "back 2"]);
    expect(out.stats.framesOut).toBeGreaterThanOrEqual(4);
    expect(inc.stats.framesIn).toBe(out.stats.framesOut);
    expect(inc.stats.bytesIn).toBe(out.stats.bytesOut);
    expect(out.stats.openedAt).toBeTypeOf("number");
    expect(out.stats.lastReceivedAt).toBeGreaterThanOrEqual(out.stats.openedAt as number);
  });

  it("deliver messages through the async iterator until the connection closes", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const received: string[] = [];
    const reading = (async () => {
      for await (const m of inc) received.push(dec(m.data));
    })();
    for (const t of ["x", "y", "z"]) await out.send("/chat", enc(t));
    await out.close();
    await reading;
    expect(received).toEqual(["x", "y", "z"]);
  });

  it("hand a message that arrived before any listener to the first listener", async () => {
    const out = await a.dial(b.port);
    await out.send("/chat", enc("early bird"));
    const inc = inboundConnection(await b.nextInbound());
    // Let the bytes arrive before anyone listens.
    await vi.waitFor(() => expect(inc.stats.framesIn).toBeGreaterThanOrEqual(2));
    const got = await new Promise<string>((resolve) => inc.on("message", (m) => resolve(dec(m.data))));
    expect(got).toBe("early bird");
  });

  it("answer a ping with a pong carrying the same nonce and timestamp", async () => {
    const out = await a.dial(b.port);
    inboundConnection(await b.nextInbound());
    const pong = new Promise<{ nonce: number; timestampUs: number }>((resolve) => out.on("pong", resolve));
    out.sendPing(4242, 999_999);
    expect(await pong).toEqual({ nonce: 4242, timestampUs: 999_999 });
  });

  it("close gracefully: Goodbye reaches the peer with its reason and detail, both sides end closed", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const states: string[] = [];
    inc.on("state", (s) => states.push(`${s.to}:${s.transition}`));
    await out.close("shutdown", { detail: "maintenance", retryAfterMs: 1_234 });
    const info = await inc.closed;
    expect(out.state).toBe("closed");
    expect(out.closeInfo).toEqual({ reason: "shutdown", initiator: "local" });
    expect(info).toEqual({ reason: "shutdown", initiator: "remote" });
    expect(inc.remoteGoodbye).toEqual({ reason: "shutdown", detail: "maintenance", retryAfterMs: 1_234 });
    expect(states).toEqual(["closing:goodbye-received", "closed:peer-closed"]);
    expect(out.transitions.slice(-2).map((t) => t.transition)).toEqual(["goodbye-sent", "peer-closed"]);
  });

  it("make close and abort idempotent and fire close exactly once", async () => {
    const out = await a.dial(b.port);
    inboundConnection(await b.nextInbound());
    const closes = vi.fn();
    out.on("close", closes);
    const first = out.close();
    const second = out.close("shutdown");
    out.abort();
    out.abort();
    await Promise.all([first, second]);
    await out.close();
    expect(closes).toHaveBeenCalledTimes(1);
    expect(out.closeInfo?.reason).toBe("normal");
  });

  it("reject sends after close with CONNECTION_CLOSED and sends of unknown protocols with UNKNOWN_PROTOCOL", async () => {
    const out = await a.dial(b.port);
    inboundConnection(await b.nextInbound());
    await expect(out.send("/unknown", enc("x"))).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_PROTOCOL });
    const closing = out.close();
    await expect(out.send("/chat", enc("x"))).rejects.toMatchObject({ code: ErrorCode.CONNECTION_CLOSED });
    await closing;
    await expect(out.send("/chat", enc("x"))).rejects.toMatchObject({ code: ErrorCode.CONNECTION_CLOSED });
  });

  it("stamp lastSentAt with the time of the turn that sent, not of an earlier one", async () => {
    const out = await a.dial(b.port);
    const before = Date.now();
    await out.send("/chat", enc("first"));
    expect(out.stats.lastSentAt).toBeGreaterThanOrEqual(before);
    const first = out.stats.lastSentAt as number;
    // Let the clock move on (bounded), across turns: the next send must not reuse the first one's time.
    for (let i = 0; i < 10_000 && Date.now() <= first; i++) await new Promise((r) => setImmediate(r));
    const later = Date.now();
    expect(later).toBeGreaterThan(first);
    await out.send("/chat", enc("second"));
    expect(out.stats.lastSentAt).toBeGreaterThanOrEqual(later);
  });

  it("reject a send whose signal is already aborted with ABORTED", async () => {
    const out = await a.dial(b.port);
    inboundConnection(await b.nextInbound());
    await expect(out.send("/chat", enc("x"), { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: ErrorCode.ABORTED });
  });

  it("abort closes at once: the peer sees the transport lost, not a Goodbye", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    out.abort();
    const info = await inc.closed;
    expect(out.closeInfo).toMatchObject({ initiator: "local", error: { code: ErrorCode.ABORTED } });
    expect(info).toMatchObject({ initiator: "remote", error: { code: ErrorCode.CONNECTION_CLOSED } });
    expect(inc.remoteGoodbye).toBeUndefined();
  });

  it("keep the state machine intact when a listener throws, and fire nothing after close", async () => {
    const warnings: unknown[] = [];
    const onWarning = (w: unknown) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      const out = await a.dial(b.port);
      const inc = inboundConnection(await b.nextInbound());
      inc.on("message", () => {
        throw new Error("listener bug");
      });
      const after = vi.fn();
      const got = new Promise<string>((resolve) => inc.on("message", (m) => resolve(dec(m.data))));
      await out.send("/chat", enc("still works"));
      expect(await got).toBe("still works");
      await out.close();
      await inc.closed;
      inc.on("state", after);
      inc.on("message", after);
      expect(inc.state).toBe("closed");
      expect(after).not.toHaveBeenCalled();
      await vi.waitFor(() => expect(warnings.length).toBeGreaterThan(0));
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("wait for a large message to be written before a send resolves", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const big = new Uint8Array(512 * 1024).fill(7);
    const got = new Promise<number>((resolve) => inc.on("message", (m) => resolve(m.data.length)));
    await out.send("/chat", big);
    expect(out.stats.bytesOut).toBeGreaterThan(big.length);
    expect(await got).toBe(big.length);
  });
});
