/**
 * Counts per key in a Map, with keys removed when their count reaches zero (so the map's size is the number
 * of keys with a count).
 *
 * @module
 */

/** Adds one to `key`'s count. */
export function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Takes one from `key`'s count, removing the key at zero. */
export function decrement(map: Map<string, number>, key: string): void {
  const left = (map.get(key) ?? 0) - 1;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}
