/**
 * The JS engine of the frame decoder: scans each chunk in place and copies only the tail of an
 * incomplete frame into a carry buffer (the reference implementation the WASM engine is tested against).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { ENVELOPE_DATA, ENVELOPE_PING, ENVELOPE_PONG, parseEnvelope } from "./envelope-fast-path.js";
import {
  DISPOSED,
  failureOf,
  dispatchGenericFrame,
  frameTooLargeError,
  malformedPrefixError,
} from "./frame-dispatch.js";
import type { FrameBodyCallback, FrameDecoder, FrameSink } from "./frame-sink.js";
import { checkFrameLimit } from "./frame-limit.js";
import { copyBytes, PREFIX_INCOMPLETE, PREFIX_MALFORMED, readLengthPrefix } from "./varint.js";

/**
 * The carry while nothing is carried (and of a disposed decoder): a decoder allocates one only for its first
 * frame cut by a chunk boundary, so an idle connection holds none.
 */
const NO_CARRY = new Uint8Array(0);
/**
 * The envelope fast path's output record, shared by every decoder: it is read back right after the parse,
 * before any sink runs, so no two parses overlap in it.
 */
const REC = new Uint32Array(4);

/** Carry buffers up to this size are kept between frames; larger ones are dropped after use. */
const CARRY_KEEP_BYTES = 64 * 1024;
/**
 * A Data payload at least this large, in a buffer no one writes again (a reassembled frame's, or an owned read),
 * is delivered as a view of that buffer instead of a copy when it is at least half of the whole buffer: a large
 * message is then copied at most once on its way in, as a raw socket reader's concatenation would, and a message
 * the application keeps pins at most twice its size (a peer padding a small payload out to a large frame with
 * fields the parser skips gets a copy).
 */
const HANDOVER_MIN_BYTES = 4 * 1024;
/**
 * A frame of at least this size cut by the end of an owned chunk ({@link JsFrameDecoder.pushOwned}) is held as
 * views of the chunks it arrives in and copied once, into a buffer of its exact size, when its last byte
 * arrives. Smaller frames are copied into the kept carry, which spares them an allocation each.
 */
const HELD_FRAME_MIN_BYTES = 4 * 1024;
/**
 * A later piece of a held frame is kept as a view only when it is at least this large, and only this many
 * pieces: below either, what is held is copied into a carry and the frame goes on as with `push`. A view costs
 * about a hundred bytes of heap, so a peer trickling its frame in tiny records cannot make views cost more than
 * the bytes they hold.
 */
const HELD_PIECE_MIN_BYTES = 1024;
const HELD_PIECES_MAX = 128;
/** Size of the scratch buffer {@link JsFrameDecoder.receiveBuffer} hands out. */
const RECEIVE_BUFFER_BYTES = 64 * 1024;

/**
 * A buffer for a held frame of `size` bytes, every one of which the caller writes before anyone reads it: not
 * zero-filled first (a profile of a receiver of 64 KiB messages showed the fill, which a raw socket reader's
 * `Buffer.concat` does not do), unpooled (the frame is its buffer's only bytes), and a plain Uint8Array, as every
 * delivered payload is.
 */
function frameBuffer(size: number): Uint8Array {
  const bytes = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, size);
}

/** JS implementation of {@link FrameDecoder}. */
export class JsFrameDecoder implements FrameDecoder {
  readonly engine = "js" as const;
  readonly maxFrameSize: number;
  private limit: number;
  private carry: Uint8Array = NO_CARRY;
  private carryUsed = 0;
  /** Total size (prefix + body) of the carried frame once its prefix is complete, else 0. */
  private carryNeed = 0;
  private carryPrefix = 0;
  /** Views of owned chunks holding the start of a carried frame, not yet copied (see {@link HELD_FRAME_MIN_BYTES}). */
  private held: Uint8Array[] | undefined;
  /** Bytes in {@link JsFrameDecoder.held}; when positive, `carryNeed` and `carryPrefix` describe the held frame. */
  private heldBytes = 0;
  /** Bytes of the buffers the held views keep alive (the first may hold a little more than its view). */
  private heldCapacity = 0;
  private failure: unknown = undefined;
  private hasFailed = false;
  private scratch: Uint8Array | undefined;

