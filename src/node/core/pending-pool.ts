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
 *   is evicted: one that has stayed silent for half its first-flight time if
 *   any (an honest dialer's first flight follows its connect at once), else
 *   the least progressed from the most represented subnet (then IP): a flood
 *   pays for its own eviction, and a silent socket loses to one that is
 *   handshaking;
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
  /** When the node got to it (ms, same clock): later than `arrivedAt` after a stall, before it could read anything. */
  readonly seenAt: number;
  /** How far it got. */
  stage: PendingStage;
  /**
   * Allow-listed: never evicted to make room (a flood cannot push out the operator's own peers), and not
   * counted in its IP's and subnet's pending totals (exempt from their bounds, it uses up no one's share).
   */
  readonly exempt?: boolean;
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
  /**
   * At or before the earliest deadline of the entries (Infinity: none), or undefined when not known. An
   * arrival lowers it; a socket that leaves leaves it as it is (the node's timer fires early at most, and
   * {@link PendingPool.expire} makes it exact again); the progress of the socket that held it (its deadline
   * moves later) has it found again.
   */
  #deadlineBound: number | undefined = Number.POSITIVE_INFINITY;

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
   * Decides whether a socket from `ip` (in `subnet`) may start its handshake at `now`. The per-IP and
   * per-subnet bounds refuse; a full pool admits and names the entry to evict (already removed from the
   * pool: the caller closes its socket). Does not add the newcomer: call {@link PendingPool.add}.
   * `exempt` (an allow-listed address) skips the per-IP and per-subnet bounds.
   */
  admit(ip: string, subnet: string, now: number, exempt = false): PendingAdmission {
    const l = this.#limits;
    if (exempt) return this.#makeRoom(now);
    const fromIp = this.countForIp(ip);
    if (fromIp >= l.maxPendingPerIp) return { ok: false, option: "maxPendingPerIp", limit: l.maxPendingPerIp, current: fromIp, key: `ip:${ip}` };
    const fromSubnet = this.countForSubnet(subnet);
    if (fromSubnet >= l.maxPendingPerSubnet) {
      return { ok: false, option: "maxPendingPerSubnet", limit: l.maxPendingPerSubnet, current: fromSubnet, key: `subnet:${subnet}` };
    }
    return this.#makeRoom(now);
  }

  /** Admits: when the pool is full, names (and removes) the entry to evict. */
  #makeRoom(now: number): PendingAdmission {
    if (this.#entries.size < this.#limits.maxPendingInbound) return { ok: true, evicted: undefined };
    const victim = this.#chooseVictim(now);
    if (victim !== undefined) this.remove(victim.id);
    return { ok: true, evicted: victim };
  }

  /** Adds an admitted connection (`seenAt`: when the node got to it, `arrivedAt` by default; `exempt`: allow-listed). */
  add(id: number, ip: string, subnet: string, arrivedAt: number, seenAt = arrivedAt, exempt = false): PendingEntry {
    const entry: PendingEntry = exempt
      ? { id, ip, subnet, arrivedAt, seenAt, stage: PendingStage.CONNECTED, exempt }
      : { id, ip, subnet, arrivedAt, seenAt, stage: PendingStage.CONNECTED };
    this.#entries.set(id, entry);
    const due = this.#deadlineOf(entry);
    if (this.#deadlineBound !== undefined && due < this.#deadlineBound) this.#deadlineBound = due;
    if (!exempt) {
      increment(this.#perIp, ip);
      increment(this.#perSubnet, subnet);
    }
    return entry;
  }

  /** Records progress (never moves back). */
  advance(id: number, stage: PendingStage): void {
    const entry = this.#entries.get(id);
    if (entry === undefined || stage <= entry.stage) return;
    const held = this.#deadlineOf(entry) === this.#deadlineBound;
    entry.stage = stage;
    if (held) this.#deadlineBound = undefined;
  }

  /** Removes an entry (handshake done, failed or evicted). Returns false when it was not pending. */
  remove(id: number): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#entries.delete(id);
    if (entry.exempt !== true) {
      decrement(this.#perIp, entry.ip);
      decrement(this.#perSubnet, entry.subnet);
    }
    return true;
  }

  /**
   * When to look at the pool next (ms): at or before the earliest deadline among pending entries (exact
   * after {@link PendingPool.expire} and progress; a socket that left since may have held it), or undefined
   * when nothing is pending and nothing was since then. O(1) but after those: it is read at every arrival
   * and every handshake's end.
   */
  nextDeadline(): number | undefined {
    let next = this.#deadlineBound;
    if (next === undefined) {
      next = Number.POSITIVE_INFINITY;
      for (const entry of this.#entries.values()) {
        const at = this.#deadlineOf(entry);
        if (at < next) next = at;
      }
      this.#deadlineBound = next;
    }
    return next === Number.POSITIVE_INFINITY ? undefined : next;
  }

  /** Removes and returns every entry whose deadline passed at `now`, with which deadline it was. */
  expire(now: number): { entry: PendingEntry; expiry: PendingExpiry }[] {
    const out: { entry: PendingEntry; expiry: PendingExpiry }[] = [];
    for (const entry of this.#entries.values()) {
      if (this.#deadlineOf(entry) > now) continue;
      out.push({ entry, expiry: entry.stage === PendingStage.CONNECTED && this.#firstFlightDue(entry) <= now ? "first_flight" : "handshake" });
    }
    for (const { entry } of out) this.remove(entry.id);
    this.#deadlineBound = undefined;
    return out;
  }

  #firstFlightDue(entry: PendingEntry): number {
    return entry.arrivedAt + Math.min(this.#limits.firstFlightTimeoutMs, this.#limits.handshakeTimeoutMs);
  }

  #deadlineOf(entry: PendingEntry): number {
    return entry.stage === PendingStage.CONNECTED ? this.#firstFlightDue(entry) : entry.arrivedAt + this.#limits.handshakeTimeoutMs;
  }

  /**
   * The entry to evict from a full pool at `now`: a socket silent for half its first-flight time if any,
   * then from the subnet with the most pending entries, the IP with the most, the least progressed, then
   * the oldest.
   *
   * Ranking by source means a flood pays for its own eviction, and a newcomer still in its first round trip
   * (which a concentrated flood could otherwise race out as soon as it is admitted) is safe. Staleness comes
   * before it because an honest dialer's first flight follows its connect at once: a socket that has sent
   * nothing for that long is not a peer on its way, and without this rule an attacker spread over many
   * subnets (one silent socket each) would evict honest peers in the handshake whose subnet happens to hold
   * two pending connections (a NAT, a campus). Silence counts from when the node got to the socket, so a
   * first flight the node has not read yet after a stall is not taken for silence. Allow-listed entries are
   * never chosen (with only those pending, the newcomer is admitted beyond the bound: at most one
   * non-listed entry over it, as the next newcomer evicts that one).
   */
  #chooseVictim(now: number): PendingEntry | undefined {
    const staleAfter = this.#limits.firstFlightTimeoutMs / 2;
    let best: PendingEntry | undefined;
    let bestKey: readonly number[] | undefined;
    for (const entry of this.#entries.values()) {
      if (entry.exempt === true) continue;
      const stale = entry.stage === PendingStage.CONNECTED && now - entry.seenAt >= staleAfter ? 1 : 0;
      const key = [stale, this.countForSubnet(entry.subnet), this.countForIp(entry.ip), -entry.stage, -entry.arrivedAt];
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
