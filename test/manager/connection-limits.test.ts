import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { BanList } from "../../src/manager/ban-list.js";
import {
  type ConnectionReservation,
  ConnectionLimiter,
  type RefusalReason,
  describeRefusal,
  refusalErrorCode,
  refusalToError,
} from "../../src/manager/connection-limits.js";

/** Generous limits where only the limit under test can fire. */
const ROOMY = {
  maxPendingInbound: 100,
  maxPendingOutbound: 100,
  maxInbound: 100,
  maxOutbound: 100,
  maxConnections: 200,
  maxPerIp: 100,
  maxPerSubnet: 100,
  inboundRateBurst: 1000,
  inboundRatePerSecond: 0,
} as const;

function zeroCounts(limiter: ConnectionLimiter): void {
  expect(limiter.counts()).toEqual({ pendingInbound: 0, pendingOutbound: 0, openInbound: 0, openOutbound: 0, total: 0, ips: 0, subnets: 0 });
}

describe("admitting inbound connections, one limit at a time", () => {
  it("refuses a banned IP", () => {
    const limiter = new ConnectionLimiter(ROOMY);
    (limiter.banList as BanList).ban({ ip: "1.2.3.4" }, 0, { reason: "r", durationMs: 1000 });
    expect(limiter.checkInbound("1.2.3.4", 10)).toEqual({
      reason: "banned",
      direction: "inbound",
      limit: 0,
      current: 1,
      key: "ip:1.2.3.4",
      retryAfterMs: 990,
    });
    expect(limiter.checkInbound("1.2.3.4", 1000)).toBeUndefined();
  });

  it("refuses an IP inside a banned subnet", () => {
    const limiter = new ConnectionLimiter(ROOMY);
    (limiter.banList as BanList).ban({ subnet: "1.2.3.0/24" }, 0, { reason: "r" });
    expect(limiter.checkInbound("::ffff:1.2.3.77", 1)).toMatchObject({ reason: "banned", key: "subnet:1.2.3.0/24" });
  });

  it("refuses when maxPendingInbound handshakes are in progress", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPendingInbound: 2 });
    limiter.reservePending("inbound", "10.0.0.1");
    expect(limiter.checkInbound("10.0.1.1", 0)).toBeUndefined();
    limiter.reservePending("inbound", "10.0.0.2");
    expect(limiter.checkInbound("10.0.1.1", 0)).toMatchObject({ reason: "pending", limit: 2, current: 2, option: "maxPendingInbound" });
  });

  it("refuses the (maxPerIp + 1)-th connection from one IP, whatever its spelling", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPerIp: 2 });
    limiter.reservePending("inbound", "1.2.3.4").open();
    limiter.reservePending("inbound", "::ffff:1.2.3.4");
    expect(limiter.countForIp("1.2.3.4")).toBe(2);
    expect(limiter.checkInbound("1.2.3.4", 0)).toEqual({
      reason: "per_ip",
      direction: "inbound",
      limit: 2,
      current: 2,
      key: "ip:1.2.3.4",
      option: "maxPerIp",
    });
    expect(limiter.checkInbound("1.2.3.5", 0)).toBeUndefined();
  });

  it("refuses the (maxPerSubnet + 1)-th connection from one IPv4 /24", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPerIp: 1, maxPerSubnet: 3 });
    for (const ip of ["1.2.3.1", "1.2.3.2", "1.2.3.3"]) limiter.reservePending("inbound", ip);
    expect(limiter.checkInbound("1.2.3.200", 0)).toMatchObject({ reason: "per_subnet", limit: 3, current: 3, key: "subnet:1.2.3.0/24" });
    expect(limiter.checkInbound("1.2.4.1", 0)).toBeUndefined();
  });

  it("groups IPv6 addresses by /56", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPerIp: 1, maxPerSubnet: 2 });
    limiter.reservePending("inbound", "2001:db8:0:100::1");
    limiter.reservePending("inbound", "2001:db8:0:1ff::1");
    expect(limiter.checkInbound("2001:db8:0:1aa::9", 0)).toMatchObject({ reason: "per_subnet", key: "subnet:2001:db8:0:100::/56" });
    expect(limiter.checkInbound("2001:db8:0:200::1", 0)).toBeUndefined();
  });

  it("uses the configured subnet prefixes", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPerIp: 1, maxPerSubnet: 1, ipv4SubnetPrefix: 16 });
    limiter.reservePending("inbound", "10.1.2.3");
    expect(limiter.checkInbound("10.1.99.99", 0)).toMatchObject({ reason: "per_subnet", key: "subnet:10.1.0.0/16" });
    expect(limiter.countForSubnet("10.1.200.1")).toBe(1);
  });

  it("refuses an IP that attempts faster than the rate limit, then admits it after refill", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, inboundRateBurst: 2, inboundRatePerSecond: 1 });
    expect(limiter.checkInbound("5.5.5.5", 0)).toBeUndefined();
    expect(limiter.checkInbound("5.5.5.5", 0)).toBeUndefined();
    expect(limiter.checkInbound("5.5.5.5", 0)).toEqual({
      reason: "rate_limited",
      direction: "inbound",
      limit: 2,
      current: 0,
      key: "ip:5.5.5.5",
      option: "inboundRateBurst",
      retryAfterMs: 1000,
    });
    expect(limiter.checkInbound("6.6.6.6", 0)).toBeUndefined();
    expect(limiter.checkInbound("5.5.5.5", 1000)).toBeUndefined();
  });

  it("refuses when maxInbound slots (pending + open) are taken", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxInbound: 2, maxPendingInbound: 2, maxPerIp: 2, maxPerSubnet: 2 });
    limiter.reservePending("inbound", "1.1.1.1").open();
    limiter.reservePending("inbound", "2.2.2.2");
    expect(limiter.checkInbound("3.3.3.3", 0)).toMatchObject({ reason: "inbound_full", limit: 2, current: 2, option: "maxInbound" });
  });

  it("refuses when maxConnections is reached across both directions", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxInbound: 5, maxOutbound: 5, maxConnections: 6, maxPendingInbound: 5, maxPendingOutbound: 5, maxPerIp: 5, maxPerSubnet: 5 });
    for (let i = 0; i < 4; i++) limiter.reservePending("outbound").open();
    limiter.reservePending("inbound", "1.1.1.1").open();
    limiter.reservePending("inbound", "2.2.2.2");
    expect(limiter.checkInbound("3.3.3.3", 0)).toMatchObject({ reason: "total_full", direction: "inbound", limit: 6, current: 6, option: "maxConnections" });
    expect(limiter.checkOutbound()).toMatchObject({ reason: "total_full", direction: "outbound", limit: 6, current: 6 });
  });

  it("rejects a malformed remote address with INVALID_ARGUMENT", () => {
    const limiter = new ConnectionLimiter();
    expect(() => limiter.checkInbound("999.0.0.1", 0)).toThrow(PeerlinkError);
    expect(() => limiter.reservePending("inbound", "nope")).toThrow(PeerlinkError);
    expect(() => limiter.reservePending("inbound")).toThrow(PeerlinkError);
    expect(() => limiter.reservePending("sideways" as "inbound", "1.1.1.1")).toThrow(PeerlinkError);
    zeroCounts(limiter);
  });
});

