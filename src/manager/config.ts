/**
 * Options of the connection limits and their validation into a fully filled,
 * frozen {@link ResolvedLimits}. Validation happens once (in the manager's
 * constructor); everything downstream trusts the resolved object.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { describeValue, isOptionsObject, type KnownOptions, OptionProblems, optionPath } from "../util/option-checks.js";
import * as D from "./defaults.js";

/**
 * Limits of a connection manager. Every field is optional; unset fields get
 * the default from `defaults.ts`, shrunk where needed to fit the fields you
 * did set (e.g. `{ maxConnections: 10 }` lowers the default `maxInbound` to 10).
 * Values you set explicitly are never changed: contradictions are an error.
 *
 * @category Manager
 */
export interface ConnectionLimitsOptions {
  /** Time for TCP connect + TLS + protocol handshake, in ms, counted from the socket's arrival. Must be > 0. @default 10000 */
  handshakeTimeoutMs?: number;
  /**
   * Time (ms) from an inbound socket's arrival until the peer's first handshake flight (TLS ClientHello, or
   * the Hello on plain TCP) must have arrived; a silent socket is dropped then. At most `handshakeTimeoutMs`.
   * @default 3000
   */
  firstFlightTimeoutMs?: number;
  /**
   * Inbound connections in the handshake at once. When the pool is full a newcomer is still admitted and the
   * least advanced pending connection of the most represented subnet is closed (`inbound:evicted`), so a
   * flood cannot keep others out; one silent for half `firstFlightTimeoutMs` goes first. At most
   * `maxInbound`. @default 10
   */
  maxPendingInbound?: number;
  /**
   * Inbound connections from one IP in the handshake at once, checked before `maxPendingInbound`.
   * At most `maxPerIp` and `maxPendingPerSubnet`. @default 4
   */
  maxPendingPerIp?: number;
  /**
   * Inbound connections from one subnet (see the prefixes) in the handshake at once, checked before
   * `maxPendingInbound`. At most `maxPerSubnet` and `maxPendingInbound`. @default 8
   */
  maxPendingPerSubnet?: number;
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
  /** Decisions kept in the journal (integer >= 1), and refusals kept apart, up to as many again. @default 1024 */
  journalCapacity?: number;
  /** How long (ms) `stop()` waits for graceful closes before destroying connections. @default 5000 */
  stopDeadlineMs?: number;
}

/** {@link ConnectionLimitsOptions} with every field filled and checked. Frozen. */
export type ResolvedLimits = Readonly<Required<ConnectionLimitsOptions>>;

const OPTION_NAMES: KnownOptions<ConnectionLimitsOptions> = {
  handshakeTimeoutMs: true,
  firstFlightTimeoutMs: true,
  maxPendingInbound: true,
  maxPendingPerIp: true,
  maxPendingPerSubnet: true,
  maxPendingOutbound: true,
  maxInbound: true,
  maxOutbound: true,
  maxConnections: true,
  maxPerIp: true,
  maxPerSubnet: true,
  ipv4SubnetPrefix: true,
  ipv6SubnetPrefix: true,
  inboundRateBurst: true,
  inboundRatePerSecond: true,
  rateLimiterMaxIps: true,
  lowWatermark: true,
  highWatermark: true,
  trimGracePeriodMs: true,
  banDurationsMs: true,
  banListMaxSize: true,
  offenceMemoryMs: true,
  journalCapacity: true,
  stopDeadlineMs: true,
};

type NumberKey = Exclude<keyof ConnectionLimitsOptions, "banDurationsMs">;
type Kind = "count" | "positiveCount" | "duration" | "positiveDuration" | "rate";

const KINDS: Readonly<Record<NumberKey, Kind>> = {
  handshakeTimeoutMs: "positiveDuration",
  firstFlightTimeoutMs: "positiveDuration",
  maxPendingInbound: "count",
  maxPendingPerIp: "count",
  maxPendingPerSubnet: "count",
  maxPendingOutbound: "count",
  maxInbound: "count",
  maxOutbound: "count",
  maxConnections: "positiveCount",
  maxPerIp: "count",
  maxPerSubnet: "count",
  ipv4SubnetPrefix: "count",
  ipv6SubnetPrefix: "count",
  inboundRateBurst: "positiveCount",
  inboundRatePerSecond: "rate",
  rateLimiterMaxIps: "positiveCount",
  lowWatermark: "count",
  highWatermark: "count",
  trimGracePeriodMs: "duration",
  banListMaxSize: "positiveCount",
  offenceMemoryMs: "duration",
  journalCapacity: "positiveCount",
  stopDeadlineMs: "duration",
};

