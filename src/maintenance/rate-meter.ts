/**
 * Passive traffic meter: an exponentially weighted bytes-per-second rate that
 * decays while the connection is idle.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { DEFAULT_RATE_METER_TIME_CONSTANT_MS } from "./defaults.js";

/** Options of a {@link RateMeter}. */
export interface RateMeterOptions {
  /**
   * Time constant τ in milliseconds: the weight of bytes recorded τ ago is 1/e
   * of the weight of bytes recorded now. Larger is smoother and slower.
   * @default 5000 ({@link DEFAULT_RATE_METER_TIME_CONSTANT_MS})
   */
  timeConstantMs?: number;
}

/**
 * EWMA rate meter with an exponential kernel: the rate at time t is
 * `Σ bytes_i · e^(−(t − t_i)/τ) / τ`, so a constant stream of r bytes/s reads r
 * once it has run for a few τ (63 % after τ, 95 % after 3τ), and the rate decays
 * by a factor e every τ of silence. Time is passed in, in milliseconds.
 *
 * @example
 * ```ts
 * const rx = new RateMeter({}, performance.now());
 * socket.on("data", (b) => rx.record(b.length, performance.now()));
 * rx.rate(performance.now()); // bytes per second
 * ```
 */
export class RateMeter {
  /** Time constant τ in milliseconds (validated). */
  readonly timeConstantMs: number;
  #rate = 0;
  #updatedAt: number;
  #totalBytes = 0;

  /**
   * @param options - see {@link RateMeterOptions}.
   * @param now - creation time in ms.
   * @throws PeerlinkError INVALID_ARGUMENT when `timeConstantMs` is not a finite number > 0.
   */
  constructor(options: RateMeterOptions, now: number) {
    const tau = options.timeConstantMs ?? DEFAULT_RATE_METER_TIME_CONSTANT_MS;
    if (!Number.isFinite(tau) || tau <= 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `rate meter timeConstantMs must be a finite number > 0, got ${tau}`);
    }
    this.timeConstantMs = tau;
    this.#updatedAt = now;
  }

  /** Every byte ever recorded. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  #decayTo(now: number): void {
    if (now > this.#updatedAt) {
      this.#rate *= Math.exp(-(now - this.#updatedAt) / this.timeConstantMs);
      this.#updatedAt = now;
    }
  }

  /**
   * Records `bytes` transferred at `now` (ms). A `now` earlier than the last
   * call is treated as equal to it (the clock is assumed monotonic).
   *
   * @throws PeerlinkError INVALID_ARGUMENT when `bytes` is negative or not finite.
   */
  record(bytes: number, now: number): void {
    if (!Number.isFinite(bytes) || bytes < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `rate meter: bytes must be a finite number >= 0, got ${bytes}`);
    }
    this.#decayTo(now);
    this.#rate += (bytes * 1000) / this.timeConstantMs;
    this.#totalBytes += bytes;
  }

  /** The smoothed rate at `now` (ms), in bytes per second, decayed for the time since the last record. */
  rate(now: number): number {
    this.#decayTo(now);
    return this.#rate;
  }
}
