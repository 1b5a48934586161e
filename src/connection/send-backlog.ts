/**
 * The send side's backpressure for one connection: the messages that arrived while the connection's send
 * buffer was at or above its high-water mark, waiting in order for the socket to drain, and the hard limit
 * past which a send is refused. Made only when a connection first fills its buffer, so an idle or
 * lightly used connection carries none of it.
 *
 * @module
 */
import type { Writable } from "node:stream";
import { ErrorCode, PeerlinkError } from "../errors.js";

/** What a {@link SendBacklog} needs from its connection. */
export interface SendBacklogHost {
  /** The socket whose `'drain'` ends a wait (its `writableNeedDrain` says whether one will come). */
  readonly socket: Pick<Writable, "writableNeedDrain" | "once" | "off">;
  /** Bytes accepted and not yet handed to the operating system (socket buffer + writes batched this turn). */
  buffered(): number;
  /** Sends one message now (through the core and the socket); exactly one of `resolve`/`reject` is called. */
  write(protocol: string, data: Uint8Array, resolve: () => void, reject: (error: unknown) => void): void;
  /** The buffer fell below the high-water mark after it had been full and nothing waits: fire `send:drain`. */
  drained(): void;
}

/** A send that waits for room. */
interface WaitingSend {
  readonly protocol: string;
  readonly data: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Sends waiting for the socket to drain, in order; see the module comment. A send waits when the bytes
 * buffered are at or above `highWater`, or when earlier sends still wait (order is kept); a waiting send is
 * refused with SEND_BUFFER_FULL when the bytes buffered and waiting plus its own would exceed `limit`.
 */
export class SendBacklog {
  readonly #host: SendBacklogHost;
  readonly #highWater: number;
  readonly #limit: number;
  #waiting: WaitingSend[] = [];
  #waitingBytes = 0;
  /** A `'drain'` listener (or a look after this turn's batched writes) is pending. */
  #armed = false;
  /** The buffer was seen full: fire `send:drain` once it is not. */
  #needDrain = false;
  #disposed = false;

  /**
   * @param highWater - bytes buffered at or above which sends wait; at least the socket's own
   *   `writableHighWaterMark`, so that a full buffer always ends with a `'drain'`
   * @param limit - most bytes buffered and waiting before a waiting send is refused
   */
  constructor(host: SendBacklogHost, highWater: number, limit: number) {
    this.#host = host;
    this.#highWater = highWater;
    this.#limit = limit;
  }

  /** True when a send must wait now: earlier sends wait, or the buffer is at or above the high-water mark. */
  get mustWait(): boolean {
    return this.#waiting.length > 0 || this.#host.buffered() >= this.#highWater;
  }

  /** Bytes of the messages waiting (payloads). */
  get waitingBytes(): number {
    return this.#waitingBytes;
  }

  /** The buffer is full: remember to fire `send:drain` once it is not, and watch for that. */
  full(): void {
    if (this.#disposed) return;
    this.#needDrain = true;
    this.#arm();
  }

  /**
   * Queues a message until there is room (see the class comment). Rejects with SEND_BUFFER_FULL past the
   * limit, ABORTED when `signal` aborts while it waits (the message is then never sent), CONNECTION_CLOSED
   * when the connection ends first; otherwise settles as the write does.
   */
  wait(protocol: string, data: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const total = this.#host.buffered() + this.#waitingBytes;
    if (total + data.byteLength > this.#limit) {
      this.full();
      return Promise.reject(
        new PeerlinkError(
          ErrorCode.SEND_BUFFER_FULL,
          `send buffer full: ${total} bytes buffered, a ${data.byteLength}-byte message would exceed the limit of ${this.#limit}`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const entry: WaitingSend = { protocol, data, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        entry.onAbort = () => {
          const i = this.#waiting.indexOf(entry);
          if (i < 0) return;
          this.#waiting.splice(i, 1);
          this.#waitingBytes -= data.byteLength;
          reject(new PeerlinkError(ErrorCode.ABORTED, "send aborted while waiting for the send buffer to drain", { cause: signal.reason }));
        };
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      this.#waiting.push(entry);
      this.#waitingBytes += data.byteLength;
      this.full();
    });
  }

  /** Sends every waiting message now, whatever the buffer holds (a graceful close writes what was accepted). */
  flushAll(): void {
    const waiting = this.#take();
    for (const w of waiting) this.#host.write(w.protocol, w.data, w.resolve, w.reject);
  }

  /** Rejects every waiting send with `error` and stops watching the socket. Idempotent. */
  dispose(error: PeerlinkError): void {
    this.#disposed = true;
    this.#needDrain = false;
    if (this.#armed) this.#host.socket.off("drain", this.#onDrain);
    this.#armed = false;
    for (const w of this.#take()) w.reject(error);
  }

  #take(): WaitingSend[] {
    const waiting = this.#waiting;
    this.#waiting = [];
    this.#waitingBytes = 0;
    for (const w of waiting) if (w.onAbort !== undefined) w.signal?.removeEventListener("abort", w.onAbort);
    return waiting;
  }

  #arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    // Bytes still batched for this turn are not in the socket yet, so it may not have asked for a drain:
    // look again after the batch's flush (a microtask queued before this one).
    if (this.#host.socket.writableNeedDrain) this.#host.socket.once("drain", this.#onDrain);
    else queueMicrotask(this.#afterBatch);
  }

  /** After this turn's batched writes went to the socket: pump now if there is room, else wait for its drain. */
  readonly #afterBatch = (): void => {
    if (this.#disposed) return;
    if (this.#host.buffered() >= this.#highWater) this.#host.socket.once("drain", this.#onDrain);
    else this.#onDrain();
  };

  readonly #onDrain = (): void => {
    this.#armed = false;
    if (this.#disposed) return;
    const host = this.#host;
    while (this.#waiting.length > 0 && host.buffered() < this.#highWater) {
      const w = this.#waiting.shift()!;
      this.#waitingBytes -= w.data.byteLength;
      if (w.onAbort !== undefined) w.signal?.removeEventListener("abort", w.onAbort);
      host.write(w.protocol, w.data, w.resolve, w.reject);
    }
    if (this.#disposed) return; // a write can end the connection
    if (this.#waiting.length > 0 || host.buffered() >= this.#highWater) {
      this.#arm();
      return;
    }
    if (this.#needDrain) {
      this.#needDrain = false;
      host.drained();
    }
  };
}
