/**
 * Internal: the first few peers in eviction order, kept between evictions, so that a full database does
 * not rank every record at each new peer.
 *
 * @module
 */
import { compareRank, rankOf, selectEvictions, type RankedRecord } from "./peer-eviction.js";
import type { PeerRecord } from "./peer-record.js";

/** How many of the first peers in eviction order one ranking of every record keeps. */
const SHORTLIST_LENGTH = 32;

/**
 * The order of {@link selectEvictions} (unproven peers first, then the least recently seen, then the
 * earliest added), kept as its first entries: the list is always a prefix of that order over the
 * unprotected records, every record outside it ranking after its last entry. A database full at its bound
 * evicts one peer at each new one (every inbound connection from a new identity, on a server): the
 * victim is then the list's first entry, and the records are ranked again only once the list is used up,
 * not at each eviction.
 *
 * The owner reports every change of a record's rank (its protection, addresses' successes, `lastSeen`)
 * with {@link EvictionShortlist.touched}, each record it adds with {@link EvictionShortlist.added} (in the
 * order of its map, which breaks ties), each removal with {@link EvictionShortlist.removed}, and anything
 * else that may change ranks with {@link EvictionShortlist.invalidate}.
 */
export class EvictionShortlist {
  /** Position of each record in the owner's insertion order. */
  readonly #order = new WeakMap<PeerRecord, number>();
  #nextOrder = 0;
  /** Sorted by rank; `undefined`: unknown, the next pick ranks every record. */
  #list: RankedRecord[] | undefined = undefined;

  /** `record` was appended to the owner's records (it ranks after every earlier record it ties with). */
  added(record: PeerRecord): void {
    this.#order.set(record, this.#nextOrder++);
  }

  /** Ranks may have changed in a way not reported record by record: rank every record at the next pick. */
  invalidate(): void {
    this.#list = undefined;
  }

  /** `record` is no longer among the owner's records. */
  removed(record: PeerRecord): void {
    const list = this.#list;
    if (list === undefined) return;
    const at = list.findIndex((entry) => entry.record === record);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.#list = undefined;
  }

  /** `record`'s rank may have changed (or it is new): placed in the list if it now ranks within it. */
  touched(record: PeerRecord): void {
    const list = this.#list;
    if (list === undefined) return;
    const at = list.findIndex((entry) => entry.record === record);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) {
      this.#list = undefined;
      return;
    }
    if (record.protected) return;
    const entry = this.#listed(record);
    if (entry === undefined) {
      this.#list = undefined;
      return;
    }
    if (compareRank(entry, list[list.length - 1] as RankedRecord) < 0) insert(list, entry);
  }

  /**
   * The peer to evict from `records` (the owner's, in insertion order), never a protected one nor `keep`;
   * `undefined` when none may go. The same record {@link selectEvictions} picks for a count of 1.
   */
  pick(records: Iterable<PeerRecord>, keep: string | undefined): PeerRecord | undefined {
    let list = this.#list;
    if (list === undefined) {
      list = this.#rank(records);
      if (list === undefined) return selectEvictions(records, 1, keep)[0];
      this.#list = list.length === 0 ? undefined : list;
    }
    for (const entry of list) if (entry.record.peerId !== keep) return entry.record;
    // Only `keep` is listed: the next peer in the order is beyond the list.
    return selectEvictions(records, 1, keep)[0];
  }

  /** The first {@link SHORTLIST_LENGTH} unprotected records in eviction order; `undefined` if one was never added. */
  #rank(records: Iterable<PeerRecord>): RankedRecord[] | undefined {
    const list: RankedRecord[] = [];
    for (const record of records) {
      if (record.protected) continue;
      const entry = this.#listed(record);
      if (entry === undefined) return undefined;
      if (list.length < SHORTLIST_LENGTH || compareRank(entry, list[list.length - 1] as RankedRecord) < 0) insert(list, entry);
    }
    return list;
  }

  #listed(record: PeerRecord): RankedRecord | undefined {
    const order = this.#order.get(record);
    return order === undefined ? undefined : rankOf(record, order);
  }
}

/** Inserts `entry` at its place in the sorted `list`, which keeps at most {@link SHORTLIST_LENGTH} entries. */
function insert(list: RankedRecord[], entry: RankedRecord): void {
  let at = list.length;
  while (at > 0 && compareRank(entry, list[at - 1] as RankedRecord) < 0) at--;
  list.splice(at, 0, entry);
  if (list.length > SHORTLIST_LENGTH) list.pop();
}
