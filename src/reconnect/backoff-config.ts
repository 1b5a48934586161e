/**
 * The shape of an exponential backoff, shared by the policy and its defaults.
 *
 * @module
 */

/**
 * An exponential backoff: attempt `n` waits `max(minMs, jitter(min(maxMs, baseMs · factor^n)))`.
 *
 * @category Reconnection
 */
export interface BackoffConfig {
  /** Delay cap of attempt 0, in milliseconds. Must be > 0. */
  readonly baseMs: number;
  /** Growth per attempt. Must be >= 1. */
  readonly factor: number;
  /** Largest delay, in milliseconds. Must be >= baseMs. */
  readonly maxMs: number;
  /** Smallest delay, in milliseconds (a floor applied after jitter). Must be in [0, maxMs]. */
  readonly minMs: number;
  /** `"full"`: uniform in [0, cap] (AWS "full jitter"); `"none"`: exactly the cap. */
  readonly jitter: "full" | "none";
}
