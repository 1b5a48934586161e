/**
 * A bump allocator of frame bytes: small frames are carved out of shared 64 KiB slabs, so encoding a
 * message allocates a view, not a backing store of its own (a typed array of more than 64 bytes gets
 * its own ArrayBuffer in V8, which cost a third of a small-message sender's time). Views are handed out
 * once and never reused: a slab is freed by the garbage collector when every frame carved from it was
 * written and dropped. Consecutive frames are adjacent in memory, so a writer can join them into one write.
 *
 * @module
 */

/** Bytes of one slab. */
export const FRAME_SLAB_BYTES = 64 * 1024;

/** Frames larger than this get their own allocation (a slab would be wasted on a few of them). */
export const FRAME_SLAB_MAX_FRAME_BYTES = 4 * 1024;

/** Hands out fresh, write-once byte ranges of shared slabs (see the module comment). */
export class FrameSlab {
  #slab = new Uint8Array(0);
  #offset = 0;

  /** A fresh view of `length` bytes (its contents are unspecified until written). */
  take(length: number): Uint8Array {
    if (length > FRAME_SLAB_MAX_FRAME_BYTES) return new Uint8Array(length);
    if (this.#offset + length > this.#slab.length) {
      this.#slab = new Uint8Array(FRAME_SLAB_BYTES);
      this.#offset = 0;
    }
    const view = this.#slab.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return view;
  }
}

/** The process-wide slab every connection encodes its Data frames into. */
export const sharedFrameSlab = new FrameSlab();
