/**
 * The ban list (src/manager/ban-list.ts): keys, escalation, expiry, persistence, and a full list that makes room
 * with automatic bans first, so hosts that get themselves banned by the thousand cannot push out the operator's.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { BanList, banKey } from "../../src/manager/ban-list.js";
import { throwsWithCode } from "../helpers/error-code.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function expectInvalid(fn: () => unknown): void {
  throwsWithCode(fn, ErrorCode.INVALID_ARGUMENT);
}

describe("ban keys", () => {
  it("are typed and normalised", () => {
    expect(banKey({ peerId: "QmPeer" })).toBe("peer:QmPeer");
    expect(banKey({ ip: "::ffff:1.2.3.4" })).toBe("ip:1.2.3.4");
    expect(banKey({ ip: "2001:DB8::0:1" })).toBe("ip:2001:db8::1");
    expect(banKey({ subnet: "1.2.3.99/24" })).toBe("subnet:1.2.3.0/24");
  });

  it("reject malformed targets", () => {
    expectInvalid(() => banKey({ peerId: "" }));
    expectInvalid(() => banKey({ peerId: "has space" }));
    expectInvalid(() => banKey({ ip: "not-an-ip" }));
    expectInvalid(() => banKey({ subnet: "1.2.3.4" }));
    expectInvalid(() => banKey({ peerId: "a", ip: "1.2.3.4" } as unknown as { peerId: string }));
    expectInvalid(() => banKey({} as unknown as { peerId: string }));
  });
});

describe("banning a peer for the first time", () => {
  it("bans for 10 minutes by default and expires by now alone", () => {
    const bans = new BanList();
    const { entry } = bans.ban({ peerId: "p1" }, 1000, { reason: "protocol violation" });
    expect(entry).toMatchObject({ key: "peer:p1", kind: "peer", value: "p1", reason: "protocol violation", createdAt: 1000, offences: 1 });
    expect(entry.expiresAt).toBe(1000 + 10 * MIN);
    expect(bans.isBanned({ peerId: "p1" }, 1000 + 10 * MIN - 1)).toBe(true);
    expect(bans.isBanned({ peerId: "p1" }, 1000 + 10 * MIN)).toBe(false);
    expect(bans.isBanned({ peerId: "p2" }, 1000)).toBe(false);
  });

  it("honours an explicit duration, including a permanent ban", () => {
    const bans = new BanList();
    expect(bans.ban({ peerId: "p" }, 0, { reason: "r", durationMs: 5 }).entry.expiresAt).toBe(5);
    const forever = bans.ban({ ip: "9.9.9.9" }, 0, { reason: "r", durationMs: Number.POSITIVE_INFINITY }).entry;
    expect(forever.expiresAt).toBe(Number.POSITIVE_INFINITY);
    expect(bans.isBanned({ ip: "9.9.9.9" }, 1e15)).toBe(true);
  });

  it("rejects bad reasons, durations and times", () => {
    const bans = new BanList();
    expectInvalid(() => bans.ban({ peerId: "p" }, 0, { reason: 5 as unknown as string }));
    expectInvalid(() => bans.ban({ peerId: "p" }, 0, { reason: "r", durationMs: 0 }));
    expectInvalid(() => bans.ban({ peerId: "p" }, 0, { reason: "r", durationMs: -1 }));
    expectInvalid(() => bans.ban({ peerId: "p" }, 0, { reason: "r", durationMs: Number.NaN }));
    expectInvalid(() => bans.ban({ peerId: "p" }, Number.NaN, { reason: "r" }));
    expect(bans.size).toBe(0);
  });

  it("truncates very long reasons", () => {
    const bans = new BanList();
    expect(bans.ban({ peerId: "p" }, 0, { reason: "x".repeat(10_000) }).entry.reason).toHaveLength(500);
  });
});

describe("banning repeat offenders", () => {
  it("escalates 10 min → 1 h → 24 h and then stays capped at 24 h", () => {
    const bans = new BanList();
    let now = 0;
    const durations: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { entry } = bans.ban({ peerId: "bad" }, now, { reason: "spam" });
      durations.push(entry.expiresAt - now);
      expect(entry.offences).toBe(i + 1);
      now = entry.expiresAt + 1; // re-offend right after the ban ends
    }
    expect(durations).toEqual([10 * MIN, HOUR, DAY, DAY, DAY]);
  });

  it("forgets offences once the memory window after expiry has passed", () => {
    const bans = new BanList({ offenceMemoryMs: DAY });
    const first = bans.ban({ peerId: "p" }, 0, { reason: "r" }).entry;
    expect(bans.offences({ peerId: "p" }, first.expiresAt + DAY - 1)).toBe(1);
    expect(bans.ban({ peerId: "p" }, first.expiresAt + DAY - 1, { reason: "r" }).entry.offences).toBe(2);

    const other = new BanList({ offenceMemoryMs: DAY });
    const e = other.ban({ peerId: "p" }, 0, { reason: "r" }).entry;
    expect(other.offences({ peerId: "p" }, e.expiresAt + DAY)).toBe(0);
    const again = other.ban({ peerId: "p" }, e.expiresAt + DAY, { reason: "r" }).entry;
    expect(again.offences).toBe(1);
    expect(again.expiresAt - (e.expiresAt + DAY)).toBe(10 * MIN);
  });

  it("counts another offence while banned and never shortens the ban", () => {
    const bans = new BanList();
    bans.ban({ peerId: "p" }, 0, { reason: "r", durationMs: DAY });
    const second = bans.ban({ peerId: "p" }, 1000, { reason: "again" }).entry;
    expect(second.offences).toBe(2);
    expect(second.expiresAt).toBe(DAY);
    expect(second.reason).toBe("again");
    const third = bans.ban({ peerId: "p" }, 2000, { reason: "again", durationMs: 2 * DAY }).entry;
    expect(third.expiresAt).toBe(2000 + 2 * DAY);
  });

  it("uses a custom escalation schedule", () => {
    const bans = new BanList({ durationsMs: [1, 10] });
    expect(bans.ban({ peerId: "p" }, 0, { reason: "r" }).entry.expiresAt).toBe(1);
    expect(bans.ban({ peerId: "p" }, 5, { reason: "r" }).entry.expiresAt).toBe(15);
    expect(bans.ban({ peerId: "p" }, 20, { reason: "r" }).entry.expiresAt).toBe(30);
  });
});

describe("checking peers, IPs and subnets", () => {
  it("finds an IP ban for any spelling of the address", () => {
    const bans = new BanList();
    bans.ban({ ip: "1.2.3.4" }, 0, { reason: "r" });
    expect(bans.isBanned({ ip: "::ffff:1.2.3.4" }, 1)).toBe(true);
    expect(bans.isBanned({ ip: "1.2.3.5" }, 1)).toBe(false);
    expect(bans.findBan({ peerId: "unrelated", ip: "1.2.3.4" }, 1)?.key).toBe("ip:1.2.3.4");
  });

  it("finds a subnet ban for every address inside it, of any prefix length", () => {
    const bans = new BanList();
    bans.ban({ subnet: "10.1.2.0/24" }, 0, { reason: "r" });
    bans.ban({ subnet: "2001:db8:0:100::/56" }, 0, { reason: "r" });
    bans.ban({ subnet: "172.16.0.0/12" }, 0, { reason: "r" });
    expect(bans.findBan({ ip: "10.1.2.200" }, 1)?.key).toBe("subnet:10.1.2.0/24");
    expect(bans.isBanned({ ip: "10.1.3.1" }, 1)).toBe(false);
    expect(bans.findBan({ ip: "2001:db8:0:1ff::42" }, 1)?.key).toBe("subnet:2001:db8:0:100::/56");
    expect(bans.isBanned({ ip: "2001:db8:0:200::1" }, 1)).toBe(false);
    expect(bans.findBan({ ip: "172.31.255.255" }, 1)?.key).toBe("subnet:172.16.0.0/12");
    expect(bans.isBanned({ ip: "172.32.0.1" }, 1)).toBe(false);
  });

  it("checks the peer id before the IP", () => {
    const bans = new BanList();
    bans.ban({ ip: "1.2.3.4" }, 0, { reason: "ip" });
    bans.ban({ peerId: "p" }, 0, { reason: "peer" });
    expect(bans.findBan({ peerId: "p", ip: "1.2.3.4" }, 1)?.reason).toBe("peer");
  });

  it("rejects a query with a malformed IP", () => {
    expectInvalid(() => new BanList().isBanned({ ip: "999.1.1.1" }, 0));
  });

  it("stops matching a subnet after it is unbanned", () => {
    const bans = new BanList();
    bans.ban({ subnet: "10.0.0.0/8" }, 0, { reason: "r" });
    expect(bans.unban({ subnet: "10.9.9.9/8" })?.key).toBe("subnet:10.0.0.0/8");
    expect(bans.isBanned({ ip: "10.1.1.1" }, 1)).toBe(false);
    expect(bans.unban({ subnet: "10.0.0.0/8" })).toBeUndefined();
  });
});

describe("unbanning", () => {
  it("lifts the ban and forgets the offences", () => {
    const bans = new BanList();
    bans.ban({ peerId: "p" }, 0, { reason: "r" });
    bans.ban({ peerId: "p" }, 1, { reason: "r" });
    expect(bans.unban({ peerId: "p" })?.offences).toBe(2);
    expect(bans.isBanned({ peerId: "p" }, 2)).toBe(false);
    expect(bans.get({ peerId: "p" })).toBeUndefined();
    expect(bans.ban({ peerId: "p" }, 3, { reason: "r" }).entry.offences).toBe(1);
  });
});

describe("sweeping expired bans", () => {
  it("reports each expiry exactly once, soonest first, and gives the next deadline", () => {
    const bans = new BanList();
    bans.ban({ peerId: "a" }, 0, { reason: "r", durationMs: 300 });
    bans.ban({ peerId: "b" }, 0, { reason: "r", durationMs: 100 });
    bans.ban({ peerId: "c" }, 0, { reason: "r", durationMs: 200 });
    expect(bans.nextExpiry()).toBe(100);
    expect(bans.sweep(99)).toEqual([]);
    expect(bans.sweep(250).map((e) => e.value)).toEqual(["b", "c"]);
    expect(bans.sweep(250)).toEqual([]);
    expect(bans.nextExpiry()).toBe(300);
    expect(bans.sweep(1000).map((e) => e.value)).toEqual(["a"]);
    expect(bans.nextExpiry()).toBeUndefined();
  });

  it("keeps remembered offences until the memory window ends, then drops them", () => {
    const bans = new BanList({ offenceMemoryMs: 1000 });
    bans.ban({ peerId: "a" }, 0, { reason: "r", durationMs: 100 });
    bans.sweep(100);
    expect(bans.size).toBe(1);
    expect(bans.sweep(1099)).toEqual([]);
    expect(bans.size).toBe(1);
    bans.sweep(1100);
    expect(bans.size).toBe(0);
  });

  it("re-arms the expiry of a re-banned target", () => {
    const bans = new BanList();
    bans.ban({ peerId: "a" }, 0, { reason: "r", durationMs: 100 });
    expect(bans.sweep(100)).toHaveLength(1);
    bans.ban({ peerId: "a" }, 200, { reason: "r", durationMs: 100 });
    expect(bans.nextExpiry()).toBe(300);
    expect(bans.sweep(300)).toHaveLength(1);
  });

  it("never reports a permanent ban as expiring", () => {
    const bans = new BanList();
    bans.ban({ peerId: "a" }, 0, { reason: "r", durationMs: Number.POSITIVE_INFINITY });
    expect(bans.nextExpiry()).toBeUndefined();
    expect(bans.sweep(Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  it("lists active bans soonest first", () => {
    const bans = new BanList();
    bans.ban({ peerId: "late" }, 0, { reason: "r", durationMs: 50 });
    bans.ban({ peerId: "soon" }, 0, { reason: "r", durationMs: 10 });
    bans.ban({ peerId: "gone" }, 0, { reason: "r", durationMs: 1 });
    expect(bans.active(5).map((e) => e.value)).toEqual(["soon", "late"]);
  });
});

describe("a full ban list", () => {
  it("never holds more than maxSize entries", () => {
    const bans = new BanList({ maxSize: 50 });
    for (let i = 0; i < 1000; i++) {
      bans.ban({ peerId: `p${i}` }, i, { reason: "r" });
      expect(bans.size).toBeLessThanOrEqual(50);
    }
    expect(bans.size).toBe(50);
  });

  it("evicts the active ban that expires soonest and returns it", () => {
    const bans = new BanList({ maxSize: 3 });
    bans.ban({ peerId: "long" }, 0, { reason: "r", durationMs: 1000 });
    bans.ban({ peerId: "short" }, 0, { reason: "r", durationMs: 10 });
    bans.ban({ peerId: "mid" }, 0, { reason: "r", durationMs: 100 });
    const { evicted } = bans.ban({ peerId: "new" }, 1, { reason: "r", durationMs: 500 });
    expect(evicted?.value).toBe("short");
    expect(bans.get({ peerId: "short" })).toBeUndefined();
    expect(["long", "mid", "new"].every((id) => bans.get({ peerId: id }) !== undefined)).toBe(true);
  });

  it("evicts remembered (expired) offences before any active ban", () => {
    const bans = new BanList({ maxSize: 2 });
    bans.ban({ peerId: "expired" }, 0, { reason: "r", durationMs: 10 });
    bans.ban({ peerId: "active" }, 0, { reason: "r", durationMs: 100 });
    const { evicted } = bans.ban({ peerId: "new" }, 50, { reason: "r", durationMs: 1000 });
    expect(evicted?.value).toBe("expired");
    expect(bans.isBanned({ peerId: "active" }, 50)).toBe(true);
  });

  it("makes room with automatic bans first: hosts banning themselves by the thousand cannot push out the operator's", () => {
    const bans = new BanList({ maxSize: 3 });
    // The operator's ban ends sooner than any automatic one: before, it was the first evicted.
    bans.ban({ ip: "203.0.113.9" }, 0, { reason: "operator", durationMs: 5 * MIN });
    for (let i = 0; i < 1_000; i++) {
      const { evicted } = bans.ban({ peerId: `hostile${i}` }, i, { reason: "misbehaviour", automatic: true });
      if (evicted !== undefined) expect(evicted.value).toMatch(/^hostile/);
    }
    expect(bans.isBanned({ ip: "203.0.113.9" }, 1_000)).toBe(true);
    expect(bans.size).toBe(3);
    // With no automatic entry left to drop, the operator's own bans make room as before.
    const full = new BanList({ maxSize: 2 });
    full.ban({ peerId: "a" }, 0, { reason: "r", durationMs: 10 });
    full.ban({ peerId: "b" }, 0, { reason: "r", durationMs: 100 });
    expect(full.ban({ peerId: "c" }, 1, { reason: "r", automatic: true }).evicted?.value).toBe("a");
  });

  it("makes an automatic entry the operator's when the operator bans the target again, and keeps the mark when saved", () => {
    const bans = new BanList({ maxSize: 2 });
    bans.ban({ peerId: "auto" }, 0, { reason: "misbehaviour", automatic: true });
    bans.ban({ peerId: "both" }, 0, { reason: "misbehaviour", automatic: true });
    bans.ban({ peerId: "both" }, 1, { reason: "operator" });
    expect(bans.toJSON().entries.map((e) => [e.value, e.automatic])).toEqual([
      ["auto", true],
      ["both", undefined],
    ]);
    const restored = BanList.fromJSON(bans.toJSON(), { maxSize: 2 });
    expect(restored.ban({ peerId: "new" }, 2, { reason: "r" }).evicted?.value).toBe("auto");
  });

  it("does not evict when re-banning a target it already holds", () => {
    const bans = new BanList({ maxSize: 1 });
    bans.ban({ peerId: "a" }, 0, { reason: "r" });
    expect(bans.ban({ peerId: "a" }, 1, { reason: "r" }).evicted).toBeUndefined();
    expect(bans.size).toBe(1);
  });

  it("rejects bad options", () => {
    expectInvalid(() => new BanList({ maxSize: 0 }));
    expectInvalid(() => new BanList({ durationsMs: [] }));
    expectInvalid(() => new BanList({ durationsMs: [-1] }));
    expectInvalid(() => new BanList({ offenceMemoryMs: -1 }));
  });
});

describe("persisting a ban list", () => {
  it("round-trips through JSON, including permanent bans and reported expiries", () => {
    const bans = new BanList();
    bans.ban({ peerId: "p" }, 0, { reason: "peer" });
    bans.ban({ peerId: "p" }, 1, { reason: "peer again" });
    bans.ban({ ip: "1.2.3.4" }, 0, { reason: "ip", durationMs: Number.POSITIVE_INFINITY });
    bans.ban({ subnet: "10.0.0.0/8" }, 0, { reason: "subnet", durationMs: 5 });
    bans.sweep(10);
    const json = JSON.parse(JSON.stringify(bans)) as unknown;
    const restored = BanList.fromJSON(json);
    const byKey = (list: BanList) => [...list.toJSON().entries].sort((a, b) => `${a.kind}${a.value}`.localeCompare(`${b.kind}${b.value}`));
    expect(byKey(restored)).toEqual(byKey(bans));
    expect(restored.isBanned({ peerId: "p" }, 2)).toBe(true);
    expect(restored.isBanned({ ip: "1.2.3.4" }, 1e15)).toBe(true);
    expect(restored.offences({ peerId: "p" }, 2)).toBe(2);
    expect(restored.sweep(10)).toEqual([]); // already reported before saving
  });

  it("keeps the latest-expiring entries when the saved list exceeds maxSize", () => {
    const bans = new BanList();
    for (let i = 1; i <= 10; i++) bans.ban({ peerId: `p${i}` }, 0, { reason: "r", durationMs: i * 1000 });
    const restored = BanList.fromJSON(bans.toJSON(), { maxSize: 3 });
    expect(restored.active(0).map((e) => e.value)).toEqual(["p8", "p9", "p10"]);
  });

  it.each<[string, unknown]>([
    ["null", null],
    ["a wrong version", { version: 2, entries: [] }],
    ["missing entries", { version: 1 }],
    ["a bad kind", { version: 1, entries: [{ kind: "host", value: "x", reason: "", createdAt: 0, expiresAt: 1, offences: 1, expired: false }] }],
    ["a bad IP", { version: 1, entries: [{ kind: "ip", value: "1.2.3", reason: "", createdAt: 0, expiresAt: 1, offences: 1, expired: false }] }],
    ["a zero offence count", { version: 1, entries: [{ kind: "peer", value: "p", reason: "", createdAt: 0, expiresAt: 1, offences: 0, expired: false }] }],
    ["a string expiry", { version: 1, entries: [{ kind: "peer", value: "p", reason: "", createdAt: 0, expiresAt: "1", offences: 1, expired: false }] }],
    ["a null entry", { version: 1, entries: [null] }],
  ])("rejects %s with INVALID_ARGUMENT", (_name, json) => {
    expectInvalid(() => BanList.fromJSON(json));
  });
});
