import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { selectEvictions } from "../../src/peers/peer-eviction.js";
import type { PeerRecord } from "../../src/peers/peer-record.js";
import { MemoryPeerStore, type PeerSnapshot } from "../../src/peers/peer-store.js";

// Pass-through spy: counts how often the database ranks its peers for eviction.
vi.mock("../../src/peers/peer-eviction.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../src/peers/peer-eviction.js")>();
  return { ...original, selectEvictions: vi.fn(original.selectEvictions) };
});

/**
 * The eviction rule as the database applied it before ranking once: find the
 * worst evictable peer by a full scan, remove it, repeat while over the bound.
 * Returns the surviving peer ids in insertion order.
 */
function referenceSurvivors(records: readonly PeerRecord[], maxPeers: number, keep?: string): string[] {
  const peers = new Map(records.map((r) => [r.peerId, r]));
  const proven = (r: PeerRecord): number => (r.addresses.some((a) => a.lastSuccess !== undefined) ? 1 : 0);
  while (peers.size > maxPeers) {
    let victim: PeerRecord | undefined;
    for (const r of peers.values()) {
      if (r.protected || r.peerId === keep) continue;
      if (
        victim === undefined ||
        proven(r) < proven(victim) ||
        (proven(r) === proven(victim) && (r.lastSeen ?? r.addedAt) < (victim.lastSeen ?? victim.addedAt))
      ) {
        victim = r;
      }
    }
    if (victim === undefined) break;
    peers.delete(victim.peerId);
  }
  return [...peers.keys()];
}

/** Random records with few distinct times (many ties), shared addresses, some protected and some proven. */
const recordsArb = fc
  .array(
    fc.record({
      addresses: fc.array(fc.record({ host: fc.integer({ min: 1, max: 12 }), success: fc.option(fc.integer({ min: 0, max: 4 })) }), {
        maxLength: 3,
      }),
      addedAt: fc.integer({ min: 0, max: 4 }),
      lastSeen: fc.option(fc.integer({ min: 0, max: 4 })),
      protected: fc.boolean(),
    }),
    { maxLength: 40 },
  )
  .map((rows) =>
    rows.map((row, i): PeerRecord => {
      const record: PeerRecord = {
        peerId: `peer-${i}`,
        addresses: [],
        addedAt: row.addedAt,
        disconnections: [],
        backoff: { attempt: 0 },
        protected: row.protected,
        capabilities: [],
      };
      for (const a of row.addresses) {
        const address = `10.0.0.${a.host}:4001`;
        if (record.addresses.some((x) => x.address === address)) continue;
        record.addresses.push(a.success === null ? { address, failures: 0 } : { address, failures: 0, lastSuccess: a.success });
      }
      if (row.lastSeen !== null) record.lastSeen = row.lastSeen;
      return record;
    }),
  );

function snapshotOf(peers: PeerRecord[]): PeerSnapshot {
  return { peers, extra: {} };
}

describe("loading a store with more peers than the bound", () => {
  it("keeps exactly the peers the one-at-a-time eviction rule kept, in insertion order", async () => {
    await fc.assert(
      fc.asyncProperty(recordsArb, fc.integer({ min: 1, max: 30 }), async (records, maxPeers) => {
        // The state before eviction (addresses moved to their last claimant, as load does it).
        const unbounded = new PeerDatabase({ store: new MemoryPeerStore(snapshotOf(records)), flushDelayMs: 0, maxPeers: 1_000 });
        await unbounded.load();
        const expected = referenceSurvivors(unbounded.snapshot().peers, maxPeers);

        const bounded = new PeerDatabase({ store: new MemoryPeerStore(snapshotOf(records)), flushDelayMs: 0, maxPeers });
        await bounded.load();
        expect(bounded.peerIds()).toEqual(expected);
        // Evicting is a change to save; a load within the bound is not.
        expect(bounded.dirty).toBe(expected.length < records.length);
      }),
      { numRuns: 300, seed: 0x5eed },
    );
  });

  it("then evicts one peer per new peer, as the one-at-a-time rule does, never the peer just added", async () => {
    await fc.assert(
      fc.asyncProperty(recordsArb, fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 4 }), async (records, maxPeers, now) => {
        const db = new PeerDatabase({ store: new MemoryPeerStore(snapshotOf(records)), flushDelayMs: 0, maxPeers });
        await db.load();
        const before = db.snapshot().peers;
        db.upsert("newcomer", { addresses: ["10.0.0.99:4001"] }, now);
        const expected = referenceSurvivors([...before, ...db.snapshot().peers.filter((r) => r.peerId === "newcomer")], maxPeers, "newcomer");
        expect(db.peerIds()).toEqual(expected);
      }),
      { numRuns: 300, seed: 0x5eed },
    );
  });

  it("ranks the 20 000 peers once and keeps the 1 000 most recently seen", async () => {
    const peers = Array.from({ length: 20_000 }, (_, i): PeerRecord => {
      // Seen times shuffled against insertion order, all distinct.
      const seen = (i * 7_919) % 20_000;
      return {
        peerId: `peer-${i}`,
        addresses: [{ address: `10.${(i >> 8) & 255}.${i & 255}.1:4001`, failures: 0, lastSuccess: seen }],
        addedAt: 0,
        lastSeen: seen,
        disconnections: [],
        backoff: { attempt: 0 },
        protected: false,
        capabilities: [],
      };
    });
    const db = new PeerDatabase({ store: new MemoryPeerStore(snapshotOf(peers)), flushDelayMs: 0 });
    const rank = vi.mocked(selectEvictions);
    rank.mockClear();
    await db.load();
    expect(rank).toHaveBeenCalledTimes(1);
    expect(rank.mock.calls[0]?.[1]).toBe(19_000);
    expect(db.size).toBe(1_000);
    expect(Math.min(...db.peerIds().map((id) => db.get(id)?.lastSeen ?? -1))).toBe(19_000);
  });
});