describe("admitting inbound connections when several limits are hit at once", () => {
  it("applies the checks in the order ban → pending → per IP → per subnet → rate → inbound → total", () => {
    // Every limit is hit for 1.2.3.4 at once; each step clears only the cause that fired,
    // so the next refusal shows which check comes next while all later ones still hold.
    const limiter = new ConnectionLimiter({
      maxPendingInbound: 2,
      maxPerIp: 1,
      maxPerSubnet: 2,
      maxInbound: 8,
      maxOutbound: 2,
      maxPendingOutbound: 2,
      maxConnections: 9,
      inboundRateBurst: 1,
      inboundRatePerSecond: 0,
    });
    const target = "1.2.3.4";
    const open = (ip: string) => {
      const r = limiter.reservePending("inbound", ip);
      r.open();
      return r;
    };
    (limiter.banList as BanList).ban({ ip: target }, 0, { reason: "r" });
    const a = limiter.reservePending("inbound", "5.0.0.1");
    limiter.reservePending("inbound", "6.0.0.1");
    const t = open(target);
    const s = open("1.2.3.5");
    open("1.2.3.6");
    const c = open("7.0.0.1");
    open("8.0.0.1");
    open("9.0.0.1");
    limiter.reservePending("outbound").open();
    limiter.rateLimiter.tryTake(target, 0);
    expect(limiter.counts()).toMatchObject({ pendingInbound: 2, openInbound: 6, total: 9 });

    const reasons: (RefusalReason | undefined)[] = [];
    const check = () => reasons.push(limiter.checkInbound(target, 1)?.reason);
    check();
    (limiter.banList as BanList).unban({ ip: target });
    check();
    a.open(); // pending 1, same totals
    check();
    t.release();
    open("10.0.0.1"); // per IP clear, same totals
    check();
    s.release();
    open("11.0.0.1"); // subnet down to 1, same totals
    check();
    limiter.rateLimiter.delete(target);
    check();
    limiter.rateLimiter.delete(target);
    c.release();
    const extraDial = limiter.reservePending("outbound"); // inbound 7 of 8, total still 9
    check();
    limiter.rateLimiter.delete(target);
    extraDial.release();
    check();
    expect(reasons).toEqual(["banned", "pending", "per_ip", "per_subnet", "rate_limited", "inbound_full", "total_full", undefined]);
  });

  it("does not take a rate token when an earlier check refuses", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPerIp: 1, inboundRateBurst: 1 });
    const held = limiter.reservePending("inbound", "4.4.4.4");
    expect(limiter.checkInbound("4.4.4.4", 0)?.reason).toBe("per_ip");
    expect(limiter.checkInbound("4.4.4.4", 0)?.reason).toBe("per_ip");
    held.release();
    expect(limiter.checkInbound("4.4.4.4", 0)).toBeUndefined();
  });

  it("reports capacity reasons through connectionLimitsReached without bans or rate tokens", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPerIp: 1, inboundRateBurst: 1 });
    (limiter.banList as BanList).ban({ ip: "4.4.4.4" }, 0, { reason: "r" });
    expect(limiter.connectionLimitsReached("4.4.4.4")).toBeUndefined();
    expect(limiter.connectionLimitsReached("4.4.4.4")).toBeUndefined();
    expect(limiter.rateLimiter.has("4.4.4.4")).toBe(false);
    limiter.reservePending("inbound", "4.4.4.4");
    expect(limiter.connectionLimitsReached("4.4.4.4")).toBe("per_ip");
    expect(limiter.connectionLimitsReached("4.4.4.5")).toBeUndefined();
  });
});

