/**
 * Internal: which peers peer exchange added to the database, by the network group of the peer that reported
 * them, and which of them make room when a new one comes. Sans-IO: the mesh service asks, then applies.
 *
 * Without it, a flood of PeerAddresses frames from many connections (new identities are free) filled the
 * database, whose eviction takes the least recently seen unproven peer first, so the honest peers this node
 * had met but never dialed went first. The rules, after Bitcoin Core's address manager:
 * - a peer learned from exchange never pushes out a peer recorded otherwise (one that connected, one the
 *   application added): when the database is full, only another learned peer makes room;
 * - learned peers hold at most a bounded share of the database;
 * - the peer that makes room is the oldest of the group (subnet) that reported the most, so a source's
 *   reports displace its own first, and a few sources cannot displace what many others reported.
 *
 * @module
 */

/** The verdict on a peer learned from exchange and new to the database. */
export interface LearnedAdmission {
  /** Record it (after removing `evict` from the database). */
  readonly admit: boolean;
  /** Learned peers to remove from the database first, oldest of the largest group. */
  readonly evict: readonly string[];
}

const REFUSED: LearnedAdmission = Object.freeze({ admit: false, evict: Object.freeze([]) });

/** The learned peers, by the group that reported them. */
export class LearnedPeers {
  readonly #bound: number;
  /** Peer → the group of the peer that reported it. */
  readonly #groupOf = new Map<string, string>();
  /** Group → its peers, oldest first (a Set keeps insertion order). */
  readonly #byGroup = new Map<string, Set<string>>();

  /** `bound`: the most learned peers held at once. */
  constructor(bound: number) {
    this.#bound = bound;
  }

  /** Learned peers held (stale ones included until {@link LearnedPeers.admit} drops them). */
  get size(): number {
    return this.#groupOf.size;
  }

  /** True when `peer` is held as learned. */
  has(peer: string): boolean {
    return this.#groupOf.has(peer);
  }

  /**
   * A peer new to the database, reported by a peer of `group`. `databaseFull`: recording one more peer would
   * make the database evict one. `stale(peer)`: the learned peer no longer counts (gone from the database, or a
   * dial has reached it since); stale entries are dropped when room is needed. On `admit`, the peer is held from
   * now on; the caller removes `evict` from the database.
   */
  admit(peer: string, group: string, databaseFull: boolean, stale: (peer: string) => boolean): LearnedAdmission {
    if (this.#groupOf.has(peer)) this.forget(peer);
    let evict: string[] | undefined;
    if (databaseFull || this.#groupOf.size >= this.#bound) {
      this.#dropStale(stale);
      // Dropping stale entries frees a slot of the share, not of the database.
      if (databaseFull || this.#groupOf.size >= this.#bound) {
        const victim = this.#victim(group);
        if (victim === undefined) return REFUSED;
        this.forget(victim);
        evict = [victim];
      }
    }
    this.#groupOf.set(peer, group);
    let members = this.#byGroup.get(group);
    if (members === undefined) this.#byGroup.set(group, (members = new Set()));
    members.add(peer);
    return { admit: true, evict: evict ?? [] };
  }

  /** `peer` is no longer held as learned (removed, or proven). */
  forget(peer: string): void {
    const group = this.#groupOf.get(peer);
    if (group === undefined) return;
    this.#groupOf.delete(peer);
    const members = this.#byGroup.get(group) as Set<string>;
    members.delete(peer);
    if (members.size === 0) this.#byGroup.delete(group);
  }

  /**
   * The oldest peer of the group with the most, `incoming`'s group counted with the peer it brings; on a tie,
   * `incoming`'s own (none when it holds none yet: a new peer does not displace a group no larger than its own).
   */
  #victim(incoming: string): string | undefined {
    let largest: Set<string> | undefined = this.#byGroup.get(incoming);
    let most = (largest?.size ?? 0) + 1;
    for (const [group, members] of this.#byGroup) {
      if (group !== incoming && members.size > most) {
        largest = members;
        most = members.size;
      }
    }
    if (largest === undefined || largest.size === 0) return undefined;
    return largest.values().next().value as string;
  }

  #dropStale(stale: (peer: string) => boolean): void {
    for (const peer of [...this.#groupOf.keys()]) if (stale(peer)) this.forget(peer);
  }
}
