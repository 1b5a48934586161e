/**
 * Unsigned LEB128 varints as used by the frame length prefix (docs/PROTOCOL.md, "Framing").
 *
 * @module
 */

/** Longest valid length prefix: 5 bytes carry 32 bits (7 + 7 + 7 + 7 + 4). */
export const MAX_PREFIX_BYTES = 5;

/** Largest value a length prefix can carry (2^32 - 1). */
export const MAX_PREFIX_VALUE = 0xffff_ffff;

/** {@link readLengthPrefix} result: the prefix is not complete yet; more bytes are needed. */
export const PREFIX_INCOMPLETE = -1;

/**
 * {@link readLengthPrefix} result: the prefix is malformed (more than 5 bytes, a value that does not fit
 * in 32 bits, or an overlong encoding whose last byte is 0x00).
 */
export const PREFIX_MALFORMED = -2;

/** Number of bytes the shortest LEB128 encoding of `value` (an integer in [0, 2^32 - 1]) takes. */
export function varintLength(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  return 5;
}

/**
 * Writes the shortest LEB128 encoding of `value` (an integer in [0, 2^32 - 1]) into `target` at
 * `offset` and returns the offset after it. The caller guarantees the space ({@link varintLength}).
 */
export function writeVarint(value: number, target: Uint8Array, offset: number): number {
  let v = value;
  while (v >= 0x80) {
    target[offset++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  target[offset++] = v;
  return offset;
}

/** Returns the length prefix for a frame body of `length` bytes (an integer in [0, 2^32 - 1]). */
export function encodeLengthPrefix(length: number): Uint8Array {
  const out = new Uint8Array(varintLength(length));
  writeVarint(length, out, 0);
  return out;
}

/**
 * Reads a frame length prefix from `bytes[start, end)` by the framing rules: at most 5 bytes, value
 * fits in 32 bits, shortest encoding only.
 *
 * Returns {@link PREFIX_INCOMPLETE}, {@link PREFIX_MALFORMED}, or `length * 8 + prefixBytes` for a
 * complete prefix (a single number so the hot path allocates nothing): decode it with
 * {@link prefixBytesOf} and {@link prefixValueOf}.
 */
export function readLengthPrefix(bytes: Uint8Array, start: number, end: number): number {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < MAX_PREFIX_BYTES; i++) {
    if (start + i >= end) return PREFIX_INCOMPLETE;
    const b = bytes[start + i] as number;
    if (i === 4) {
      if (b > 0x0f || b === 0) return PREFIX_MALFORMED;
      return (value + b * multiplier) * 8 + 5;
    }
    value += (b & 0x7f) * multiplier;
    if (b < 0x80) {
      if (i > 0 && b === 0) return PREFIX_MALFORMED;
      return value * 8 + (i + 1);
    }
    multiplier *= 0x80;
  }
  return PREFIX_MALFORMED; // unreachable: the loop returns at i === 4
}

/** Prefix size in bytes from a non-negative {@link readLengthPrefix} result. */
export function prefixBytesOf(result: number): number {
  return result % 8;
}

/** Frame body length from a non-negative {@link readLengthPrefix} result. */
export function prefixValueOf(result: number): number {
  return (result - (result % 8)) / 8;
}

/** Size of the slabs small copies are carved from (like Node's pooled Buffers, but never reused). */
const COPY_SLAB_BYTES = 64 * 1024;
/** Copies up to this size get their own array (V8 keeps typed arrays of <= 64 bytes on its heap: cheap). */
export const COPY_OWN_MAX_SMALL = 64;
/** Copies larger than this get their own ArrayBuffer. */
export const COPY_SLAB_MAX_ITEM = 4 * 1024;
let copySlab = new Uint8Array(COPY_SLAB_BYTES);
let copySlabPos = 0;

/**
 * Copies `bytes[start, start + length)` into memory the caller owns from then on. Unlike `Buffer#slice`
 * (a view) this always copies, whatever subclass `bytes` is. Copies of 65 B to 4 KiB are carved from a
 * shared 64 KiB slab that is never written again once handed out (so the copy stays valid forever, but
 * its `.buffer` is the slab: use `byteOffset`/`byteLength`); larger copies get their own buffer.
 */
export function copyBytes(bytes: Uint8Array, start: number, length: number): Uint8Array {
  if (length <= COPY_OWN_MAX_SMALL && bytes.constructor === Uint8Array) {
    // A plain array's own copy (about half the cost of a view and a `set`); a subclass would copy into its own kind.
    return bytes.slice(start, start + length);
  }
  const source = new Uint8Array(bytes.buffer, bytes.byteOffset + start, length);
  if (length <= COPY_OWN_MAX_SMALL || length > COPY_SLAB_MAX_ITEM) {
    const own = new Uint8Array(length);
    own.set(source);
    return own;
  }
  if (copySlabPos + length > COPY_SLAB_BYTES) {
    copySlab = new Uint8Array(COPY_SLAB_BYTES);
    copySlabPos = 0;
  }
  const at = copySlabPos;
  const slab = copySlab;
  slab.set(source, at);
  copySlabPos = (at + length + 7) & ~7;
  return slab.subarray(at, at + length);
}

/**
 * `bytes` as something that may be kept: itself when it is at least half of the buffer it views, else a copy
 * with a buffer of its own. A view pins its whole buffer for as long as it is kept: a small payload of a frame a
 * peer padded with fields the parser skips, or a copy carved from a shared slab ({@link copyBytes}), would
 * otherwise hold up to a frame's or a slab's size while counted at its own length.
 */
export function keepable(bytes: Uint8Array): Uint8Array {
  // Up to 64 bytes a copy is cheap (V8 keeps it on its heap), where reading `.buffer` would make V8 give the
  // array an ArrayBuffer of its own (~1 µs).
  if (bytes.byteLength <= COPY_OWN_MAX_SMALL) return Uint8Array.prototype.slice.call(bytes);
  return 2 * bytes.byteLength >= bytes.buffer.byteLength ? bytes : Uint8Array.prototype.slice.call(bytes);
}
