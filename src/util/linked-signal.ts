/**
 * Abort signals combined with listeners that are removed when the work ends.
 *
 * Node 20's `AbortSignal.any` keeps a weak reference to the combined signal in every source signal, and
 * never drops it: a long-lived source (a node's stop signal) grows by one entry (~60 B) per call, for the
 * life of the process. These helpers hold nothing once unlinked.
 *
 * @module
 */

/** Aborts `target` with `source`'s reason when `source` aborts (at once if it has). Returns the unlink function. */
export function followAbort(source: AbortSignal, target: AbortController): () => void {
  if (source.aborted) {
    target.abort(source.reason);
    return noop;
  }
  const onAbort = (): void => target.abort(source.reason);
  source.addEventListener("abort", onAbort, { once: true });
  return () => source.removeEventListener("abort", onAbort);
}

/** A signal that aborts when either `first` or `second` does, and the function that unhooks it from both. */
export interface LinkedSignal {
  /** Aborted with the reason of whichever source aborted first. */
  readonly signal: AbortSignal;
  /** Removes the listeners from both sources; call it when the work the signal guards has ended. */
  unlink(): void;
}

/** Combines two signals; see {@link LinkedSignal}. */
export function linkSignals(first: AbortSignal, second: AbortSignal): LinkedSignal {
  const controller = new AbortController();
  const unlinkFirst = followAbort(first, controller);
  const unlinkSecond = followAbort(second, controller);
  return {
    signal: controller.signal,
    unlink() {
      unlinkFirst();
      unlinkSecond();
    },
  };
}

function noop(): void {}
