/**
 * UTF-8 helpers.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `text` cut to at most `maxBytes` bytes of UTF-8, at a character boundary (never half a character).
 * Text that fits is returned unchanged.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length <= maxBytes / 3) return text; // every UTF-16 unit is at most 3 UTF-8 bytes
  // Every UTF-16 unit is at least one byte: the first maxBytes + 1 units decide the cut, however long the text
  // (a peer's megabyte of detail is not encoded whole). A pair split after them starts past the cut.
  const bytes = encoder.encode(text.length > maxBytes ? text.slice(0, maxBytes + 1) : text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--; // back to the start of a character
  return decoder.decode(bytes.subarray(0, end));
}
