import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { type ConnectionLimitsOptions, resolveLimits } from "../../src/manager/config.js";
import * as D from "../../src/manager/defaults.js";

function rejection(options: unknown): PeerlinkError {
  try {
    resolveLimits(options as ConnectionLimitsOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(PeerlinkError);
    expect((error as PeerlinkError).code).toBe(ErrorCode.INVALID_ARGUMENT);
    return error as PeerlinkError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be rejected`);
}

describe("resolving connection limits with no options", () => {
  it("fills every field from the defaults module", () => {
    const limits = resolveLimits();
    expect(limits).toEqual({
      handshakeTimeoutMs: D.HANDSHAKE_TIMEOUT_MS,
      firstFlightTimeoutMs: D.FIRST_FLIGHT_TIMEOUT_MS,
      maxPendingInbound: D.MAX_PENDING_INBOUND,
      maxPendingPerIp: D.MAX_PENDING_PER_IP,
      maxPendingPerSubnet: D.MAX_PENDING_PER_SUBNET,
      maxPendingOutbound: D.MAX_PENDING_OUTBOUND,
      maxInbound: D.MAX_INBOUND_CONNECTIONS,
      maxOutbound: D.MAX_OUTBOUND_CONNECTIONS,
      maxConnections: D.MAX_CONNECTIONS,
      maxPerIp: D.MAX_CONNECTIONS_PER_IP,
      maxPerSubnet: D.MAX_CONNECTIONS_PER_SUBNET,
      ipv4SubnetPrefix: 24,
      ipv6SubnetPrefix: 56,
      inboundRateBurst: D.INBOUND_RATE_BURST,
      inboundRatePerSecond: D.INBOUND_RATE_PER_SECOND,
      rateLimiterMaxIps: D.RATE_LIMITER_MAX_TRACKED_IPS,
      lowWatermark: D.LOW_WATERMARK,
      highWatermark: D.HIGH_WATERMARK,
      trimGracePeriodMs: D.TRIM_GRACE_PERIOD_MS,
      banDurationsMs: [600_000, 3_600_000, 86_400_000],
      banListMaxSize: D.BAN_LIST_MAX_SIZE,
      offenceMemoryMs: D.OFFENCE_MEMORY_MS,
      journalCapacity: D.JOURNAL_CAPACITY,
      stopDeadlineMs: D.STOP_DEADLINE_MS,
    });
  });

  it("uses the documented default values", () => {
    expect(D.HANDSHAKE_TIMEOUT_MS).toBe(10_000);
    expect(D.FIRST_FLIGHT_TIMEOUT_MS).toBe(3_000);
    expect(D.MAX_PENDING_PER_IP).toBe(4);
    expect(D.MAX_PENDING_PER_SUBNET).toBe(8);
    expect(D.IPV4_SUBNET_PREFIX).toBe(24);
    expect(D.IPV6_SUBNET_PREFIX).toBe(56);
    expect(D.BAN_DURATIONS_MS).toEqual([10 * 60_000, 60 * 60_000, 24 * 60 * 60_000]);
    expect(Object.isFrozen(D.BAN_DURATIONS_MS)).toBe(true);
  });

  it("returns a frozen object", () => {
    const limits = resolveLimits({});
    expect(Object.isFrozen(limits)).toBe(true);
    expect(Object.isFrozen(limits.banDurationsMs)).toBe(true);
  });

  it("is idempotent: resolving resolved limits gives the same limits", () => {
    const once = resolveLimits({ maxConnections: 20, maxPerIp: 2 });
    expect(resolveLimits(once)).toEqual(once);
  });
});

describe("resolving connection limits with some options set", () => {
  it("keeps every explicit value", () => {
    const limits = resolveLimits({ maxInbound: 10, maxOutbound: 5, maxConnections: 12, maxPerIp: 2, maxPerSubnet: 3, banDurationsMs: [1, 2] });
    expect(limits).toMatchObject({ maxInbound: 10, maxOutbound: 5, maxConnections: 12, maxPerIp: 2, maxPerSubnet: 3 });
    expect(limits.banDurationsMs).toEqual([1, 2]);
  });

  it("shrinks unset defaults to fit a small maxConnections", () => {
    const limits = resolveLimits({ maxConnections: 10 });
    expect(limits.maxInbound).toBe(10);
    expect(limits.maxOutbound).toBe(10);
    expect(limits.maxPendingInbound).toBe(10);
    expect(limits.highWatermark).toBe(10);
    expect(limits.lowWatermark).toBe(10);
  });

  it("grows the unset maxConnections to fit a large maxInbound", () => {
    expect(resolveLimits({ maxInbound: 500 }).maxConnections).toBe(500);
  });

  it("shrinks unset per-IP and per-subnet defaults to fit a small maxInbound", () => {
    const limits = resolveLimits({ maxInbound: 2 });
    expect(limits.maxPerIp).toBe(2);
    expect(limits.maxPerSubnet).toBe(2);
    expect(limits.maxPendingInbound).toBe(2);
  });

  it("raises the unset maxPerSubnet to an explicit maxPerIp", () => {
    expect(resolveLimits({ maxPerIp: 30 }).maxPerSubnet).toBe(30);
  });

  it("raises the unset highWatermark to an explicit lowWatermark", () => {
    expect(resolveLimits({ lowWatermark: 120 }).highWatermark).toBe(120);
  });

  it("accepts an outbound-only node (maxInbound 0)", () => {
    const limits = resolveLimits({ maxInbound: 0 });
    expect(limits).toMatchObject({ maxInbound: 0, maxPerIp: 0, maxPerSubnet: 0, maxPendingInbound: 0, maxPendingPerIp: 0, maxPendingPerSubnet: 0 });
  });

  it("shrinks the unset first-flight timeout to fit a short handshake timeout", () => {
    expect(resolveLimits({ handshakeTimeoutMs: 1_000 }).firstFlightTimeoutMs).toBe(1_000);
    expect(resolveLimits({ handshakeTimeoutMs: 20_000 }).firstFlightTimeoutMs).toBe(D.FIRST_FLIGHT_TIMEOUT_MS);
  });

  it("shrinks the unset per-IP and per-subnet pending bounds to fit smaller explicit limits", () => {
    expect(resolveLimits({ maxPendingInbound: 2 })).toMatchObject({ maxPendingPerIp: 2, maxPendingPerSubnet: 2 });
    expect(resolveLimits({ maxPerIp: 1 })).toMatchObject({ maxPendingPerIp: 1, maxPendingPerSubnet: 8 });
    expect(resolveLimits({ maxPerSubnet: 5, maxPerIp: 2 })).toMatchObject({ maxPendingPerIp: 2, maxPendingPerSubnet: 5 });
  });

  it("raises the unset maxPendingPerSubnet to an explicit maxPendingPerIp", () => {
    expect(resolveLimits({ maxPendingPerIp: 10, maxPerIp: 10 }).maxPendingPerSubnet).toBe(10);
  });
});

describe("rejecting contradictory or malformed limits", () => {
  it.each<[ConnectionLimitsOptions, string[]]>([
    [{ maxPendingInbound: 20, maxInbound: 10 }, ["maxPendingInbound (20)", "maxInbound (10)"]],
    [{ maxPendingOutbound: 20, maxOutbound: 10 }, ["maxPendingOutbound (20)", "maxOutbound (10)"]],
    [{ maxInbound: 50, maxConnections: 40 }, ["maxInbound (50)", "maxConnections (40)"]],
    [{ maxOutbound: 50, maxConnections: 40 }, ["maxOutbound (50)", "maxConnections (40)"]],
    [{ maxPerIp: 11, maxInbound: 10, maxPerSubnet: 10 }, ["maxPerIp (11)", "maxInbound (10)"]],
    [{ maxPerIp: 8, maxPerSubnet: 4 }, ["maxPerIp (8)", "maxPerSubnet (4)"]],
    [{ maxPerSubnet: 20, maxInbound: 10 }, ["maxPerSubnet (20)", "maxInbound (10)"]],
    [{ lowWatermark: 50, highWatermark: 40 }, ["lowWatermark (50)", "highWatermark (40)"]],
    [{ highWatermark: 200, maxConnections: 100 }, ["highWatermark (200)", "maxConnections (100)"]],
    [{ firstFlightTimeoutMs: 5_000, handshakeTimeoutMs: 4_000 }, ["firstFlightTimeoutMs (5000)", "handshakeTimeoutMs (4000)"]],
    [{ firstFlightTimeoutMs: 20_000 }, ["firstFlightTimeoutMs (20000) must be <= handshakeTimeoutMs (10000)"]],
    [{ maxPendingPerIp: 6, maxPendingPerSubnet: 5 }, ["maxPendingPerIp (6) must be <= maxPendingPerSubnet (5)"]],
    [{ maxPendingPerIp: 4, maxPerIp: 2 }, ["maxPendingPerIp (4) must be <= maxPerIp (2)"]],
    [{ maxPendingPerSubnet: 9, maxPerSubnet: 8 }, ["maxPendingPerSubnet (9) must be <= maxPerSubnet (8)"]],
    [{ maxPendingPerSubnet: 12, maxPendingInbound: 10 }, ["maxPendingPerSubnet (12) must be <= maxPendingInbound (10)"]],
    [{ maxPendingPerIp: 0 }, ["maxPendingPerIp is 0"]],
    [{ maxPendingPerSubnet: 0 }, ["maxPendingPerSubnet is 0"]],
    [{ maxPendingInbound: 0 }, ["maxPendingInbound is 0"]],
    [{ maxPerIp: 0 }, ["maxPerIp is 0"]],
    [{ maxPendingOutbound: 0 }, ["maxPendingOutbound is 0"]],
    [{ ipv4SubnetPrefix: 33 }, ["ipv4SubnetPrefix"]],
    [{ ipv6SubnetPrefix: 129 }, ["ipv6SubnetPrefix"]],
    [{ ipv4SubnetPrefix: -1 }, ["ipv4SubnetPrefix"]],
  ])("rejects %j naming the options", (options, fragments) => {
    const error = rejection(options);
    for (const fragment of fragments) expect(error.message).toContain(fragment);
  });

  it.each<[keyof ConnectionLimitsOptions, unknown]>([
    ["maxInbound", -1],
    ["maxInbound", 1.5],
    ["maxInbound", Number.NaN],
    ["maxInbound", Number.POSITIVE_INFINITY],
    ["maxInbound", "10"],
    ["maxConnections", 0],
    ["maxPerIp", -3],
    ["handshakeTimeoutMs", 0],
    ["handshakeTimeoutMs", -5],
    ["firstFlightTimeoutMs", 0],
    ["firstFlightTimeoutMs", Number.POSITIVE_INFINITY],
    ["maxPendingPerIp", 1.5],
    ["maxPendingPerSubnet", -1],
    ["trimGracePeriodMs", -1],
    ["inboundRateBurst", 0],
    ["inboundRateBurst", 2.5],
    ["inboundRatePerSecond", -1],
    ["rateLimiterMaxIps", 0],
    ["banListMaxSize", 0],
    ["journalCapacity", 0.5],
    ["offenceMemoryMs", Number.NaN],
    ["stopDeadlineMs", -1],
  ])("rejects %s = %j naming the option", (key, value) => {
    expect(rejection({ [key]: value }).message).toContain(key);
  });

  it.each<[unknown, string]>([
    [[], "non-empty"],
    [[0], "> 0"],
    [[100, Number.POSITIVE_INFINITY], "> 0"],
    [[1000, 10], "must not decrease"],
    ["600000", "non-empty array"],
  ])("rejects banDurationsMs = %j", (value, fragment) => {
    const error = rejection({ banDurationsMs: value });
    expect(error.message).toContain("banDurationsMs");
    expect(error.message).toContain(fragment);
  });

  it("rejects unknown option names, such as typos", () => {
    expect(rejection({ maxPeers: 10 }).message).toContain("unknown option maxPeers");
  });

  it("rejects a non-object", () => {
    rejection(null);
    rejection(5);
    rejection([]);
  });

  it("lists every problem in one error", () => {
    const error = rejection({ maxInbound: -1, lowWatermark: 50, highWatermark: 40 });
    expect(error.message).toContain("maxInbound must be");
    expect(error.message).toContain("lowWatermark (50) must be <= highWatermark (40)");
  });
});
