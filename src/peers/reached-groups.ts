/**
 * Internal: the peers a remote party put in the database (an identity that connected, or answered a dial, or a
 * peer named by peer exchange) that a dial then reached, by the network group of the address reached, and which
 * of them makes room when a group is over its share.
 *
 * A reached peer leaves the origin groups ({@link OriginGroups}): it no longer makes room for newcomers, and only
 * stale peers go for it. Without a bound, peers that answer dials from one network (a host with many identities
 * and ports) turned into reached records one dial at a time and took the database from the honest peers learned
 * alongside them. Bitcoin Core's address manager bounds the same thing: its "tried" table puts an address in one
 * of 8 buckets chosen by its group, 64 addresses each. Here a group holds at most `cap` reached peers; past it,
 * the least recently seen other member of the group goes.
 *
 * @module
 */
import { originGroup } from "./origin-groups.js";
import type { PeerRecord } from "./peer-record.js";

/** Least cap of a group, in peers: small databases (tests, embedded nodes) are left alone. */
export const MIN_REACHED_PER_GROUP = 32;

/** The cap of a group for a database of `maxPeers`: an eighth of it, at least {@link MIN_REACHED_PER_GROUP}. */
export function reachedPerGroup(maxPeers: number): number {
  return Math.max(MIN_REACHED_PER_GROUP, Math.floor(maxPeers / 8));
}

/** The reached records with an origin, by the group of the address they were reached at. */
export class ReachedGroups {
  readonly #groups = new Map<string, Set<PeerRecord>>();
  readonly #groupOf = new Map<PeerRecord, string>();

  constructor(readonly cap: number) {}

  /**
   * `record` was reached at `address`. A record a remote party put here joins the group of that address (once:
   * the group it joined first stays); returns the record to evict when that puts the group over its cap (the
   * least recently seen member other than `record`, never a protected one), else undefined.
   */
  reached(record: PeerRecord, address: string): PeerRecord | undefined {
    if (record.origin === undefined || this.#groupOf.has(record)) return undefined;
    const group = originGroup(address);
    let members = this.#groups.get(group);
    if (members === undefined) this.#groups.set(group, (members = new Set()));
    members.add(record);
    this.#groupOf.set(record, group);
    if (members.size <= this.cap) return undefined;
    let victim: PeerRecord | undefined;
    for (const m of members) {
      if (m === record || m.protected) continue;
      if (victim === undefined || seenOf(m) < seenOf(victim)) victim = m;
    }
    return victim;
  }

  /** `record` left the database. */
  remove(record: PeerRecord): void {
    const group = this.#groupOf.get(record);
    if (group === undefined) return;
    this.#groupOf.delete(record);
    const members = this.#groups.get(group);
    if (members === undefined) return;
    members.delete(record);
    if (members.size === 0) this.#groups.delete(group);
  }

  /** Reached records in `group` (for tests and status). */
  sizeOf(group: string): number {
    return this.#groups.get(group)?.size ?? 0;
  }

  /** Forgets every record. */
  clear(): void {
    this.#groups.clear();
    this.#groupOf.clear();
  }
}

function seenOf(record: PeerRecord): number {
  return record.lastSeen ?? record.addedAt;
}
