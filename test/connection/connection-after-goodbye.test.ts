/**
 * Once this side has started closing (close() sent the Goodbye, or abort()), a connection delivers
 * nothing more to the application, whatever the peer keeps sending (issue 11, defect 2).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { Identity } from "../../src/identity/identity.js";
import { encodeDataFrame } from "../../src/wire/frame-encoder.js";
import { startNode, type Inbound, type TestNode } from "./nodes.js";
import { handshakeThenIgnore } from "./raw-peer.js";

function inboundConnection(i: Inbound): Connection {
  if (i.connection === undefined) throw i.error;
  return i.connection;
}

/** Counts what the application sees: `message` events and items taken from an iterator. */
function countDeliveries(connection: Connection): { readonly events: number; readonly iterated: number; readonly iterating: Promise<void> } {
  const counts = { events: 0, iterated: 0, iterating: Promise.resolve() };
  connection.on("message", () => counts.events++);
  counts.iterating = (async () => {
    for await (const _ of connection) counts.iterated++;
  })();
  return counts;
}

describe("a peer that ignores our Goodbye and keeps its half-open socket sending (plain TCP)", () => {
  let b: TestNode;

  beforeEach(async () => {
    b = await startNode({ tls: false });
  });

  afterEach(async () => {
    await b.close();
  });

  it("gets nothing delivered after close() was called; its frames are read, discarded and counted; the close ends at its timeout", async () => {
    const peer = await handshakeThenIgnore(b.port, Identity.generate());
    const inc = inboundConnection(await b.nextInbound());
    const counts = countDeliveries(inc);
    const batch = new Uint8Array(Array.from({ length: 32 }, () => [...encodeDataFrame(1, new Uint8Array(1024))]).flat());
    const streaming = (async () => {
      for (let i = 0; i < 5_000 && !peer.gone; i++) if (!(await peer.write(batch))) return;
    })();
    await vi.waitFor(() => expect(counts.events).toBeGreaterThanOrEqual(200), { timeout: 10_000 });

    const closing = inc.close("normal", { timeoutMs: 500 });
    const events = counts.events;
    const iterated = counts.iterated;
    await closing;
    await counts.iterating;

    expect(counts.events).toBe(events);
    expect(counts.iterated).toBe(iterated);
    expect(inc.stats.discardedFrames).toBeGreaterThan(0);
    expect(inc.transitions.slice(-2).map((t) => t.transition)).toEqual(["goodbye-sent", "close-timed-out"]);
    peer.destroy();
    await streaming;
  });
});

describe.each([
  ["TLS", true],
  ["plain TCP", false],
])("a connection over %s that this side closes", (_name, tls) => {
  let a: TestNode;
  let b: TestNode;

  beforeEach(async () => {
    a = await startNode({ tls });
    b = await startNode({ tls });
  });

  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it("delivers 0 messages after close() is called while the peer keeps streaming", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const seqOf = (data: Uint8Array): number => new DataView(data.buffer, data.byteOffset).getUint32(0);
    // A continuous stream of numbered messages, in batches, until the peer sees our Goodbye (its sends then reject).
    const streaming = (async () => {
      let seq = 0;
      for (let i = 0; i < 2_000 && out.canSend; i++) {
        await Promise.all(
          Array.from({ length: 32 }, () => {
            const payload = new Uint8Array(1024);
            new DataView(payload.buffer).setUint32(0, seq++);
            return out.send("/chat", payload).catch(() => undefined);
          }),
        );
      }
    })();
    // Closed from inside a listener, mid-stream: the rest of the same socket read must not be delivered either.
    let lastBeforeClose = -1;
    let afterClose = 0;
    let closing: Promise<void> | undefined;
    const iterated: number[] = [];
    const iterating = (async () => {
      for await (const m of inc) iterated.push(seqOf(m.data));
    })();
    const closed = new Promise<void>((resolve) =>
      inc.on("message", (m) => {
        if (closing !== undefined) afterClose++;
        else if (seqOf(m.data) >= 300) {
          lastBeforeClose = seqOf(m.data);
          closing = inc.close();
          resolve();
        }
      }),
    );
    await closed;
    await closing;
    await iterating;
    await streaming;

    expect(afterClose).toBe(0);
    // The iterator may still hand out what it was given before the close (a pending next()), nothing later.
    expect(Math.max(...iterated)).toBeLessThanOrEqual(lastBeforeClose);
  });

  it("drops messages held for a first consumer when close() is called, and those an iterator buffered", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const idle = inc.messages(); // buffers, never read before the close
    const before = inc.stats.framesIn;
    for (let i = 0; i < 20; i++) await out.send("/chat", new Uint8Array([i]));
    await vi.waitFor(() => expect(inc.stats.framesIn).toBe(before + 20));

    const closing = inc.close();
    let late = 0;
    inc.on("message", () => late++);
    expect(await idle.next()).toEqual({ value: undefined, done: true });
    expect(await inc.messages().next()).toEqual({ value: undefined, done: true });
    await closing;
    expect(late).toBe(0);
  });

  it("drops held messages on abort() too", async () => {
    const out = await a.dial(b.port);
    const inc = inboundConnection(await b.nextInbound());
    const before = inc.stats.framesIn;
    for (let i = 0; i < 20; i++) await out.send("/chat", new Uint8Array([i]));
    await vi.waitFor(() => expect(inc.stats.framesIn).toBe(before + 20));

    inc.abort();
    let late = 0;
    inc.on("message", () => late++);
    await inc.closed;
    expect(late).toBe(0);
  });
});
