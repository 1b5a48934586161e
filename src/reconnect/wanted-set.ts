/**
 * The peers the reconnect service keeps connected (the *wanted* set), in
 * least-recently-touched order, bounded for the peers wanted implicitly.
 *
 * @module
 */
import type { WantedPeerState } from "./reconnect-state.js";

/** One wanted peer. */
export interface WantedEntry {
  /** True when wanted through `want()`: never evicted, kept after this node closes it on purpose. */
  explicit: boolean;
  /** Addresses given to `want()` (dialed when the peer database has none). */
  addresses: string[];
}

/**
 * Wanted peers, least recently touched first. Implicit peers beyond `max` are
 * evicted oldest first; explicit ones are kept until deleted.
 */
export class WantedSet {
  readonly #max: number;
  readonly #entries = new Map<string, WantedEntry>();

  /** `max`: the most peers kept before implicit ones are evicted. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Number of wanted peers. */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry of `peer`, if wanted. */
  get(peer: string): WantedEntry | undefined {
    return this.#entries.get(peer);
  }

  /** True when `peer` is wanted. */
  has(peer: string): boolean {
    return this.#entries.has(peer);
  }

  /** Stops wanting `peer`. */
  delete(peer: string): void {
    this.#entries.delete(peer);
  }

  /** Wanted peer ids, least recently touched first. */
  peers(): string[] {
    return [...this.#entries.keys()];
  }

  /** Wanted peers with their entries, least recently touched first. */
  entries(): IterableIterator<[string, WantedEntry]> {
    return this.#entries.entries();
  }

  /**
   * Marks `peer` wanted and most recently touched. `explicit` is sticky;
   * non-empty `addresses` replace the remembered ones. Returns the implicit
   * peers evicted to stay within the bound.
   */
  touch(peer: string, explicit: boolean, addresses: readonly string[]): string[] {
    const old = this.#entries.get(peer);
    this.#entries.delete(peer);
    this.#entries.set(peer, {
      explicit: explicit || (old?.explicit ?? false),
      addresses: addresses.length > 0 ? [...addresses] : (old?.addresses ?? []),
    });
    return this.#evict();
  }

  /** Forgets `address` among those remembered for `peer`. */
  dropAddress(peer: string, address: string): void {
    const entry = this.#entries.get(peer);
    if (entry !== undefined) entry.addresses = entry.addresses.filter((a) => a !== address);
  }

  /**
   * Replaces the set with `saved` (restored from disk), then touches the peers
   * that were wanted before (they win: `want()` calls made before start).
   * Returns the implicit peers evicted.
   */
  restore(saved: readonly WantedPeerState[]): string[] {
    const before = [...this.#entries];
    this.#entries.clear();
    for (const w of saved) this.#entries.set(w.peerId, { explicit: w.explicit, addresses: [...w.addresses] });
    const evicted: string[] = [];
    for (const [peer, entry] of before) evicted.push(...this.touch(peer, entry.explicit, entry.addresses));
    evicted.push(...this.#evict());
    return evicted;
  }

  /** The set as saved. */
  toJSON(): WantedPeerState[] {
    return [...this.#entries].map(([peerId, e]) => ({ peerId, explicit: e.explicit, addresses: [...e.addresses] }));
  }

  #evict(): string[] {
    const evicted: string[] = [];
    if (this.#entries.size <= this.#max) return evicted;
    for (const [peer, entry] of this.#entries) {
      if (this.#entries.size <= this.#max) break;
      if (entry.explicit) continue;
      this.#entries.delete(peer);
      evicted.push(peer);
    }
    return evicted;
  }
}
