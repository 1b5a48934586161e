/**
 * Writes of one turn, together: the first frame of a turn is written at once; the frames queued after it
 * while the event loop runs the same task (a burst of unawaited sends) go to the socket in a microtask, adjacent slab frames joined into
 * one buffer, so TLS seals them into few records instead of one per message. Not corked: a corked batch
 * completes as one, and a large send must resolve when its own bytes are written.
 *
 * @module
 */
import type { Writable } from "node:stream";

/** Called when a write completed (no error) or failed. */
export type WriteCallback = (error?: Error | null) => void;

/** The socket side a {@link WriteBatcher} needs. */
export type BatchTarget = Pick<Writable, "write" | "destroyed" | "writable">;

/** One range to write (adjacent frames grow `end`; the view is made once, at the flush) and its sends' callbacks. */
interface Chunk {
  readonly bytes: Uint8Array;
  end: number;
  callbacks: WriteCallback[] | undefined;
}

/** The queue while nothing is queued: frozen, replaced by a list of its own on the first frame queued. */
const NOTHING_QUEUED: Chunk[] = Object.freeze([]) as unknown as Chunk[];

/** Batchers with frames to write at the end of this turn, flushed by one shared microtask. */
let due: WriteBatcher[] = [];

function flushDue(): void {
  const batchers = due;
  due = [];
  // One batcher failing must not keep the others' frames unwritten (each had a microtask of its own before).
  let failed = false;
  let failure: unknown;
  for (const batcher of batchers) {
    try {
      batcher.flush();
    } catch (error) {
      if (!failed) failure = error;
      failed = true;
    }
  }
  if (failed) throw failure;
}

/**
 * Queues frames for the end of the turn; see the module comment. Each write carries the callbacks of its
 * own frames only, so a large send still resolves when its bytes are written, not when the whole batch is.
 */
export class WriteBatcher {
  readonly #socket: BatchTarget;
  #queue: Chunk[] = NOTHING_QUEUED;
  #queuedBytes = 0;
  #flushQueued = false;

  constructor(socket: BatchTarget) {
    this.#socket = socket;
  }

  /** Bytes queued for the end of this turn, not yet written to the socket. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Queues `bytes`; `cb` is called once the write carrying them completed or failed. Order is kept. The
   * first frame of a turn is written at once (a lone ping or reply waits for nothing); the frames after it
   * in the same turn are queued and joined.
   */
  queue(bytes: Uint8Array, cb: WriteCallback | undefined): void {
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      // One microtask for every batcher of the turn (a closure per batcher would be kept per connection).
      if (due.push(this) === 1) queueMicrotask(flushDue);
      const socket = this.#socket;
      if (socket.destroyed || !socket.writable) cb?.(new Error("socket is not writable"));
      else if (cb === undefined) socket.write(bytes);
      else socket.write(bytes, cb);
      return;
    }
    this.#queuedBytes += bytes.byteLength;
    if (this.#queue === NOTHING_QUEUED) this.#queue = [];
    const queue = this.#queue;
    const last = queue[queue.length - 1];
    if (last !== undefined && last.bytes.buffer === bytes.buffer && last.end === bytes.byteOffset) {
      last.end += bytes.byteLength;
      if (cb !== undefined) (last.callbacks ??= []).push(cb);
    } else {
      queue.push({ bytes, end: bytes.byteOffset + bytes.byteLength, callbacks: cb === undefined ? undefined : [cb] });
    }
  }

  /** Writes what is queued now (before a half-close or a destroy; otherwise at the end of the turn). */
  flush(): void {
    this.#flushQueued = false;
    const queue = this.#queue;
    if (queue.length === 0) return;
    this.#queue = NOTHING_QUEUED;
    this.#queuedBytes = 0;
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) {
      const error = new Error("socket is not writable");
      for (const chunk of queue) chunk.callbacks?.forEach((cb) => cb(error));
      return;
    }
    for (const chunk of queue) {
      const { callbacks } = chunk;
      const first = chunk.bytes;
      const bytes = chunk.end === first.byteOffset + first.byteLength ? first : new Uint8Array(first.buffer, first.byteOffset, chunk.end - first.byteOffset);
      if (callbacks === undefined) socket.write(bytes);
      else if (callbacks.length === 1) socket.write(bytes, callbacks[0]);
      else socket.write(bytes, (error?: Error | null) => callbacks.forEach((cb) => cb(error)));
    }
  }
}
