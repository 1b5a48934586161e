import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";

/** A peer as the eviction rule sees it. */
interface ModelPeer {
  protected: boolean;
  proven: boolean;
  addedAt: number;
  lastSeen: number | undefined;
  order: number;
}

/**
 * The database's bound applied by a full scan after every change, as documented: unprotected peers only,
 * never the one just changed; unproven first, then least recently seen, then the earliest added.
 */
class Model {
  readonly peers = new Map<string, ModelPeer>();
  #order = 0;
  constructor(readonly maxPeers: number) {}

  ensure(id: string, now: number): ModelPeer {
    let peer = this.peers.get(id);
    if (peer === undefined) {
      peer = { protected: false, proven: false, addedAt: now, lastSeen: undefined, order: this.#order++ };
      this.peers.set(id, peer);
    }
    return peer;
  }

  enforce(keep: string | undefined): void {
    while (this.peers.size > this.maxPeers) {
      let victim: [string, ModelPeer] | undefined;
      for (const entry of this.peers) {
        const [id, p] = entry;
        if (p.protected || id === keep) continue;
        const v = victim?.[1];
        const seen = p.lastSeen ?? p.addedAt;
        const victimSeen = v === undefined ? 0 : (v.lastSeen ?? v.addedAt);
        if (v === undefined || Number(p.proven) < Number(v.proven) || (p.proven === v.proven && (seen < victimSeen || (seen === victimSeen && p.order < v.order)))) {
          victim = entry;
        }
      }
      if (victim === undefined) return;
      this.peers.delete(victim[0]);
    }
  }
}

type Op =
  | { kind: "seen"; peer: number; at: number }
  | { kind: "dialed"; peer: number; at: number }
  | { kind: "failed"; peer: number; at: number }
  | { kind: "disconnected"; peer: number; at: number }
  | { kind: "protect"; peer: number; at: number; on: boolean }
  | { kind: "delete"; peer: number };

const peer = fc.nat({ max: 40 });
const at = fc.nat({ max: 60 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("seen" as const), peer, at }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("dialed" as const), peer, at }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("failed" as const), peer, at }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("disconnected" as const), peer, at }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("protect" as const), peer, at, on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), peer }) },
);

describe("a full peer database evicting one peer per change", () => {
  it("forgets the same peers as a full scan after every change would, whatever the order of changes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(opArb, { maxLength: 300 }), (maxPeers, ops) => {
        const db = new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0, maxPeers });
        const model = new Model(maxPeers);
        for (const op of ops) {
          const id = `peer-${op.peer}`;
          // One address per peer: no address moves between peers here (that path ranks everything again).
          const address = `10.0.0.${op.peer}:4001`;
          switch (op.kind) {
            case "seen":
              db.update(id, { lastSeen: op.at }, op.at);
              model.ensure(id, op.at).lastSeen = op.at;
              model.enforce(id);
              break;
            case "dialed": {
              db.recordDialSuccess(id, address, op.at);
              const p = model.ensure(id, op.at);
              p.proven = true;
              p.lastSeen = op.at;
              model.enforce(id);
              break;
            }
            case "failed":
              db.recordDialFailure(id, address, op.at);
              model.ensure(id, op.at);
              model.enforce(id);
              break;
            case "disconnected": {
              db.recordDisconnection(id, { reason: "timeout", direction: "inbound", initiator: "remote", at: op.at });
              const p = model.ensure(id, op.at);
              p.lastSeen = Math.max(p.lastSeen ?? 0, op.at);
              model.enforce(id);
              break;
            }
            case "protect":
              db.setProtected(id, op.on, op.at);
              model.ensure(id, op.at).protected = op.on;
              model.enforce(id);
              break;
            case "delete":
              db.delete(id);
              model.peers.delete(id);
              break;
          }
          expect(db.peerIds()).toEqual([...model.peers.keys()]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps the bound over many new peers, forgetting the least recently seen unproven one each time", () => {
    const db = new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0, maxPeers: 100 });
    for (let i = 0; i < 100; i++) db.recordDialSuccess(`proven-${i}`, `10.1.0.${i}:4001`, i);
    for (let i = 0; i < 500; i++) {
      db.update(`new-${i}`, { lastSeen: 1_000 + i }, 1_000 + i);
      // The peer seen just before: the only unproven peer other than the new one.
      if (i > 0) expect(db.get(`new-${i - 1}`)).toBeUndefined();
    }
    expect(db.size).toBe(100);
    expect(db.peerIds().filter((id) => id.startsWith("proven-"))).toHaveLength(99);
  });
});
