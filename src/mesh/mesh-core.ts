/**
 * The target mesh, sans-IO: which peers to dial, and when, so that a node keeps `targetOutbound` outbound
 * connections (js-libp2p's auto-dial to `minConnections`, Bitcoin Core's outbound slots, geth's dial
 * scheduler).
 *
 * Inputs are a snapshot of the node (its outbound connections, who is connected, the dialable candidates of
 * the peer database) and `now`; outputs are dial actions and the next deadline. No socket, no timer: the
 * adapter (`./mesh-service.ts`) owns those.
 *
 * **Which candidate.** A candidate is a peer of the database with an address, not banned (the database
 * filters those), not connected, not being dialed, not in this core's failure backoff and not suppressed by
 * flap dampening. Candidates are ranked by past health (last connection graded good or better first, then
 * never graded, then poor), then past success (an address that was dialed successfully before), then fewer
 * consecutive failures; equals are shuffled, so that the nodes of a mesh do not all pick the same peers.
 * Unpinned bootstrap addresses are dialed only when no candidate of the database is left, and so are the peers
 * found at them: a connection to an unpinned bootstrap address is an *address fetch* (Bitcoin Core's
 * `-seednode`), which the adapter closes once the peer's list arrived and other candidates exist, so that a few
 * bootstrap peers are not the hubs of the whole mesh, and keep free slots for nodes joining later.
 *
 * **Diversity.** With diversity on, a candidate whose group (IPv4 /16, IPv6 /32 by default) already holds an
 * outbound connection or a dial in flight is taken only when no candidate in a free group is left.
 *
 * **Rate.** At most `maxConcurrentDials` dials in flight, and each dial takes a token of the global reconnect
 * budget shared with the reconnect service: the mesh and the redials together never exceed it. A dial in flight
 * for `slowDialMs` stops counting against `maxConcurrentDials` (it still counts against the deficit), so that a
 * black-holed peer (SYNs dropped: the dial lasts the whole handshake timeout) does not hold a slot, as RFC 8305
 * staggers a slow address.
 *
 * **Deadline.** While below target, the core asks to be called again after `checkIntervalMs` (or when the
 * budget's next token arrives, if sooner); at target, or with the deficit covered by dials in flight, it asks
 * for nothing (settling dials and closes call it again).
 *
 * @module
 */
import type { DisconnectReason } from "../reasons.js";
import { FlapDamping, type FlapState } from "../reconnect/flap-damping.js";
import { groupOf } from "./diversity.js";
import type { ResolvedMeshOptions } from "./mesh-options.js";

/** A peer of the database the mesh may dial. */
export interface MeshCandidate {
  /** The peer's id. */
  readonly peerId: string;
  /** Its addresses, best first. */
  readonly addresses: readonly string[];
  /** Whether its last connection was graded good or better; undefined when never graded. */
  readonly healthy: boolean | undefined;
  /** Whether a dial to one of its addresses ever succeeded. */
  readonly succeeded: boolean;
  /** Consecutive failed dials of its best address. */
  readonly failures: number;
}

/** The node as the core sees it at one `tick`. */
export interface MeshSnapshot {
  /** The remote address (`"ip"` or `"host:port"`) of every kept outbound connection. */
  readonly outbound: readonly string[];
  /** Peers with a kept connection, either direction. */
  readonly connected: ReadonlySet<string>;
  /** Candidates of the peer database: with an address, not banned. */
  readonly candidates: readonly MeshCandidate[];
  /** The peer an address is known to belong to, if any (a bootstrap address already in the database). */
  readonly ownerOf: (address: string) => string | undefined;
}

/** A dial the adapter carries out, then reports with {@link MeshCore.onDialSettled}. */
export interface MeshDial {
  /** Identifies the dial. */
  readonly dialId: number;
  /** The peer to reach; undefined for an unpinned bootstrap address. */
  readonly peerId: string | undefined;
  /** Addresses to try, best first. */
  readonly addresses: readonly string[];
  /** True for a last-resort dial (an unpinned bootstrap address, or a peer met at one): the database had no other candidate. */
  readonly bootstrap: boolean;
}

/** How a dial ended, as the adapter classifies it. */
export type MeshDialOutcome =
  /** Connected (or already connected) to `peer`. */
  | { readonly kind: "connected"; readonly peer?: string }
  /** The dial failed: back off (at least `retryAfterMs`, the peer's hint, when given). */
  | { readonly kind: "failed"; readonly retryAfterMs?: number }
  /** This node's own limits refused the dial: no backoff, the next slot freed is the retry. */
  | { readonly kind: "local_limit" }
  /** Never dial this candidate again (e.g. a bootstrap address that turned out to be this node). */
  | { readonly kind: "never" }
  /** Cancelled (the node stops): nothing learned. */
  | { readonly kind: "aborted" };

