/**
 * A bump allocator of frame bytes: small frames are carved out of shared 64 KiB slabs, so encoding a
 * message allocates a view, not a backing store of its own (a typed array of more than 64 bytes gets
 * its own ArrayBuffer in V8, which cost a third of a small-message sender's time). Views are handed out
 * once and never reused: a slab is freed by the garbage collector when every frame carved from it was
 * written and dropped. Consecutive frames are adjacent in memory, so a writer can join them into one write.
 * The views are Buffers: a socket's `write` turns any other Uint8Array into a Buffer view first, a second
 * object per frame written.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** Bytes of one slab. */
export const FRAME_SLAB_BYTES = 64 * 1024;

/** Frames larger than this get their own allocation (a slab would be wasted on a few of them). */
export const FRAME_SLAB_MAX_FRAME_BYTES = 4 * 1024;

/**
 * Hands out fresh, write-once byte ranges of shared slabs (see the module comment). The last view handed
 * out is remembered with its slab and offset, so that a writer can tell where it lies without reading the
 * typed array's `buffer` and `byteOffset` (getters that cost ~10-15 ns each, as much as the view itself).
 */
export class FrameSlab {
  #slab = new ArrayBuffer(0);
  /** Where the next view starts in the current slab (at the end of the empty first one: the first take makes a slab). */
  #offset = FRAME_SLAB_BYTES;
  /** The view handed out last (`undefined` for one with its own allocation). */
  lastView: Uint8Array | undefined;
  /** The slab of {@link FrameSlab.lastView}. */
  lastSlab: ArrayBuffer = this.#slab;
  /** The offset of {@link FrameSlab.lastView} in its slab. */
  lastOffset = 0;

  /** A fresh view of `length` bytes (its contents are unspecified until written). */
  take(length: number): Uint8Array {
    if (length > FRAME_SLAB_MAX_FRAME_BYTES) {
      this.lastView = undefined;
      // Not zero-filled: every caller writes every byte before the frame leaves it, and the fill cost a large
      // message's sender as much as copying the payload in. Unpooled, so the frame is its buffer's only bytes.
      return Buffer.allocUnsafeSlow(length);
    }
    let offset = this.#offset;
    if (offset + length > FRAME_SLAB_BYTES) {
      this.#slab = new ArrayBuffer(FRAME_SLAB_BYTES);
      offset = 0;
    }
    const view = Buffer.from(this.#slab, offset, length);
    this.#offset = offset + length;
    this.lastView = view;
    this.lastSlab = this.#slab;
    this.lastOffset = offset;
    return view;
  }
}

/** The process-wide slab every connection encodes its Data frames into. */
export const sharedFrameSlab = new FrameSlab();
