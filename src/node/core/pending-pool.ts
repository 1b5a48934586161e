/**
 * The pool of inbound connections that have not finished their handshake,
 * without sockets or timers. It decides which pending connection must give way
 * when the pool is full, and when each one runs out of time.
 *
 * Why it exists: a pending connection costs a socket and, once TLS starts,
 * CPU and memory, while the peer behind it has proved nothing. Three rules keep
 * a few hostile addresses from locking everyone else out:
 * - per-IP and per-subnet bounds on *pending* connections, checked before the
 *   global bound, so a handful of addresses cannot fill the pool;
 * - when the pool is full, the newcomer is admitted and a pending connection
 *   that has not finished TLS is evicted — from the most represented subnet
 *   (then IP), the least progressed — so a silent socket always loses to a peer
 *   in the peerlink handshake, wherever each comes from; only when every
 *   pending connection has finished TLS does one of those give way, by the
 *   same ranking;
 * - every deadline counts from the socket's arrival: a first-flight deadline
 *   (the peer must send something: a TLS ClientHello or, on plain TCP, its
 *   Hello) and the handshake deadline.
 *
 * @module
 */
import { decrement, increment } from "../../util/counter-map.js";

/** How far a pending connection got; later stages are harder to fake and are evicted last. */
export enum PendingStage {
  /** Accepted; nothing received yet. */
  CONNECTED = 0,
  /** The peer sent its first flight (bytes were received). */
  FIRST_FLIGHT = 1,
  /** TLS finished (or plain TCP): the peerlink handshake runs. */
  SECURED = 2,
}

/** One pending inbound connection. */
export interface PendingEntry {
  /** Caller-chosen id (unique while pending). */
  readonly id: number;
  /** Normalised remote IP. */
  readonly ip: string;
  /** Subnet key of the IP. */
  readonly subnet: string;
  /** When the socket arrived (ms, the caller's monotonic clock). */
  readonly arrivedAt: number;
  /** How far it got. */
  stage: PendingStage;
}

/** Bounds of a {@link PendingPool}. */
export interface PendingPoolLimits {
  /** Pending inbound connections at once (all sources). */
  readonly maxPendingInbound: number;
  /** Pending inbound connections from one IP. */
  readonly maxPendingPerIp: number;
  /** Pending inbound connections from one subnet. */
  readonly maxPendingPerSubnet: number;
  /** Time (ms from arrival) for the first bytes from the peer. */
  readonly firstFlightTimeoutMs: number;
  /** Time (ms from arrival) for TCP + TLS + handshake. */
  readonly handshakeTimeoutMs: number;
}

/** The answer to {@link PendingPool.admit}. */
export type PendingAdmission =
  | { readonly ok: true; readonly evicted: PendingEntry | undefined }
  | { readonly ok: false; readonly option: "maxPendingPerIp" | "maxPendingPerSubnet"; readonly limit: number; readonly current: number; readonly key: string };

/** Why a pending connection ran out of time. */
export type PendingExpiry = "first_flight" | "handshake";

/** Pending inbound connections, their per-source counts and their deadlines. */
export class PendingPool {
  readonly #limits: PendingPoolLimits;
  readonly #entries = new Map<number, PendingEntry>();
  readonly #perIp = new Map<string, number>();
  readonly #perSubnet = new Map<string, number>();

  constructor(limits: PendingPoolLimits) {
    this.#limits = limits;
  }

  /** Pending connections now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Pending connections from `ip` now. */
  countForIp(ip: string): number {
    return this.#perIp.get(ip) ?? 0;
  }

  /** Pending connections from `subnet` now. */
  countForSubnet(subnet: string): number {
    return this.#perSubnet.get(subnet) ?? 0;
  }

  /** The entry with `id`, if pending. */
  get(id: number): PendingEntry | undefined {
    return this.#entries.get(id);
  }

