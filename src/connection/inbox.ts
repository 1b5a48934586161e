/**
 * Where a connection's received messages go: internal taps (the node layer), then the connection's own
 * consumers (`message` listeners and async iterators), with holding until the first consumer exists,
 * flow control, and nothing delivered once this side started closing. No sockets or timers inside.
 *
 * @module
 */
import { HeldCopies } from "./held-copies.js";
import { MessageQueue, messageCost } from "./message-queue.js";
import { TAP_REPLAY_BYTES } from "./defaults.js";
import type { InboundMessage } from "./types.js";

/** A function that sees every message of a connection; see {@link Inbox.tap}. */
export type MessageTap = (message: InboundMessage) => void;

/** What an {@link Inbox} needs from its connection. */
export interface InboxHost {
  /** Emits one message to the connection's `message` listeners. */
  emit(message: InboundMessage): void;
  /** Pauses (true) or resumes (false) reading from the socket. */
  setPaused(paused: boolean): void;
}

interface Tap {
  readonly fn: MessageTap;
  /** Messages this tap has yet to see from before it existed; `undefined` once it sees them as they arrive. */
  pending: InboundMessage[] | undefined;
  /** Removed: skipped by a delivery in progress, dropped from the list once none is. */
  removed: boolean;
}

// The bits of Inbox's #flags.
/** True until the first connection-level consumer (listener or iterator) exists. */
const HOLDING = 1;
/** This side started closing (Goodbye sent, or aborted): nothing is delivered any more. */
const STOPPED = 2;
/** The connection closed. */
const ENDED = 4;
/** Reads are paused. */
const PAUSED = 8;

/** The held list while nothing is held: frozen, replaced by a list of its own on the first message held. */
const NO_MESSAGES: InboundMessage[] = Object.freeze([]) as unknown as InboundMessage[];

/**
 * The message routing of one connection (the semantics are documented on `Connection`).
 *
 * Holding: until the first `message` listener or iterator exists, messages are held for it. With no tap,
 * the hold is a paused stream: above the high-water mark the socket stops reading, so nothing is lost.
 * With a tap, somebody is already being served, so the hold becomes a bounded replay for a late consumer:
 * above {@link TAP_REPLAY_BYTES} (or the high-water mark, if lower) its oldest messages are dropped instead of
 * pausing reads. Pausing would make
 * an application that only listens through the tap (the manager's `message` event) stall forever for a
 * connection-level listener it never meant to add; dropping the oldest keeps the replay a contiguous run
 * of the latest messages, so a late consumer sees the stream as if it had joined late, with no hole.
 */
export class Inbox {
  readonly #highWater: number;
  readonly #host: InboxHost;
  /** The iterators, made with the first one. */
  #queues: Set<MessageQueue> | undefined;
  /**
   * The taps in the order they were added: usually one (the node's), kept as it is; a list from the second
   * on. Added in place (a delivery in progress reaches a tap added meanwhile, as it would in a Set); a
   * removed tap is marked and dropped once no delivery is in progress.
   */
  #taps: Tap | Tap[] | undefined;
  /** Taps not removed. */
  #tapCount = 0;
  /** Deliveries to the taps in progress (a tap may cause another). */
  #delivering = 0;
  /** {@link HOLDING}, {@link STOPPED}, {@link ENDED}, {@link PAUSED} as bits: one field instead of one each. */
  #flags = HOLDING;
  /** Held messages from index {@link Inbox.#head} on (oldest first); also those waiting for the release microtask. */
  #held: InboundMessage[] = NO_MESSAGES;
  #head = 0;
  #heldBytes = 0;
  #droppedFromReplay = 0;
  /** Where held messages are copied (made with the first one that needs it). */
  #copies: HeldCopies | undefined = undefined;

  /** @param highWater - bytes (as {@link messageCost} counts them) held or buffered per consumer before reads pause */
  constructor(highWater: number, host: InboxHost) {
    this.#highWater = highWater;
    this.#host = host;
  }

  /** Bytes held for the first connection-level consumer. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Held messages dropped from the replay (only with a tap and no connection-level consumer). */
  get droppedFromReplay(): number {
    return this.#droppedFromReplay;
  }

