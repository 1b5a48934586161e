/**
 * Token buckets per key (per source IP for inbound connections) with a hard
 * bound on the number of keys tracked, so a flood from many addresses cannot
 * grow memory. Sans-IO: time is passed in as `now` (ms).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { TokenBucket } from "../util/token-bucket.js";

/** Options of a {@link PerKeyRateLimiter}. */
export interface PerKeyRateLimiterOptions {
  /** Tokens per bucket (the burst a key may use at once), > 0. */
  capacity: number;
  /** Tokens added to each bucket per second, >= 0. */
  refillPerSecond: number;
  /** Most keys tracked at once (integer >= 1). */
  maxKeys: number;
}

/**
 * Token buckets per key with a bounded key set.
 *
 * A key's bucket is created full on first use. When a new key arrives and
 * `maxKeys` buckets exist, room is made in this order:
 * 1. buckets that are full again are forgotten (they hold no information: a
 *    new bucket would be full too) — this scan runs at most once per refill
 *    interval, so a flood costs amortised O(1) per attempt;
 * 2. otherwise the least recently used bucket is forgotten.
 *
 * The bound trades precision for memory: a key whose bucket was forgotten
 * starts again with a full bucket. With the defaults (10 000 keys) an
 * attacker needs that many distinct addresses per refill interval to do so.
 */
export class PerKeyRateLimiter {
  readonly capacity: number;
  readonly refillPerSecond: number;
  readonly maxKeys: number;
  /** Insertion order of this map is the recency order (oldest first). */
  readonly #buckets = new Map<string, TokenBucket>();
  /**
   * A long-lived iterator over the keys, used to find the least recently used
   * one. Everything before its position has been deleted (entries are only
   * appended), so it never rescans the holes a fresh iterator would skip,
   * which made eviction O(maxKeys) in V8.
   */
  #oldest: Iterator<string> | undefined;
  /**
   * The key at the most recently used end, if known: taking from it again moves nothing. A flood from one
   * address (or one busy peer) otherwise deleted and re-added its entry at every take.
   */
  #newest: string | undefined;
  #lastFullSweepAt = Number.NEGATIVE_INFINITY;
  readonly #fullSweepIntervalMs: number;

  constructor(options: PerKeyRateLimiterOptions) {
    const { capacity, refillPerSecond, maxKeys } = options;
    if (!(Number.isFinite(capacity) && capacity > 0) || !(Number.isFinite(refillPerSecond) && refillPerSecond >= 0)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "rate limiter needs a finite capacity > 0 and refillPerSecond >= 0");
    }
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `rate limiter maxKeys must be an integer >= 1, got ${String(maxKeys)}`);
    }
    this.capacity = capacity;
    this.refillPerSecond = refillPerSecond;
    this.maxKeys = maxKeys;
    // A bucket needs at least this long to become full again after one take.
    this.#fullSweepIntervalMs = refillPerSecond > 0 ? Math.max(1, 1000 / refillPerSecond) : Number.POSITIVE_INFINITY;
  }

  /** Number of keys currently tracked (never more than `maxKeys`). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes `count` tokens from `key`'s bucket at `now` and returns true, or
   * takes none and returns false when the key is over its rate.
   */
  tryTake(key: string, now: number, count = 1): boolean {
    return this.#bucket(key, now).tryTake(now, count);
  }

  /** Milliseconds from `now` until `key` may take `count` tokens (0 when it may now). Does not create a bucket. */
  msUntil(key: string, now: number, count = 1): number {
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) return count <= this.capacity ? 0 : Number.POSITIVE_INFINITY;
    return bucket.msUntil(now, count);
  }

  /** Tokens `key` has at `now` (the capacity for an untracked key). Does not create a bucket. */
  available(key: string, now: number): number {
    return this.#buckets.get(key)?.available(now) ?? this.capacity;
  }

  /** True when `key` has a bucket. */
  has(key: string): boolean {
    return this.#buckets.has(key);
  }

  /** Forgets `key`'s bucket (it starts full again). Returns true if it was tracked. */
  delete(key: string): boolean {
    if (key === this.#newest) this.#newest = undefined;
    return this.#buckets.delete(key);
  }

  /** Forgets every bucket. */
  clear(): void {
    this.#buckets.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
  }

  /**
   * Forgets every bucket that is full at `now` and returns how many were
   * forgotten. Cheap housekeeping the owner may run periodically; O(keys).
   */
  sweep(now: number): number {
    this.#lastFullSweepAt = now;
    let removed = 0;
    for (const [key, bucket] of this.#buckets) {
      if (bucket.isFull(now)) {
        if (key === this.#newest) this.#newest = undefined;
        this.#buckets.delete(key);
        removed++;
      }
    }
    return removed;
  }

  #bucket(key: string, now: number): TokenBucket {
    const existing = this.#buckets.get(key);
    if (existing !== undefined) {
      if (key !== this.#newest) {
        // Move to the most recently used end.
        this.#buckets.delete(key);
        this.#buckets.set(key, existing);
        this.#newest = key;
      }
      return existing;
    }
    if (this.#buckets.size >= this.maxKeys) {
      if (now - this.#lastFullSweepAt >= this.#fullSweepIntervalMs) this.sweep(now);
      while (this.#buckets.size >= this.maxKeys) {
        let oldest = this.#oldest?.next();
        if (oldest === undefined || oldest.done === true) {
          this.#oldest = this.#buckets.keys();
          oldest = this.#oldest.next();
          if (oldest.done === true) break;
        }
        if (oldest.value === this.#newest) this.#newest = undefined;
        this.#buckets.delete(oldest.value);
      }
    }
    const bucket = new TokenBucket({ capacity: this.capacity, refillPerSecond: this.refillPerSecond }, now);
    this.#buckets.set(key, bucket);
    this.#newest = key;
    return bucket;
  }
}
