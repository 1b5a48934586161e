/**
 * Timer limits.
 *
 * @module
 */

/** Longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days); longer ones fire at once, with a warning. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
