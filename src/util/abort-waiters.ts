/**
 * Internal: many waits on one AbortSignal served by one listener on it.
 *
 * A node passes one signal (its stop signal) to every transport step and handshake it runs. A listener each
 * costs an EventTarget entry, a `once` wrapper and, to remove it, a scan of the signal's listeners (which are
 * as many as the steps in progress). Here one listener serves every wait on a signal, and it is on the signal
 * only while something waits.
 *
 * @module
 */

/** Something waiting on an AbortSignal: told once when it aborts, unless it stopped waiting before. */
export interface AbortWaiter {
  /** The signal aborted; `reason` is its `reason`. */
  onAbort(reason: unknown): void;
}

/** The waits on one signal, in the order they began; itself the signal's listener (`handleEvent`). */
class SignalWaiters {
  readonly #signal: AbortSignal;
  readonly #waiting = new Set<AbortWaiter>();

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  add(waiter: AbortWaiter): void {
    if (this.#waiting.size === 0) this.#signal.addEventListener("abort", this);
    this.#waiting.add(waiter);
  }

  delete(waiter: AbortWaiter): void {
    if (this.#waiting.delete(waiter) && this.#waiting.size === 0) this.#signal.removeEventListener("abort", this);
  }

  /** The signal aborted: each waiter is told in turn (those that stop waiting meanwhile are still told). */
  handleEvent(): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    this.#signal.removeEventListener("abort", this);
    const reason: unknown = this.#signal.reason;
    for (const waiter of waiting) waiter.onAbort(reason);
  }
}

const bySignal = new WeakMap<AbortSignal, SignalWaiters>();

/**
 * `waiter` is told when `signal` aborts, until {@link stopWaiting}. The caller checks `signal.aborted` first:
 * a signal that has already aborted tells nobody.
 */
export function waitForAbort(signal: AbortSignal, waiter: AbortWaiter): void {
  let waiters = bySignal.get(signal);
  if (waiters === undefined) {
    waiters = new SignalWaiters(signal);
    bySignal.set(signal, waiters);
  }
  waiters.add(waiter);
}

/** `waiter` is no longer told when `signal` aborts (nothing if it was not waiting). */
export function stopWaiting(signal: AbortSignal, waiter: AbortWaiter): void {
  bySignal.get(signal)?.delete(waiter);
}
