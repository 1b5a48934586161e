/**
 * Options of the misbehaviour policy — per-connection inbound rate bounds and automatic, escalating bans
 * — and their validation into {@link ResolvedMisbehaviour}, as part of the manager's one validation pass.
 *
 * @module
 */
import { DEFAULT_INBOUND_RATE_LIMITS, inboundRateProblems, type InboundRateLimits } from "../connection/inbound-rate.js";
import { MAX_STRIKES_PER_SUBJECT } from "../peers/defaults.js";
import { describeValue, isOptionsObject, type KnownOptions, type OptionProblems, optionPath } from "../util/option-checks.js";
import { AUTO_BAN_BASE_MS, AUTO_BAN_MAX_MS, AUTO_BAN_STRIKES, AUTO_BAN_WINDOW_MS } from "./defaults.js";

/**
 * Automatic bans: `strikes` violations of one source (protocol violations, failed identity proofs,
 * rate-limit trips) within `windowMs` ban it, for `banMs` the first time and twice as long each time again
 * (while the ban list remembers its last offence), up to `maxBanMs`. A proved peer is banned by peer id; a
 * source that proved nothing (a failed proof, a bad frame during the handshake) by IP address.
 *
 * @category Manager
 */
export interface AutoBanOptions {
  /** Violations within `windowMs` that ban their source (integer, 1–64). @default 5 */
  readonly strikes?: number;
  /** The window (ms, > 0) those violations must fall in. @default 600000 (10 min) */
  readonly windowMs?: number;
  /** Duration (ms, > 0) of a first automatic ban; each repeat doubles it. At most `maxBanMs`. @default 600000 (10 min) */
  readonly banMs?: number;
  /** Longest automatic ban (ms, > 0). @default 86400000 (24 h) */
  readonly maxBanMs?: number;
}

/**
 * Per-connection bounds on what a peer may send per second; the first broken ends the connection with
 * `Goodbye{RATE_LIMITED, retry_after_ms}` and counts as a violation.
 *
 * @category Manager
 */
export interface InboundRateOptions {
  /** Messages (every frame after open but Ping; Pongs included) per second, >= 0. @default 20000 */
  readonly messagesPerSecond?: number;
  /** Messages in a burst, >= 1. @default 100000 */
  readonly messageBurst?: number;
  /** Bytes per second, >= 0. @default 67108864 (64 MiB) */
  readonly bytesPerSecond?: number;
  /** Bytes in a burst, >= 1. @default 268435456 (256 MiB) */
  readonly byteBurst?: number;
  /** Pings per second, >= 0 (each costs this side a Pong). @default 100 */
  readonly pingsPerSecond?: number;
  /** Pings in a burst, >= 1. @default 10000 */
  readonly pingBurst?: number;
  /** Retry-after (ms, a uint32) sent with the RATE_LIMITED Goodbye. @default 60000 */
  readonly retryAfterMs?: number;
}

/**
 * What the node does about misbehaving peers. Allow-listed peers and addresses are exempt from both.
 *
 * @category Manager
 */
export interface MisbehaviourOptions {
  /** Inbound rate bounds per connection; `false` for none. @default on, with the `InboundRateOptions` defaults */
  readonly inboundRate?: InboundRateOptions | false;
  /** Automatic, escalating bans; `false` to never ban on the node's own. @default on, with the `AutoBanOptions` defaults */
  readonly autoBan?: AutoBanOptions | false;
}

/** {@link MisbehaviourOptions} after validation: `undefined` where turned off. */
export interface ResolvedMisbehaviour {
  /** The bounds every connection gets, or undefined for none. */
  readonly inboundRate: InboundRateLimits | undefined;
  /** The automatic-ban thresholds, or undefined when off. */
  readonly autoBan: Required<AutoBanOptions> | undefined;
}

/** The defaults: both on. */
export const DEFAULT_MISBEHAVIOUR: ResolvedMisbehaviour = Object.freeze({
  inboundRate: DEFAULT_INBOUND_RATE_LIMITS,
  autoBan: Object.freeze({ strikes: AUTO_BAN_STRIKES, windowMs: AUTO_BAN_WINDOW_MS, banMs: AUTO_BAN_BASE_MS, maxBanMs: AUTO_BAN_MAX_MS }),
});

