// The pending pool keeps a bound on its earliest deadline instead of scanning at every read: whatever the
// order of arrivals, progress, departures and expiries, the bound is never after the earliest deadline (the
// node's timer may fire early, never late), and an expiry at the bound finds exactly what is due.
import { describe, expect, it } from "vitest";
import { PendingPool, PendingStage } from "../../../src/node/core/pending-pool.js";
import { prng } from "../../helpers/seeded-random.js";

const limits = { maxPendingInbound: 1_000, maxPendingPerIp: 1_000, maxPendingPerSubnet: 1_000, firstFlightTimeoutMs: 300, handshakeTimeoutMs: 1_000 };

/** When an entry is due: the first-flight deadline until something arrived, then the handshake's. */
function deadlineOf(entry: { readonly stage: PendingStage; readonly arrivedAt: number }): number {
  return entry.arrivedAt + (entry.stage === PendingStage.CONNECTED ? limits.firstFlightTimeoutMs : limits.handshakeTimeoutMs);
}

/** The earliest deadline by a scan of the pool's entries (the reference the bound must never pass). */
function earliest(pool: PendingPool, ids: Iterable<number>): number | undefined {
  let next: number | undefined;
  for (const id of ids) {
    const entry = pool.get(id);
    if (entry === undefined) continue;
    const at = deadlineOf(entry);
    if (next === undefined || at < next) next = at;
  }
  return next;
}

describe("the pending pool's deadline bound", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`is never after the earliest deadline, and expiries at it are on time (seed ${seed})`, () => {
      const random = prng(seed);
      const pool = new PendingPool(limits);
      const ids = new Set<number>();
      let now = 0;
      let nextId = 1;
      for (let step = 0; step < 2_000; step++) {
        const pick = random();
        const live = [...ids];
        const any = live[Math.floor(random() * live.length)];
        if (pick < 0.35 || live.length === 0) {
          const id = nextId++;
          pool.add(id, `10.0.0.${id % 250}`, "10.0.0.0/24", now - Math.floor(random() * 200));
          ids.add(id);
        } else if (pick < 0.6) {
          pool.advance(any!, random() < 0.5 ? PendingStage.FIRST_FLIGHT : PendingStage.SECURED);
        } else if (pick < 0.75) {
          pool.remove(any!);
          ids.delete(any!);
        } else {
          // The node's timer: it fires at the bound read now (or later, time having moved on).
          const bound = pool.nextDeadline();
          const exact = earliest(pool, ids);
          if (exact !== undefined) expect(bound).toBeLessThanOrEqual(exact);
          if (bound !== undefined && random() < 0.7) now = Math.max(now, bound);
          else now += Math.floor(random() * 50);
          const due = earliest(pool, ids);
          const expired = pool.expire(now);
          for (const { entry } of expired) {
            ids.delete(entry.id);
            // `now` is the test's own clock: an entry expired only once its deadline passed.
            expect(deadlineOf(entry)).toBeLessThanOrEqual(now);
          }
          if (due !== undefined && due <= now) expect(expired.length).toBeGreaterThan(0);
          // Exact again after an expiry.
          expect(pool.nextDeadline()).toBe(earliest(pool, ids));
        }
        const bound = pool.nextDeadline();
        const exact = earliest(pool, ids);
        if (exact !== undefined) expect(bound).toBeLessThanOrEqual(exact);
      }
    });
  }
});
