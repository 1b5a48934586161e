/**
 * Options of the maintenance service (keepalive, RTT, inactivity, bandwidth,
 * health grades, degraded replacement) and their validation into a
 * fully filled, frozen object.
 *
 * @module
 */
import { describeValue, isOptionsObject, type KnownOptions, OptionProblems, optionPath } from "../util/option-checks.js";
import {
  DEFAULT_REFERENCE_BANDWIDTH_BPS as SCORER_REFERENCE_BANDWIDTH_BPS,
  DEFAULT_REFERENCE_LATENCY_MS as SCORER_REFERENCE_LATENCY_MS,
  DEFAULT_HEALTH_ENGINE,
  type HealthScorerEngine,
} from "../health/scorer.js";
import { BandwidthProber, type BandwidthProberOptions } from "./bandwidth-probe.js";
import {
  DEFAULT_DEGRADED_THRESHOLD_MS,
  DEFAULT_HEALTH_CHECK_INTERVAL_MS,
  DEFAULT_HYSTERESIS_SAMPLES,
  DEFAULT_INACTIVITY_TIMEOUT_MS,
  DEFAULT_MAX_MISSED_PONGS,
  DEFAULT_MAX_PONG_TIMEOUT_MS,
  DEFAULT_MIN_PONG_TIMEOUT_MS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PROBE_RECEIVE_TIMEOUT_MS,
  DEFAULT_NETWORK_POLL_INTERVAL_MS,
  DEFAULT_PROBE_ON_DEMAND_MIN_INTERVAL_MS,
  DEFAULT_RATE_METER_TIME_CONSTANT_MS,
  DEFAULT_WAKE_CHECK_INTERVAL_MS,
  DEFAULT_WAKE_LATE_THRESHOLD_MS,
} from "./defaults.js";
import type { WakeDetectorSettings } from "./wake-detector.js";

/**
 * Longest time a connection goes without an RTT sample, in milliseconds, before
 * a Ping is sent even though application traffic proves liveness. Keepalive
 * pings stop on a busy link, but its latency still has to be scored: one tiny
 * frame every 30 s (two default ping intervals) keeps the RTT fresh.
 *
 * @category Maintenance
 */
export const DEFAULT_RTT_SAMPLE_INTERVAL_MS = 30_000;

/**
 * Shortest time between two maintenance cycles, in milliseconds. Deadlines of
 * different connections that fall within this window are handled by one cycle,
 * so 10,000 connections with spread-out deadlines cost at most 20 cycles a
 * second, not 10,000 timer callbacks. 50 ms is 0.3 % of the default ping interval.
 *
 * @category Maintenance
 */
export const DEFAULT_MIN_CYCLE_INTERVAL_MS = 50;

/** Connections the first health batch holds; it doubles when more are open. */
export const INITIAL_HEALTH_BATCH_CAPACITY = 256;

/**
 * How long a graceful close of a connection declared dead waits for the peer,
 * in milliseconds. The peer did not answer pings: waiting for its close is
 * pointless, so the Goodbye is written best-effort and the socket released.
 */
export const DEAD_PEER_CLOSE_TIMEOUT_MS = 0;

/**
 * Options of the maintenance service (the `maintenance` option of a `ConnectionManager`). Durations in milliseconds, rates in bytes per second.
 *
 * @category Maintenance
 */
