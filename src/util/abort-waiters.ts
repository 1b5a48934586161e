/**
 * Internal: many waits on one AbortSignal served by one listener on it.
 *
 * A node passes one signal (its stop signal) to every transport step and handshake it runs. A listener each
 * costs an EventTarget entry, a `once` wrapper and, to remove it, a scan of the signal's listeners (which are
 * as many as the steps in progress). Here one listener serves every wait on a signal, and it is on the signal
 * only while something waits (or, for a signal of our own, until it aborts: {@link keepListening}).
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
  /** Whether this is on the signal as its listener. */
  #listening = false;
  /** Stays on the signal while nothing waits (see {@link keepListening}). */
  #kept = false;

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  add(waiter: AbortWaiter): void {
    this.#listen();
    this.#waiting.add(waiter);
  }

  delete(waiter: AbortWaiter): void {
    if (this.#waiting.delete(waiter) && this.#waiting.size === 0 && !this.#kept) this.#unlisten();
  }

  keep(): void {
    if (this.#signal.aborted) return;
    this.#kept = true;
    this.#listen();
  }

  /** The signal aborted: each waiter is told in turn (those that stop waiting meanwhile are still told). */
  handleEvent(): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    this.#kept = false;
    this.#unlisten();
    const reason: unknown = this.#signal.reason;
    for (const waiter of waiting) waiter.onAbort(reason);
  }

  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    this.#signal.addEventListener("abort", this);
  }

  #unlisten(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#signal.removeEventListener("abort", this);
  }
}

const bySignal = new WeakMap<AbortSignal, SignalWaiters>();

function waitersOf(signal: AbortSignal): SignalWaiters {
  let waiters = bySignal.get(signal);
  if (waiters === undefined) {
    waiters = new SignalWaiters(signal);
    bySignal.set(signal, waiters);
  }
  return waiters;
}

/**
 * `waiter` is told when `signal` aborts, until {@link stopWaiting}. The caller checks `signal.aborted` first:
 * a signal that has already aborted tells nobody.
 */
export function waitForAbort(signal: AbortSignal, waiter: AbortWaiter): void {
  waitersOf(signal).add(waiter);
}

/**
 * The one listener stays on `signal` while nothing waits, until it aborts: for a signal of our own that lives as
 * long as its owner (a node's stop signal). A node handling one connection at a time would otherwise add and
 * remove the listener for each (about 15 µs at each end of a connection, most of it the EventTarget's removal).
 * Never for a caller's signal: nothing of ours may stay on it once our waits end.
 */
export function keepListening(signal: AbortSignal): void {
  waitersOf(signal).keep();
}

/** `waiter` is no longer told when `signal` aborts (nothing if it was not waiting). */
export function stopWaiting(signal: AbortSignal, waiter: AbortWaiter): void {
  bySignal.get(signal)?.delete(waiter);
}
