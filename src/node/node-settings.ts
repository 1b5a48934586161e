/**
 * The node-core settings derived from the resolved limits, and the `dialing` options.
 *
 * @module
 */
import type { ResolvedLimits } from "../manager/config.js";
import { DialBackoff, type DialBackoffOptions } from "../peers/dial-backoff.js";
import { describeValue, isOptionsObject, type KnownOptions, type OptionProblems, optionPath } from "../util/option-checks.js";
import { CAPACITY_RETRY_AFTER_MS, DEFAULT_DIAL_STAGGER_MS } from "./defaults.js";

/** Pending bounds, first-flight deadline and capacity retry-after for the node core. */
export function nodeSettings(limits: ResolvedLimits): {
  maxPendingPerIp: number;
  maxPendingPerSubnet: number;
  firstFlightTimeoutMs: number;
  capacityRetryAfterMs: number;
} {
  return {
    maxPendingPerIp: limits.maxPendingPerIp,
    maxPendingPerSubnet: limits.maxPendingPerSubnet,
    firstFlightTimeoutMs: limits.firstFlightTimeoutMs,
    capacityRetryAfterMs: CAPACITY_RETRY_AFTER_MS,
  };
}

/**
 * Options of outbound dialing (the `dialing` option of a `ConnectionManager`).
 *
 * @category Manager
 */
export interface DialingOptions {
  /**
   * Delay between the starts of two attempts to a peer's addresses while the earlier is still running
   * (RFC 8305 "Happy Eyeballs"; IPv6 and IPv4 interleaved), in ms; the first to complete wins and the
   * others are aborted. 0 races every address at once.
   * @default 250 (`DEFAULT_DIAL_STAGGER_MS`, RFC 8305)
   */
  readonly staggerMs?: number;
  /**
   * Per-address failure backoff of direct dials (`dial()` by the application; the services' dials feed it
   * but have their own backoff): after n consecutive failures an address is not dialed for
   * `min(maxMs, initialMs · 2^(n-1))`, and a dial whose every address is waiting rejects at once with
   * DIAL_BACKOFF. `clearDialBackoff()` forgets it; `false` turns it off.
   * @default `{ initialMs: 1000, maxMs: 300000 }`
   */
  readonly backoff?: false | DialBackoffOptions;
}

/** {@link DialingOptions} validated. */
export interface ResolvedDialing {
  readonly staggerMs: number;
  /** `undefined` when the backoff is off. */
  readonly backoff: Readonly<DialBackoffOptions> | undefined;
}

const DIALING_NAMES: KnownOptions<DialingOptions> = { staggerMs: true, backoff: true };
const BACKOFF_NAMES: KnownOptions<DialBackoffOptions> = { initialMs: true, maxMs: true, maxEntries: true };

/** Adds every problem of the `dialing` option to `problems` and returns it resolved (a bad value gives its default). */
export function checkDialingOptions(value: unknown, problems: OptionProblems, prefix: string): ResolvedDialing {
  if (value === undefined) return { staggerMs: DEFAULT_DIAL_STAGGER_MS, backoff: Object.freeze({}) };
  if (!isOptionsObject(value)) {
    problems.add(`${prefix} must be an object, got ${describeValue(value)}`);
    return { staggerMs: DEFAULT_DIAL_STAGGER_MS, backoff: Object.freeze({}) };
  }
  problems.unknownKeys(value, DIALING_NAMES, prefix);
  let staggerMs = DEFAULT_DIAL_STAGGER_MS;
  const stagger = value["staggerMs"];
  if (stagger !== undefined) {
    if (typeof stagger === "number" && Number.isFinite(stagger) && stagger >= 0 && stagger < 2 ** 31) staggerMs = stagger;
    else problems.add(`${optionPath(prefix, "staggerMs")} must be a finite number of ms >= 0 and < 2^31, got ${describeValue(stagger)}`);
  }
  const raw = value["backoff"];
  let backoff: Readonly<DialBackoffOptions> | undefined = Object.freeze({});
  if (raw === false) backoff = undefined;
  else if (raw !== undefined && raw !== true) {
    const path = optionPath(prefix, "backoff");
    if (!isOptionsObject(raw)) problems.add(`${path} must be false or { initialMs, maxMs, maxEntries }, got ${describeValue(raw)}`);
    else {
      problems.unknownKeys(raw, BACKOFF_NAMES, path);
      const frozen = Object.freeze({ ...(raw as DialBackoffOptions) });
      if (problems.capture(path, () => new DialBackoff(frozen)) !== undefined) backoff = frozen;
    }
  }
  return { staggerMs, backoff };
}
