/**
 * The message routing of a connection, without sockets: holding, taps, the bounded replay and flow
 * control, and nothing delivered once this side started closing.
 */
import { describe, expect, it } from "vitest";
import { Inbox } from "../../src/connection/inbox.js";
import { MESSAGE_OVERHEAD_BYTES } from "../../src/connection/message-queue.js";
import type { InboundMessage } from "../../src/connection/types.js";

const message = (seq: number, size = 36): InboundMessage => ({ protocol: "/chat", data: new Uint8Array(size).fill(seq & 0xff) });
const seqOf = (m: InboundMessage): number => m.data[0] as number;
/** 100 bytes per message as flow control counts them. */
const COST = 36 + MESSAGE_OVERHEAD_BYTES;

function inbox(highWater = 10 * COST) {
  const emitted: number[] = [];
  const pauses: boolean[] = [];
  const box = new Inbox(highWater, { emit: (m) => emitted.push(seqOf(m)), setPaused: (p) => pauses.push(p) });
  return { box, emitted, pauses };
}

describe("an inbox", () => {
  it("without a tap holds for the first consumer and pauses reads above the high-water mark", async () => {
    const { box, emitted, pauses } = inbox();
    for (let i = 0; i < 11; i++) box.arrive(message(i));
    expect(pauses).toEqual([true]);
    box.consumerAdded();
    expect(emitted).toEqual([]);
    await Promise.resolve();
    expect(emitted).toEqual([...Array(11).keys()]);
    expect(pauses).toEqual([true, false]);
  });

  it("with a tap keeps a replay of the latest messages up to the high-water mark, dropping the oldest, never pausing", async () => {
    const { box, emitted, pauses } = inbox();
    const tapped: number[] = [];
    box.tap((m) => tapped.push(seqOf(m)));
    for (let i = 0; i < 25; i++) box.arrive(message(i));
    expect(tapped).toEqual([...Array(25).keys()]);
    expect(pauses).toEqual([]);
    expect(box.heldBytes).toBe(10 * COST);
    expect(box.droppedFromReplay).toBe(15);
    box.consumerAdded();
    await Promise.resolve();
    expect(emitted).toEqual([...Array(10).keys()].map((i) => 15 + i));
  });

  it("runs several taps in the order added: a tap added by a tap sees that message, one removed by a tap sees it no more", () => {
    const { box } = inbox();
    box.consumerAdded(); // nothing held: a new tap has no replay to see first
    const seen: string[] = [];
    let untapB: () => void = () => undefined;
    box.tap((m) => {
      seen.push(`a${seqOf(m)}`);
      if (seqOf(m) === 1) {
        untapB = box.tap((n) => seen.push(`b${seqOf(n)}`));
        box.tap((n) => seen.push(`c${seqOf(n)}`));
      }
      if (seqOf(m) === 2) untapB();
    });
    for (let i = 0; i < 4; i++) box.arrive(message(i));
    expect(seen).toEqual(["a0", "a1", "b1", "c1", "a2", "c2", "a3", "c3"]);
  });

  it("after its other taps are removed, a tap still sees every message once; with none left, messages are held", async () => {
    const { box, emitted } = inbox();
    const seen: string[] = [];
    const untapA = box.tap((m) => seen.push(`a${seqOf(m)}`));
    const untapB = box.tap((m) => seen.push(`b${seqOf(m)}`));
    box.arrive(message(0));
    untapA();
    untapA();
    box.arrive(message(1));
    untapB();
    box.arrive(message(2));
    expect(seen).toEqual(["a0", "b0", "b1"]);
    expect(box.heldBytes).toBe(3 * COST);
    box.consumerAdded();
    await Promise.resolve();
    expect(emitted).toEqual([0, 1, 2]);
  });

  it("resumes paused reads when a tap is added, and holds (pausing) again once the last tap is removed", () => {
    const { box, pauses } = inbox();
    for (let i = 0; i < 11; i++) box.arrive(message(i));
    const untap = box.tap(() => undefined);
    expect(pauses).toEqual([true, false]);
    untap();
    expect(pauses).toEqual([true, false]);
    for (let i = 11; i < 15; i++) box.arrive(message(i));
    expect(box.droppedFromReplay).toBe(1);
    box.arrive(message(15));
    expect(pauses).toEqual([true, false, true]);
  });

  it("hands a new tap the held messages in order, with those arriving while it runs", async () => {
    const { box } = inbox();
    box.arrive(message(0));
    box.arrive(message(1));
    const tapped: number[] = [];
    box.tap((m) => {
      tapped.push(seqOf(m));
      if (seqOf(m) === 0) box.arrive(message(2));
    });
    box.arrive(message(3));
    expect(tapped).toEqual([]);
    await Promise.resolve();
    expect(tapped).toEqual([0, 1, 3, 2]);
    box.arrive(message(4));
    expect(tapped).toEqual([0, 1, 3, 2, 4]);
  });

  it("delivers nothing once stopped: held, tap-pending and iterator-buffered messages are dropped, reads resume", async () => {
    const { box, emitted, pauses } = inbox();
    const tapped: number[] = [];
    for (let i = 0; i < 12; i++) box.arrive(message(i));
    expect(pauses).toEqual([true]);
    box.tap((m) => tapped.push(seqOf(m))); // its replay is due in a microtask
    box.consumerAdded(); // so is the release of the held messages
    const iterator = box.iterator();
    box.stop();
    expect(pauses).toEqual([true, false]);
    box.arrive(message(99));
    await Promise.resolve();
    expect(emitted).toEqual([]);
    expect(tapped).toEqual([]);
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    expect(box.stopped).toBe(true);

    const other = inbox();
    const buffered = other.box.iterator();
    other.box.arrive(message(1));
    other.box.stop();
    expect(await buffered.next()).toEqual({ value: undefined, done: true });
  });

  it("ends iterators after what they buffered when the connection closed without this side stopping", async () => {
    const { box } = inbox();
    const iterator = box.iterator();
    box.arrive(message(1));
    box.end();
    box.arrive(message(2));
    box.endIterators();
    expect((await iterator.next()).value?.data[0]).toBe(1);
    expect((await iterator.next()).done).toBe(true);
  });

  it("holds messages of 65 B to 4 KiB as copies in buffers of its own, not as views pinning a shared slab", async () => {
    // A decoder carves such payloads from a 64 KiB slab every connection shares: a held view would pin all of it.
    const slabs = Array.from({ length: 4 }, () => new Uint8Array(64 * 1024));
    const carved = (seq: number, size = 100): InboundMessage => ({
      protocol: "/chat",
      data: (slabs[seq % 4] as Uint8Array).subarray(1_000, 1_000 + size).fill(seq),
    });
    const held = inbox();
    for (let i = 1; i <= 3; i++) held.box.arrive(carved(i)); // held for the first consumer
    const replayed = inbox();
    replayed.box.tap(() => undefined);
    for (let i = 1; i <= 3; i++) replayed.box.arrive(carved(i)); // kept in the replay for a late consumer
    const buffered = inbox();
    const iterator = buffered.box.iterator();
    for (let i = 1; i <= 3; i++) buffered.box.arrive(carved(i)); // buffered by an iterator nobody reads yet
    const taken: InboundMessage[][] = [];
    for (const it of [held.box.iterator(), replayed.box.iterator(), iterator]) {
      const got: InboundMessage[] = [];
      for (let i = 0; i < 3; i++) got.push((await it.next()).value as InboundMessage);
      taken.push(got);
    }
    for (const got of taken) {
      expect(got.map((m) => [m.data.length, m.data[0], m.data[99]])).toEqual([
        [100, 1, 1],
        [100, 2, 2],
        [100, 3, 3],
      ]);
      // Copies in a holder's own 64 KiB buffers, none in a shared slab.
      for (const m of got) {
        expect(m.data.buffer.byteLength).toBe(64 * 1024);
        expect(slabs.some((slab) => slab.buffer === m.data.buffer)).toBe(false);
      }
    }
    // Up to 64 bytes and above 4 KiB a message is held as it came (a decoder gave it bytes of its own).
    const edges = inbox(100 * COST);
    const small = { protocol: "/chat", data: new Uint8Array(64).fill(7) };
    const large = { protocol: "/chat", data: new Uint8Array(4097).fill(8) };
    edges.box.arrive(small);
    edges.box.arrive(large);
    const it = edges.box.iterator();
    expect((await it.next()).value).toBe(small);
    expect((await it.next()).value).toBe(large);
    // Delivered at once to a consumer, a message is handed over as it came.
    const got: InboundMessage[] = [];
    const direct = new Inbox(10 * COST, { emit: (m) => got.push(m), setPaused: () => undefined });
    direct.consumerAdded();
    const passing = carved(4);
    direct.arrive(passing);
    expect(got).toEqual([passing]);
    expect(got[0]).toBe(passing);
  });
});