const WANT: Readonly<Record<Kind, string>> = {
  count: "a non-negative integer",
  positiveCount: "an integer >= 1",
  duration: "a finite number >= 0",
  positiveDuration: "a finite number > 0",
  rate: "a finite number >= 0",
};

function fits(kind: Kind, value: unknown): value is number {
  if (typeof value !== "number" || !Number.isFinite(value)) return false;
  switch (kind) {
    case "count":
      return Number.isInteger(value) && value >= 0;
    case "positiveCount":
      return Number.isInteger(value) && value >= 1;
    case "positiveDuration":
      return value > 0;
    default:
      return value >= 0;
  }
}

/**
 * Fills defaults into `options` and checks the result. Throws one
 * {@link PeerlinkError} with code `INVALID_ARGUMENT` listing every problem,
 * each naming the options involved (e.g. `maxPerIp (8) must be <= maxPerSubnet (4)`).
 *
 * Rejected: unknown option names; counts that are negative, fractional or not
 * finite; non-positive timeouts; `firstFlightTimeoutMs > handshakeTimeoutMs`,
 * `maxPendingInbound > maxInbound`, `maxPendingPerIp > maxPendingPerSubnet`,
 * `maxPendingPerIp > maxPerIp`, `maxPendingPerSubnet > maxPerSubnet`,
 * `maxPendingPerSubnet > maxPendingInbound`,
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
  if (!isOptionsObject(options)) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "connection limits options must be an object");
  }
  const problems = new OptionProblems();
  const limits = checkLimits(options, problems, "");
  problems.throwIfAny("invalid connection limits");
  return limits;
}

/**
 * The checks of {@link resolveLimits} without the throw: adds every problem of
 * `options` to `problems`, naming options under `prefix` (e.g. `"limits"`), and
 * returns the limits with defaults filled (values that failed a check are
 * replaced by their default, so callers can go on checking rules across groups).
 * `options` that is not an object counts as a problem and as `{}`.
 */
