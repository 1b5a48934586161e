/**
 * The listener's hold of a dialer's 0-RTT messages (docs/PROTOCOL.md §3.5):
 * buffered until the dialer is verified, released once in order, or dropped.
 *
 * @module
 */
import { MAX_EARLY_DATA_MESSAGES } from "./defaults.js";
import type { EarlyMessage } from "./types.js";

/** Buffers early messages up to a byte cap and {@link MAX_EARLY_DATA_MESSAGES} messages; {@link EarlyDataBuffer.release} hands them out exactly once. */
export class EarlyDataBuffer {
  readonly #capBytes: number;
  #messages: EarlyMessage[] = [];
  #bytes = 0;
  #done = false;

  /** @param capBytes - most Frame body bytes held; see {@link MAX_EARLY_DATA_BYTES}. */
  constructor(capBytes: number) {
    this.#capBytes = capBytes;
  }

  /** Frame body bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Messages held now. */
  get count(): number {
    return this.#messages.length;
  }

  /**
   * Holds one message whose frame body was `frameBytes` long. Returns false
   * (and holds nothing) when that would exceed either cap, or after release/drop.
   */
  hold(message: EarlyMessage, frameBytes: number): boolean {
    if (this.#done || this.#bytes + frameBytes > this.#capBytes || this.#messages.length === MAX_EARLY_DATA_MESSAGES) return false;
    this.#messages.push(message);
    this.#bytes += frameBytes;
    return true;
  }

  /** Returns every held message in arrival order, once; later calls return `[]`. */
  release(): EarlyMessage[] {
    const out = this.#messages;
    this.#clear();
    return out;
  }

  /** Discards every held message, undelivered. */
  drop(): void {
    this.#clear();
  }

  #clear(): void {
    this.#messages = [];
    this.#bytes = 0;
    this.#done = true;
  }
}

/** The exact encoded size of `Frame{data: Data{protocol: alias, payload}}`, in bytes (no length prefix). */
export function dataFrameBodyLength(alias: number, payloadLength: number): number {
  const dataLength =
    (alias === 0 ? 0 : 1 + varintLength(alias)) + (payloadLength === 0 ? 0 : 1 + varintLength(payloadLength) + payloadLength);
  return 1 + varintLength(dataLength) + dataLength;
}

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}
