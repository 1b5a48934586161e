/**
 * Passive throughput of a connection from its cumulative byte counters,
 * sampled at irregular intervals (sans-IO).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { DEFAULT_RATE_METER_TIME_CONSTANT_MS } from "./defaults.js";

let memoDt = Number.NaN;
let memoTau = Number.NaN;
let memoDecay = 1;
let memoWeight = 0;

/**
 * Computes `e^(−dt/τ)` and `(1 − e^(−dt/τ))·1000/dt` for {@link nextRate},
 * remembering the last pair: the meters of all connections are mostly updated
 * together (at a health check) with the same interval, so 10,000 updates cost
 * one `Math.exp`.
 */
function memoize(dt: number, tau: number): void {
  if (dt !== memoDt || tau !== memoTau) {
    memoDt = dt;
    memoTau = tau;
    memoDecay = Math.exp(-dt / tau);
    memoWeight = (1 - memoDecay) * (1000 / dt);
  }
}

/**
 * One step of an exponentially weighted rate over cumulative counters: the
 * rate in bytes per second after `bytes` more were counted over `dtMs` (> 0)
 * milliseconds, with time constant `tauMs`:
 * `rate·e^(−Δ/τ) + (bytes/Δ)·(1 − e^(−Δ/τ))`, the bytes taken as spread evenly
 * over Δ. What {@link ThroughputMeter.update} does for each direction, for
 * callers that keep the state inline (a connection monitor, 10,000 of them).
 */
export function nextRate(rate: number, bytes: number, dtMs: number, tauMs: number): number {
  memoize(dtMs, tauMs);
  return rate * memoDecay + bytes * memoWeight;
}

/**
 * Exponentially weighted bytes per second in and out, updated from cumulative
 * counters read at arbitrary times. The bytes counted between two updates are
 * taken as spread evenly over that interval Δ, so an update is
 * `rate = rate·e^(−Δ/τ) + (bytes/Δ)·(1 − e^(−Δ/τ))`: exact for a constant
 * stream whatever the sampling (unlike feeding per-interval deltas to a
 * `RateMeter`, which assumes each record arrived at once), and one
 * `Math.exp` per update for both directions. Readings are as of the last update.
 *
 * @example
 * ```ts
 * const meter = new ThroughputMeter({}, Date.now(), conn.stats);
 * // later, at any interval:
 * meter.update(conn.stats.bytesIn, conn.stats.bytesOut, Date.now());
 * meter.rateIn; // bytes per second
 * ```
 */
export class ThroughputMeter {
  /** Time constant τ in ms (validated). */
  readonly timeConstantMs: number;
  #rateIn = 0;
  #rateOut = 0;
  #bytesIn: number;
  #bytesOut: number;
  #updatedAt: number;

  /**
   * @param options - `timeConstantMs`: τ in ms, finite and > 0. @default 5000
   * @param now - time (ms) the counters were read.
   * @param counters - cumulative bytes in and out at `now`.
   * @throws PeerlinkError INVALID_ARGUMENT on a bad time constant.
   */
  constructor(options: { timeConstantMs?: number }, now: number, counters: { bytesIn: number; bytesOut: number }) {
    const tau = options.timeConstantMs ?? DEFAULT_RATE_METER_TIME_CONSTANT_MS;
    if (!Number.isFinite(tau) || tau <= 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `throughput meter timeConstantMs must be a finite number > 0, got ${tau}`);
    }
    this.timeConstantMs = tau;
    this.#bytesIn = counters.bytesIn;
    this.#bytesOut = counters.bytesOut;
    this.#updatedAt = now;
  }

  /** Received bytes per second, as of the last update. */
  get rateIn(): number {
    return this.#rateIn;
  }

  /** Written bytes per second, as of the last update. */
  get rateOut(): number {
    return this.#rateOut;
  }

  /**
   * Takes the cumulative counters at `now` (ms). No time elapsed since the last
   * update: nothing changes (the new bytes count at the next update). Counters
   * that went down are taken as the new baseline.
   */
  update(bytesIn: number, bytesOut: number, now: number): void {
    const dt = now - this.#updatedAt;
    if (!(dt > 0)) return;
    const dIn = bytesIn > this.#bytesIn ? bytesIn - this.#bytesIn : 0;
    const dOut = bytesOut > this.#bytesOut ? bytesOut - this.#bytesOut : 0;
    this.#rateIn = nextRate(this.#rateIn, dIn, dt, this.timeConstantMs);
    this.#rateOut = nextRate(this.#rateOut, dOut, dt, this.timeConstantMs);
    this.#bytesIn = bytesIn;
    this.#bytesOut = bytesOut;
    this.#updatedAt = now;
  }
}