describe("choosing peers to evict", () => {
  it("picks the same peers, in the same order, as evicting the worst one at a time, never keep or protected", () => {
    fc.assert(
      fc.property(recordsArb, fc.integer({ min: 0, max: 40 }), fc.nat({ max: 45 }), (records, count, keepIndex) => {
        const keep = records[keepIndex]?.peerId;
        const victims = selectEvictions(records, count, keep).map((r) => r.peerId);
        const maxPeers = Math.max(0, records.length - count);
        const survivors = new Set(referenceSurvivors(records, maxPeers, keep));
        expect(victims.length).toBe(records.length - survivors.size);
        expect(new Set(victims).size).toBe(victims.length);
        for (const id of victims) expect(survivors.has(id)).toBe(false);
        // Order: the first k victims are exactly the peers the rule evicts to get k under the count.
        const ids = records.map((r) => r.peerId);
        for (let k = 1; k <= victims.length; k++) {
          const kept = new Set(referenceSurvivors(records, records.length - k, keep));
          expect(new Set(victims.slice(0, k))).toEqual(new Set(ids.filter((id) => !kept.has(id))));
        }
      }),
      { numRuns: 300, seed: 0x5eed },
    );
  });

  it("picks the single worst peer, the first of equals, when one must go", () => {
    fc.assert(
      fc.property(recordsArb, fc.nat({ max: 45 }), (records, keepIndex) => {
        const keep = records[keepIndex]?.peerId;
        const kept = new Set(referenceSurvivors(records, records.length - 1, keep));
        const expected = records.filter((r) => !kept.has(r.peerId)).map((r) => r.peerId);
        expect(selectEvictions(records, 1, keep).map((r) => r.peerId)).toEqual(expected);
      }),
      { numRuns: 300, seed: 0x5eed },
    );
  });

  it("reads each record's rank once, however many peers it evicts", () => {
    let reads = 0;
    const records = Array.from({ length: 20_000 }, (_, i): PeerRecord => {
      const record: PeerRecord = {
        peerId: `peer-${i}`,
        addresses: [],
        addedAt: i,
        disconnections: [],
        backoff: { attempt: 0 },
        protected: false,
        capabilities: [],
      };
      Object.defineProperty(record, "lastSeen", {
        enumerable: true,
        get: () => {
          reads++;
          return (i * 7_919) % 20_000;
        },
      });
      return record;
    });
    const victims = selectEvictions(records, 19_000);
    expect(reads).toBe(20_000);
    // Least recently seen first: seen times 0, 1, 2, ... 18 999.
    const seenOf = (r: PeerRecord): number => (Number(r.peerId.slice("peer-".length)) * 7_919) % 20_000;
    expect(victims.map(seenOf)).toEqual(Array.from({ length: 19_000 }, (_, k) => k));
  });

  it("picks nothing when asked for none or when every peer is protected or kept", () => {
    const a: PeerRecord = { peerId: "a", addresses: [], addedAt: 1, disconnections: [], backoff: { attempt: 0 }, protected: true, capabilities: [] };
    const b: PeerRecord = { ...a, peerId: "b", protected: false };
    expect(selectEvictions([a, b], 0)).toEqual([]);
    expect(selectEvictions([a, b], 2, "b")).toEqual([]);
    expect(selectEvictions([a, b], 2)).toEqual([b]);
  });
});
