/**
 * The application's pings on one connection (`Connection.ping`): each waits for the Pong echoing its
 * nonce and resolves with the round-trip time. Each nonce is a fresh random uint32: a peer that could tell
 * the next one could answer a ping before it arrives and report any round trip it likes, and they are then
 * unlikely to match the maintenance service's own pings (one meant for keepalive and taken here would only
 * make a ping resolve a little early).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { randomUint32 } from "../util/random-pool.js";

interface Waiting {
  readonly sentAt: number;
  readonly resolve: (rttMs: number) => void;
  readonly reject: (error: PeerlinkError) => void;
  readonly cleanup: () => void;
}

/** Pings waiting for their Pong, by nonce. */
export class PingWaiter {
  readonly #waiting = new Map<number, Waiting>();

  /**
   * Registers a ping; `send(nonce)` sends it (and may throw, which rejects). Resolves with the round trip
   * in milliseconds when the matching Pong arrives; rejects with ABORTED when `signal` aborts.
   */
  start(send: (nonce: number) => void, signal: AbortSignal | undefined): Promise<number> {
    if (signal?.aborted === true) return Promise.reject(new PeerlinkError(ErrorCode.ABORTED, "ping aborted", { cause: signal.reason }));
    let nonce = randomUint32();
    while (this.#waiting.has(nonce)) nonce = randomUint32();
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiting.delete(nonce);
        reject(new PeerlinkError(ErrorCode.ABORTED, "ping aborted", { cause: signal?.reason }));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = (): void => signal?.removeEventListener("abort", onAbort);
      this.#waiting.set(nonce, { sentAt: performance.now(), resolve, reject, cleanup });
      try {
        send(nonce);
      } catch (error) {
        this.#waiting.delete(nonce);
        cleanup();
        reject(PeerlinkError.from(error));
      }
    });
  }

  /** A Pong arrived: resolves the ping it answers, if any. */
  pong(nonce: number): void {
    const waiting = this.#waiting.get(nonce);
    if (waiting === undefined) return;
    this.#waiting.delete(nonce);
    waiting.cleanup();
    waiting.resolve(performance.now() - waiting.sentAt);
  }

  /** The connection closed: every waiting ping rejects with CONNECTION_CLOSED. */
  close(): void {
    for (const waiting of this.#waiting.values()) {
      waiting.cleanup();
      waiting.reject(new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "the connection closed before the pong arrived"));
    }
    this.#waiting.clear();
  }
}