const NAMES: KnownOptions<MisbehaviourOptions> = { inboundRate: true, autoBan: true };
const RATE_NAMES: KnownOptions<InboundRateOptions> = {
  messagesPerSecond: true,
  messageBurst: true,
  bytesPerSecond: true,
  byteBurst: true,
  pingsPerSecond: true,
  pingBurst: true,
  retryAfterMs: true,
};
const BAN_NAMES: KnownOptions<AutoBanOptions> = { strikes: true, windowMs: true, banMs: true, maxBanMs: true };

/**
 * Checks the `misbehaviour` option at `path`, adding every problem to `problems` (unknown names included),
 * and returns it resolved (defaults where a value is missing or bad).
 */
export function checkMisbehaviourOptions(value: unknown, problems: OptionProblems, path: string): ResolvedMisbehaviour {
  if (value === undefined) return DEFAULT_MISBEHAVIOUR;
  if (!isOptionsObject(value)) {
    problems.add(`${path} must be an object, got ${describeValue(value)}`);
    return DEFAULT_MISBEHAVIOUR;
  }
  problems.unknownKeys(value, NAMES, path);
  return {
    inboundRate: checkInboundRate(value["inboundRate"], problems, optionPath(path, "inboundRate")),
    autoBan: checkAutoBan(value["autoBan"], problems, optionPath(path, "autoBan")),
  };
}

function checkInboundRate(value: unknown, problems: OptionProblems, path: string): InboundRateLimits | undefined {
  if (value === false) return undefined;
  if (value === undefined) return DEFAULT_INBOUND_RATE_LIMITS;
  if (!isOptionsObject(value)) {
    problems.add(`${path} must be an object or false, got ${describeValue(value)}`);
    return DEFAULT_INBOUND_RATE_LIMITS;
  }
  problems.unknownKeys(value, RATE_NAMES, path);
  const merged = { ...DEFAULT_INBOUND_RATE_LIMITS };
  for (const key of Object.keys(RATE_NAMES) as (keyof InboundRateLimits)[]) {
    if (value[key] !== undefined) (merged as Record<string, unknown>)[key] = value[key];
  }
  const found = inboundRateProblems(merged);
  for (const problem of found) problems.add(`${path}.${problem}`);
  return found.length === 0 ? Object.freeze(merged) : DEFAULT_INBOUND_RATE_LIMITS;
}

function checkAutoBan(value: unknown, problems: OptionProblems, path: string): Required<AutoBanOptions> | undefined {
  const defaults = DEFAULT_MISBEHAVIOUR.autoBan!;
  if (value === false) return undefined;
  if (value === undefined) return defaults;
  if (!isOptionsObject(value)) {
    problems.add(`${path} must be an object or false, got ${describeValue(value)}`);
    return defaults;
  }
  problems.unknownKeys(value, BAN_NAMES, path);
  const before = problems.size;
  const strikes = value["strikes"] ?? defaults.strikes;
  if (typeof strikes !== "number" || !Number.isInteger(strikes) || strikes < 1 || strikes > MAX_STRIKES_PER_SUBJECT) {
    problems.add(`${path}.strikes must be an integer in [1, ${MAX_STRIKES_PER_SUBJECT}], got ${describeValue(strikes)}`);
  }
  const duration = (key: "windowMs" | "banMs" | "maxBanMs"): number => {
    const v = value[key] ?? defaults[key];
    if (typeof v === "number" && Number.isFinite(v) && v > 0) return v;
    problems.add(`${path}.${key} must be a finite number of ms > 0, got ${describeValue(v)}`);
    return defaults[key];
  };
  const windowMs = duration("windowMs");
  const maxBanMs = duration("maxBanMs");
  // An unset first ban follows an explicit cap below the default.
  const banMs = value["banMs"] === undefined ? Math.min(defaults.banMs, maxBanMs) : duration("banMs");
  if (banMs > maxBanMs) problems.add(`${path}.banMs (${banMs}) must be <= ${path}.maxBanMs (${maxBanMs})`);
  if (problems.size > before) return defaults;
  return Object.freeze({ strikes: strikes as number, windowMs, banMs, maxBanMs });
}
