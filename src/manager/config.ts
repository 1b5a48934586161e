/**
 * Options of the connection limits and their validation into a fully filled,
 * frozen {@link ResolvedLimits}. Validation happens once (in the manager's
 * constructor); everything downstream trusts the resolved object.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import * as D from "./defaults.js";

/**
 * Limits of a connection manager. Every field is optional; unset fields get
 * the default from `defaults.ts`, shrunk where needed to fit the fields you
 * did set (e.g. `{ maxConnections: 10 }` lowers the default `maxInbound` to 10).
 * Values you set explicitly are never changed: contradictions are an error.
 */
export interface ConnectionLimitsOptions {
  /** Time for TCP connect + TLS + protocol handshake, in ms. Must be > 0. @default 10000 */
  handshakeTimeoutMs?: number;
  /** Inbound connections in the handshake at once. At most `maxInbound`. @default 10 */
  maxPendingInbound?: number;
  /** Outbound dials in progress at once. At most `maxOutbound`. @default 16 */
  maxPendingOutbound?: number;
  /** Inbound connections (pending + open). At most `maxConnections`. @default 96 */
  maxInbound?: number;
  /** Outbound connections (pending + open). At most `maxConnections`. @default 32 */
  maxOutbound?: number;
  /** Connections of both directions (pending + open). Must be >= 1. @default 128 */
  maxConnections?: number;
  /** Inbound connections from one IP. At most `maxInbound` and `maxPerSubnet`. @default 4 */
  maxPerIp?: number;
  /** Inbound connections from one subnet (see the prefixes). At most `maxInbound`. @default 16 */
  maxPerSubnet?: number;
  /** Prefix length (bits, 0–32) grouping IPv4 addresses into a subnet. @default 24 */
  ipv4SubnetPrefix?: number;
  /** Prefix length (bits, 0–128) grouping IPv6 addresses into a subnet. @default 56 */
  ipv6SubnetPrefix?: number;
  /** Inbound attempts one IP may make in a burst (token bucket capacity, integer >= 1). @default 5 */
  inboundRateBurst?: number;
  /** Inbound attempts per second one IP may sustain (refill rate, >= 0). @default 1 */
  inboundRatePerSecond?: number;
  /** Source IPs whose rate buckets are tracked at once (integer >= 1). @default 10000 */
  rateLimiterMaxIps?: number;
  /** Connection count trimming brings the node down to. At most `highWatermark`. @default 96 */
  lowWatermark?: number;
  /** Connection count above which trimming starts. At most `maxConnections`. @default 112 */
  highWatermark?: number;
  /** Age (ms) below which a connection is never trimmed. @default 20000 */
  trimGracePeriodMs?: number;
  /** Ban durations (ms) by offence; the last is the cap. Non-empty, positive, non-decreasing. @default [600000, 3600000, 86400000] */
  banDurationsMs?: readonly number[];
  /** Entries the ban list holds (integer >= 1). @default 10000 */
  banListMaxSize?: number;
  /** How long (ms) an offence is remembered after its ban expired. @default 604800000 (7 days) */
  offenceMemoryMs?: number;
  /** Decisions kept in the journal (integer >= 1). @default 1024 */
  journalCapacity?: number;
  /** How long (ms) `stop()` waits for graceful closes before destroying connections. @default 5000 */
  stopDeadlineMs?: number;
}

/** {@link ConnectionLimitsOptions} with every field filled and checked. Frozen. */
export type ResolvedLimits = Readonly<Required<ConnectionLimitsOptions>>;

const OPTION_NAMES: ReadonlySet<string> = new Set<keyof ConnectionLimitsOptions>([
  "handshakeTimeoutMs",
  "maxPendingInbound",
  "maxPendingOutbound",
  "maxInbound",
  "maxOutbound",
  "maxConnections",
  "maxPerIp",
  "maxPerSubnet",
  "ipv4SubnetPrefix",
  "ipv6SubnetPrefix",
  "inboundRateBurst",
  "inboundRatePerSecond",
  "rateLimiterMaxIps",
  "lowWatermark",
  "highWatermark",
  "trimGracePeriodMs",
  "banDurationsMs",
  "banListMaxSize",
  "offenceMemoryMs",
  "journalCapacity",
  "stopDeadlineMs",
]);

type NumberKey = Exclude<keyof ConnectionLimitsOptions, "banDurationsMs">;

