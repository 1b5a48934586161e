// The send side's backpressure contract over real TLS sockets, with a peer that stops reading (its socket
// paused): the bytes held unsent stay under the limit, sends past it are refused with SEND_BUFFER_FULL,
// waiting sends go out in order once the peer reads again (and `send:drain` fires), a waiting send can be
// withdrawn with its signal, a graceful close writes what waits and any other end rejects it.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { startNode, type TestNode } from "./nodes.js";

const HIGH_WATER = 64 * 1024;
const LIMIT = 512 * 1024;
const MESSAGE = 16 * 1024;

/** A message whose first 4 bytes carry its index, so the receiver can check order and completeness. */
function message(index: number, size = MESSAGE): Uint8Array {
  const bytes = new Uint8Array(size);
  new DataView(bytes.buffer).setUint32(0, index);
  return bytes;
}
const indexOf = (data: Uint8Array): number => new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);

/** Outcome of one send, recorded as it settles. */
type Outcome = "pending" | "sent" | ErrorCode;

function track(promise: Promise<void>, outcomes: Outcome[]): void {
  const i = outcomes.push("pending") - 1;
  promise.then(
    () => (outcomes[i] = "sent"),
    (error: unknown) => (outcomes[i] = error instanceof PeerlinkError ? error.code : ErrorCode.INTERNAL),
  );
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("Connection send buffer (backpressure)", () => {
  let a: TestNode;
  let b: TestNode;

  beforeEach(async () => {
    a = await startNode({ tls: true, connection: { sendBufferHighWaterBytes: HIGH_WATER, sendBufferLimitBytes: LIMIT } });
    b = await startNode({ tls: true });
  });

  afterEach(async () => {
    await a.close();
    await b.close();
  });

  async function pausedPair(): Promise<{ conn: Connection; peer: Connection; resume: () => void; received: number[] }> {
    const conn = await a.dial(b.port);
    const inbound = await b.nextInbound();
    if (inbound.connection === undefined) throw inbound.error;
    const socket = inbound.socket;
    if (socket === undefined) throw new Error("no inbound socket");
    const received: number[] = [];
    inbound.connection.on("message", ({ data }) => received.push(indexOf(data)));
    socket.pause();
    return { conn, peer: inbound.connection, resume: () => socket.resume(), received };
  }

  it("holds at most the limit for a peer that stops reading, refuses past it, and delivers every accepted message in order once it reads", async () => {
    const { conn, resume, received } = await pausedPair();
    const outcomes: Outcome[] = [];
    let maxHeld = 0;
    let index = 0;
    // Unawaited bursts until the peer's kernel buffers are full too and a whole burst is refused (bounded).
    for (let round = 0; round < 400; round++) {
      let refusedBefore = outcomes.filter((o) => o === ErrorCode.SEND_BUFFER_FULL).length;
      for (let k = 0; k < 16; k++) {
        track(conn.send("/chat", message(index++)), outcomes);
        maxHeld = Math.max(maxHeld, conn.sendBufferedBytes);
      }
      await turn();
      const refused = outcomes.filter((o) => o === ErrorCode.SEND_BUFFER_FULL).length;
      if (refused - refusedBefore === 16) break;
      refusedBefore = refused;
    }
    const refused = outcomes.filter((o) => o === ErrorCode.SEND_BUFFER_FULL).length;
    expect(refused).toBeGreaterThanOrEqual(16);
    // Bounded: never more than the limit held unsent (buffered + waiting), whatever was attempted.
    expect(maxHeld).toBeLessThanOrEqual(LIMIT);
    expect(maxHeld).toBeGreaterThan(LIMIT - 2 * MESSAGE);
    expect(conn.writable).toBe(false);
    expect(index).toBeGreaterThan(LIMIT / MESSAGE); // more was attempted than the limit holds

    const drained = new Promise<number>((resolve) => conn.once("send:drain", ({ bufferedBytes }) => resolve(bufferedBytes)));
    resume();
    expect(await drained).toBeLessThan(HIGH_WATER);
    expect(conn.writable).toBe(true);
    // Every send not refused went out; the receiver got exactly those, in order.
    const accepted = outcomes.flatMap((o, i) => (o === ErrorCode.SEND_BUFFER_FULL ? [] : [i]));
    // A last awaited message: once it arrives, everything before it has.
    const last = index++;
    await conn.send("/chat", message(last));
    await conn.ping(); // the Pong comes after the peer read everything sent before the Ping
    expect(received).toEqual([...accepted, last]);
    expect(outcomes.filter((o) => o !== "sent" && o !== ErrorCode.SEND_BUFFER_FULL)).toEqual([]);
  });

  it("makes an awaited send wait while the buffer is full and resume on drain; a waiting send is withdrawn by its signal", async () => {
    const { conn, resume, received } = await pausedPair();
    const outcomes: Outcome[] = [];
    let index = 0;
    while (conn.writable) track(conn.send("/chat", message(index++)), outcomes);
    expect(index).toBeGreaterThanOrEqual(HIGH_WATER / MESSAGE);

    const controller = new AbortController();
    const withdrawn = conn.send("/chat", message(9_999), { signal: controller.signal });
    const awaited = conn.send("/chat", message(index));
    const held = conn.sendBufferedBytes;
    controller.abort(new Error("changed my mind"));
    // It was waiting (a message handed to the socket cannot be recalled): it is rejected, and its bytes are no longer held.
    await expect(withdrawn).rejects.toMatchObject({ code: ErrorCode.ABORTED });
    expect(conn.sendBufferedBytes).toBeLessThanOrEqual(held - MESSAGE);

    resume();
    await awaited;
    await conn.ping();
    expect(received).toEqual([...Array(index + 1).keys()]);
    expect(outcomes.every((o) => o === "sent")).toBe(true);
  });

  it("refuses at once a send that would take the held bytes past the limit, before and after it waited", async () => {
    const { conn } = await pausedPair();
    const outcomes: Outcome[] = [];
    let index = 0;
    while (conn.sendBufferedBytes + MESSAGE <= LIMIT) track(conn.send("/chat", message(index++)), outcomes);
    // One message more does not fit: refused without waiting, and the held bytes do not move.
    const held = conn.sendBufferedBytes;
    await expect(conn.send("/chat", message(index))).rejects.toSatisfy(
      (e: unknown) => e instanceof PeerlinkError && e.code === ErrorCode.SEND_BUFFER_FULL && e.message.includes(String(LIMIT)),
    );
    expect(conn.sendBufferedBytes).toBeLessThanOrEqual(held);
    // A smaller one that fits is still accepted (it waits).
    const room = LIMIT - conn.sendBufferedBytes;
    if (room > 0) track(conn.send("/chat", message(index + 1, Math.min(room, 8))), outcomes);
    expect(conn.sendBufferedBytes).toBeLessThanOrEqual(LIMIT);
  });

  it("a graceful close writes the waiting messages before its Goodbye", async () => {
    const { conn, peer, resume, received } = await pausedPair();
    const outcomes: Outcome[] = [];
    let index = 0;
    while (conn.sendBufferedBytes + MESSAGE <= LIMIT) track(conn.send("/chat", message(index++)), outcomes);
    expect(conn.writable).toBe(false);
    const closing = conn.close();
    resume();
    await closing;
    await peer.closed;
    expect(received).toEqual([...Array(index).keys()]);
    expect(outcomes.every((o) => o === "sent")).toBe(true);
  });

  it("abort() rejects the waiting sends with CONNECTION_CLOSED, fires no send:drain, and later sends are refused", async () => {
    const { conn } = await pausedPair();
    const waiting: Promise<void>[] = [];
    let index = 0;
    while (conn.writable) void conn.send("/chat", message(index++)).catch(() => undefined);
    for (let k = 0; k < 4; k++) waiting.push(conn.send("/chat", message(index++)));
    const drains: unknown[] = [];
    conn.on("send:drain", (e) => drains.push(e));
    conn.abort();
    for (const w of waiting) await expect(w).rejects.toMatchObject({ code: ErrorCode.CONNECTION_CLOSED });
    await conn.closed;
    expect(drains).toEqual([]);
    await expect(conn.send("/chat", message(0))).rejects.toMatchObject({ code: ErrorCode.CONNECTION_CLOSED });
    expect(conn.writable).toBe(false);
  });

  it("abort() settles every small send handed to the socket: written ones resolve, the rest reject with CONNECTION_CLOSED, in order", async () => {
    const { conn } = await pausedPair();
    const outcomes: Outcome[] = [];
    // Small messages are joined into one write per turn; each turn's sends share that write's outcome.
    // Bounded: the kernel's loopback buffers take a few MiB before the socket holds bytes of its own.
    for (let turnNo = 0; turnNo < 5000 && conn.writable; turnNo++) {
      for (let k = 0; k < 256 && conn.writable; k++) track(conn.send("/chat", message(outcomes.length, 64)), outcomes);
      await turn();
    }
    expect(conn.writable).toBe(false); // the paused peer left writes unfinished
    const settledBefore = outcomes.filter((o) => o === "sent").length;
    conn.abort();
    await conn.closed;
    await turn();
    expect(outcomes).not.toContain("pending");
    expect(new Set(outcomes)).toEqual(new Set(["sent", ErrorCode.CONNECTION_CLOSED]));
    // Writes complete in order: once one failed, every later one did.
    const firstFailed = outcomes.indexOf(ErrorCode.CONNECTION_CLOSED);
    expect(outcomes.slice(firstFailed).every((o) => o === ErrorCode.CONNECTION_CLOSED)).toBe(true);
    expect(firstFailed).toBeGreaterThanOrEqual(settledBefore);
  });
});
