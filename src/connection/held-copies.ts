/**
 * Copies of the messages a connection holds, carved from buffers of the holder's own.
 *
 * @module
 */
import type { InboundMessage } from "./types.js";

/** Bytes of one buffer held copies are carved from. */
const CHUNK_BYTES = 64 * 1024;
/** Up to this size a message keeps its bytes: a decoder copies it into an array of its own (on V8's heap). */
const OWN_MAX_BYTES = 64;
/** Above this size a message keeps its bytes too: a decoder hands it over as its own buffer or most of one. */
const SLAB_MAX_BYTES = 4 * 1024;

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
    // By length only: reading `.buffer` of a small array would make V8 give it an ArrayBuffer of its own (~1 µs).
    if (length <= OWN_MAX_BYTES || length > SLAB_MAX_BYTES) return message;
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
