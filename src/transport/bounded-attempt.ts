/**
 * Internal: runs one transport step (connect, TLS) bounded by an AbortSignal
 * and an absolute deadline, and guarantees that every listener and timer is
 * removed and, on failure, every socket destroyed, whichever way it ends.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
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

/**
 * Runs `body`, which starts the work and reports through the {@link Attempt}.
 * Rejects with ABORTED when `bounds.signal` aborts and with HANDSHAKE_TIMEOUT at
 * `bounds.deadline` (absolute `Date.now()` ms); both are checked before `body`
 * starts, so nothing is opened for an operation that is already over.
 */
export function boundedAttempt<T>(bounds: TransportBounds, what: string, body: (attempt: Attempt<T>) => void): Promise<T> {
  const { signal, deadline } = bounds;
  if (deadline !== undefined && !Number.isFinite(deadline)) {
    return Promise.reject(new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${what}: deadline must be a finite Date.now() time`));
  }
  if (signal?.aborted === true) return Promise.reject(abortedError(what, signal));
  if (deadline !== undefined && deadline <= Date.now()) return Promise.reject(timeoutError(what, deadline));

  return new Promise<T>((resolve, reject) => {
    const cleanups: Array<() => void> = [];
    let failureHandlers: Array<() => void> = [];
    let settled = false;

    const runAll = (fns: Array<() => void>): void => {
      for (const fn of fns.splice(0).reverse()) {
        try {
          fn();
        } catch {
          // A cleanup must not prevent the others; nothing useful to report.
        }
      }
    };
    const attempt: Attempt<T> = {
      get settled() {
        return settled;
      },
      resolve(value) {
        if (settled) return;
        settled = true;
        failureHandlers = [];
        runAll(cleanups);
        resolve(value);
      },
      fail(error) {
        if (settled) return;
        settled = true;
        runAll(failureHandlers);
        runAll(cleanups);
        reject(error);
      },
      onCleanup(fn) {
        if (settled) fn();
        else cleanups.push(fn);
      },
      onFailure(fn) {
        if (!settled) failureHandlers.push(fn);
      },
    };

    if (deadline !== undefined) {
      // setTimeout fires at once for delays above 2^31 - 1 ms: wait in steps until the deadline passes.
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        const left = deadline - Date.now();
        if (!(left > 0)) {
          attempt.fail(timeoutError(what, deadline));
          return;
        }
        timer = setTimeout(arm, Math.min(left, MAX_TIMER_DELAY_MS));
      };
      arm();
      attempt.onCleanup(() => clearTimeout(timer));
    }
    if (signal !== undefined) {
      const onAbort = (): void => attempt.fail(abortedError(what, signal));
      signal.addEventListener("abort", onAbort, { once: true });
      attempt.onCleanup(() => signal.removeEventListener("abort", onAbort));
    }
    try {
      body(attempt);
    } catch (cause) {
      attempt.fail(PeerlinkError.from(cause, ErrorCode.INTERNAL));
    }
  });
}

function abortedError(what: string, signal: AbortSignal): PeerlinkError {
  return new PeerlinkError(ErrorCode.ABORTED, `${what}: aborted`, { cause: signal.reason, initiator: "local" });
}

function timeoutError(what: string, deadline: number): PeerlinkError {
  return new PeerlinkError(ErrorCode.HANDSHAKE_TIMEOUT, `${what}: deadline passed (${new Date(deadline).toISOString()})`, {
    initiator: "local",
  });
}