/** What the core needs of the global budget. */
export interface MeshBudget {
  /** Takes one dial token at `now`; false when none is left. */
  tryTake(now: number): boolean;
  /** Milliseconds from `now` until a token is available. */
  msUntilToken(now: number): number;
}

interface Backoff {
  failures: number;
  until: number;
}

interface InFlight {
  readonly key: string;
  readonly group: string | undefined;
  readonly bootstrap: boolean;
  readonly startedAt: number;
}

/** Most failure-backoff entries kept; beyond it the one that ends first is forgotten. */
const MAX_BACKOFF_ENTRIES = 4_096;

/**
 * Most flap-dampening states kept; beyond it the one whose last close is the oldest is forgotten. Every closed
 * connection leaves a state for about ten half-lives (10 min), and identities are free: without a bound, a
 * peer cycling connections from fresh identities grew the map by ~0.3 KiB each, and every tick scanned it.
 */
const MAX_FLAP_ENTRIES = 4_096;

/** How often the flap-dampening states are scanned for the negligible ones, in ms. */
const FLAP_PRUNE_INTERVAL_MS = 1_000;

/** The mesh policy. */
export class MeshCore {
  readonly #o: ResolvedMeshOptions;
  readonly #budget: MeshBudget;
  readonly #damping: FlapDamping | undefined;
  /** By peer, in the order of their last close (the oldest first). */
  readonly #flaps = new Map<string, FlapState>();
  #flapsPrunedAt = -Infinity;
  readonly #backoff = new Map<string, Backoff>();
  readonly #never = new Set<string>();
  /** Peers met at unpinned bootstrap addresses: dialed only as a last resort, their connections closed once fetched. */
  readonly #fetchPeers = new Set<string>();
  #spare = 0;
  readonly #inFlight = new Map<number, InFlight>();
  #nextDialId = 1;
  #deadline: number | undefined;
  #lastDeficit = 0;

  constructor(options: ResolvedMeshOptions, budget: MeshBudget) {
    this.#o = options;
    this.#budget = budget;
    this.#damping = options.dampening === false ? undefined : new FlapDamping(options.dampening);
  }

  /** When to call {@link MeshCore.tick} again; undefined when nothing is due. */
  nextDeadline(): number | undefined {
    return this.#deadline;
  }