  /** True once this side started closing or the connection closed: nothing is delivered any more. */
  get stopped(): boolean {
    return (this.#flags & (STOPPED | ENDED)) !== 0;
  }

  /** A message arrived from the peer. */
  arrive(message: InboundMessage): void {
    if ((this.#flags & (STOPPED | ENDED)) !== 0) return;
    if (this.#taps !== undefined) {
      this.#delivering++;
      // By index into the current taps: a tap added by a tap is reached (the list only grows during a delivery).
      for (let i = 0, tap = tapAt(this.#taps, 0); tap !== undefined; tap = tapAt(this.#taps, ++i)) {
        if (tap.removed) continue;
        if (tap.pending !== undefined) tap.pending.push(message);
        else callTap(tap.fn, message);
        if ((this.#flags & STOPPED) !== 0) break; // a tap closed the connection
      }
      if (--this.#delivering === 0 && tapsLength(this.#taps) > this.#tapCount) this.#dropRemovedTaps();
      if ((this.#flags & STOPPED) !== 0) return;
    }
    if ((this.#flags & HOLDING) !== 0 || this.#head < this.#held.length) {
      if (this.#held === NO_MESSAGES) this.#held = [];
      this.#held.push((this.#copies ??= new HeldCopies()).keep(message));
      this.#heldBytes += messageCost(message);
      if ((this.#flags & HOLDING) !== 0 && this.#tapCount > 0) this.#trimReplay();
      this.flowControl();
    } else {
      this.#deliver(message);
    }
  }

  /**
   * Adds a tap: it sees, in a microtask, the messages held now (those that arrived before it and that no
   * connection-level consumer took yet), then every message as it arrives, each once, before the
   * connection's own consumers. It does not end holding. Returns the function that removes it.
   */
  tap(fn: MessageTap): () => void {
    if ((this.#flags & (STOPPED | ENDED)) !== 0) return () => undefined;
    // No copy of the held messages when none is held (the usual case: a tap added at open).
    const tap: Tap = { fn, pending: this.#head < this.#held.length ? this.#held.slice(this.#head) : undefined, removed: false };
    const taps = this.#taps;
    if (taps === undefined) this.#taps = tap;
    else if (Array.isArray(taps)) taps.push(tap);
    else this.#taps = [taps, tap];
    this.#tapCount++;
    if (tap.pending !== undefined) {
      queueMicrotask(() => {
        const pending = tap.pending ?? [];
        // By index: a message arriving while the tap runs is appended and seen in order.
        for (let i = 0; i < pending.length && (this.#flags & (STOPPED | ENDED)) === 0 && !tap.removed; i++) {
          callTap(fn, pending[i] as InboundMessage);
        }
        tap.pending = undefined;
      });
    }
    if ((this.#flags & HOLDING) !== 0) this.#trimReplay();
    this.flowControl();
    return () => {
      tap.pending = undefined;
      if (tap.removed) return;
      tap.removed = true;
      this.#tapCount--;
      if (this.#delivering === 0) this.#dropRemovedTaps();
      this.flowControl();
    };
  }

  /** A `message` listener was added: ends holding; the held messages go out in a microtask, in order, ahead of later ones. */
  consumerAdded(): void {
    if ((this.#flags & HOLDING) === 0) return;
    this.#flags &= ~HOLDING;
    if (this.#head >= this.#held.length) {
      this.#clearHeld();
      return;
    }
    queueMicrotask(() => {
      const held = this.#held;
      // By index, not shift(): draining n held messages with shift() would take O(n²).
      for (let i = this.#head; i < held.length && (this.#flags & (STOPPED | ENDED)) === 0; i++) {
        const message = held[i] as InboundMessage;
        held[i] = undefined as unknown as InboundMessage;
        this.#head = i + 1;
        this.#heldBytes -= messageCost(message);
        this.#deliver(message);
      }
      if (this.#held === held) this.#clearHeld();
      this.flowControl();
    });
  }

  /** Creates an async iterator of the messages from now on (plus the held ones, as the first consumer). */
  iterator(): MessageQueue {
    const queue = new MessageQueue(
      () => this.flowControl(),
      (q) => {
        this.#queues?.delete(q);
        this.flowControl();
      },
    );
    if ((this.#flags & (STOPPED | ENDED)) !== 0) queue.end();
    else {
      (this.#queues ??= new Set()).add(queue);
      this.consumerAdded();
    }
    return queue;
  }

  /**
   * This side started closing (sent its Goodbye, or aborted): drops the held messages, what taps have
   * yet to see and what iterators buffered, ends the iterators, and resumes reading (so that the peer's
   * Goodbye or close is seen while the rest is read and discarded). Idempotent.
   */
  stop(): void {
    if ((this.#flags & STOPPED) !== 0) return;
    this.#flags |= STOPPED;
    this.#clearHeld();
    const taps = this.#taps;
    for (let i = 0, tap = tapAt(taps, 0); tap !== undefined; tap = tapAt(taps, ++i)) tap.pending = undefined;
    for (const q of this.#queues ?? []) q.discard();
    this.#queues = undefined;
    this.flowControl();
  }

  /** The connection closed: nothing more arrives; held messages and taps are dropped. Idempotent. */
  end(): void {
    this.#flags |= ENDED;
    this.#clearHeld();
    const taps = this.#taps;
    for (let i = 0, tap = tapAt(taps, 0); tap !== undefined; tap = tapAt(taps, ++i)) tap.removed = true;
    this.#taps = undefined;
    this.#tapCount = 0;
  }

  /**
   * Ends the iterators after what they buffered (nothing after {@link Inbox.stop}); the connection calls
   * it once released, so that an iterator's end means the connection is gone.
   */
  endIterators(): void {
    this.end();
    for (const q of this.#queues ?? []) q.end();
    this.#queues = undefined;
  }

  /** Pauses reading above the high-water mark, resumes at half of it. */
  flowControl(): void {
    let buffered = (this.#flags & HOLDING) !== 0 && this.#tapCount > 0 ? 0 : this.#heldBytes;
    if (this.#queues !== undefined) for (const q of this.#queues) buffered = Math.max(buffered, q.bufferedBytes);
    if ((this.#flags & (STOPPED | ENDED)) !== 0) buffered = 0;
    if ((this.#flags & PAUSED) === 0 && buffered > this.#highWater) {
      this.#flags |= PAUSED;
      this.#host.setPaused(true);
    } else if ((this.#flags & PAUSED) !== 0 && buffered <= this.#highWater / 2) {
      this.#flags &= ~PAUSED;
      this.#host.setPaused(false);
    }
  }

  #deliver(message: InboundMessage): void {
    if (this.#queues !== undefined) for (const q of this.#queues) q.push(message);
    this.#host.emit(message);
  }

  /** Drops the oldest held messages while the replay is above its cap. */
  #trimReplay(): void {
    const held = this.#held;
    // Bytes of replay kept for a late connection-level consumer while a tap is served.
    const cap = Math.min(this.#highWater, TAP_REPLAY_BYTES);
    while (this.#heldBytes > cap && this.#head < held.length) {
      this.#heldBytes -= messageCost(held[this.#head] as InboundMessage);
      held[this.#head] = undefined as unknown as InboundMessage;
      this.#head++;
      this.#droppedFromReplay++;
    }
    // Compact once the dropped prefix is the larger part, so the array stays within twice what is held.
    if (this.#head > 1024 && this.#head * 2 > held.length) {
      this.#held = held.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Drops the removed taps from the list (no delivery in progress). */
  #dropRemovedTaps(): void {
    const taps = this.#taps;
    if (taps === undefined) return;
    if (!Array.isArray(taps)) {
      if (taps.removed) this.#taps = undefined;
      return;
    }
    const kept = taps.filter((tap) => !tap.removed);
    this.#taps = kept.length === 0 ? undefined : kept.length === 1 ? kept[0] : kept;
  }

  #clearHeld(): void {
    this.#held = NO_MESSAGES;
    this.#head = 0;
    this.#heldBytes = 0;
    this.#copies?.release();
  }
}

/** The `i`th of `taps` (one tap or a list), or undefined past the end. */
function tapAt(taps: Tap | Tap[] | undefined, i: number): Tap | undefined {
  if (taps === undefined) return undefined;
  if (Array.isArray(taps)) return taps[i];
  return i === 0 ? taps : undefined;
}

function tapsLength(taps: Tap | Tap[] | undefined): number {
  return taps === undefined ? 0 : Array.isArray(taps) ? taps.length : 1;
}

function callTap(fn: MessageTap, message: InboundMessage): void {
  try {
    fn(message);
  } catch (error) {
    process.emitWarning(
      `peerlink: a message tap threw: ${error instanceof Error ? error.stack ?? error.message : String(error)}`,
      "PeerlinkListenerWarning",
    );
  }
}
