/**
 * Copies of the messages a connection holds, carved from buffers of the holder's own.
 *
 * @module
 */
import { COPY_OWN_MAX_SMALL, COPY_SLAB_MAX_ITEM } from "../wire/varint.js";
import type { InboundMessage } from "./types.js";

/** Bytes of one buffer held copies are carved from. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Where a connection copies the messages of 65 B to 4 KiB it holds (for its first consumer, in the replay for a
 * late one, in an iterator's buffer). A decoder carves such payloads from a 64 KiB slab shared by every
 * connection, and a held view pins the whole slab: a peer whose messages alternated with other traffic could make
 * each message held pin 64 KiB (a replay counted at 64 KiB pinned 32 MiB). Held copies are carved in arrival
 * order from this holder's own buffers and held messages leave oldest first, so what they pin is what is held
 * plus one buffer. Messages handed straight to a consumer are not copied.
 */
export class HeldCopies {
  #chunk: Uint8Array | undefined = undefined;
  #pos = 0;

  /** `message`, or an equal message whose bytes are carved from this holder's buffers. */
  keep(message: InboundMessage): InboundMessage {
    const data = message.data;
    const length = data.byteLength;
    // Only the sizes `copyBytes` carves from its shared slab; the others are their own array or most of their
    // buffer. By length only: reading `.buffer` of a small array would make V8 give it an ArrayBuffer (~1 µs).
    if (length <= COPY_OWN_MAX_SMALL || length > COPY_SLAB_MAX_ITEM) return message;
    let chunk = this.#chunk;
    let at = this.#pos;
    if (chunk === undefined || at + length > chunk.length) {
      chunk = this.#chunk = new Uint8Array(CHUNK_BYTES);
      at = 0;
    }
    chunk.set(data, at);
    this.#pos = (at + length + 7) & ~7;
    return { protocol: message.protocol, data: chunk.subarray(at, at + length) };
  }

  /** Nothing is held any more: the holder lets go of its current buffer (the next copy starts a new one). */
  release(): void {
    this.#chunk = undefined;
    this.#pos = 0;
  }
}