  /** Dials in flight. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** True while a dial of {@link MeshCore.tick} to `peer` is in flight (until {@link MeshCore.onDialSettled}). */
  isDialing(peer: string): boolean {
    for (const flight of this.#inFlight.values()) if (flight.key === peer) return true;
    return false;
  }

  /** Outbound connections missing at the last tick (target minus outbound minus dials in flight, at least 0). */
  get deficit(): number {
    return this.#lastDeficit;
  }

  /** Usable candidates of the database left unpicked at the last tick (alternatives to an address fetch). */
  get spareCandidates(): number {
    return this.#spare;
  }

  /** True when `peer` was met at an unpinned bootstrap address (its connection is an address fetch). */
  isFetchPeer(peer: string): boolean {
    return this.#fetchPeers.has(peer);
  }

  /** True when `peer` is suppressed by flap dampening at `now`. */
  isSuppressed(peer: string, now: number): boolean {
    const state = this.#flaps.get(peer);
    if (state === undefined || this.#damping === undefined) return false;
    const settled = this.#damping.settle(state, now);
    if (settled !== state) this.#flaps.set(peer, settled);
    return settled.suppressed;
  }

  /** When the failure backoff of a peer id (or `addr:<address>` of a bootstrap address, `answered:<address>`) ends; undefined when none. */
  backoffUntil(key: string): number | undefined {
    return this.#backoff.get(key)?.until;
  }

  /** The dials to start now to move toward the target. */
  tick(now: number, snapshot: MeshSnapshot): MeshDial[] {
    this.#prune(now);
    const prefixes = this.#o.diversity;
    const busy = new Set<string>();
    const usedGroups = new Set<string>();
    for (const address of snapshot.outbound) {
      const group = groupOf(address, prefixes);
      if (group !== undefined) usedGroups.add(group);
    }
    for (const flight of this.#inFlight.values()) {
      busy.add(flight.key);
      if (flight.group !== undefined) usedGroups.add(flight.group);
    }
    let deficit = Math.max(0, this.#o.targetOutbound - snapshot.outbound.length - this.#inFlight.size);
    const dials: MeshDial[] = [];
    let budgetShort = false;
    const ranked = this.#rank(now, snapshot, busy);
    let active = 0;
    let nextSlow = Infinity;
    for (const flight of this.#inFlight.values()) {
      const slowAt = flight.startedAt + this.#o.slowDialMs;
      if (slowAt > now) {
        active++;
        nextSlow = Math.min(nextSlow, slowAt);
      }
    }
    if (deficit > 0) {
      while (deficit > 0 && active < this.#o.maxConcurrentDials && ranked.length > 0) {
        const index = pickDiverse(ranked, usedGroups);
        const pick = ranked[index]!;
        if (!this.#budget.tryTake(now)) {
          budgetShort = true;
          break;
        }
        ranked.splice(index, 1);
        if (pick.group !== undefined) usedGroups.add(pick.group);
        dials.push(this.#start(pick.key, pick.group, pick.peerId, pick.addresses, pick.bootstrap, now));
        nextSlow = Math.min(nextSlow, now + this.#o.slowDialMs);
        active++;
        deficit--;
      }
    }
    this.#spare = ranked.filter((r) => !r.bootstrap).length;
    this.#lastDeficit = deficit;
    if (deficit === 0) this.#deadline = undefined;
    else {
      let wait = budgetShort ? Math.min(this.#o.checkIntervalMs, Math.max(1, this.#budget.msUntilToken(now))) : this.#o.checkIntervalMs;
      // Held back by the dials in flight: look again when the first of them turns slow.
      if (active >= this.#o.maxConcurrentDials && ranked.length > 0) wait = Math.min(wait, Math.max(1, nextSlow - now));
      this.#deadline = now + wait;
    }
    return dials;
  }

  /** A dial of {@link MeshCore.tick} ended with `outcome`. */
  onDialSettled(dialId: number, outcome: MeshDialOutcome, now: number): void {
    const flight = this.#inFlight.get(dialId);
    if (flight === undefined) return;
    this.#inFlight.delete(dialId);
    switch (outcome.kind) {
      case "connected":
        this.#backoff.delete(flight.key);
        if (flight.bootstrap && outcome.peer !== undefined) this.#fetchPeers.add(outcome.peer);
        return;
      case "failed": {
        const failures = (this.#backoff.get(flight.key)?.failures ?? 0) + 1;
        this.#backoff.set(flight.key, { failures, until: now + Math.max(outcome.retryAfterMs ?? 0, this.#backoffDelay(failures)) });
        return;
      }
      case "never":
        this.#never.add(flight.key);
        return;
      case "local_limit":
      case "aborted":
        return;
    }
  }

  /**
   * Another identity proved itself at `address` on a dial of this core (the dialer records the address under it).
   * The first time, that is a node restarted with a new key: its new identity is dialed at once. Each further
   * one before the address's entry is forgotten backs the address off as a failed dial backs a peer off: a host
   * that answers with a fresh identity at every dial would otherwise have the mesh dial it again and again, each
   * new identity a candidate with no backoff of its own, as fast as the budget allows.
   */
  onAnsweredByAnother(address: string, now: number): void {
    const key = `answered:${address}`;
    const failures = (this.#backoff.get(key)?.failures ?? 0) + 1;
    this.#backoff.set(key, { failures, until: now + (failures === 1 ? 0 : this.#backoffDelay(failures - 1)) });
  }

  /** The wait after the `failures`-th failure in a row: `failureBackoff` doubling from its base, jittered to 50-100 %. */
  #backoffDelay(failures: number): number {
    const { baseMs, maxMs } = this.#o.failureBackoff;
    return Math.round(Math.min(maxMs, baseMs * 2 ** Math.min(30, failures - 1)) * (0.5 + 0.5 * this.#o.random()));
  }

  /** A connection to `peer` opened: its failure backoff is cleared. */
  onOpen(peer: string): void {
    this.#backoff.delete(peer);
  }

  /** A connection to `peer` closed with `reason`: flap dampening counts it. */
  onClose(peer: string, reason: DisconnectReason, now: number): void {
    const damping = this.#damping;
    if (damping === undefined) return;
    const state = damping.onDisconnect(this.#flaps.get(peer) ?? damping.initial(now), reason, now);
    this.#flaps.delete(peer);
    this.#flaps.set(peer, state);
    if (this.#flaps.size > MAX_FLAP_ENTRIES) this.#flaps.delete(this.#flaps.keys().next().value as string);
  }

  /** Flap-dampening states held (bounded by {@link MAX_FLAP_ENTRIES}). */
  get flapStates(): number {
    return this.#flaps.size;
  }

  /** Forgets every dial in flight (the node stops). */
  stop(): void {
    this.#inFlight.clear();
    this.#deadline = undefined;
  }

  #start(key: string, group: string | undefined, peerId: string | undefined, addresses: readonly string[], bootstrap: boolean, now: number): MeshDial {
    const dialId = this.#nextDialId++;
    this.#inFlight.set(dialId, { key, group, bootstrap, startedAt: now });
    return { dialId, peerId, addresses, bootstrap };
  }

  /**
   * Candidates usable at `now`, best first; when there is none, the last resorts: the peers met at unpinned
   * bootstrap addresses and the bootstrap addresses not known to belong to a peer (shuffled).
   */
  #rank(now: number, snapshot: MeshSnapshot, busy: ReadonlySet<string>): Ranked[] {
    const random = this.#o.random;
    const usable = (key: string): boolean => !busy.has(key) && !this.#never.has(key) && !((this.#backoff.get(key)?.until ?? 0) > now);
    // An address held back after identities kept changing there (onAnsweredByAnother).
    const addressFree = (address: string): boolean => !((this.#backoff.get(`answered:${address}`)?.until ?? 0) > now);
    const ranked: Ranked[] = [];
    const lastResort: Ranked[] = [];
    for (const c of snapshot.candidates) {
      if (c.addresses.length === 0 || snapshot.connected.has(c.peerId) || !usable(c.peerId) || this.isSuppressed(c.peerId, now)) continue;
      // A peer never reached is dialed at its best address only: its addresses are claims (of peer exchange, say)
      // and racing all of them would let a peer that names third parties' addresses send us to each of them.
      const addresses = (c.succeeded ? c.addresses : c.addresses.slice(0, 1)).filter(addressFree);
      if (addresses.length === 0) continue;
      const fetch = this.#fetchPeers.has(c.peerId);
      (fetch ? lastResort : ranked).push({
        key: c.peerId,
        peerId: c.peerId,
        addresses,
        group: groupOf(addresses[0]!, this.#o.diversity),
        bootstrap: fetch,
        score: fetch ? [random()] : [c.healthy === true ? 0 : c.healthy === undefined ? 1 : 2, c.succeeded ? 0 : 1, c.failures, random()],
      });
    }
    ranked.sort((a, b) => compareScores(a.score, b.score));
    if (ranked.length > 0) return ranked;
    for (const peer of this.#o.bootstrap) {
      if (peer.peerId !== undefined) continue;
      const key = `addr:${peer.address}`;
      if (snapshot.ownerOf(peer.address) !== undefined || !usable(key)) continue;
      lastResort.push({ key, peerId: undefined, addresses: [peer.address], group: groupOf(peer.address, this.#o.diversity), bootstrap: true, score: [random()] });
    }
    return lastResort.sort((a, b) => compareScores(a.score, b.score));
  }

  /** Forgets negligible dampening states and long-expired backoffs, and bounds the backoff map. */
  #prune(now: number): void {
    const damping = this.#damping;
    if (damping !== undefined && now - this.#flapsPrunedAt >= FLAP_PRUNE_INTERVAL_MS) {
      this.#flapsPrunedAt = now;
      for (const [peer, state] of this.#flaps) if (damping.isNegligible(damping.settle(state, now), now)) this.#flaps.delete(peer);
    }
    const forgetBefore = now - this.#o.failureBackoff.maxMs;
    for (const [key, backoff] of this.#backoff) if (backoff.until < forgetBefore) this.#backoff.delete(key);
    while (this.#backoff.size > MAX_BACKOFF_ENTRIES) {
      let first: string | undefined;
      let firstUntil = Infinity;
      for (const [key, backoff] of this.#backoff) {
        if (backoff.until < firstUntil) [first, firstUntil] = [key, backoff.until];
      }
      this.#backoff.delete(first!);
    }
  }
}

interface Ranked {
  readonly key: string;
  readonly peerId: string | undefined;
  readonly addresses: readonly string[];
  readonly group: string | undefined;
  readonly bootstrap: boolean;
  readonly score: readonly number[];
}

/** Index of the first candidate whose group is free, else 0 (no alternative exists: diversity yields). */
function pickDiverse(ranked: readonly Ranked[], used: ReadonlySet<string>): number {
  const index = ranked.findIndex((r) => r.group === undefined || !used.has(r.group));
  return index === -1 ? 0 : index;
}

function compareScores(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