export interface MaintenanceOptions {
  /**
   * Silence (nothing received) after which a keepalive Ping is sent; traffic
   * postpones it. Equivalent to gRPC's `GRPC_ARG_KEEPALIVE_TIME_MS`; sensible range 1 s – 5 min.
   * @default 15000 ({@link DEFAULT_PING_INTERVAL_MS})
   */
  pingIntervalMs?: number;
  /**
   * Consecutive unanswered pings after which the peer is declared dead and the
   * connection closed with `timeout`: keepalive pings, and apart from them RTT pings,
   * so a peer that keeps sending but answers nothing is found dead too. Integer ≥ 1.
   * @default 3 ({@link DEFAULT_MAX_MISSED_PONGS})
   */
  maxMissedPongs?: number;
  /**
   * Lower bound of the adaptive pong timeout (`srtt + 4·rttvar`), in ms. At most `maxPongTimeoutMs`.
   * @default 2000 ({@link DEFAULT_MIN_PONG_TIMEOUT_MS}), lowered to `maxPongTimeoutMs` when that is set below it
   */
  minPongTimeoutMs?: number;
  /**
   * Upper bound of the adaptive pong timeout, and the timeout before the first
   * RTT sample, in ms. Equivalent to gRPC's `GRPC_ARG_KEEPALIVE_TIMEOUT_MS`.
   * @default 10000 ({@link DEFAULT_MAX_PONG_TIMEOUT_MS}), raised to `minPongTimeoutMs` when that is set above it
   */
  maxPongTimeoutMs?: number;
  /**
   * Silence (nothing at all received) after which the connection is closed
   * with `timeout`, in ms. The peer's keepalive pings count as traffic. Must
   * exceed `pingIntervalMs + maxPongTimeoutMs`: an idle connection whose peer
   * answers every ping must never reach it.
   * @default 60000 ({@link DEFAULT_INACTIVITY_TIMEOUT_MS}), or `2 × (pingIntervalMs + maxPongTimeoutMs)` when that is larger
   */
  inactivityTimeoutMs?: number;
  /**
   * Longest time without an RTT sample before a Ping is sent even on a busy
   * connection (keepalive pings are skipped while traffic flows), in ms. One
   * Ping is also sent when the connection opens, so latency is known at once.
   * @default 30000 ({@link DEFAULT_RTT_SAMPLE_INTERVAL_MS})
   */
  rttSampleIntervalMs?: number;
  /**
   * How often every connection is scored, in ms (one batch call for all).
   * @default 10000 ({@link DEFAULT_HEALTH_CHECK_INTERVAL_MS})
   */
  healthCheckIntervalMs?: number;
  /**
   * Consecutive health checks that must agree before a new grade is published
   * (1 publishes every change at once). Integer ≥ 1.
   * @default 2 ({@link DEFAULT_HYSTERESIS_SAMPLES})
   */
  hysteresisSamples?: number;
  /**
   * How long the published grade must stay Poor or Critical before the
   * connection is replaced (make-before-break), in ms.
   * @default 60000 ({@link DEFAULT_DEGRADED_THRESHOLD_MS})
   */
  degradedReplaceAfterMs?: number;
  /**
   * Whether degraded connections are replaced at all. Protected peers never are.
   * @default true
   */
  replaceDegraded?: boolean;
  /**
   * RTT + jitter that scores 0.5 on latency, in ms (50 ms scores 0.8, 200 ms 0.2
   * with the default). The overall score is at most the latency score + 0.3, so a link
   * is at best fair from 2× this and poor from about 3.3× (330 ms by default), however
   * reliable or fast (see `LATENCY_HEADROOM`, src/health/curves.ts). Finite and > 0.
   * @default 100 (the health scorer's `DEFAULT_REFERENCE_LATENCY_MS`)
   */
  referenceLatencyMs?: number;
  /**
   * Bandwidth that scores 0.5, in bytes per second (9× it scores 0.9). Finite and > 0.
   * @default 1000000 (1 MB/s = 8 Mbit/s; the health scorer's `DEFAULT_REFERENCE_BANDWIDTH_BPS`)
   */
  referenceBandwidthBps?: number;
  /**
   * Health scoring engine, `"wasm"` or `"js"` (bit-identical results). If the
   * WASM core cannot be loaded or traps, the service falls back to `"js"` and
   * emits a process warning.
   * @default "wasm"
   */
  engine?: HealthScorerEngine;
  /**
   * Active bandwidth probing: `false` for none (passive meters only), `true`
   * for the prober's defaults (one 8 × 32 KiB burst a minute, paced at
   * ≤ 20 MB/s, first after 5 s), or the prober's options. Answering the peer's
   * probes is always on.
   * @default false
   */
  bandwidthProbe?: boolean | BandwidthProberOptions;
  /**
   * Probe a connection's bandwidth when it is needed: its passive rate is below `referenceBandwidthBps` (so
   * its bandwidth is unmeasured) and its health score is within 0.05 of a grade boundary that a measured
   * bandwidth could cross. Uses the `bandwidthProbe` burst settings (their defaults when off).
   * @default true
   */
  probeOnDemand?: boolean;
  /**
   * Shortest time between two on-demand probes of one connection, in ms.
   * @default 300000 ({@link DEFAULT_PROBE_ON_DEMAND_MIN_INTERVAL_MS})
   */
  probeOnDemandMinIntervalMs?: number;
  /**
   * Sleep/resume and network-change detection: a watch timer firing late, the wall clock jumping against
   * the monotonic clock, or the local addresses changing re-checks every connection at once (a Ping each,
   * a health check once the pongs are due) and emits `node:resumed` or `network:changed`. `false` turns
   * it off; an object sets `checkIntervalMs` (1000), `lateThresholdMs` (5000) and `networkPollMs` (5000;
   * 0: addresses not watched).
   * @default true
   */
  wakeDetection?: boolean | Partial<WakeDetectorSettings>;
  /**
   * How long the receiver of a peer's probe burst waits for the next frame
   * before reporting an incomplete burst, in ms.
   * @default 5000 ({@link DEFAULT_PROBE_RECEIVE_TIMEOUT_MS})
   */
  probeReceiveTimeoutMs?: number;
  /**
   * Time constant of the passive per-connection rate meters (bytes/s in and
   * out, EWMA), in ms.
   * @default 5000 ({@link DEFAULT_RATE_METER_TIME_CONSTANT_MS})
   */
  rateTimeConstantMs?: number;
  /**
   * Shortest time between two maintenance cycles, in ms (deadlines within it
   * share one cycle). Probe bursts are paced separately, over only the
   * connections that are sending one.
   * @default 50 ({@link DEFAULT_MIN_CYCLE_INTERVAL_MS})
   */
  minCycleIntervalMs?: number;
}