  constructor(maxFrameSize: number, frameLimit: number) {
    this.maxFrameSize = maxFrameSize;
    this.limit = frameLimit;
  }

  get frameLimit(): number {
    return this.limit;
  }

  setFrameLimit(limit: number): void {
    this.limit = checkFrameLimit(limit, this.maxFrameSize);
  }

  get bufferedBytes(): number {
    return this.carryUsed + this.heldBytes;
  }

  get bufferCapacity(): number {
    return this.carry.length + (this.scratch?.length ?? 0) + this.heldCapacity;
  }

  get failed(): boolean {
    return this.hasFailed;
  }

  push(chunk: Uint8Array, sink: FrameSink): void {
    this.run(chunk, sink, undefined, false);
  }

  pushOwned(chunk: Uint8Array, sink: FrameSink): void {
    this.run(chunk, sink, undefined, true);
  }

  pushFrames(chunk: Uint8Array, onFrame: FrameBodyCallback): void {
    this.run(chunk, undefined, onFrame, false);
  }

  receiveBuffer(): Uint8Array {
    if (this.hasFailed) throw (this.failure = failureOf(this.failure));
    this.scratch ??= new Uint8Array(RECEIVE_BUFFER_BYTES);
    return this.scratch;
  }

  commit(bytesWritten: number, sink: FrameSink): void {
    const scratch = this.receiveBuffer();
    this.run(scratch.subarray(0, Math.min(bytesWritten, scratch.length)), sink, undefined, false);
  }

  dispose(): void {
    this.hasFailed = true;
    this.failure = DISPOSED;
    this.carryUsed = 0;
    this.carryNeed = 0;
    this.carry = NO_CARRY;
    this.dropHeld();
    this.scratch = undefined;
  }

  private fail(error: unknown): void {
    if (!this.hasFailed) {
      this.hasFailed = true;
      this.failure = error;
    }
    this.carryUsed = 0;
    this.carryNeed = 0;
    this.carry = NO_CARRY;
    this.dropHeld();
  }

  private dropHeld(): void {
    this.held = undefined;
    this.heldBytes = 0;
    this.heldCapacity = 0;
  }

  private run(chunk: Uint8Array, sink: FrameSink | undefined, onFrame: FrameBodyCallback | undefined, owned: boolean): void {
    if (this.hasFailed) throw (this.failure = failureOf(this.failure));
    // A plain Uint8Array view keeps element access monomorphic (sockets hand out Buffer subclasses).
    const bytes = chunk.constructor === Uint8Array ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    try {
      this.scanChunk(bytes, sink, onFrame, owned);
    } catch (error) {
      this.fail(error);
      throw error;
    }
  }

  private deliver(
    buf: Uint8Array,
    start: number,
    length: number,
    sink: FrameSink | undefined,
    onFrame: FrameBodyCallback | undefined,
    owned: boolean,
  ): void {
    if (sink === undefined) (onFrame as FrameBodyCallback)(buf, start, length);
    else this.deliverEnvelope(buf, start, length, sink, owned);
  }

  /**
   * Parses one Frame body with the fast path (generated decoder as fallback) and calls the sink. `owned`:
   * `buf` is written by no one any more, so a large Data payload is passed on as a view of it.
   */
  private deliverEnvelope(buf: Uint8Array, start: number, length: number, sink: FrameSink, owned: boolean): void {
    const rec = REC;
    switch (parseEnvelope(buf, start, length, rec)) {
      case ENVELOPE_DATA: {
        const from = rec[2] as number;
        const size = rec[3] as number;
        const view = owned && size >= HANDOVER_MIN_BYTES && 2 * size >= buf.buffer.byteLength;
        sink.onData(rec[1] as number, view ? buf.subarray(from, from + size) : copyBytes(buf, from, size));
        return;
      }
      case ENVELOPE_PING:
        sink.onPing(rec[1] as number, rec[2] as number);
        return;
      case ENVELOPE_PONG:
        sink.onPong(rec[1] as number, rec[2] as number);
        return;
      default:
        dispatchGenericFrame(copyBytes(buf, start, length), sink);
    }
  }

