/**
 * Timer limits.
 *
 * @module
 */

/**
 * Milliseconds on a clock that never jumps (`performance.timeOrigin + performance.now()`): close to
 * `Date.now()` when the process starts, but unaffected when the system clock is stepped later.
 */
export function monotonicNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days); longer ones fire at once, with a warning. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
