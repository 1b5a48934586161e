/**
 * Times a connection keeps for its life (milliseconds on its clock), stored compactly.
 *
 * @module
 */

/**
 * The base of kept times: the clock when this module loaded. A `Date.now()` time within ~24 days of it is a
 * small integer apart from it, which V8 stores in the field itself (a Smi), where the time itself takes a
 * 16-byte heap number of its own.
 */
const BASE = Date.now();

/** A time as {@link keepTime} stores it; read it back with {@link readTime}. */
export type KeptTime = number | { readonly time: number };

/** `time` as its offset from {@link BASE} when that gives it back exactly (any integer time), else boxed. */
export function keepTime(time: number): KeptTime {
  const offset = time - BASE;
  // Made an int32 explicitly: V8 leaves the result of a subtraction of heap numbers a heap number.
  const small = offset | 0;
  if (small === offset) return small;
  return offset + BASE === time ? offset : { time };
}

/** The time `kept` was made from, exactly. */
export function readTime(kept: KeptTime): number {
  return typeof kept === "number" ? kept + BASE : kept.time;
}
