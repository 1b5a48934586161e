/**
 * Text kept for long, cut from text that may be far longer.
 *
 * @module
 */

/**
 * `text` cut to at most `maxLength` UTF-16 units, sharing no memory with `text`. V8 makes a cut of 13 units or
 * more a view that keeps the whole original alive, so a short record of a long text (a peer's, say) kept in the
 * journal, a strike or a ban would hold all of it. Text that fits is returned as is.
 */
export function keptPrefix(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  // A round trip through UTF-16 bytes: a string of its own, every unit kept (a lone surrogate too).
  return Buffer.from(text.slice(0, maxLength), "utf16le").toString("utf16le");
}
