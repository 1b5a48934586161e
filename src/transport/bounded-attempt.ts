/**
 * Internal: runs one transport step (connect, TLS) bounded by an AbortSignal
 * and an absolute deadline, and guarantees that every listener and timer is
 * removed and, on failure, every socket destroyed, whichever way it ends.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { stopWaiting, waitForAbort, type AbortWaiter } from "../util/abort-waiters.js";
import { MAX_TIMER_DELAY_MS } from "../util/timers.js";
import type { TransportBounds } from "./types.js";

/** Handle given to the body of {@link boundedAttempt}. */
export interface Attempt<T> {
  /** True once the attempt succeeded or failed; later calls to resolve/fail are ignored. */
  readonly settled: boolean;
  /** Succeeds with `value`: cleanups run, failure handlers are dropped. */
  resolve(value: T): void;
  /** Fails with `error`: failure handlers (destroy sockets) run, then cleanups. */
  fail(error: PeerlinkError): void;
  /** Registers a function run when the attempt settles either way (remove listeners). */
  onCleanup(fn: () => void): void;
  /** Registers a function run only when the attempt fails (destroy sockets). */
  onFailure(fn: () => void): void;
}

/** A step in progress that its owner can cancel directly (no AbortSignal, no listener). */
export interface Cancellable {
  /** Ends the step with ABORTED (`reason` as the cause); nothing once it has ended. */
  cancel(reason: unknown): void;
}

/**
 * Where {@link boundedAttempt} puts its run, so that the caller can cancel it without an AbortSignal: a
 * signal costs an EventTarget and a listener, which a caller that owns the cancellation does not need.
 */
export interface CancelSlot {
  /** Set when the attempt starts; cancelling it after the attempt ended does nothing. */
  step: Cancellable | undefined;
}

/**
 * Runs `body`, which starts the work and reports through the {@link Attempt}.
 * Rejects with ABORTED when `bounds.signal` aborts or the run put in `slot` is cancelled, and with
 * HANDSHAKE_TIMEOUT at `bounds.deadline` (absolute `Date.now()` ms); the signal and the deadline are checked
 * before `body` starts, so nothing is opened for an operation that is already over.
 */
export function boundedAttempt<T>(bounds: TransportBounds, what: string, body: (attempt: Attempt<T>) => void, slot?: CancelSlot): Promise<T> {
  const { signal, deadline } = bounds;
  if (deadline !== undefined && !Number.isFinite(deadline)) {
    return Promise.reject(new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${what}: deadline must be a finite Date.now() time`));
  }
  if (signal?.aborted === true) return Promise.reject(abortedError(what, signal.reason));
  if (deadline !== undefined && deadline <= Date.now()) return Promise.reject(timeoutError(what, deadline));

  let run: AttemptRun<T> | undefined;
  const promise = new Promise<T>((resolve, reject) => {
    run = new AttemptRun(what, resolve, reject);
  });
  if (slot !== undefined) slot.step = run;
  (run as AttemptRun<T>).begin(signal, deadline, body);
  return promise;
}

/**
 * The state of one {@link boundedAttempt}: one object per attempt, itself the abort waiter (the steps on one
 * signal share its one listener, see abort-waiters) and the deadline timer's argument, so a transport step
 * costs no closures of its own; handler lists are made when the body registers its first handler.
 */
class AttemptRun<T> implements Attempt<T>, Cancellable, AbortWaiter {
  readonly #what: string;
  readonly #resolve: (value: T) => void;
  readonly #reject: (error: PeerlinkError) => void;
  #settled = false;
  #cleanups: Array<() => void> | undefined;
  #failureHandlers: Array<() => void> | undefined;
  #signal: AbortSignal | undefined;
  #deadline = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(what: string, resolve: (value: T) => void, reject: (error: PeerlinkError) => void) {
    this.#what = what;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  begin(signal: AbortSignal | undefined, deadline: number | undefined, body: (attempt: Attempt<T>) => void): void {
    if (deadline !== undefined) {
      this.#deadline = deadline;
      this.arm();
    }
    if (signal !== undefined && !this.#settled) {
      this.#signal = signal;
      waitForAbort(signal, this);
    }
    try {
      body(this);
    } catch (cause) {
      this.fail(PeerlinkError.from(cause, ErrorCode.INTERNAL));
    }
  }

  get settled(): boolean {
    return this.#settled;
  }

  resolve(value: T): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#failureHandlers = undefined;
    this.#end();
    this.#resolve(value);
  }

  fail(error: PeerlinkError): void {
    if (this.#settled) return;
    this.#settled = true;
    const failureHandlers = this.#failureHandlers;
    this.#failureHandlers = undefined;
    if (failureHandlers !== undefined) runAll(failureHandlers);
    this.#end();
    this.#reject(error);
  }

  onCleanup(fn: () => void): void {
    if (this.#settled) fn();
    else (this.#cleanups ??= []).push(fn);
  }

  onFailure(fn: () => void): void {
    if (!this.#settled) (this.#failureHandlers ??= []).push(fn);
  }

  /** The signal aborted. */
  onAbort(reason: unknown): void {
    this.fail(abortedError(this.#what, reason));
  }

  cancel(reason: unknown): void {
    this.fail(abortedError(this.#what, reason));
  }

  /** Fails at the deadline; setTimeout fires at once for delays above 2^31 - 1 ms, so it waits in steps. */
  arm(): void {
    const left = this.#deadline - Date.now();
    if (!(left > 0)) {
      this.fail(timeoutError(this.#what, this.#deadline));
      return;
    }
    this.#timer = setTimeout(armAgain, Math.min(left, MAX_TIMER_DELAY_MS), this);
  }

  /** The body's cleanups (last registered first), then the attempt's own listener and timer. */
  #end(): void {
    const cleanups = this.#cleanups;
    this.#cleanups = undefined;
    if (cleanups !== undefined) runAll(cleanups);
    const signal = this.#signal;
    if (signal !== undefined) stopWaiting(signal, this);
    this.#signal = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function armAgain(run: { arm(): void }): void {
  run.arm();
}

/** Runs `fns` last first; one throwing does not prevent the others (nothing useful to report). */
function runAll(fns: Array<() => void>): void {
  for (let i = fns.length - 1; i >= 0; i--) {
    try {
      (fns[i] as () => void)();
    } catch {
      // A cleanup must not prevent the others.
    }
  }
}

function abortedError(what: string, reason: unknown): PeerlinkError {
  return new PeerlinkError(ErrorCode.ABORTED, `${what}: aborted`, { cause: reason, initiator: "local" });
}

function timeoutError(what: string, deadline: number): PeerlinkError {
  return new PeerlinkError(ErrorCode.HANDSHAKE_TIMEOUT, `${what}: deadline passed (${new Date(deadline).toISOString()})`, {
    initiator: "local",
  });
}