describe("admitting outbound dials", () => {
  it("refuses when maxPendingOutbound dials are in progress", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPendingOutbound: 1 });
    const dial = limiter.reservePending("outbound", "1.1.1.1");
    expect(limiter.checkOutbound()).toMatchObject({ reason: "pending", direction: "outbound", limit: 1, current: 1, option: "maxPendingOutbound" });
    dial.open();
    expect(limiter.checkOutbound()).toBeUndefined();
  });

  it("refuses when maxOutbound slots are taken", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxOutbound: 2, maxPendingOutbound: 2 });
    limiter.reservePending("outbound").open();
    limiter.reservePending("outbound");
    expect(limiter.checkOutbound()).toMatchObject({ reason: "outbound_full", limit: 2, current: 2, option: "maxOutbound" });
    expect(limiter.connectionLimitsReached(undefined, "outbound")).toBe("outbound_full");
    expect(() => limiter.connectionLimitsReached(undefined)).toThrow(/remote IP/);
  });

  it("does not count outbound connections against per-IP limits", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPerIp: 1 });
    limiter.reservePending("outbound", "1.2.3.4").open();
    expect(limiter.countForIp("1.2.3.4")).toBe(0);
    expect(limiter.checkInbound("1.2.3.4", 0)).toBeUndefined();
  });

  it("reserves through tryReserveOutbound only when admitted", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxOutbound: 1, maxPendingOutbound: 1 });
    const first = limiter.tryReserveOutbound("1.1.1.1");
    expect(first.ok).toBe(true);
    const second = limiter.tryReserveOutbound();
    expect(second).toMatchObject({ ok: false, refusal: { reason: "pending" } });
    expect(limiter.counts().pendingOutbound).toBe(1);
  });
});