/** {@link MaintenanceOptions} validated, with every default filled in. */
export interface ResolvedMaintenanceOptions {
  readonly pingIntervalMs: number;
  readonly maxMissedPongs: number;
  readonly minPongTimeoutMs: number;
  readonly maxPongTimeoutMs: number;
  readonly inactivityTimeoutMs: number;
  readonly rttSampleIntervalMs: number;
  readonly healthCheckIntervalMs: number;
  readonly hysteresisSamples: number;
  readonly degradedReplaceAfterMs: number;
  readonly replaceDegraded: boolean;
  readonly referenceLatencyMs: number;
  readonly referenceBandwidthBps: number;
  readonly engine: HealthScorerEngine;
  /** `undefined` when probing is off. */
  readonly bandwidthProbe: Readonly<BandwidthProberOptions> | undefined;
  readonly probeOnDemand: boolean;
  readonly probeOnDemandMinIntervalMs: number;
  /** `undefined` when detection is off. */
  readonly wakeDetection: WakeDetectorSettings | undefined;
  readonly probeReceiveTimeoutMs: number;
  readonly rateTimeConstantMs: number;
  readonly minCycleIntervalMs: number;
}

const OPTION_NAMES: KnownOptions<MaintenanceOptions> = {
  pingIntervalMs: true,
  maxMissedPongs: true,
  minPongTimeoutMs: true,
  maxPongTimeoutMs: true,
  inactivityTimeoutMs: true,
  rttSampleIntervalMs: true,
  healthCheckIntervalMs: true,
  hysteresisSamples: true,
  degradedReplaceAfterMs: true,
  replaceDegraded: true,
  referenceLatencyMs: true,
  referenceBandwidthBps: true,
  engine: true,
  bandwidthProbe: true,
  probeOnDemand: true,
  probeOnDemandMinIntervalMs: true,
  wakeDetection: true,
  probeReceiveTimeoutMs: true,
  rateTimeConstantMs: true,
  minCycleIntervalMs: true,
};

const PROBER_OPTION_NAMES: KnownOptions<BandwidthProberOptions> = {
  intervalMs: true,
  initialDelayMs: true,
  frameCount: true,
  paddingBytes: true,
  maxBytesPerSecond: true,
  reportTimeoutMs: true,
  firstProbeId: true,
};

/** Longest duration a timer can wait (2^31 - 1 ms). */
const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Validates `options` and fills in the defaults.
 *
 * @throws PeerlinkError INVALID_ARGUMENT listing every bad option (see {@link checkMaintenanceOptions}).
 */
export function resolveMaintenanceOptions(options: MaintenanceOptions = {}): ResolvedMaintenanceOptions {
  const problems = new OptionProblems();
  const resolved = checkMaintenanceOptions(options, problems, "");
  problems.throwIfAny("invalid maintenance options");
  return resolved;
}

/**
 * The checks of {@link resolveMaintenanceOptions} without the throw: adds every
 * problem of `options` to `problems`, naming options under `prefix` (e.g.
 * `"maintenance"`), and returns the options with defaults filled (a value that
 * failed its check is replaced by its default, so rules across groups can still
 * be checked). Rejected besides malformed values: unknown option names (in
 * `bandwidthProbe` too), `minPongTimeoutMs > maxPongTimeoutMs`, and
 * `inactivityTimeoutMs <= pingIntervalMs + maxPongTimeoutMs`.
 */
