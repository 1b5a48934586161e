/**
 * Smoothed round-trip time and its mean deviation, computed as TCP does
 * (RFC 6298, section 2).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";

/** Gain of the smoothed RTT (RFC 6298 alpha = 1/8). */
export const RTT_ALPHA = 1 / 8;
/** Gain of the RTT mean deviation (RFC 6298 beta = 1/4). */
export const RTT_BETA = 1 / 4;

/**
 * Smoothed RTT estimator (EWMA) with mean deviation, as TCP's RFC 6298:
 * the first sample R sets `srtt = R` and `rttvar = R / 2`; each later sample
 * updates `rttvar = (1 - β)·rttvar + β·|srtt − R|` then `srtt = (1 − α)·srtt + α·R`.
 * All values are in milliseconds; before the first sample they are `undefined`.
 *
 * @example
 * ```ts
 * const rtt = new RttEstimator();
 * rtt.addSample(40);
 * rtt.srtt;   // 40
 * rtt.rttvar; // 20
 * ```
 */
export class RttEstimator {
  #srtt: number | undefined;
  #rttvar: number | undefined;
  #min: number | undefined;
  #latest: number | undefined;
  #samples = 0;

  /** Smoothed RTT in milliseconds, or `undefined` before the first sample. */
  get srtt(): number | undefined {
    return this.#srtt;
  }

  /** Mean deviation of the RTT (the jitter) in milliseconds, or `undefined` before the first sample. */
  get rttvar(): number | undefined {
    return this.#rttvar;
  }

  /** Smallest sample seen, in milliseconds, or `undefined` before the first sample. */
  get min(): number | undefined {
    return this.#min;
  }

  /** Most recent sample, in milliseconds, or `undefined` before the first sample. */
  get latest(): number | undefined {
    return this.#latest;
  }

  /** Number of samples taken. */
  get samples(): number {
    return this.#samples;
  }

  /**
   * Adds one RTT sample in milliseconds.
   *
   * @throws PeerlinkError INVALID_ARGUMENT when the sample is negative or not finite.
   */
  addSample(rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `RTT sample must be a finite number >= 0, got ${rttMs}`);
    }
    if (this.#srtt === undefined || this.#rttvar === undefined) {
      this.#srtt = rttMs;
      this.#rttvar = rttMs / 2;
    } else {
      this.#rttvar = (1 - RTT_BETA) * this.#rttvar + RTT_BETA * Math.abs(this.#srtt - rttMs);
      this.#srtt = (1 - RTT_ALPHA) * this.#srtt + RTT_ALPHA * rttMs;
    }
    this.#min = this.#min === undefined ? rttMs : Math.min(this.#min, rttMs);
    this.#latest = rttMs;
    this.#samples += 1;
  }

  /**
   * A retransmission-style timeout in milliseconds: `srtt + factor·rttvar`
   * clamped to `[minMs, maxMs]`; `maxMs` before the first sample.
   */
  timeout(minMs: number, maxMs: number, factor = 4): number {
    if (this.#srtt === undefined || this.#rttvar === undefined) return maxMs;
    return Math.min(maxMs, Math.max(minMs, this.#srtt + factor * this.#rttvar));
  }
}