describe("reservations", () => {
  it("move pending → open → released and update every counter", () => {
    const limiter = new ConnectionLimiter(ROOMY);
    const r = limiter.reservePending("inbound", "::ffff:10.0.0.1");
    expect(r.ip).toBe("10.0.0.1");
    expect(r.state).toBe("pending");
    expect(limiter.counts()).toMatchObject({ pendingInbound: 1, openInbound: 0, total: 1, ips: 1, subnets: 1 });
    expect(r.open()).toBe(true);
    expect(r.state).toBe("open");
    expect(limiter.counts()).toMatchObject({ pendingInbound: 0, openInbound: 1, total: 1, ips: 1 });
    expect(r.release()).toBe(true);
    expect(r.state).toBe("released");
    zeroCounts(limiter);
  });

  it("free a pending slot when released before opening", () => {
    const limiter = new ConnectionLimiter(ROOMY);
    const r = limiter.reservePending("outbound");
    expect(r.release()).toBe(true);
    zeroCounts(limiter);
  });

  it("ignore a second release, an open after release and a second open", () => {
    const limiter = new ConnectionLimiter(ROOMY);
    const a = limiter.reservePending("inbound", "1.1.1.1");
    const b = limiter.reservePending("inbound", "1.1.1.1");
    expect(a.open()).toBe(true);
    expect(a.open()).toBe(false);
    expect(a.release()).toBe(true);
    expect(a.release()).toBe(false);
    expect(a.open()).toBe(false);
    expect(a.state).toBe("released");
    // b still holds its slot: a's extra calls did not touch it.
    expect(limiter.counts()).toMatchObject({ pendingInbound: 1, openInbound: 0, total: 1 });
    expect(limiter.countForIp("1.1.1.1")).toBe(1);
    b.release();
    b.release();
    zeroCounts(limiter);
  });

  it("cannot be mutated from outside", () => {
    const limiter = new ConnectionLimiter(ROOMY);
    const r = limiter.reservePending("inbound", "1.1.1.1");
    expect(Object.isFrozen(r)).toBe(true);
    expect(() => {
      (r as { state: string }).state = "released";
    }).toThrow(TypeError);
    expect(r.state).toBe("pending");
  });

  it("keep counters exact and never negative under any sequence of calls", () => {
    const ips = ["1.1.1.1", "1.1.1.2", "2.2.2.2", "::ffff:1.1.1.1", "2001:db8::1"];
    const op = fc.oneof(
      fc.record({ kind: fc.constant("reserve" as const), dir: fc.constantFrom("inbound" as const, "outbound" as const), ip: fc.constantFrom(...ips) }),
      fc.record({ kind: fc.constantFrom("open" as const, "release" as const), index: fc.nat(50) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const limiter = new ConnectionLimiter(ROOMY);
        const held: { r: ConnectionReservation; state: "pending" | "open" | "released" }[] = [];
        for (const o of ops) {
          if (o.kind === "reserve") {
            held.push({ r: limiter.reservePending(o.dir, o.ip), state: "pending" });
          } else if (held.length > 0) {
            const h = held[o.index % held.length]!;
            const changed = o.kind === "open" ? h.r.open() : h.r.release();
            const expectedChange = o.kind === "open" ? h.state === "pending" : h.state !== "released";
            expect(changed).toBe(expectedChange);
            if (changed) h.state = o.kind === "open" ? "open" : "released";
          }
          const live = held.filter((h) => h.state !== "released");
          const c = limiter.counts();
          const count = (dir: string, state: string) => live.filter((h) => h.r.direction === dir && h.state === state).length;
          expect(c.pendingInbound).toBe(count("inbound", "pending"));
          expect(c.openInbound).toBe(count("inbound", "open"));
          expect(c.pendingOutbound).toBe(count("outbound", "pending"));
          expect(c.openOutbound).toBe(count("outbound", "open"));
          expect(c.total).toBe(live.length);
          expect(limiter.countForIp("1.1.1.1")).toBe(live.filter((h) => h.r.direction === "inbound" && h.r.ip === "1.1.1.1").length);
          expect(Object.values(c).every((v) => v >= 0)).toBe(true);
        }
        for (const h of held) h.r.release();
        zeroCounts(limiter);
      }),
      { numRuns: 200 },
    );
  });

  it("are created by tryReserveInbound only when admitted", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPerIp: 1 });
    const first = limiter.tryReserveInbound("1.2.3.4", 0);
    expect(first.ok).toBe(true);
    const second = limiter.tryReserveInbound("1.2.3.4", 0);
    expect(second).toMatchObject({ ok: false, refusal: { reason: "per_ip" } });
    if (first.ok) first.reservation.release();
    expect(limiter.tryReserveInbound("1.2.3.4", 0).ok).toBe(true);
  });
});

