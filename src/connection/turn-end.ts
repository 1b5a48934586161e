/**
 * Work queued for the end of the current turn (after the task's synchronous code, with the microtasks).
 *
 * @module
 */

/** Settled once; each {@link atTurnEnd} adds one reaction to it. */
const settled = Promise.resolve();

/**
 * Runs `fn` in a microtask, in the same order as `queueMicrotask` (both use V8's one microtask queue), but as
 * a reaction of a settled promise: Node's `queueMicrotask` makes an AsyncResource and a bound function per
 * call (~0.2 KiB), which every ping and every first send of a turn paid. `fn` must not throw: an error would
 * become an unhandled rejection (see {@link rethrowLater}).
 */
export function atTurnEnd(fn: () => void): void {
  void settled.then(fn);
}

/** Throws `error` from a microtask of its own: an uncaught exception, as if thrown by a `queueMicrotask` task. */
export function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