  /**
   * Decides whether a socket from `ip` (in `subnet`) may start its handshake. The per-IP and per-subnet
   * bounds refuse; a full pool admits and names the entry to evict (already removed from the pool: the
   * caller closes its socket). Does not add the newcomer: call {@link PendingPool.add}.
   */
  admit(ip: string, subnet: string): PendingAdmission {
    const l = this.#limits;
    const fromIp = this.countForIp(ip);
    if (fromIp >= l.maxPendingPerIp) return { ok: false, option: "maxPendingPerIp", limit: l.maxPendingPerIp, current: fromIp, key: `ip:${ip}` };
    const fromSubnet = this.countForSubnet(subnet);
    if (fromSubnet >= l.maxPendingPerSubnet) {
      return { ok: false, option: "maxPendingPerSubnet", limit: l.maxPendingPerSubnet, current: fromSubnet, key: `subnet:${subnet}` };
    }
    if (this.#entries.size < l.maxPendingInbound) return { ok: true, evicted: undefined };
    const victim = this.#chooseVictim();
    if (victim !== undefined) this.remove(victim.id);
    return { ok: true, evicted: victim };
  }

  /** Adds an admitted connection. */
  add(id: number, ip: string, subnet: string, arrivedAt: number): PendingEntry {
    const entry: PendingEntry = { id, ip, subnet, arrivedAt, stage: PendingStage.CONNECTED };
    this.#entries.set(id, entry);
    increment(this.#perIp, ip);
    increment(this.#perSubnet, subnet);
    return entry;
  }

  /** Records progress (never moves back). */
  advance(id: number, stage: PendingStage): void {
    const entry = this.#entries.get(id);
    if (entry !== undefined && stage > entry.stage) entry.stage = stage;
  }

  /** Removes an entry (handshake done, failed or evicted). Returns false when it was not pending. */
  remove(id: number): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#entries.delete(id);
    decrement(this.#perIp, entry.ip);
    decrement(this.#perSubnet, entry.subnet);
    return true;
  }

  /** The earliest deadline among pending entries (ms), or undefined when none is pending. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const entry of this.#entries.values()) {
      const at = this.#deadlineOf(entry);
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  /** Removes and returns every entry whose deadline passed at `now`, with which deadline it was. */
  expire(now: number): { entry: PendingEntry; expiry: PendingExpiry }[] {
    const out: { entry: PendingEntry; expiry: PendingExpiry }[] = [];
    for (const entry of this.#entries.values()) {
      if (this.#deadlineOf(entry) > now) continue;
      out.push({ entry, expiry: entry.stage === PendingStage.CONNECTED && this.#firstFlightDue(entry) <= now ? "first_flight" : "handshake" });
    }
    for (const { entry } of out) this.remove(entry.id);
    return out;
  }

  #firstFlightDue(entry: PendingEntry): number {
    return entry.arrivedAt + Math.min(this.#limits.firstFlightTimeoutMs, this.#limits.handshakeTimeoutMs);
  }

  #deadlineOf(entry: PendingEntry): number {
    return entry.stage === PendingStage.CONNECTED ? this.#firstFlightDue(entry) : entry.arrivedAt + this.#limits.handshakeTimeoutMs;
  }

  /**
   * The entry to evict from a full pool: one that has not finished TLS if any, then from the subnet with the
   * most pending entries, then the IP with the most, the least progressed, then the oldest.
   *
   * Ranking by source means a flood pays for its own eviction. Finishing TLS comes before it: that costs the
   * peer a full TLS handshake with a certificate, while a silent socket or a first byte costs nothing, so an
   * attacker spread over many subnets (one cheap socket each) would otherwise evict honest peers in the
   * peerlink handshake whose subnet happens to hold two pending connections (a NAT, a campus).
   */
  #chooseVictim(): PendingEntry | undefined {
    let best: PendingEntry | undefined;
    let bestKey: readonly number[] | undefined;
    for (const entry of this.#entries.values()) {
      const unproven = entry.stage < PendingStage.SECURED ? 1 : 0;
      const key = [unproven, this.countForSubnet(entry.subnet), this.countForIp(entry.ip), -entry.stage, -entry.arrivedAt];
      if (bestKey === undefined || isGreater(key, bestKey)) {
        best = entry;
        bestKey = key;
      }
    }
    return best;
  }
}

function isGreater(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return false;
}