/**
 * Fills defaults into `options` and checks the result. Throws one
 * {@link PeerlinkError} with code `INVALID_ARGUMENT` listing every problem,
 * each naming the options involved (e.g. `maxPerIp (8) must be <= maxPerSubnet (4)`).
 *
 * Rejected: unknown option names; counts that are negative, fractional or not
 * finite; non-positive timeouts; `maxPendingInbound > maxInbound`,
 * `maxPendingOutbound > maxOutbound`, `maxInbound` or `maxOutbound >
 * maxConnections`, `maxPerIp > maxInbound`, `maxPerIp > maxPerSubnet`,
 * `maxPerSubnet > maxInbound`, `lowWatermark > highWatermark`,
 * `highWatermark > maxConnections`; a zero pending or per-IP limit while
 * inbound/outbound connections are allowed (nothing could ever connect);
 * prefixes outside 0–32 / 0–128; empty, non-positive or decreasing ban durations.
 *
 * @example
 * ```ts
 * const limits = resolveLimits({ maxConnections: 50, maxPerIp: 2 });
 * limits.maxInbound; // 50 (the default 96 shrunk to fit)
 * ```
 */
export function resolveLimits(options: ConnectionLimitsOptions = {}): ResolvedLimits {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "connection limits options must be an object");
  }
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) problems.push(`unknown option ${key}`);
  }

  const given = new Map<NumberKey, number>();
  const read = (key: NumberKey, kind: "count" | "positiveCount" | "duration" | "positiveDuration" | "rate"): void => {
    const value: unknown = options[key];
    if (value === undefined) return;
    const ok =
      typeof value === "number" &&
      Number.isFinite(value) &&
      (kind === "count" ? Number.isInteger(value) && value >= 0
        : kind === "positiveCount" ? Number.isInteger(value) && value >= 1
        : kind === "positiveDuration" ? value > 0
        : value >= 0);
    if (!ok) {
      const want = kind === "count" ? "a non-negative integer"
        : kind === "positiveCount" ? "an integer >= 1"
        : kind === "positiveDuration" ? "a finite number > 0"
        : "a finite number >= 0";
      problems.push(`${key} must be ${want}, got ${describe(value)}`);
      return;
    }
    given.set(key, value as number);
  };
  read("handshakeTimeoutMs", "positiveDuration");
  read("maxPendingInbound", "count");
  read("maxPendingOutbound", "count");
  read("maxInbound", "count");
  read("maxOutbound", "count");
  read("maxConnections", "positiveCount");
  read("maxPerIp", "count");
  read("maxPerSubnet", "count");
  read("ipv4SubnetPrefix", "count");
  read("ipv6SubnetPrefix", "count");
  read("inboundRateBurst", "positiveCount");
  read("inboundRatePerSecond", "rate");
  read("rateLimiterMaxIps", "positiveCount");
  read("lowWatermark", "count");
  read("highWatermark", "count");
  read("trimGracePeriodMs", "duration");
  read("banListMaxSize", "positiveCount");
  read("offenceMemoryMs", "duration");
  read("journalCapacity", "positiveCount");
  read("stopDeadlineMs", "duration");

  // Unset fields: the default, shrunk (or grown, for maxConnections) to fit what was set.
  const g = (key: NumberKey): number | undefined => given.get(key);
  const maxConnections = g("maxConnections") ?? Math.max(D.MAX_CONNECTIONS, g("maxInbound") ?? 0, g("maxOutbound") ?? 0);
  const maxInbound = g("maxInbound") ?? Math.min(D.MAX_INBOUND_CONNECTIONS, maxConnections);
  const maxOutbound = g("maxOutbound") ?? Math.min(D.MAX_OUTBOUND_CONNECTIONS, maxConnections);
  const maxPerSubnet = g("maxPerSubnet") ?? Math.max(Math.min(D.MAX_CONNECTIONS_PER_SUBNET, maxInbound), Math.min(g("maxPerIp") ?? 0, maxInbound));
  const highWatermark = g("highWatermark") ?? Math.max(Math.min(D.HIGH_WATERMARK, maxConnections), Math.min(g("lowWatermark") ?? 0, maxConnections));
  const resolvedBase = {
    handshakeTimeoutMs: g("handshakeTimeoutMs") ?? D.HANDSHAKE_TIMEOUT_MS,
    maxPendingInbound: g("maxPendingInbound") ?? Math.min(D.MAX_PENDING_INBOUND, maxInbound),
    maxPendingOutbound: g("maxPendingOutbound") ?? Math.min(D.MAX_PENDING_OUTBOUND, maxOutbound),
    maxInbound,
    maxOutbound,
    maxConnections,
    maxPerIp: g("maxPerIp") ?? Math.min(D.MAX_CONNECTIONS_PER_IP, maxPerSubnet),
    maxPerSubnet,
    ipv4SubnetPrefix: g("ipv4SubnetPrefix") ?? D.IPV4_SUBNET_PREFIX,
    ipv6SubnetPrefix: g("ipv6SubnetPrefix") ?? D.IPV6_SUBNET_PREFIX,
    inboundRateBurst: g("inboundRateBurst") ?? D.INBOUND_RATE_BURST,
    inboundRatePerSecond: g("inboundRatePerSecond") ?? D.INBOUND_RATE_PER_SECOND,
    rateLimiterMaxIps: g("rateLimiterMaxIps") ?? D.RATE_LIMITER_MAX_TRACKED_IPS,
    lowWatermark: g("lowWatermark") ?? Math.min(D.LOW_WATERMARK, highWatermark),
    highWatermark,
    trimGracePeriodMs: g("trimGracePeriodMs") ?? D.TRIM_GRACE_PERIOD_MS,
    banListMaxSize: g("banListMaxSize") ?? D.BAN_LIST_MAX_SIZE,
    offenceMemoryMs: g("offenceMemoryMs") ?? D.OFFENCE_MEMORY_MS,
    journalCapacity: g("journalCapacity") ?? D.JOURNAL_CAPACITY,
    stopDeadlineMs: g("stopDeadlineMs") ?? D.STOP_DEADLINE_MS,
  };
  const r = resolvedBase;

  const atMost = (a: NumberKey, b: NumberKey): void => {
    if (r[a] > r[b]) problems.push(`${a} (${r[a]}) must be <= ${b} (${r[b]})`);
  };
  atMost("maxPendingInbound", "maxInbound");
  atMost("maxPendingOutbound", "maxOutbound");
  atMost("maxInbound", "maxConnections");
  atMost("maxOutbound", "maxConnections");
  atMost("maxPerIp", "maxInbound");
  atMost("maxPerIp", "maxPerSubnet");
  atMost("maxPerSubnet", "maxInbound");
  atMost("lowWatermark", "highWatermark");
  atMost("highWatermark", "maxConnections");
  if (r.maxInbound > 0) {
    for (const key of ["maxPendingInbound", "maxPerIp", "maxPerSubnet"] as const) {
      if (r[key] === 0) problems.push(`${key} is 0 while maxInbound (${r.maxInbound}) > 0: no inbound connection could ever be accepted`);
    }
  }
  if (r.maxOutbound > 0 && r.maxPendingOutbound === 0) {
    problems.push(`maxPendingOutbound is 0 while maxOutbound (${r.maxOutbound}) > 0: no dial could ever start`);
  }
  if (r.ipv4SubnetPrefix > 32) problems.push(`ipv4SubnetPrefix must be 0..32, got ${r.ipv4SubnetPrefix}`);
  if (r.ipv6SubnetPrefix > 128) problems.push(`ipv6SubnetPrefix must be 0..128, got ${r.ipv6SubnetPrefix}`);

  let banDurationsMs: readonly number[] = D.BAN_DURATIONS_MS;
  if (options.banDurationsMs !== undefined) {
    const list: unknown = options.banDurationsMs;
    if (!Array.isArray(list) || list.length === 0 || list.length > 64) {
      problems.push(`banDurationsMs must be a non-empty array of at most 64 durations, got ${describe(list)}`);
    } else if (!list.every((d): d is number => typeof d === "number" && Number.isFinite(d) && d > 0)) {
      problems.push(`banDurationsMs must hold finite durations > 0 (ms), got ${describe(list)}`);
    } else if (list.some((d, i) => i > 0 && d < (list[i - 1] as number))) {
      problems.push(`banDurationsMs must not decrease (repeat offenders never get shorter bans), got ${describe(list)}`);
    } else {
      banDurationsMs = Object.freeze([...list]);
    }
  }

  if (problems.length > 0) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `invalid connection limits: ${problems.join("; ")}`);
  }
  return Object.freeze({ ...r, banDurationsMs });
}

function describe(value: unknown): string {
  if (typeof value === "number") return String(value);
  try {
    return (JSON.stringify(value) ?? typeof value).slice(0, 80);
  } catch {
    return typeof value;
  }
}