describe("mapping refusals to errors", () => {
  it.each<[RefusalReason, ErrorCode]>([
    ["banned", ErrorCode.PEER_BANNED],
    ["pending", ErrorCode.TOO_MANY_PENDING],
    ["per_ip", ErrorCode.CONNECTION_LIMIT],
    ["per_subnet", ErrorCode.CONNECTION_LIMIT],
    ["rate_limited", ErrorCode.RATE_LIMITED],
    ["inbound_full", ErrorCode.CONNECTION_LIMIT],
    ["outbound_full", ErrorCode.CONNECTION_LIMIT],
    ["total_full", ErrorCode.CONNECTION_LIMIT],
  ])("maps %s to %s", (reason, code) => {
    expect(refusalErrorCode(reason)).toBe(code);
  });

  it("builds a local PeerlinkError whose message names the limit", () => {
    const limiter = new ConnectionLimiter({ ...ROOMY, maxPerIp: 1 });
    limiter.reservePending("inbound", "1.2.3.4");
    const refusal = limiter.checkInbound("1.2.3.4", 0)!;
    const error = refusalToError(refusal);
    expect(error.code).toBe(ErrorCode.CONNECTION_LIMIT);
    expect(error.initiator).toBe("local");
    expect(error.message).toContain("maxPerIp 1 reached for ip:1.2.3.4");
    expect(describeRefusal({ reason: "banned", direction: "inbound", limit: 0, current: 2, key: "peer:x" })).toContain("peer:x is banned");
  });
});

describe("sharing collaborators", () => {
  it("uses a ban list given by the owner", () => {
    const banList = new BanList();
    const limiter = new ConnectionLimiter(ROOMY, { banList });
    banList.ban({ ip: "1.1.1.1" }, 0, { reason: "r" });
    expect(limiter.banList).toBe(banList);
    expect(limiter.checkInbound("1.1.1.1", 1)?.reason).toBe("banned");
  });

  it("rejects contradictory limits at construction", () => {
    expect(() => new ConnectionLimiter({ maxPerIp: 10, maxPerSubnet: 5 })).toThrow(/maxPerIp \(10\) must be <= maxPerSubnet \(5\)/);
  });
});
