/**
 * Debounced, serialised saving of the peer database to its store: a change
 * schedules one save after a delay (not extended by later changes); `flush`
 * saves at once and waits; a failed save is retried by the next change or flush.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { VolatilePeerStore, type PeerSnapshot, type PeerStore, type PeerStoreOperationOptions } from "./peer-store.js";

/** Saves snapshots to a store, debounced. */
export class DebouncedSaver {
  readonly #store: PeerStore;
  readonly #snapshot: () => PeerSnapshot;
  readonly #delayMs: number;
  readonly #onError: ((error: PeerlinkError) => void) | undefined;
  #dirty = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The last save handed to the store, until it settles. */
  #inflight: Promise<void> | undefined;
  #closed = false;

  /**
   * @param delayMs - delay from the first unsaved change to the automatic save; 0 disables automatic saves
   * @param onError - called when an automatic save fails
   */
  constructor(store: PeerStore, snapshot: () => PeerSnapshot, delayMs: number, onError: ((error: PeerlinkError) => void) | undefined) {
    this.#store = store;
    this.#snapshot = snapshot;
    this.#delayMs = delayMs;
    this.#onError = onError;
  }

  /** True when there are changes not yet handed to the store. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Forgets pending changes (the state was just loaded from the store). */
  markClean(): void {
    this.#dirty = false;
  }

  /** Something changed: schedules the automatic save (none for a store that keeps nothing). */
  changed(): void {
    if (this.#store instanceof VolatilePeerStore) return;
    this.#dirty = true;
    if (this.#timer !== undefined || this.#delayMs === 0 || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch((error: unknown) => this.#onError?.(PeerlinkError.from(error)));
    }, this.#delayMs);
    this.#timer.unref?.();
  }

  /** Saves now if anything changed (cancelling the pending automatic save) and waits until the store wrote it. */
  async flush(options: PeerStoreOperationOptions = {}): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (options.signal?.aborted === true) {
      throw new PeerlinkError(ErrorCode.ABORTED, "flush aborted", { cause: options.signal.reason });
    }
    if (this.#dirty) {
      this.#dirty = false;
      const write = this.#store.save(this.#snapshot()).catch((error: unknown) => {
        this.#dirty = true; // retried by the next flush or change
        throw PeerlinkError.from(error);
      });
      this.#inflight = write;
      const clear = (): void => {
        if (this.#inflight === write) this.#inflight = undefined;
      };
      write.then(clear, clear);
    }
    const pending = this.#inflight;
    if (pending !== undefined) await abortable(pending, options.signal);
  }

  /** Flushes, then closes the store. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } finally {
      this.#closed = true;
      await this.#store.close();
    }
  }
}

/** Waits for `promise`, or rejects with ABORTED when `signal` aborts first (the promise keeps running). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new PeerlinkError(ErrorCode.ABORTED, "flush aborted", { cause: signal.reason }));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
