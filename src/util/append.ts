/**
 * Short lists and their store: grown without the store a first push reserves, emptied keeping it.
 *
 * @module
 */

/**
 * `list` with `item` added: to an empty list, a new list of exactly that item (a push onto an empty array
 * reserves 17 slots, ~0.15 KiB, for what is mostly a list of one); otherwise `list` itself, pushed onto.
 */
export function append<T>(list: T[], item: T): T[] {
  if (list.length === 0) return [item];
  list.push(item);
  return list;
}

/**
 * Empties `list` and keeps its store, for a list reused: emptied by pops, as setting the length to 0 lets V8
 * free the store, which the next push would make again.
 */
export function emptyKeepingStore(list: unknown[]): void {
  for (let i = list.length; i > 0; i--) list.pop();
}
