/**
 * The buffer behind a connection's async iterator of messages.
 *
 * @module
 */
import { HeldCopies } from "./held-copies.js";
import type { InboundMessage } from "./types.js";

/**
 * What one buffered message counts for flow control beyond its payload: the objects around it. Without
 * it a peer sending empty or tiny messages could make a buffer grow without ever reaching the high-water
 * mark (2,000,000 empty messages held 472 MB before this existed).
 */
export const MESSAGE_OVERHEAD_BYTES = 64;

/** Bytes one buffered message counts for flow control: its payload plus {@link MESSAGE_OVERHEAD_BYTES}. */
export function messageCost(message: InboundMessage): number {
  return message.data.length + MESSAGE_OVERHEAD_BYTES;
}

/**
 * An async iterator over messages pushed into it; ends (after the buffered
 * messages) when {@link MessageQueue.end} is called, or at once on `return()`.
 */
export class MessageQueue implements AsyncIterableIterator<InboundMessage> {
  #items: InboundMessage[] = [];
  #head = 0;
  #bytes = 0;
  #waiters: Array<(result: IteratorResult<InboundMessage>) => void> = [];
  /** Where buffered messages are copied (made with the first one that needs it). */
  #copies: HeldCopies | undefined = undefined;
  #ended = false;
  readonly #onChange: () => void;
  readonly #onReturn: (queue: MessageQueue) => void;

  /**
   * @param onChange - called after the buffered byte count changed (for flow control)
   * @param onReturn - called once when the consumer stops early (`return()`)
   */
  constructor(onChange: () => void, onReturn: (queue: MessageQueue) => void) {
    this.#onChange = onChange;
    this.#onReturn = onReturn;
  }

  /** Bytes buffered and not yet taken, as {@link messageCost} counts them. */
  get bufferedBytes(): number {
    return this.#bytes;
  }

  /** Adds a message (ignored after the end). */
  push(message: InboundMessage): void {
    if (this.#ended) return;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter({ value: message, done: false });
      return;
    }
    this.#items.push((this.#copies ??= new HeldCopies()).keep(message));
    this.#bytes += messageCost(message);
    this.#onChange();
  }

  /** No more messages will come; waiting consumers finish once the buffer is drained. */
  end(): void {
    this.#ended = true;
    if (this.#head >= this.#items.length) this.#flushWaiters();
  }

  /** Drops the buffered messages and ends at once (waiting consumers finish); for a connection this side closed. */
  discard(): void {
    this.#ended = true;
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#copies?.release();
    this.#flushWaiters();
  }

  /** The next message, or done once ended and drained. */
  next(): Promise<IteratorResult<InboundMessage>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head] as InboundMessage;
      this.#items[this.#head] = undefined as unknown as InboundMessage;
      this.#head++;
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
        this.#copies?.release();
      }
      this.#bytes -= messageCost(value);
      this.#onChange();
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Stops iterating: drops the buffer and unregisters. */
  return(): Promise<IteratorResult<InboundMessage>> {
    if (!this.#ended) this.#onReturn(this);
    this.#ended = true;
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#copies?.release();
    this.#flushWaiters();
    this.#onChange();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): MessageQueue {
    return this;
  }

  #flushWaiters(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w({ value: undefined, done: true });
  }
}
