import { describe, expect, it } from "vitest";
import { WriteBatcher, type BatchTarget } from "../../src/connection/write-batcher.js";
import { FrameSlab, sharedFrameSlab } from "../../src/wire/frame-slab.js";

/** A fake socket that records writes and completes them when told. */
function fakeSocket(): BatchTarget & { writes: { bytes: number[]; cb: ((e?: Error | null) => void) | undefined }[] } {
  const writes: { bytes: number[]; cb: ((e?: Error | null) => void) | undefined }[] = [];
  return {
    writes,
    destroyed: false,
    writable: true,
    write: ((bytes: Uint8Array, cb?: (e?: Error | null) => void) => {
      writes.push({ bytes: [...bytes], cb });
      return true;
    }) as BatchTarget["write"],
  };
}

const tick = (): Promise<void> => new Promise((r) => queueMicrotask(r));

describe("write batcher", () => {
  it("writes the first frame of a turn at once and the adjacent ones after it as one buffer, in order", async () => {
    const socket = fakeSocket();
    const batcher = new WriteBatcher(socket);
    const slab = new FrameSlab();
    const done: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const frame = slab.take(2);
      frame.fill(i);
      batcher.queue(frame, () => done.push(i));
    }
    expect(socket.writes.map((w) => w.bytes)).toEqual([[1, 1]]);
    await tick();
    expect(socket.writes.map((w) => w.bytes)).toEqual([[1, 1], [2, 2, 3, 3, 4, 4]]);
    socket.writes[1]!.cb?.();
    expect(done).toEqual([2, 3, 4]);
    socket.writes[0]!.cb?.();
    expect(done).toEqual([2, 3, 4, 1]);
    // A new turn: its first frame goes out at once again.
    batcher.queue(new Uint8Array([9]), undefined);
    expect(socket.writes).toHaveLength(3);
  });

  it("hands each write's sends to the settler once, in order, with that write's outcome", async () => {
    const socket = fakeSocket();
    const settled: { sends: string[]; error: unknown }[] = [];
    const settler = {
      sendsWritten(resolves: readonly (() => void)[], rejects: readonly ((error: unknown) => void)[], error: Error | null | undefined) {
        expect(rejects).toHaveLength(resolves.length);
        const names: string[] = [];
        for (const resolve of resolves) resolve.call({ names });
        settled.push({ sends: names, error });
      },
    };
    const batcher = new WriteBatcher(socket, settler);
    const slab = new FrameSlab();
    const send = (name: string): void =>
      batcher.queueSend(slab.take(1), function (this: { names: string[] }) {
        this.names.push(name);
      }, () => undefined);
    const controls: string[] = [];
    send("a");
    send("b");
    batcher.queue(slab.take(1), () => controls.push("ping"));
    send("c");
    await tick();
    expect(socket.writes).toHaveLength(2); // "a" at once, then "b", the ping and "c" joined
    socket.writes[0]!.cb?.();
    socket.writes[1]!.cb?.(new Error("reset"));
    expect(settled).toEqual([
      { sends: ["a"], error: undefined },
      { sends: ["b", "c"], error: new Error("reset") },
    ]);
    expect(controls).toEqual(["ping"]);
    // Not writable at the flush: the queued sends are settled with an error, nothing is written.
    send("d");
    send("e");
    (socket as { writable: boolean }).writable = false;
    batcher.flush();
    expect(socket.writes).toHaveLength(3);
    expect(settled[2]).toMatchObject({ sends: ["e"], error: expect.any(Error) });
  });

  it("joins only the frames adjacent in the shared slab when connections take frames in turn", async () => {
    const a = fakeSocket();
    const b = fakeSocket();
    const first = new WriteBatcher(a);
    const second = new WriteBatcher(b);
    const frame = (value: number): Uint8Array => sharedFrameSlab.take(2).fill(value);
    first.queue(frame(1), undefined); // written at once
    second.queue(frame(2), undefined); // written at once
    first.queue(frame(3), undefined);
    first.queue(frame(4), undefined); // adjacent to 3: joined
    second.queue(frame(5), undefined); // not adjacent to anything of its own
    const early = frame(6);
    const later = frame(7);
    first.queue(later, undefined); // queued in an order other than taken: still placed by its own offset
    first.queue(early, undefined);
    await tick();
    expect(a.writes.map((w) => w.bytes)).toEqual([[1, 1], [3, 3, 4, 4], [7, 7], [6, 6]]);
    expect(b.writes.map((w) => w.bytes)).toEqual([[2, 2], [5, 5]]);
  });

  it("keeps separate frames separate, each write completing its own sends", () => {
    const socket = fakeSocket();
    const batcher = new WriteBatcher(socket);
    const done: string[] = [];
    batcher.queue(new Uint8Array([0]), undefined);
    socket.writes.length = 0;
    batcher.queue(new Uint8Array([1]), () => done.push("a"));
    batcher.queue(new Uint8Array([2]), undefined);
    batcher.queue(new Uint8Array([3]), () => done.push("c"));
    batcher.flush();
    expect(socket.writes.map((w) => w.bytes)).toEqual([[1], [2], [3]]);
    socket.writes[0]!.cb?.();
    expect(done).toEqual(["a"]);
    expect(socket.writes[1]!.cb).toBeUndefined();
  });

  it("fails the queued sends when the socket is no longer writable at the flush", () => {
    const socket = fakeSocket();
    const batcher = new WriteBatcher(socket);
    const errors: unknown[] = [];
    batcher.queue(new Uint8Array([0]), undefined);
    socket.writes.length = 0;
    batcher.queue(new Uint8Array([1]), (e) => errors.push(e));
    (socket as { writable: boolean }).writable = false;
    batcher.flush();
    expect(socket.writes).toHaveLength(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(Error);
  });

  it("flushes every batcher of a turn at its end, even when one socket throws on write", async () => {
    const good = fakeSocket();
    const bad = fakeSocket();
    const broken = new Error("write threw");
    let throws = false;
    const badWrite = bad.write;
    bad.write = ((bytes: Uint8Array, cb?: (e?: Error | null) => void) => {
      if (throws) throw broken;
      return badWrite(bytes, cb);
    }) as BatchTarget["write"];
    const first = new WriteBatcher(bad);
    const second = new WriteBatcher(good);
    first.queue(new Uint8Array([1]), undefined);
    second.queue(new Uint8Array([2]), undefined);
    first.queue(new Uint8Array([3]), undefined);
    second.queue(new Uint8Array([4]), undefined);
    throws = true;
    // The error surfaces from the end-of-turn microtask, as it did from each batcher's own microtask before.
    const uncaught: unknown[] = [];
    process.setUncaughtExceptionCaptureCallback((error) => void uncaught.push(error));
    try {
      await new Promise((r) => setTimeout(r, 0));
    } finally {
      process.setUncaughtExceptionCaptureCallback(null);
    }
    expect(good.writes.map((w) => w.bytes)).toEqual([[2], [4]]);
    expect(uncaught).toEqual([broken]);
  });
  it("writes a lone frame at once without starting a batch, and queues it in order behind a batch", async () => {
    const socket = fakeSocket();
    const batcher = new WriteBatcher(socket);
    const slab = new FrameSlab();
    const frame = (n: number): Uint8Array => slab.take(1).fill(n);
    batcher.queueLone(frame(1), undefined);
    // No batch was started: the next frame of the turn is written at once as well, then the rest join.
    batcher.queue(frame(2), undefined);
    batcher.queue(frame(3), undefined);
    batcher.queueLone(frame(4), undefined);
    expect(socket.writes.map((w) => w.bytes)).toEqual([[1], [2]]);
    await tick();
    expect(socket.writes.map((w) => w.bytes)).toEqual([[1], [2], [3, 4]]);
    // After the flush a lone frame goes out at once again, and its callback is its write's.
    let done = false;
    batcher.queueLone(frame(5), () => (done = true));
    expect(socket.writes.map((w) => w.bytes)).toEqual([[1], [2], [3, 4], [5]]);
    socket.writes[3]!.cb?.();
    expect(done).toBe(true);
  });
});

