/**
 * Internal: small checks shared by the handshake's option validation, Hello check and negotiation.
 *
 * @module
 */

const UINT32_MAX = 0xffff_ffff;

/** True for an integer in [0, 2^32). */
export function isUint32(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= UINT32_MAX;
}

/** True when `a` is defined and holds the same bytes as `b`. */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Lists up to this long are matched and checked for duplicates by scanning (no Map or Set); longer ones through
 * Maps and Sets, so that a peer's long lists stay linear.
 */
export const SMALL_LIST = 8;

/** Index of the first entry named `name` among the first `end` entries, or -1. */
export function firstIndex(items: readonly { readonly name: string }[], name: string, end: number = items.length): number {
  for (let j = 0; j < end; j++) if ((items[j] as { readonly name: string }).name === name) return j;
  return -1;
}