export function checkLimits(options: unknown, problems: OptionProblems, prefix: string): ResolvedLimits {
  const name = (key: string): string => optionPath(prefix, key);
  if (!isOptionsObject(options)) {
    problems.add(`${prefix === "" ? "connection limits" : prefix} must be an object, got ${describeValue(options)}`);
    options = {};
  }
  const input = options as Record<string, unknown>;
  problems.unknownKeys(input, OPTION_NAMES, prefix);

  const given = new Map<NumberKey, number>();
  for (const key of Object.keys(KINDS) as NumberKey[]) {
    const value = input[key];
    if (value === undefined) continue;
    if (fits(KINDS[key], value)) given.set(key, value);
    else problems.add(`${name(key)} must be ${WANT[KINDS[key]]}, got ${describeValue(value)}`);
  }

  // Unset fields: the default, shrunk (or grown, for maxConnections) to fit what was set.
  const g = (key: NumberKey): number | undefined => given.get(key);
  const maxConnections = g("maxConnections") ?? Math.max(D.MAX_CONNECTIONS, g("maxInbound") ?? 0, g("maxOutbound") ?? 0);
  const maxInbound = g("maxInbound") ?? Math.min(D.MAX_INBOUND_CONNECTIONS, maxConnections);
  const maxOutbound = g("maxOutbound") ?? Math.min(D.MAX_OUTBOUND_CONNECTIONS, maxConnections);
  const maxPerSubnet = g("maxPerSubnet") ?? Math.max(Math.min(D.MAX_CONNECTIONS_PER_SUBNET, maxInbound), Math.min(g("maxPerIp") ?? 0, maxInbound));
  const maxPerIp = g("maxPerIp") ?? Math.min(D.MAX_CONNECTIONS_PER_IP, maxPerSubnet);
  const highWatermark = g("highWatermark") ?? Math.max(Math.min(D.HIGH_WATERMARK, maxConnections), Math.min(g("lowWatermark") ?? 0, maxConnections));
  const handshakeTimeoutMs = g("handshakeTimeoutMs") ?? D.HANDSHAKE_TIMEOUT_MS;
  const maxPendingInbound = g("maxPendingInbound") ?? Math.min(D.MAX_PENDING_INBOUND, maxInbound);
  const pendingSubnetCap = Math.min(maxPerSubnet, maxPendingInbound);
  const maxPendingPerSubnet =
    g("maxPendingPerSubnet") ?? Math.max(Math.min(D.MAX_PENDING_PER_SUBNET, pendingSubnetCap), Math.min(g("maxPendingPerIp") ?? 0, pendingSubnetCap));
  const r: Omit<ResolvedLimits, "banDurationsMs"> = {
    handshakeTimeoutMs,
    firstFlightTimeoutMs: g("firstFlightTimeoutMs") ?? Math.min(D.FIRST_FLIGHT_TIMEOUT_MS, handshakeTimeoutMs),
    maxPendingInbound,
    maxPendingPerIp: g("maxPendingPerIp") ?? Math.min(D.MAX_PENDING_PER_IP, maxPerIp, maxPendingPerSubnet),
    maxPendingPerSubnet,
    maxPendingOutbound: g("maxPendingOutbound") ?? Math.min(D.MAX_PENDING_OUTBOUND, maxOutbound),
    maxInbound,
    maxOutbound,
    maxConnections,
    maxPerIp,
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

  const atMost = (a: NumberKey, b: NumberKey): void => {
    if (r[a] > r[b]) problems.add(`${name(a)} (${r[a]}) must be <= ${name(b)} (${r[b]})`);
  };
  atMost("firstFlightTimeoutMs", "handshakeTimeoutMs");
  atMost("maxPendingInbound", "maxInbound");
  atMost("maxPendingPerIp", "maxPendingPerSubnet");
  atMost("maxPendingPerIp", "maxPerIp");
  atMost("maxPendingPerSubnet", "maxPerSubnet");
  atMost("maxPendingPerSubnet", "maxPendingInbound");
  atMost("maxPendingOutbound", "maxOutbound");
  atMost("maxInbound", "maxConnections");
  atMost("maxOutbound", "maxConnections");
  atMost("maxPerIp", "maxInbound");
  atMost("maxPerIp", "maxPerSubnet");
  atMost("maxPerSubnet", "maxInbound");
  atMost("lowWatermark", "highWatermark");
  atMost("highWatermark", "maxConnections");
  if (r.maxInbound > 0) {
    for (const key of ["maxPendingInbound", "maxPendingPerIp", "maxPendingPerSubnet", "maxPerIp", "maxPerSubnet"] as const) {
      if (r[key] === 0) {
        problems.add(`${name(key)} is 0 while ${name("maxInbound")} (${r.maxInbound}) > 0: no inbound connection could ever be accepted`);
      }
    }
  }
  if (r.maxOutbound > 0 && r.maxPendingOutbound === 0) {
    problems.add(`${name("maxPendingOutbound")} is 0 while ${name("maxOutbound")} (${r.maxOutbound}) > 0: no dial could ever start`);
  }
  if (r.ipv4SubnetPrefix > 32) problems.add(`${name("ipv4SubnetPrefix")} must be 0..32, got ${r.ipv4SubnetPrefix}`);
  if (r.ipv6SubnetPrefix > 128) problems.add(`${name("ipv6SubnetPrefix")} must be 0..128, got ${r.ipv6SubnetPrefix}`);

  let banDurationsMs: readonly number[] = D.BAN_DURATIONS_MS;
  const list: unknown = input["banDurationsMs"];
  if (list !== undefined) {
    const key = name("banDurationsMs");
    if (!Array.isArray(list) || list.length === 0 || list.length > 64) {
      problems.add(`${key} must be a non-empty array of at most 64 durations, got ${describeValue(list)}`);
    } else if (!list.every((d): d is number => typeof d === "number" && Number.isFinite(d) && d > 0)) {
      problems.add(`${key} must hold finite durations > 0 (ms), got ${describeValue(list)}`);
    } else if (list.some((d, i) => i > 0 && d < (list[i - 1] as number))) {
      problems.add(`${key} must not decrease (repeat offenders never get shorter bans), got ${describeValue(list)}`);
    } else {
      banDurationsMs = Object.freeze([...list]);
    }
  }
  return Object.freeze({ ...r, banDurationsMs });
}
