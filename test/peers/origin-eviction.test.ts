/**
 * Peers a remote party put in the database (identities that connected, peers named by peer exchange) make room
 * for each other, by network group, before any other peer is evicted: a flood of new identities cannot push out
 * the peers the application recorded, sources share by group, protected and proven peers are never taken for
 * it, and the origin survives a restart.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";
import { OriginGroups, originGroup } from "../../src/peers/origin-groups.js";
import { createPeerRecord, parsePeerRecord, type PeerOrigin, type PeerRecord } from "../../src/peers/peer-record.js";

function db(maxPeers: number, store = new MemoryPeerStore()): PeerDatabase {
  return new PeerDatabase({ store, flushDelayMs: 0, maxPeers });
}

const inbound = (address: string): PeerOrigin => ({ kind: "inbound", group: originGroup(address) });
const exchange = (reporter: string): PeerOrigin => ({ kind: "exchange", group: originGroup(reporter) });
const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe("eviction of peers put here by remote parties", () => {
  it("never evicts a peer the application recorded while one put here by a remote party can go", () => {
    const d = db(100);
    const recorded = ids("app", 30);
    recorded.forEach((p, i) => d.update(p, { addresses: [`10.1.0.${i + 1}:4000`] }, 1));
    // 1,100 connections from new identities, from one /16 and then from 200 /16s.
    for (let i = 0; i < 600; i++) d.update(`one-${i}`, { lastSeen: 2, addresses: [`192.0.2.${i % 250}:4000`], origin: inbound(`203.0.${i % 250}.1:5000`) }, 2);
    for (let i = 0; i < 500; i++) d.update(`many-${i}`, { lastSeen: 3, origin: inbound(`${11 + (i % 200)}.9.0.1:5000`) }, 3);
    expect(d.size).toBe(100);
    expect(recorded.filter((p) => !d.has(p))).toEqual([]);
  });

  it("takes the oldest of the largest group, so a source's own entries make room first and groups keep a share", () => {
    const d = db(60);
    ids("app", 10).forEach((p) => d.update(p, {}, 1));
    const honest = ids("honest", 10);
    honest.forEach((p) => d.update(p, { origin: exchange("198.51.100.7:4000") }, 2));
    // One source floods: 500 peers from one /16 (many addresses, many identities).
    for (let i = 0; i < 500; i++) d.update(`flood-${i}`, { origin: exchange(`203.0.${i % 250}.${1 + (i % 7)}:4000`) }, 3);
    expect(honest.filter((p) => d.has(p))).toEqual(honest);
    // 40 sources: every group ends with about the same share; the honest one keeps its part.
    for (let g = 0; g < 40; g++) for (let i = 0; i < 20; i++) d.update(`g${g}-${i}`, { origin: exchange(`${20 + g}.1.2.3:4000`) }, 4);
    expect(d.size).toBe(60);
    expect(honest.filter((p) => d.has(p)).length).toBeGreaterThanOrEqual(1);
    expect(ids("app", 10).filter((p) => !d.has(p))).toEqual([]);
  });

  it("never takes a protected or a proven peer for a newcomer", () => {
    const d = db(20);
    const kept = ids("kept", 10);
    kept.forEach((p) => d.update(p, { origin: exchange("203.0.113.1:4000") }, 1));
    d.setProtected(kept[0]!, true, 1);
    d.recordDialSuccess(kept[1]!, "192.0.2.1:4000", 1);
    for (let i = 0; i < 200; i++) d.update(`flood-${i}`, { origin: exchange("203.0.113.9:4000") }, 2);
    expect(d.has(kept[0]!)).toBe(true);
    expect(d.get(kept[0]!)?.protected).toBe(true);
    expect(d.has(kept[1]!)).toBe(true);
  });

  it("counts in a group only the peers that may make room: proven and protected ones do not make it larger", () => {
    const d = db(30);
    const honest = ids("honest", 20);
    honest.forEach((p) => d.update(p, { origin: exchange("198.51.100.1:4000") }, 1));
    // 15 of the honest group's peers were reached by a dial, and the application protects 2 more.
    honest.slice(0, 15).forEach((p, i) => d.recordDialSuccess(p, `192.0.2.${i + 1}:4000`, 2));
    honest.slice(15, 17).forEach((p) => d.setProtected(p, true, 2));
    ids("other", 10).forEach((p) => d.update(p, { origin: exchange("203.0.113.1:4000") }, 3));
    // Full: a newcomer from a third group takes from the group with the most that may go (10 against 3).
    d.update("newcomer", { origin: exchange("192.0.2.200:4000") }, 4);
    expect(honest.filter((p) => d.has(p))).toEqual(honest);
    expect(ids("other", 10).filter((p) => d.has(p))).toHaveLength(9);
  });

  it("does not keep a newcomer a remote party put here when none of its kind may make room", () => {
    const d = db(20);
    ids("app", 10).forEach((p) => d.update(p, {}, 1));
    ids("reached", 10).forEach((p, i) => d.recordDialSuccess(p, `192.0.2.${i + 1}:4000`, 1));
    for (let i = 0; i < 50; i++) d.update(`newcomer-${i}`, { lastSeen: 5, origin: inbound(`203.0.113.${i}:4000`) }, 5);
    expect(d.size).toBe(20);
    expect([...ids("app", 10), ...ids("reached", 10)].filter((p) => !d.has(p))).toEqual([]);
    // Learned peers a dial then reached leave their group: newcomers still take no other place.
    const e = db(20);
    ids("app", 10).forEach((p) => e.update(p, {}, 1));
    ids("learned", 10).forEach((p) => e.update(p, { origin: exchange("203.0.113.1:4000") }, 1));
    ids("learned", 10).forEach((p, i) => e.recordDialSuccess(p, `198.51.100.${i + 1}:4000`, 2));
    for (let i = 0; i < 50; i++) e.update(`newcomer-${i}`, { origin: exchange("192.0.2.1:4000") }, 3);
    expect(ids("app", 10).filter((p) => !e.has(p))).toEqual([]);
  });

  it("lets a stale peer make room for a remote newcomer when none of its kind may, and only a stale one", () => {
    const day = 24 * 3600 * 1000;
    const d = db(10);
    // Reached 40 days ago; recorded by the application and never reached, its address failing; reached today
    // and down for a moment (three failures: not stale); seven live ones.
    d.recordDialSuccess("old", "192.0.2.1:4000", 0);
    d.update("failing", { addresses: ["192.0.2.2:4000"] }, 39 * day);
    d.recordDialSuccess("down", "192.0.2.3:4000", 40 * day - 60_000);
    for (let k = 0; k < 3; k++) {
      d.recordDialFailure("failing", "192.0.2.2:4000", 39 * day + k);
      d.recordDialFailure("down", "192.0.2.3:4000", 40 * day - 30_000 + k);
    }
    ids("live", 7).forEach((p, i) => d.recordDialSuccess(p, `198.51.100.${i + 1}:4000`, 39 * day));
    d.update("n1", { origin: inbound("203.0.113.1:4000") }, 40 * day);
    expect(d.has("old")).toBe(false);
    expect(d.has("n1")).toBe(true);
    // A peer with an origin makes room before any stale one.
    d.update("n2", { origin: exchange("198.18.0.1:4000") }, 40 * day);
    expect(d.has("n1")).toBe(false);
    expect(d.has("failing")).toBe(true);
    // None may (the application protects n2): the stale one goes.
    d.setProtected("n2", true, 40 * day);
    d.update("n3", { origin: exchange("198.19.0.1:4000") }, 40 * day);
    expect(d.has("failing")).toBe(false);
    // Nothing stale is left (a brief outage is not staleness): the newcomer is not kept.
    d.setProtected("n3", true, 40 * day);
    d.update("n4", { origin: exchange("198.20.0.1:4000") }, 40 * day);
    expect(d.has("n4")).toBe(false);
    expect(["down", ...ids("live", 7)].filter((p) => !d.has(p))).toEqual([]);
    expect(d.size).toBe(10);
  });

  it("counts a peer in its group again when it loses the address a dial reached", () => {
    const d = db(12);
    d.update("learned", { origin: exchange("203.0.113.1:4000") }, 1);
    d.recordDialSuccess("learned", "198.51.100.1:4000", 2);
    ids("app", 10).forEach((p) => d.update(p, {}, 3));
    d.removeAddress("learned", "198.51.100.1:4000");
    d.update("newcomer", { origin: exchange("203.0.113.2:4000") }, 4);
    d.update("newcomer-2", { origin: exchange("203.0.113.3:4000") }, 5);
    // The full database (12) made room from the group of 203.0/16: the unproven learned peer went first.
    expect(d.has("learned")).toBe(false);
    expect(ids("app", 10).filter((p) => !d.has(p))).toEqual([]);
  });

  it("keeps the origin of a known peer as it was made", () => {
    const d = db(10);
    d.update("a", { addresses: ["10.0.0.1:1"] }, 1);
    d.update("a", { origin: exchange("203.0.113.1:4000") }, 2);
    expect(d.get("a")?.origin).toBeUndefined();
    d.update("b", { origin: inbound("203.0.113.1:4000") }, 2);
    d.update("b", { origin: exchange("198.51.100.1:4000") }, 3);
    expect(d.get("b")?.origin).toEqual({ kind: "inbound", group: "203.0.0.0/16" });
  });

  it("keeps origins across a restart, so a full database still makes room from them", async () => {
    const store = new MemoryPeerStore();
    const before = db(20, store);
    ids("app", 10).forEach((p) => before.update(p, {}, 1));
    ids("learned", 10).forEach((p) => before.update(p, { origin: exchange("203.0.113.1:4000") }, 1));
    await before.flush();
    const after = db(20, store);
    await after.load();
    expect(after.get("learned-0")?.origin).toEqual({ kind: "exchange", group: "203.0.0.0/16" });
    ids("new", 5).forEach((p) => after.update(p, { origin: exchange("198.51.100.1:4000") }, 2));
    expect(after.size).toBe(20);
    expect(ids("app", 10).filter((p) => !after.has(p))).toEqual([]);
    expect(ids("new", 5).filter((p) => after.has(p)).length).toBe(5);
  });

  it("groups IPv4 by /16 and IPv6 by /32, an IPv6 address carrying an IPv4 as that IPv4, whatever the port", () => {
    expect(originGroup("203.0.113.7:4000")).toBe("203.0.0.0/16");
    expect(originGroup("[2001:db8:1:2::1]:4000")).toBe("2001:db8::/32");
    expect(originGroup("[::ffff:203.0.113.7]:1")).toBe("203.0.0.0/16");
    expect(originGroup("203.0.113.7")).toBe("203.0.0.0/16");
    // The IPv4 an IPv6 address carries: 6to4, Teredo (inverted), NAT64.
    expect(originGroup("[2002:cb00:7107::1]:4000")).toBe("203.0.0.0/16");
    expect(originGroup("[2001:0:4136:e378:8000:63bf:34ff:8ef8]:4000")).toBe("203.0.0.0/16");
    expect(originGroup("[64:ff9b::cb00:7107]:4000")).toBe("203.0.0.0/16");
    expect(originGroup("[64:ff9b::c633:6401]:4000")).toBe("198.51.0.0/16");
    expect(originGroup("[2001:db8::1]:4000")).toBe("2001:db8::/32");
  });

  it("reads an origin back from disk and refuses a malformed one", () => {
    const base = { peerId: "a", addresses: [], addedAt: 1, disconnections: [], backoff: { attempt: 0 }, protected: false, capabilities: [] };
    expect(parsePeerRecord({ ...base, origin: { kind: "inbound", group: "10.0.0.0/16" } }).origin).toEqual({ kind: "inbound", group: "10.0.0.0/16" });
    expect(() => parsePeerRecord({ ...base, origin: { kind: "dialed", group: "x" } })).toThrow(/origin.kind/);
    expect(() => parsePeerRecord({ ...base, origin: { kind: "inbound", group: "x".repeat(65) } })).toThrow(/origin.group/);
    // The same check for a caller's argument, as INVALID_ARGUMENT.
    const d = db(10);
    expect(() => d.update("a", { origin: { kind: "dialed" as "inbound", group: "x" } }, 1)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/origin.kind/) }));
    expect(d.has("a")).toBe(false);
  });

  it("evicts from a database loaded far over its bound what one pick after another would, a level at a time", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 70 }), (groupOf, count) => {
        const made = (): { groups: OriginGroups; records: PeerRecord[] } => {
          const groups = new OriginGroups();
          const records = groupOf.map((g, i) => ({ ...createPeerRecord(`p${i}`, i), origin: { kind: "exchange" as const, group: `g${g}` } }));
          for (const r of records) groups.add(r);
          return { groups, records };
        };
        const bulk = made();
        const many = bulk.groups.pickMany(count).map((r) => r.peerId);
        const single = made();
        const one: string[] = [];
        for (let i = 0; i < count; i++) {
          const victim = single.groups.pick(undefined);
          if (victim === undefined) break;
          single.groups.remove(victim);
          one.push(victim.peerId);
        }
        expect([...many].sort()).toEqual([...one].sort());
      }),
      { numRuns: 300 },
    );
  });

  it("loads a file far over the bound, 40,000 records in as many groups, down to the bound", async () => {
    const store = new MemoryPeerStore();
    const big = db(40_000, store);
    for (let i = 0; i < 40_000; i++) big.update(`p${i}`, { origin: { kind: "inbound", group: `g${i}` } }, 1);
    ids("app", 10).forEach((p) => big.update(p, {}, 1));
    await big.flush();
    const d = db(1_000, store);
    await d.load();
    expect(d.size).toBe(1_000);
    expect(ids("app", 10).filter((p) => !d.has(p))).toEqual([]);
  });

  it("skips, without failing, a group whose records were all reached since they were added", () => {
    const groups = new OriginGroups();
    const records = ["a", "b", "c", "d"].map((id, i) => ({ ...createPeerRecord(id, i), origin: { kind: "inbound" as const, group: i < 3 ? "big" : "small" } }));
    for (const r of records) groups.add(r);
    for (const r of records.slice(0, 3)) r.addresses = [{ address: "192.0.2.1:1", failures: 0, lastSuccess: 5 }];
    expect(groups.pickMany(3).map((r) => r.peerId)).toEqual(["d"]);
    expect(groups.pick(undefined)).toBeUndefined();
    // A group emptied by the records found reached while its last one is taken.
    const two = new OriginGroups();
    const [reached, open] = ["p", "v"].map((id, i) => ({ ...createPeerRecord(id, i), origin: { kind: "inbound" as const, group: "g" } }));
    two.add(reached!);
    two.add(open!);
    reached!.addresses = [{ address: "192.0.2.1:1", failures: 0, lastSuccess: 5 }];
    expect(two.pickMany(2).map((r) => r.peerId)).toEqual(["v"]);
  });
});