  private scanChunk(chunk: Uint8Array, sink: FrameSink | undefined, onFrame: FrameBodyCallback | undefined, owned: boolean): void {
    const end = chunk.length;
    let pos = 0;
    if (end === 0) return;
    if (this.carryUsed > 0) pos = this.fillCarry(chunk, sink, onFrame);
    else if (this.heldBytes > 0) pos = this.fillHeld(chunk, sink, onFrame, owned);
    // A sink may dispose of the decoder (its connection closed): nothing more is delivered or held.
    if (this.hasFailed) return;
    while (pos < end) {
      // Inline fast paths for 1- and 2-byte prefixes (bodies < 16 KiB); integer arithmetic only.
      const b = chunk[pos] as number;
      let body: number;
      let length: number;
      if (b < 0x80) {
        body = pos + 1;
        length = b;
      } else {
        const b1 = pos + 1 < end ? (chunk[pos + 1] as number) : 0x80;
        if (b1 < 0x80 && b1 !== 0) {
          body = pos + 2;
          length = (b & 0x7f) | (b1 << 7);
        } else {
          const r = readLengthPrefix(chunk, pos, end);
          if (r === PREFIX_INCOMPLETE) break;
          if (r === PREFIX_MALFORMED) throw malformedPrefixError();
          const prefix = r % 8;
          body = pos + prefix;
          length = (r - prefix) / 8;
        }
      }
      // Read per frame: a sink may change the limit (the connection raises it once the peer is authenticated).
      if (length > this.limit) throw frameTooLargeError(length, this.limit);
      const next = body + length;
      if (next > end) break;
      this.deliver(chunk, body, length, sink, onFrame, owned);
      pos = next;
      if (this.hasFailed) return;
    }
    if (pos < end) this.startCarry(chunk, pos, end, owned);
  }

  /**
   * Starts carrying `chunk[pos, end)`: an incomplete prefix, or a checked prefix with part of its body. The
   * start of a large frame in an owned chunk is held as a view instead of copied (see {@link HELD_FRAME_MIN_BYTES}).
   */
  private startCarry(chunk: Uint8Array, pos: number, end: number, owned: boolean): void {
    const r = readLengthPrefix(chunk, pos, end);
    const n = end - pos;
    if (r >= 0) {
      this.carryPrefix = r % 8;
      this.carryNeed = this.carryPrefix + (r - this.carryPrefix) / 8;
      // Only a start that is at least half of its read is held: the view pins the whole read, and no payload
      // handed on as a view (at least half of a read too) can then share that read with it.
      if (owned && this.carryNeed >= HELD_FRAME_MIN_BYTES && 2 * n >= chunk.buffer.byteLength) {
        this.held = [chunk.subarray(pos, end)];
        this.heldBytes = n;
        this.heldCapacity = chunk.buffer.byteLength;
        return;
      }
    } else {
      this.carryNeed = 0; // incomplete prefix: at most 4 bytes
    }
    // Room for the bytes at hand (at least a whole prefix), never the declared length.
    if (this.carry.length < Math.max(n, 8)) this.carry = new Uint8Array(this.grownCarryLength(Math.max(n, 8)));
    this.carry.set(chunk.subarray(pos, end), 0);
    this.carryUsed = n;
  }

  /**
   * The carry's next length for `want` bytes received: twice that (so at least double the current one,
   * and reassembling a frame copies each byte O(1) times), but never more than the frame's declared size:
   * a peer that declares a large frame and trickles its bytes pins memory in proportion to what it sent,
   * not to what it announced.
   */
  private grownCarryLength(want: number): number {
    const cap = Math.max(want, this.carryNeed);
    return Math.min(cap, 2 * want);
  }

