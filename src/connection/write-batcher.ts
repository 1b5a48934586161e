/**
 * Writes of one turn, together: the first frame of a turn is written at once; the frames queued after it
 * while the event loop runs the same task (a burst of unawaited sends) go to the socket in a microtask, adjacent slab frames joined into
 * one buffer, so TLS seals them into few records instead of one per message. Not corked: a corked batch
 * completes as one, and a large send must resolve when its own bytes are written.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Writable } from "node:stream";
import { sharedFrameSlab } from "../wire/frame-slab.js";
import { atTurnEnd, rethrowLater } from "./turn-end.js";
import { emptyKeepingStore } from "../util/append.js";

/** Called when a write completed (no error) or failed. */
export type WriteCallback = (error?: Error | null) => void;

/** The socket side a {@link WriteBatcher} needs. */
export type BatchTarget = Pick<Writable, "write" | "destroyed" | "writable">;

/**
 * Settles the sends one write carried (see {@link WriteBatcher.queueSend}): once per write, with the resolve and
 * reject functions of its sends in order, and the write's outcome.
 */
export interface SendSettler {
  sendsWritten(resolves: readonly (() => void)[], rejects: readonly ((error: unknown) => void)[], error: Error | null | undefined): void;
}

/**
 * One range to write (adjacent frames grow `end`; the view is made once, at the flush), the callbacks of its
 * frames queued with {@link WriteBatcher.queue} and the resolvers of those queued with {@link WriteBatcher.queueSend}.
 */
interface Chunk {
  readonly bytes: Uint8Array;
  /** `bytes.buffer`, and where the range ends in it. */
  readonly buffer: ArrayBufferLike;
  end: number;
  callbacks: WriteCallback[] | undefined;
  resolves: (() => void)[] | undefined;
  rejects: ((error: unknown) => void)[] | undefined;
}

/** The queue while nothing is queued: frozen, replaced by a list of its own on the first frame queued. */
const NOTHING_QUEUED: Chunk[] = Object.freeze([]) as unknown as Chunk[];

/** Batchers with frames to write at the end of this turn, flushed by one shared microtask. */
let due: WriteBatcher[] = [];
/** The list {@link due} was last, emptied: the two are swapped by each flush instead of making one per turn. */
let spare: WriteBatcher[] = [];
/** Longest flushed list kept as {@link spare}. */
const MAX_SPARE_BATCHERS = 64;

function flushDue(): void {
  const batchers = due;
  // A batcher queued while these are written (a write callback run synchronously) waits for the next flush.
  due = spare;
  // One batcher failing must not keep the others' frames unwritten (each had a microtask of its own before).
  let failed = false;
  let failure: unknown;
  for (let i = 0; i < batchers.length; i++) {
    try {
      (batchers[i] as WriteBatcher).flush();
    } catch (error) {
      if (!failed) failure = error;
      failed = true;
    }
  }
  // Emptied keeping its store; a long list is dropped rather than kept at its size.
  if (batchers.length > MAX_SPARE_BATCHERS) spare = [];
  else {
    emptyKeepingStore(batchers);
    spare = batchers;
  }
  if (failed) rethrowLater(failure);
}

/**
 * Queues frames for the end of the turn; see the module comment. Each write carries the callbacks of its
 * own frames only, so a large send still resolves when its bytes are written, not when the whole batch is.
 */
export class WriteBatcher {
  readonly #socket: BatchTarget;
  readonly #settler: SendSettler | undefined;
  #queue: Chunk[] = NOTHING_QUEUED;
  #queuedBytes = 0;
  #flushQueued = false;