export function checkMaintenanceOptions(options: unknown, problems: OptionProblems, prefix: string): ResolvedMaintenanceOptions {
  const name = (key: keyof MaintenanceOptions): string => optionPath(prefix, key);
  if (!isOptionsObject(options)) {
    problems.add(`${prefix === "" ? "maintenance options" : prefix} must be an object, got ${describeValue(options)}`);
    options = {};
  }
  const o = options as Record<keyof MaintenanceOptions, unknown>;
  problems.unknownKeys(o, OPTION_NAMES, prefix);

  /** A duration in ms, > min (>= min with `allowMin`) and below the timer limit; the fallback when unset or bad. */
  const duration = (key: keyof MaintenanceOptions, fallback: number, allowMin = false): number => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!allowMin && v === 0) || v > MAX_DURATION_MS) {
      problems.add(`${name(key)} must be a finite number of ms ${allowMin ? ">=" : ">"} 0 and < 2^31, got ${describeValue(v)}`);
      return fallback;
    }
    return v;
  };
  const integer = (key: keyof MaintenanceOptions, fallback: number): number => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 1_000_000) {
      problems.add(`${name(key)} must be an integer in [1, 1000000], got ${describeValue(v)}`);
      return fallback;
    }
    return v;
  };
  const reference = (key: keyof MaintenanceOptions, fallback: number): number => {
    const v = o[key];
    if (v === undefined) return fallback;
    // Scores use the square of the reference: below 1e-6 it could underflow to 0 and make 0/0 (NaN).
    if (typeof v !== "number" || !(Number.isFinite(v) && v >= 1e-6 && v < 1e100)) {
      problems.add(`${name(key)} must be finite, >= 1e-6 and < 1e100, got ${describeValue(v)}`);
      return fallback;
    }
    return v;
  };

  // Unset pong bounds fit the one that is set; explicit ones that contradict each other are an error.
  const minGiven = o.minPongTimeoutMs !== undefined;
  const maxGiven = o.maxPongTimeoutMs !== undefined;
  let minPong = duration("minPongTimeoutMs", DEFAULT_MIN_PONG_TIMEOUT_MS);
  let maxPong = duration("maxPongTimeoutMs", DEFAULT_MAX_PONG_TIMEOUT_MS);
  if (!maxGiven) maxPong = Math.max(maxPong, minPong);
  if (!minGiven) minPong = Math.min(minPong, maxPong);
  if (minPong > maxPong) problems.add(`${name("minPongTimeoutMs")} (${minPong}) exceeds ${name("maxPongTimeoutMs")} (${maxPong})`);

  const pingIntervalMs = duration("pingIntervalMs", DEFAULT_PING_INTERVAL_MS);
  // An idle, healthy connection receives the Pong at most pingInterval + maxPongTimeout after its last frame.
  const idleAnswered = pingIntervalMs + maxPong;
  const inactivityTimeoutMs = duration("inactivityTimeoutMs", Math.min(MAX_DURATION_MS, Math.max(DEFAULT_INACTIVITY_TIMEOUT_MS, 2 * idleAnswered)));
  if (inactivityTimeoutMs <= idleAnswered) {
    problems.add(
      `${name("inactivityTimeoutMs")} (${inactivityTimeoutMs}) must be greater than ${name("pingIntervalMs")} (${pingIntervalMs}) + ` +
        `${name("maxPongTimeoutMs")} (${maxPong}): an idle connection whose peer answers every ping would be closed`,
    );
  }

  let engine: HealthScorerEngine = DEFAULT_HEALTH_ENGINE;
  if (o.engine === "wasm" || o.engine === "js") engine = o.engine;
  else if (o.engine !== undefined) problems.add(`${name("engine")} must be "wasm" or "js", got ${describeValue(o.engine)}`);
  let replaceDegraded = true;
  if (typeof o.replaceDegraded === "boolean") replaceDegraded = o.replaceDegraded;
  else if (o.replaceDegraded !== undefined) problems.add(`${name("replaceDegraded")} must be a boolean, got ${describeValue(o.replaceDegraded)}`);
  const probe = o.bandwidthProbe ?? false;
  let bandwidthProbe: Readonly<BandwidthProberOptions> | undefined;
  if (probe === true) bandwidthProbe = Object.freeze({});
  else if (probe !== false) {
    if (!isOptionsObject(probe)) {
      problems.add(`${name("bandwidthProbe")} must be a boolean or prober options, got ${describeValue(probe)}`);
    } else {
      problems.unknownKeys(probe, PROBER_OPTION_NAMES, name("bandwidthProbe"));
      const frozen = Object.freeze({ ...(probe as BandwidthProberOptions) });
      // Validates now rather than at the first connection.
      if (problems.capture(name("bandwidthProbe"), () => new BandwidthProber(frozen, 0)) !== undefined) bandwidthProbe = frozen;
    }
  }
  let probeOnDemand = true;
  if (typeof o.probeOnDemand === "boolean") probeOnDemand = o.probeOnDemand;
  else if (o.probeOnDemand !== undefined) problems.add(`${name("probeOnDemand")} must be a boolean, got ${describeValue(o.probeOnDemand)}`);
  const wakeDetection = checkWakeDetection(o.wakeDetection, problems, name("wakeDetection"));
  return Object.freeze({
    pingIntervalMs,
    maxMissedPongs: integer("maxMissedPongs", DEFAULT_MAX_MISSED_PONGS),
    minPongTimeoutMs: minPong,
    maxPongTimeoutMs: maxPong,
    inactivityTimeoutMs,
    rttSampleIntervalMs: duration("rttSampleIntervalMs", DEFAULT_RTT_SAMPLE_INTERVAL_MS),
    healthCheckIntervalMs: duration("healthCheckIntervalMs", DEFAULT_HEALTH_CHECK_INTERVAL_MS),
    hysteresisSamples: integer("hysteresisSamples", DEFAULT_HYSTERESIS_SAMPLES),
    degradedReplaceAfterMs: duration("degradedReplaceAfterMs", DEFAULT_DEGRADED_THRESHOLD_MS, true),
    replaceDegraded,
    referenceLatencyMs: reference("referenceLatencyMs", SCORER_REFERENCE_LATENCY_MS),
    referenceBandwidthBps: reference("referenceBandwidthBps", SCORER_REFERENCE_BANDWIDTH_BPS),
    engine,
    bandwidthProbe,
    probeOnDemand,
    probeOnDemandMinIntervalMs: duration("probeOnDemandMinIntervalMs", DEFAULT_PROBE_ON_DEMAND_MIN_INTERVAL_MS, true),
    wakeDetection,
    probeReceiveTimeoutMs: duration("probeReceiveTimeoutMs", DEFAULT_PROBE_RECEIVE_TIMEOUT_MS),
    rateTimeConstantMs: duration("rateTimeConstantMs", DEFAULT_RATE_METER_TIME_CONSTANT_MS),
    minCycleIntervalMs: duration("minCycleIntervalMs", DEFAULT_MIN_CYCLE_INTERVAL_MS, true),
  });
}

