/**
 * A token bucket with an injected clock (sans-IO): `capacity` tokens, refilled
 * continuously at `refillPerSecond`. Used for the inbound rate limit per IP and
 * the global reconnect budget.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";

/** Options of a {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Largest number of tokens the bucket holds (the burst). Must be > 0. */
  capacity: number;
  /** Tokens added per second. Must be >= 0. */
  refillPerSecond: number;
  /** Tokens at creation. @default capacity */
  initial?: number;
}

/** A continuous-refill token bucket. Time is passed in by the caller, in milliseconds. */
export class TokenBucket {
  readonly capacity: number;
  readonly refillPerSecond: number;
  #tokens: number;
  #updatedAt: number;

  constructor(options: TokenBucketOptions, now: number) {
    if (!(options.capacity > 0) || !(options.refillPerSecond >= 0) || !Number.isFinite(options.capacity)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "token bucket needs capacity > 0 and refillPerSecond >= 0");
    }
    this.capacity = options.capacity;
    this.refillPerSecond = options.refillPerSecond;
    this.#tokens = Math.min(options.initial ?? options.capacity, options.capacity);
    this.#updatedAt = now;
  }

  #refill(now: number): void {
    if (now > this.#updatedAt) {
      this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#updatedAt) / 1000) * this.refillPerSecond);
      this.#updatedAt = now;
    }
  }

  /** Tokens available at `now` (fractional). */
  available(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** Takes `count` tokens if available and returns true; otherwise takes none and returns false. */
  tryTake(now: number, count = 1): boolean {
    this.#refill(now);
    if (this.#tokens + 1e-9 < count) return false;
    this.#tokens -= count;
    return true;
  }

  /** Milliseconds from `now` until `count` tokens are available (0 if they are; Infinity if never). */
  msUntil(now: number, count = 1): number {
    this.#refill(now);
    const missing = count - this.#tokens;
    if (missing <= 1e-9) return 0;
    if (this.refillPerSecond === 0 || count > this.capacity) return Number.POSITIVE_INFINITY;
    return Math.ceil((missing / this.refillPerSecond) * 1000);
  }

  /** True when the bucket is full at `now` (a per-key limiter may then forget it). */
  isFull(now: number): boolean {
    return this.available(now) >= this.capacity - 1e-9;
  }
}