  /** `settler` settles the sends of {@link WriteBatcher.queueSend} (required to use it). */
  constructor(socket: BatchTarget, settler?: SendSettler) {
    this.#socket = socket;
    this.#settler = settler;
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
      if (due.push(this) === 1) atTurnEnd(flushDue);
      this.#writeNow(bytes, cb);
      return;
    }
    const chunk = this.#chunkFor(bytes);
    if (cb !== undefined) (chunk.callbacks ??= []).push(cb);
  }

  /**
   * Writes a lone frame (a Ping or a Pong) at once when nothing is queued, without starting a batch: a frame
   * queued after it in the same turn is then written at once too, as the first of its turn (the two would
   * have been two writes either way), and no end-of-turn flush is queued for it. Behind queued frames it is
   * queued like {@link WriteBatcher.queue}, keeping the order.
   */
  queueLone(bytes: Uint8Array, cb: WriteCallback | undefined): void {
    if (this.#flushQueued) this.queue(bytes, cb);
    else this.#writeNow(bytes, cb);
  }

  /** Writes one frame at once; `cb` is called once that write completed or failed. */
  #writeNow(bytes: Uint8Array, cb: WriteCallback | undefined): void {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) cb?.(new Error("socket is not writable"));
    else if (cb === undefined) socket.write(bytes);
    else socket.write(bytes, cb);
  }

  /**
   * Queues the frame of one send, as {@link WriteBatcher.queue} does, with its promise's `resolve` and `reject`
   * instead of a callback of its own: the write carrying it hands them to the settler with the others it
   * carries (no closure per message).
   */
  queueSend(bytes: Uint8Array, resolve: () => void, reject: (error: unknown) => void): void {
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      if (due.push(this) === 1) atTurnEnd(flushDue);
      this.#write(bytes, undefined, [resolve], [reject]);
      return;
    }
    const chunk = this.#chunkFor(bytes);
    (chunk.resolves ??= []).push(resolve);
    (chunk.rejects ??= []).push(reject);
  }

  /** The queued chunk `bytes` joins (the last one, if adjacent in the same slab), or a new one. */
  #chunkFor(bytes: Uint8Array): Chunk {
    const length = bytes.length;
    this.#queuedBytes += length;
    // The frame just encoded is the shared slab's last view: its place is known without the typed array's getters.
    const slab = sharedFrameSlab;
    const fromSlab = bytes === slab.lastView;
    const buffer = fromSlab ? slab.lastSlab : bytes.buffer;
    const start = fromSlab ? slab.lastOffset : bytes.byteOffset;
    if (this.#queue === NOTHING_QUEUED) this.#queue = [];
    const queue = this.#queue;
    const last = queue[queue.length - 1];
    if (last !== undefined && last.end === start && last.buffer === buffer) {
      last.end += length;
      return last;
    }
    const chunk: Chunk = { bytes, buffer, end: start + length, callbacks: undefined, resolves: undefined, rejects: undefined };
    queue.push(chunk);
    return chunk;
  }

  /** Writes what is queued now (before a half-close or a destroy; otherwise at the end of the turn). */
  flush(): void {
    this.#flushQueued = false;
    const queue = this.#queue;
    if (queue.length === 0) return;
    this.#queue = NOTHING_QUEUED;
    this.#queuedBytes = 0;
    for (const chunk of queue) {
      const first = chunk.bytes;
      // A Buffer view, which the socket writes as it is (it would make one of any other Uint8Array).
      const bytes = chunk.end === first.byteOffset + first.byteLength ? first : Buffer.from(first.buffer, first.byteOffset, chunk.end - first.byteOffset);
      this.#write(bytes, chunk.callbacks, chunk.resolves, chunk.rejects);
    }
  }

  /** Writes `bytes`; `callbacks` and the sends (`resolves`, `rejects`) are told when that write completed or failed. */
  #write(
    bytes: Uint8Array,
    callbacks: WriteCallback[] | undefined,
    resolves: (() => void)[] | undefined,
    rejects: ((error: unknown) => void)[] | undefined,
  ): void {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) {
      const error = new Error("socket is not writable");
      callbacks?.forEach((cb) => cb(error));
      if (resolves !== undefined) this.#settler?.sendsWritten(resolves, rejects ?? [], error);
      return;
    }
    if (resolves !== undefined) {
      const settler = this.#settler;
      socket.write(bytes, (error?: Error | null) => {
        callbacks?.forEach((cb) => cb(error));
        settler?.sendsWritten(resolves, rejects ?? [], error);
      });
    } else if (callbacks === undefined) socket.write(bytes);
    else if (callbacks.length === 1) socket.write(bytes, callbacks[0]);
    else socket.write(bytes, (error?: Error | null) => callbacks.forEach((cb) => cb(error)));
  }
}
