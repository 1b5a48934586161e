/**
 * Which peers the {@link PeerDatabase} evicts when it holds more than its
 * bound: the eviction order in one place, as a pure function, so a load far
 * over the bound ranks the peers once instead of rescanning them per
 * eviction.
 *
 * @module
 */
import type { PeerRecord } from "./peer-record.js";

/** A record with its eviction rank, read once. */
export interface RankedRecord {
  readonly record: PeerRecord;
  /** 0 when no dial ever reached the peer, 1 otherwise: unproven peers go first. */
  readonly proven: number;
  /** `lastSeen`, or `addedAt` for a peer never seen: the least recent goes first. */
  readonly seen: number;
  /** Position in the input: the earlier goes first among equals. */
  readonly order: number;
}

/**
 * Picks up to `count` peers to evict from `records`, in eviction order.
 *
 * Protected peers and the peer `keep` are never picked. Among the others,
 * peers no dial ever reached (no address with a `lastSuccess`) go before
 * proven ones; then the least recently seen (`lastSeen`, else `addedAt`);
 * then the one earlier in `records`. The result is the same as picking the
 * first peer in that order, removing it, and repeating `count` times, but
 * each record is read once and ranked with one sort: O(n log n) for n
 * records, O(n) when `count` is 1. Fewer than `count` peers are returned when
 * fewer are evictable.
 *
 * @param records - The peers, in insertion order (the tie-break).
 * @param count - How many peers to evict; `0` or less picks none.
 * @param keep - A peer id never picked (the one just changed), if any.
 */
export function selectEvictions(records: Iterable<PeerRecord>, count: number, keep?: string): PeerRecord[] {
  if (!(count > 0)) return [];
  if (count === 1) return selectOne(records, keep);
  const ranked: RankedRecord[] = [];
  let order = 0;
  for (const record of records) {
    const index = order++;
    if (record.protected || record.peerId === keep) continue;
    ranked.push(rankOf(record, index));
  }
  ranked.sort(compareRank);
  return ranked.slice(0, count).map((r) => r.record);
}

/** `record`'s eviction rank, `order` being its position among the records (the tie-break). */
export function rankOf(record: PeerRecord, order: number): RankedRecord {
  return { record, proven: isProven(record) ? 1 : 0, seen: record.lastSeen ?? record.addedAt, order };
}

/** Eviction order: unproven first, then least recently seen, then earlier in the input. */
export function compareRank(a: RankedRecord, b: RankedRecord): number {
  return a.proven - b.proven || a.seen - b.seen || a.order - b.order;
}

/**
 * The one record {@link selectEvictions} would pick, in one pass without a ranked copy of each record: a full
 * database picks one at every new peer (every inbound connection from a new identity, on a server).
 */
function selectOne(records: Iterable<PeerRecord>, keep: string | undefined): PeerRecord[] {
  let victim: PeerRecord | undefined;
  let victimProven = 0;
  let victimSeen = 0;
  for (const record of records) {
    if (record.protected || record.peerId === keep) continue;
    const proven = isProven(record) ? 1 : 0;
    const seen = record.lastSeen ?? record.addedAt;
    // Strictly better only: among equals the earlier record stays, as the input order breaks ties.
    if (victim === undefined || proven < victimProven || (proven === victimProven && seen < victimSeen)) {
      victim = record;
      victimProven = proven;
      victimSeen = seen;
    }
  }
  return victim === undefined ? [] : [victim];
}

/** True when a dial ever reached the peer: one of its addresses has a success. */
export function isProven(record: PeerRecord): boolean {
  for (const a of record.addresses) if (a.lastSuccess !== undefined) return true;
  return false;
}
