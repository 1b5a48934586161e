/**
 * Internal message taps over real connections (issue 11, defect 5): the node layer sees every message
 * without consuming what the connection holds for its first own listener.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { tapMessages, type Connection } from "../../src/connection/connection.js";
import type { InboundMessage } from "../../src/connection/types.js";
import { startNode, type Inbound, type TestNode } from "./nodes.js";

function inboundConnection(i: Inbound): Connection {
  if (i.connection === undefined) throw i.error;
  return i.connection;
}

const numbered = (seq: number, size = 4): Uint8Array => {
  const data = new Uint8Array(size);
  new DataView(data.buffer).setUint32(0, seq);
  return data;
};
const seqOf = (m: InboundMessage): number => new DataView(m.data.buffer, m.data.byteOffset).getUint32(0);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe.each([
  ["TLS", true],
  ["plain TCP", false],
])("a tapped connection over %s", (_name, tls) => {
  let a: TestNode;
  let b: TestNode;

  beforeEach(async () => {
    a = await startNode({ tls });
    b = await startNode({ tls, connection: { messageQueueHighWaterBytes: 64 * 1024 } });
  });

  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it("still hands what the peer sent at open to a listener added later (the tap is no consumer)", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const tapped: number[] = [];
    tapMessages(inc, (m) => tapped.push(seqOf(m))); // what the manager does when it adopts the connection
    for (let i = 0; i < 10; i++) void out.send("/chat", numbered(i));
    await vi.waitFor(() => expect(tapped).toHaveLength(10));

    const got: number[] = [];
    inc.on("message", (m) => got.push(seqOf(m))); // the user, later
    await vi.waitFor(() => expect(got).toHaveLength(10));
    expect(got).toEqual(range(0, 10));
    expect(tapped).toEqual(range(0, 10));
  });

  it("sees the messages held before it (in a microtask), then each one as it arrives, once, before the connection's listeners", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const before = inc.stats.framesIn;
    for (let i = 0; i < 5; i++) await out.send("/chat", numbered(i));
    await vi.waitFor(() => expect(inc.stats.framesIn).toBe(before + 5));

    const log: string[] = [];
    tapMessages(inc, (m) => log.push(`tap ${seqOf(m)}`));
    expect(log).toEqual([]);
    await Promise.resolve();
    expect(log).toEqual(range(0, 5).map((i) => `tap ${i}`));

    inc.on("message", (m) => log.push(`app ${seqOf(m)}`));
    for (let i = 5; i < 8; i++) await out.send("/chat", numbered(i));
    await vi.waitFor(() => expect(log).toHaveLength(5 + 5 + 3 * 2));
    expect(log.slice(5)).toEqual([
      ...range(0, 5).map((i) => `app ${i}`),
      ...range(5, 8).flatMap((i) => [`tap ${i}`, `app ${i}`]),
    ]);
  });

  it("never pauses reads for a connection-level listener that may never come; a late one gets the latest run, at most the high-water mark", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const tapped: number[] = [];
    tapMessages(inc, (m) => tapped.push(seqOf(m)));
    // 400 KiB with a 64 KiB high-water mark: a paused hold would stop the tap at about 60 messages.
    for (let i = 0; i < 400; i++) void out.send("/chat", numbered(i, 1024));
    await vi.waitFor(() => expect(tapped).toHaveLength(400), { timeout: 10_000 });

    const late: number[] = [];
    inc.on("message", (m) => late.push(seqOf(m)));
    await Promise.resolve();
    expect(late.length).toBeGreaterThan(0);
    expect(late.length * (1024 + 64)).toBeLessThanOrEqual(64 * 1024);
    expect(late).toEqual(range(400 - late.length, 400)); // contiguous, ending with the latest
    await out.send("/chat", numbered(400));
    await vi.waitFor(() => expect(late.at(-1)).toBe(400));
    expect(tapped).toEqual(range(0, 401));
  });

  it("gets nothing once this side closed, even when the tap itself closes the connection mid-stream", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const tapped: number[] = [];
    const app: number[] = [];
    inc.on("message", (m) => app.push(seqOf(m)));
    let closing: Promise<void> | undefined;
    tapMessages(inc, (m) => {
      tapped.push(seqOf(m));
      if (seqOf(m) === 50) closing = inc.close();
    });
    const sends = range(0, 300).map((i) => out.send("/chat", numbered(i)).catch(() => undefined));
    await vi.waitFor(() => expect(closing).toBeDefined());
    await closing;
    await Promise.all(sends);
    expect(tapped).toEqual(range(0, 51));
    expect(app).toEqual(range(0, 50));
  });
});
