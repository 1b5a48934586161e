/**
 * Promises that resolve when the node has nothing pending (`settled()`).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";

/** Waiters for "nothing pending", woken by {@link SettledWaiters.check}. */
export class SettledWaiters {
  readonly #isSettled: () => boolean;
  #waiters: (() => void)[] = [];

  constructor(isSettled: () => boolean) {
    this.#isSettled = isSettled;
  }

  /** Resolves when settled, or rejects with ABORTED when `signal` fires first. */
  wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.#isSettled()) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new PeerlinkError(ErrorCode.ABORTED, "settled() aborted"));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(new PeerlinkError(ErrorCode.ABORTED, "settled() aborted"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const waiter = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      this.#waiters.push(waiter);
    });
  }

  /** Wakes every waiter if the node is settled now. */
  check(): void {
    if (this.#waiters.length === 0 || !this.#isSettled()) return;
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}
