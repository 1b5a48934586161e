/**
 * Internal: the one DER tag-length-value reader of the transport (certificates, TLS sessions).
 *
 * @module
 */

/** Where the value last read by {@link readTlv} lies (one reused record: single-threaded, read right after the call). */
export const tlv = { start: 0, end: 0 };

/**
 * Reads one DER tag-length-value at `at` within `[at, end)` (single-byte tag, definite length up to 3 bytes):
 * returns its tag with its value's bounds in {@link tlv}, or -1 when it does not fit.
 */
export function readTlv(der: Uint8Array, at: number, end: number): number {
  if (at + 2 > end) return -1;
  const tag = der[at] as number;
  let length = der[at + 1] as number;
  let start = at + 2;
  if (length >= 0x80) {
    const count = length & 0x7f;
    if (count < 1 || count > 3 || start + count > end) return -1;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[start++] as number);
  }
  if (start + length > end) return -1;
  tlv.start = start;
  tlv.end = start + length;
  return tag;
}