const WAKE_NAMES: KnownOptions<WakeDetectorSettings> = { checkIntervalMs: true, lateThresholdMs: true, networkPollMs: true };

/** Validates the `wakeDetection` option (see {@link MaintenanceOptions.wakeDetection}). */
function checkWakeDetection(value: unknown, problems: OptionProblems, path: string): WakeDetectorSettings | undefined {
  const defaults: WakeDetectorSettings = {
    checkIntervalMs: DEFAULT_WAKE_CHECK_INTERVAL_MS,
    lateThresholdMs: DEFAULT_WAKE_LATE_THRESHOLD_MS,
    networkPollMs: DEFAULT_NETWORK_POLL_INTERVAL_MS,
  };
  if (value === undefined || value === true) return Object.freeze(defaults);
  if (value === false) return undefined;
  if (!isOptionsObject(value)) {
    problems.add(`${path} must be a boolean or { checkIntervalMs, lateThresholdMs, networkPollMs }, got ${describeValue(value)}`);
    return Object.freeze(defaults);
  }
  problems.unknownKeys(value, WAKE_NAMES, path);
  const out: Record<keyof WakeDetectorSettings, number> = { ...defaults };
  for (const key of Object.keys(WAKE_NAMES) as (keyof WakeDetectorSettings)[]) {
    const v = value[key];
    if (v === undefined) continue;
    const zeroOk = key === "networkPollMs";
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!zeroOk && v === 0) || v > MAX_DURATION_MS) {
      problems.add(`${optionPath(path, key)} must be a finite number of ms ${zeroOk ? ">=" : ">"} 0 and < 2^31, got ${describeValue(v)}`);
    } else out[key] = v;
  }
  return Object.freeze(out);
}
