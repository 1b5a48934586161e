/**
 * Internal: the peers a remote party put in the database (an identity that connected to this node, a peer named
 * by peer exchange) by the network group they came from, and which of them makes room when the database is full.
 *
 * Identities are free: without this, connections from new identities (or peer-exchange reports naming new ones)
 * filled the database, whose eviction takes the least recently seen peer no dial ever reached, so the peers the
 * application recorded and the honest peers met earlier went first. The rules, after Bitcoin Core's address
 * manager (which buckets addresses by the network group of their source):
 * - while a peer put here by a remote party can make room, no other peer is evicted for a newcomer;
 * - the one that makes room is the oldest of the group holding the most, so a source's own entries go first, and
 *   sources share the database by group, not by identity or address.
 * A peer a dial reached (proven) or that the application protects no longer counts: it is skipped here and
 * evicted, if ever, by the database's usual order.
 *
 * @module
 */
import { ipBytes, isIp, parseHostPort, subnetKey } from "../manager/ip.js";
import { isProven } from "./peer-eviction.js";
import type { PeerOrigin, PeerRecord } from "./peer-record.js";

/**
 * The unprotected, unproven records with an origin, by group; each group's records oldest first (a Set keeps
 * insertion order). The owner reports a record proven or protected (`remove`) and unprotected (`add`); a record
 * found proven or protected at a pick is skipped all the same.
 */
export class OriginGroups {
  readonly #groups = new Map<string, Set<PeerRecord>>();

  /** `record` has an origin: it joins its group (as the newest). */
  add(record: PeerRecord): void {
    const group = record.origin?.group;
    if (group === undefined || record.protected || isProven(record)) return;
    let members = this.#groups.get(group);
    if (members === undefined) this.#groups.set(group, (members = new Set()));
    members.add(record);
  }

  /** `record` left the database. */
  remove(record: PeerRecord): void {
    const group = record.origin?.group;
    if (group === undefined) return;
    const members = this.#groups.get(group);
    if (members === undefined) return;
    members.delete(record);
    if (members.size === 0) this.#groups.delete(group);
  }

  /** Forgets every record. */
  clear(): void {
    this.#groups.clear();
  }

  /**
   * The record to evict for `keep` (the newcomer, never picked): the oldest unprotected, unproven record of the
   * largest group, `keep`'s own group on a tie, else the group made last among the largest; `undefined` when no
   * record with an origin may go. Records found proven on the way leave their group.
   */
  pick(keep: PeerRecord | undefined): PeerRecord | undefined {
    const keepGroup = keep?.origin?.group;
    let tried: Set<string> | undefined;
    for (;;) {
      let best: string | undefined;
      let most = 0;
      for (const [group, members] of this.#groups) {
        if (tried?.has(group)) continue;
        if (members.size > most || (members.size === most && best !== keepGroup)) {
          best = group;
          most = members.size;
        }
      }
      if (best === undefined) return undefined;
      const victim = this.#oldestEvictable(best, keep);
      if (victim !== undefined) return victim;
      (tried ??= new Set()).add(best);
    }
  }

  /**
   * Up to `count` records to evict at once (a database loaded over its bound): the records `count` calls of
   * {@link OriginGroups.pick} without a newcomer would take, found a size level at a time rather than by
   * scanning every group per record (40,000 records in as many groups took 8.8 s one at a time). They leave their
   * groups here; the caller removes them from the database.
   */
  pickMany(count: number): PeerRecord[] {
    const victims: PeerRecord[] = [];
    while (victims.length < count) {
      let max = 0;
      let second = 0;
      for (const members of this.#groups.values()) {
        if (members.size > max) {
          second = max;
          max = members.size;
        } else if (members.size < max && members.size > second) second = members.size;
      }
      if (max === 0) break;
      const atMax: string[] = [];
      for (const [group, members] of this.#groups) if (members.size === max) atMax.push(group);
      const need = count - victims.length;
      const levels = max - second;
      // Whole levels from every group at the top; a partial level takes one more from the groups made last (a
      // single pick's tie-break).
      const each = Math.min(levels, Math.floor(need / atMax.length));
      const extra = each === levels ? 0 : need - each * atMax.length;
      let progressed = false;
      for (let i = 0; i < atMax.length; i++) {
        const take = each + (i >= atMax.length - extra ? 1 : 0);
        const group = atMax[i] as string;
        for (let k = 0; k < take; k++) {
          const victim = this.#oldestEvictable(group, undefined);
          if (victim === undefined) {
            // Only records that may not go are left (protected ones, normally out already): they leave the group.
            for (const record of [...(this.#groups.get(group) ?? [])]) this.remove(record);
            progressed = true;
            break;
          }
          this.remove(victim);
          victims.push(victim);
          progressed = true;
        }
      }
      if (!progressed) break;
    }
    return victims;
  }

  #oldestEvictable(group: string, keep: PeerRecord | undefined): PeerRecord | undefined {
    const members = this.#groups.get(group);
    // Gone: its last records were found proven on an earlier call.
    if (members === undefined) return undefined;
    let proven: PeerRecord[] | undefined;
    let victim: PeerRecord | undefined;
    for (const record of members) {
      if (record === keep || record.protected) continue;
      if (isProven(record)) {
        (proven ??= []).push(record);
        continue;
      }
      victim = record;
      break;
    }
    for (const record of proven ?? []) this.remove(record);
    return victim;
  }
}

/** Prefix lengths of an origin's group: an IPv4 /16 and an IPv6 /32, Bitcoin Core's network groups. */
const ORIGIN_IPV4_PREFIX = 16;
const ORIGIN_IPV6_PREFIX = 32;

/**
 * The network group of `address` (`"host:port"` or a bare IP) for a {@link PeerOrigin}: its IPv4 /16 or IPv6 /32
 * (an IPv4-mapped, 6to4, Teredo or NAT64 address as the IPv4 it carries), whatever the node's other prefixes; the
 * lowercased host for a host name.
 */
export function originGroup(address: string): string {
  let host = address;
  if (!isIp(address)) {
    try {
      host = parseHostPort(address).host;
    } catch {
      return `name:${address.toLowerCase().slice(0, 58)}`;
    }
  }
  if (!isIp(host)) return `name:${host.toLowerCase().slice(0, 58)}`;
  const v4 = embeddedIpv4(ipBytes(host) ?? []);
  return subnetKey(v4 ?? host, ORIGIN_IPV4_PREFIX, ORIGIN_IPV6_PREFIX);
}

/**
 * The IPv4 address an IPv6 address carries, as Bitcoin Core's network groups read it: 6to4 (`2002::/16`),
 * Teredo (`2001:0::/32`, the client's address inverted in the last 4 bytes) and NAT64 (`64:ff9b::/96`). Without
 * it, 6to4 gave each IPv4 /16 a second group, and behind NAT64 every IPv4 peer fell into one.
 */
function embeddedIpv4(bytes: readonly number[]): string | undefined {
  if (bytes.length !== 16) return undefined;
  const b = (i: number): number => bytes[i] as number;
  if (b(0) === 0x20 && b(1) === 0x02) return [b(2), b(3), b(4), b(5)].join(".");
  if (b(0) === 0x20 && b(1) === 0x01 && b(2) === 0 && b(3) === 0) return [b(12), b(13), b(14), b(15)].map((x) => x ^ 0xff).join(".");
  if (b(0) === 0 && b(1) === 0x64 && b(2) === 0xff && b(3) === 0x9b && bytes.slice(4, 12).every((x) => x === 0)) {
    return [b(12), b(13), b(14), b(15)].join(".");
  }
  return undefined;
}
