/**
 * RFC 4648 base32, lowercase alphabet, no padding: the printable form of peer ids.
 * Chosen over base58 because every language has it or can write it in ten lines.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const LOOKUP = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/** Character codes of an encoding, reused (single-threaded; grown for longer inputs). */
let scratch = Buffer.allocUnsafe(64);

/** Encodes bytes as lowercase unpadded base32. */
export function base32Encode(bytes: Uint8Array): string {
  // Character codes, then one string made natively: appending a character at a time makes V8 keep a chain of
  // ~40 rope nodes (2.5 KiB) for a 52-character peer id that lives as long as the peer is known; flat, it is
  // 72 bytes. The codes go to a reused buffer: an array of them (and its spread into fromCharCode) cost ~0.7 KiB
  // per encoding.
  const length = Math.ceil((bytes.length * 8) / 5);
  if (scratch.length < length) scratch = Buffer.allocUnsafe(length);
  const codes = scratch;
  let n = 0;
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    buffer = (buffer << 8) | (bytes[i] as number);
    bits += 8;
    while (bits >= 5) {
      codes[n++] = ALPHABET.charCodeAt((buffer >>> (bits - 5)) & 31);
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) codes[n++] = ALPHABET.charCodeAt((buffer << (5 - bits)) & 31);
  return codes.toString("latin1", 0, n);
}

/** Decodes lowercase unpadded base32; throws INVALID_PEER_ID on any other character or non-zero trailing bits. */
export function base32Decode(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  base32DecodeInto(text, out);
  return out;
}

/**
 * Decodes lowercase unpadded base32 into `out` (at least `floor(text.length * 5 / 8)` bytes), as
 * {@link base32Decode} does, without allocating; returns `out`.
 */
export function base32DecodeInto(text: string, out: Uint8Array): Uint8Array {
  if (out.length < Math.floor((text.length * 5) / 8)) throw new PeerlinkError(ErrorCode.INTERNAL, "base32 output too short");
  let buffer = 0;
  let bits = 0;
  let index = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? (LOOKUP[code] ?? -1) : -1;
    if (value < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_PEER_ID, `invalid base32 character ${JSON.stringify(text[i])} at ${i}`);
    }
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      out[index++] = (buffer >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  if (buffer !== 0) throw new PeerlinkError(ErrorCode.INVALID_PEER_ID, "non-canonical base32 (trailing bits set)");
  return out;
}