  /**
   * Continues the held frame with the start of `chunk`; returns the position after the bytes taken. The frame's
   * last byte copies every piece, once, into a buffer of the frame's size, delivered as the carry would be; a
   * piece that may not be held as a view copies what is held into a carry, and the frame goes on from there.
   */
  private fillHeld(chunk: Uint8Array, sink: FrameSink | undefined, onFrame: FrameBodyCallback | undefined, owned: boolean): number {
    const held = this.held as Uint8Array[];
    const need = this.carryNeed;
    const take = Math.min(need - this.heldBytes, chunk.length);
    const piece = take === chunk.length ? chunk : chunk.subarray(0, take);
    const complete = this.heldBytes + take === need;
    // The frame goes on past this read, so the piece is the whole read: held as a view when it is at least
    // half of its buffer (a socket's read is exactly its bytes).
    const holdable = owned && take >= HELD_PIECE_MIN_BYTES && held.length < HELD_PIECES_MAX && 2 * take >= chunk.buffer.byteLength;
    if (!complete && holdable) {
      held.push(piece);
      this.heldBytes += take;
      this.heldCapacity += chunk.buffer.byteLength;
      return take;
    }
    const want = this.heldBytes + take;
    const out = complete ? frameBuffer(need) : new Uint8Array(this.grownCarryLength(want));
    let at = 0;
    for (const view of held) {
      out.set(view, at);
      at += view.length;
    }
    out.set(piece, at);
    this.dropHeld();
    if (!complete) {
      this.carry = out;
      this.carryUsed = want;
      return take;
    }
    const prefix = this.carryPrefix;
    this.carryNeed = 0;
    this.deliver(out, prefix, need - prefix, sink, onFrame, true);
    return take;
  }

  /** Continues the carried frame with the start of `chunk`; returns the position after the bytes taken. */
  private fillCarry(chunk: Uint8Array, sink: FrameSink | undefined, onFrame: FrameBodyCallback | undefined): number {
    const end = chunk.length;
    let pos = 0;
    while (this.carryNeed === 0) {
      if (pos >= end) return pos;
      this.carry[this.carryUsed++] = chunk[pos++] as number;
      const r = readLengthPrefix(this.carry, 0, this.carryUsed);
      if (r === PREFIX_INCOMPLETE) continue;
      if (r === PREFIX_MALFORMED) throw malformedPrefixError();
      const prefix = r % 8;
      const length = (r - prefix) / 8;
      if (length > this.limit) throw frameTooLargeError(length, this.limit);
      this.carryPrefix = prefix;
      this.carryNeed = prefix + length;
    }
    const take = Math.min(this.carryNeed - this.carryUsed, end - pos);
    if (take > 0) {
      const want = this.carryUsed + take;
      if (this.carry.length < want) {
        const grown = new Uint8Array(this.grownCarryLength(want));
        grown.set(this.carry.subarray(0, this.carryUsed));
        this.carry = grown;
      }
      this.carry.set(take === end - pos && pos === 0 ? chunk : chunk.subarray(pos, pos + take), this.carryUsed);
      this.carryUsed += take;
      pos += take;
    }
    if (this.carryUsed === this.carryNeed) {
      const carry = this.carry;
      const prefix = this.carryPrefix;
      const length = this.carryNeed - prefix;
      this.carryUsed = 0;
      this.carryNeed = 0;
      if (sink !== undefined && length >= HANDOVER_MIN_BYTES && 2 * length >= carry.length) {
        this.carry = NO_CARRY;
        this.deliverEnvelope(carry, prefix, length, sink, true);
        return pos;
      }
      if (carry.length > CARRY_KEEP_BYTES) this.carry = NO_CARRY;
      this.deliver(carry, prefix, length, sink, onFrame, false);
    }
    return pos;
  }
}
