/**
 * Internal: many waits on one AbortSignal served by one listener on it.
 *
 * A node passes one signal (its stop signal) to every transport step and handshake it runs. A listener each
 * costs an EventTarget entry, a `once` wrapper and, to remove it, a scan of the signal's listeners (which are
 * as many as the steps in progress). Here one listener serves every wait on a signal, and it is on the signal
 * only while something waits (or, on a signal its owner asks for it, until the signal aborts).
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
  /** The listener stays while nothing waits (see {@link keepListening}). */
  #kept = false;
  #listening = false;

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  keep(): void {
    this.#kept = true;
    this.#listen();
  }

  add(waiter: AbortWaiter): void {
    if (!this.#listening) this.#listen();
    this.#waiting.add(waiter);
  }

  delete(waiter: AbortWaiter): void {
    if (this.#waiting.delete(waiter) && this.#waiting.size === 0 && !this.#kept) {
      this.#listening = false;
      this.#signal.removeEventListener("abort", this);
    }
  }

  #listen(): void {
    this.#listening = true;
    this.#signal.addEventListener("abort", this);
  }

  /** The signal aborted: each waiter is told in turn (those that stop waiting meanwhile are still told). */
  handleEvent(): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    this.#listening = false;
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
  waitersOf(signal).add(waiter);
}

/**
 * Keeps the one listener on `signal` while nothing waits, until it aborts: for a signal its owner keeps for
 * as long as it is used (a node's stop signal), where a wait that begins when no other is in progress (a
 * node dialing one peer at a time) would otherwise add and remove an EventTarget listener each time. Not for
 * a caller's signal: a listener can keep a signal alive (Node holds an `AbortSignal.timeout` or
 * `AbortSignal.any` signal with listeners until it aborts). Nothing if `signal` has aborted.
 */
export function keepListening(signal: AbortSignal): void {
  if (!signal.aborted) waitersOf(signal).keep();
}

function waitersOf(signal: AbortSignal): SignalWaiters {
  let waiters = bySignal.get(signal);
  if (waiters === undefined) {
    waiters = new SignalWaiters(signal);
    bySignal.set(signal, waiters);
  }
  return waiters;
}

/** `waiter` is no longer told when `signal` aborts (nothing if it was not waiting). */
export function stopWaiting(signal: AbortSignal, waiter: AbortWaiter): void {
  bySignal.get(signal)?.delete(waiter);
}
