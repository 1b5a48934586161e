/**
 * Reached peers that a remote party put in the database hold at most a share of it per network group of the
 * address reached: peers answering dials from one network cannot turn into reached records one dial at a time
 * and take the database from the honest peers learned alongside them. The application's peers, protected peers
 * and other groups are left alone, and the bound holds after a restart.
 */
import { describe, expect, it } from "vitest";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";
import { originGroup } from "../../src/peers/origin-groups.js";
import { MIN_REACHED_PER_GROUP, reachedPerGroup } from "../../src/peers/reached-groups.js";
import type { PeerOrigin } from "../../src/peers/peer-record.js";

function db(maxPeers: number, store = new MemoryPeerStore()): PeerDatabase {
  return new PeerDatabase({ store, flushDelayMs: 0, maxPeers });
}

const exchange = (reporter: string): PeerOrigin => ({ kind: "exchange", group: originGroup(reporter) });
/** The i-th address of a /16 (`a.b`), one host per port block. */
const at = (net: string, i: number): string => `${net}.${Math.floor(i / 250)}.${(i % 250) + 1}:${4000 + (i % 7)}`;

describe("reached peers a remote party put here", () => {
  it("hold at most an eighth of the database per group of the address reached, the least recently seen going first", () => {
    const d = db(1000);
    const cap = reachedPerGroup(1000);
    expect(cap).toBe(125);
    // Honest peers learned from one reporter, reached in 40 other /16s.
    const honest = Array.from({ length: 200 }, (_, i) => `honest-${i}`);
    honest.forEach((p, i) => {
      d.update(p, { addresses: [at(`${20 + (i % 40)}.1`, i)], origin: exchange("198.51.100.7:4000") }, 1);
      d.recordDialSuccess(p, at(`${20 + (i % 40)}.1`, i), 1 + i);
    });
    // One network answers every dial: 400 identities in 203.0/16, learned and then reached one by one.
    for (let i = 0; i < 400; i++) {
      const p = `sybil-${i}`;
      d.update(p, { addresses: [at("203.0", i)], origin: exchange(`192.0.2.${i % 250}:4000`) }, 1_000);
      d.recordDialSuccess(p, at("203.0", i), 1_000 + i);
    }
    const sybils = d.peerIds().filter((p) => p.startsWith("sybil-"));
    expect(sybils).toHaveLength(cap);
    // The most recently reached stayed.
    expect(sybils).toEqual(Array.from({ length: cap }, (_, i) => `sybil-${400 - cap + i}`));
    expect(honest.filter((p) => !d.has(p))).toEqual([]);
  });

  it("leave the application's peers and protected peers alone", () => {
    const d = db(1000);
    // The application's own peers (no origin) in one /16: not capped.
    for (let i = 0; i < 300; i++) d.recordDialSuccess(`app-${i}`, at("10.2", i), 1 + i);
    expect(d.peerIds().filter((p) => p.startsWith("app-"))).toHaveLength(300);
    // A protected reached peer stays, whatever its age.
    d.update("kept", { addresses: [at("203.0", 999)], origin: exchange("192.0.2.1:4000"), protected: true }, 1);
    d.recordDialSuccess("kept", at("203.0", 999), 1);
    for (let i = 0; i < 200; i++) {
      d.update(`sybil-${i}`, { addresses: [at("203.0", i)], origin: exchange("192.0.2.1:4000") }, 2);
      d.recordDialSuccess(`sybil-${i}`, at("203.0", i), 2 + i);
    }
    expect(d.has("kept")).toBe(true);
    expect(d.peerIds().filter((p) => p.startsWith("sybil-"))).toHaveLength(reachedPerGroup(1000) - 1);
  });

  it("are left alone in a small database (at least 32 per group)", () => {
    const d = db(50);
    expect(reachedPerGroup(50)).toBe(MIN_REACHED_PER_GROUP);
    for (let i = 0; i < 40; i++) {
      d.update(`p-${i}`, { addresses: [at("127.0", i)], origin: exchange("127.0.0.1:4000") }, 1);
      d.recordDialSuccess(`p-${i}`, at("127.0", i), 1 + i);
    }
    expect(d.size).toBe(MIN_REACHED_PER_GROUP);
  });

  it("keep the bound after a restart", async () => {
    const store = new MemoryPeerStore();
    const big = db(10_000, store);
    for (let i = 0; i < 300; i++) {
      big.update(`sybil-${i}`, { addresses: [at("203.0", i)], origin: exchange("192.0.2.1:4000") }, 1);
      big.recordDialSuccess(`sybil-${i}`, at("203.0", i), 1 + i);
    }
    await big.flush();
    expect(big.size).toBe(300);
    // The same file opened with the default bound: 125 of that group, the most recently seen.
    const d = db(1000, store);
    await d.load();
    expect(d.size).toBe(125);
    expect(d.has("sybil-299")).toBe(true);
    expect(d.has("sybil-0")).toBe(false);
  });
});
