/**
 * The node core: the connection manager's policy without sockets or timers
 * (the same pattern as the connection core one level down). Events and `now`
 * go in — a socket arrived, made progress, finished or failed its handshake, a
 * kept connection closed, time passed — and decisions come out: admit or
 * refuse with a reason, which pending socket to evict, keep or refuse a
 * handshaken connection, which connections to trim, which bans ended, and the
 * one next deadline for the adapter's single timer.
 *
 * It owns the admission state (slot counters, the pending pool) and the table
 * of kept connections. Per-peer policy state (bans, protection, health) is the
 * peer database's: the core reads it there and keeps no copy.
 *
 * @module
 */
import type { BanEntry } from "../../manager/ban-list.js";
import { ConnectionLimiter, type AdmissionResult, type ConnectionReservation, type LimitRefusal } from "../../manager/connection-limits.js";
import type { ResolvedLimits } from "../../manager/config.js";
import { ipOf, normalizeIp } from "../../manager/ip.js";
import type { PeerDatabase } from "../../peers/peer-database.js";
import { DisconnectReason } from "../../reasons.js";
import { AllowList } from "../policy/allow-list.js";
import { isPendingGate, runGate, type ConnectionGater, type GateOutcome, type GateVerdict } from "../policy/gater.js";
import { decideAdoption, gatedRefusal, type AdoptionVerdict } from "./adoption.js";
import { PendingPool, type PendingEntry, type PendingExpiry, PendingStage } from "./pending-pool.js";
import { planTrim } from "./pruner.js";

/** A kept connection as the core sees it. */
export interface KeptConnection {
  /** Printable peer id. */
  readonly peer: string;
  /** The peer id's bytes (duplicate tie-break). */
  readonly peerBytes: Uint8Array;
  readonly direction: "inbound" | "outbound";
  /** `"host:port"` of the remote end. */
  readonly remoteAddress: string;
  /** When it was adopted (core clock, ms). */
  readonly openedAt: number;
  /** Its slot. */
  readonly reservation: ConnectionReservation;
  /** False once it is closing (not counted or chosen by trimming). */
  readonly isOpen: boolean;
  /** Latest overall health score in [0, 1], if graded. */
  readonly healthScore: number | undefined;
}

/** Settings of a {@link NodeCore}. */
export interface NodeCoreOptions {
  /** The resolved limits (pending bounds, deadlines, capacity, watermarks). */
  readonly limits: ResolvedLimits;
  /** The owner of bans and protection. */
  readonly peers: PeerDatabase;
  /** This node's peer id bytes. */
  readonly localId: Uint8Array;
  /** Pending inbound connections from one IP. */
  readonly maxPendingPerIp: number;
  /** Pending inbound connections from one subnet. */
  readonly maxPendingPerSubnet: number;
  /** Time (ms from arrival) for the peer's first bytes. */
  readonly firstFlightTimeoutMs: number;
  /** Retry-after (ms) sent with a capacity refusal. */
  readonly capacityRetryAfterMs: number;
  /** Peers and addresses exempt from limits, pending bounds, the rate limit and trimming. @default nobody */
  readonly allowList?: AllowList;
  /** The application's gater. @default none (everything allowed) */
  readonly gater?: ConnectionGater | undefined;
}

/** The answer to {@link NodeCore.arrive}. */
export type ArrivalDecision =
  | {
      readonly ok: true;
      readonly reservation: ConnectionReservation;
      readonly evicted: PendingEntry | undefined;
      /** The gater's answer still to come: the socket waits for it (holding its slot) before any TLS work. */
      readonly gate?: Promise<GateVerdict>;
    }
  | { readonly ok: false; readonly refusal: LimitRefusal };

/** What became due at a deadline (see {@link NodeCore.onTimeout}). */
export interface DueWork<T extends KeptConnection> {
  /** Pending inbound connections out of time: close them. */
  readonly expired: readonly { readonly id: number; readonly expiry: PendingExpiry }[];
  /** Bans that ended. */
  readonly unbanned: readonly BanEntry[];
  /** Connections to trim. */
  readonly trim: readonly T[];
}

/** The sans-IO node core. */
export class NodeCore<T extends KeptConnection> {
  /** Slot counters, rate limits and capacity checks. */
  readonly limiter: ConnectionLimiter;
  readonly #options: NodeCoreOptions;
  readonly #pool: PendingPool;
  /** Reservations of pending inbound connections, by pending id. */
  readonly #pendingSlots = new Map<number, ConnectionReservation>();
  /** The kept connection of each peer. */
  readonly #kept = new Map<string, T>();
  /** Every adopted connection not yet closed (kept ones and duplicates being closed). */
  readonly #adopted = new Set<T>();
  #running = false;
  #trimRecheckAt: number | undefined;
  readonly #allow: AllowList;

  constructor(options: NodeCoreOptions) {
    this.#options = options;
    this.#allow = options.allowList ?? AllowList.EMPTY;
    this.limiter = new ConnectionLimiter(options.limits, { banList: options.peers });
    this.#pool = new PendingPool({
      maxPendingInbound: options.limits.maxPendingInbound,
      maxPendingPerIp: options.maxPendingPerIp,
      maxPendingPerSubnet: options.maxPendingPerSubnet,
      firstFlightTimeoutMs: options.firstFlightTimeoutMs,
      handshakeTimeoutMs: options.limits.handshakeTimeoutMs,
    });
  }

  /** True between {@link NodeCore.start} and {@link NodeCore.stop}. */
  get running(): boolean {
    return this.#running;
  }

  /** The node accepts and adopts connections from now on. */
  start(): void {
    this.#running = true;
  }

  /** The node stops: nothing more is admitted or adopted. */
  stop(): void {
    this.#running = false;
  }

  /** True when the next arrival must evict a pending socket to be admitted (progress then decides which). */
  get pendingFull(): boolean {
    return this.#pool.size >= this.#options.limits.maxPendingInbound;
  }

  /** Pending inbound connections now, and from `ip`. */
  pendingInbound(ip?: string): number {
    return ip === undefined ? this.#pool.size : this.#pool.countForIp(normalizeIp(ip));
  }

  /**
   * An inbound socket (`id`, unique while pending) arrived from `ip` (port `port`) at `now`: abuse-class
   * checks (bans, the gater's `denyInboundAddress`, per-IP and per-subnet totals, rate), then the pending
   * pool's per-IP and per-subnet bounds; a full pool admits and names a pending socket to evict (its slot is
   * already freed: the adapter resets it). An allow-listed address skips every bound but bans and the
   * gater. A gater answering with a Promise is checked after the bounds instead (`gate` in the decision).
   * `seenAt` is when the node got to the socket (after a stall, later than its arrival).
   */
  arrive(id: number, ip: string, now: number, seenAt = now, port = 0): ArrivalDecision {
    const address = normalizeIp(ip);
    if (!this.#running) return { ok: false, refusal: { reason: "total_full", direction: "inbound", limit: 0, current: 0 } };
    const exempt = this.#allow.allowsAddress(address);
    // Bans, then the application's gater, then (unless allow-listed) per-IP and per-subnet totals and the rate
    // (the limiter looks the ban up again: one map lookup, for a single ordering of its own checks).
    const banned = this.#banRefusal(address, now);
    if (banned !== undefined) return { ok: false, refusal: banned };
    const gate = runGate(this.#options.gater, "denyInboundAddress", address, port);
    if (!isPendingGate(gate) && !gate.allowed) return { ok: false, refusal: gatedRefusal("inbound", `ip:${address}`, gate.reason) };
    const refused = exempt ? undefined : this.limiter.checkInboundArrival(address, now);
    if (refused !== undefined) return { ok: false, refusal: refused };
    const subnet = this.limiter.subnetOf(address);
    const admission = this.#pool.admit(address, subnet, seenAt, exempt);
    if (!admission.ok) {
      const { option, limit, current, key } = admission;
      return { ok: false, refusal: { reason: "pending", direction: "inbound", limit, current, key, option } };
    }
    if (admission.evicted !== undefined) this.#releasePending(admission.evicted.id);
    this.#pool.add(id, address, subnet, now, seenAt, exempt);
    const reservation = this.limiter.reservePending("inbound", address, { uncounted: exempt });
    this.#pendingSlots.set(id, reservation);
    return isPendingGate(gate) ? { ok: true, reservation, evicted: admission.evicted, gate } : { ok: true, reservation, evicted: admission.evicted };
  }

  /** The pending socket `id` made progress (its first bytes arrived; TLS finished). */
  progress(id: number, stage: PendingStage): void {
    this.#pool.advance(id, stage);
  }

  /**
   * The pending socket `id` left the pool: its handshake finished (its reservation goes on with the
   * connection) or it failed (`release`: its slot is freed).
   */
  settle(id: number, release: boolean): void {
    this.#pool.remove(id);
    const reservation = this.#pendingSlots.get(id);
    this.#pendingSlots.delete(id);
    if (release) reservation?.release();
  }

  /**
   * Reserves a slot for a dial (pending outbound → outbound capacity → total); a dial to an allow-listed
   * peer or address is exempt from those limits.
   */
  reserveDial(ip: string | undefined, peer?: string): AdmissionResult {
    if (!this.#running) return { ok: false, refusal: { reason: "total_full", direction: "outbound", limit: 0, current: 0 } };
    if (this.#allow.allows(peer, ip)) return { ok: true, reservation: this.limiter.reservePending("outbound", ip) };
    return this.limiter.tryReserveOutbound(ip);
  }

  /**
   * Whether an inbound connection from `ip` that finished TLS may run its handshake now: the open capacity
   * (`maxInbound`, `maxConnections`), unless `ip` is allow-listed, or listed peer ids exist (a listed peer
   * is known only after the handshake; adoption then checks capacity for everyone else).
   */
  inboundCapacity(ip: string): LimitRefusal | undefined {
    if (this.#allow.allowsAddress(ip) || this.#allow.entries.peers.length > 0) return undefined;
    return this.limiter.checkOpenCapacity("inbound");
  }

  /** The gater's verdict on dialing `peer` (a dial that names one), or its Promise. */
  gateDialPeer(peer: string): GateOutcome {
    return runGate(this.#options.gater, "denyDialPeer", peer);
  }

  /** The gater's verdict on dialing `address` (`"host:port"` as given), for `peer` when known, or its Promise. */
  gateDialAddress(address: string, peer: string | undefined): GateOutcome {
    return runGate(this.#options.gater, "denyDialAddress", address, peer);
  }

  /** The gater's verdict on a connection that proved `candidate.peer` (`denyPeer`), or its Promise. */
  gatePeer(candidate: Pick<KeptConnection, "peer" | "direction" | "remoteAddress">): GateOutcome {
    return runGate(this.#options.gater, "denyPeer", candidate.peer, { direction: candidate.direction, remoteAddress: candidate.remoteAddress });
  }

  /**
   * A connection finished its handshake: decides whether it is kept (see `decideAdoption`). A kept one
   * enters the table (its reservation becomes open); a duplicate it replaces leaves it. `gate` is the
   * gater's verdict when the caller awaited it ({@link NodeCore.gatePeer}); without it the gater is asked
   * here, and an answer still to come denies.
   */
  adopt(candidate: T, now: number, gate?: GateVerdict): AdoptionVerdict<T> {
    const ip = ipOf(candidate.remoteAddress);
    const ban = this.#options.peers.findBan({ peerId: candidate.peer, ip }, now);
    if (gate === undefined && this.#running && ban === undefined) {
      const asked = this.gatePeer(candidate);
      gate = isPendingGate(asked) ? { allowed: false, reason: "gater answer not awaited", publicReason: undefined, goodbye: DisconnectReason.PEER_BANNED, error: undefined } : asked;
    }
    const exempt = this.#allow.allows(candidate.peer, ip);
    const verdict = decideAdoption<T>({
      running: this.#running,
      ban,
      gate: gate?.allowed === false ? gate : undefined,
      existing: this.#kept.get(candidate.peer),
      incoming: candidate,
      localId: this.#options.localId,
      remoteId: candidate.peerBytes,
      capacity: exempt ? undefined : this.limiter.checkOpenCapacity(candidate.direction),
      capacityRetryAfterMs: this.#options.capacityRetryAfterMs,
    });
    if (verdict.kind === "refuse") return verdict;
    candidate.reservation.open();
    this.#adopted.add(candidate);
    if (verdict.kind === "keep") this.#kept.set(candidate.peer, candidate);
    return verdict;
  }

  /** An adopted connection closed: frees its slot. Returns true when it was the peer's kept connection. */
  closed(connection: T): boolean {
    connection.reservation.release();
    this.#adopted.delete(connection);
    if (this.#kept.get(connection.peer) !== connection) return false;
    this.#kept.delete(connection.peer);
    return true;
  }

  /** The kept connection of `peer`. */
  kept(peer: string): T | undefined {
    return this.#kept.get(peer);
  }

  /** Every kept connection. */
  keptConnections(): T[] {
    return [...this.#kept.values()];
  }

  /** Every adopted connection not yet closed (including duplicates being closed). */
  adoptedConnections(): T[] {
    return [...this.#adopted];
  }

  /**
   * Kept connections to close to get back under the watermarks (protected and allow-listed peers and young
   * connections spared; the lowest tag value goes first). `continuing` is a recheck: trim down to the low
   * watermark even under the high one.
   */
  trim(now: number, continuing = false): T[] {
    const limits = this.#options.limits;
    // Runs at every adoption: under the high watermark (the open ones are at most all kept ones) there is
    // nothing to plan, and building the candidate list would cost O(kept) per connection opened.
    if (!continuing && this.#kept.size <= limits.highWatermark) return [];
    const peers = this.#options.peers;
    const open = [...this.#kept.values()]
      .filter((k) => k.isOpen)
      .map((k) => ({
        id: k.peer,
        direction: k.direction,
        openedAt: k.openedAt,
        protected: peers.isProtected(k.peer) || this.#allow.allows(k.peer, ipOf(k.remoteAddress)),
        healthScore: k.healthScore,
        tagValue: peers.tags.value(k.peer, now),
        kept: k,
      }));
    const plan = planTrim(open, limits, now, continuing);
    if (plan.recheckAt !== undefined && (this.#trimRecheckAt === undefined || plan.recheckAt < this.#trimRecheckAt)) this.#trimRecheckAt = plan.recheckAt;
    return plan.victims.map((v) => v.kept);
  }

  /** Kept connections covered by a ban at `now` (to close after a new ban). */
  bannedConnections(now: number): T[] {
    const peers = this.#options.peers;
    return [...this.#kept.values()].filter((k) => peers.findBan({ peerId: k.peer, ip: ipOf(k.remoteAddress) }, now) !== undefined);
  }

  /**
   * The next moment something is due (ms): a pending deadline, a ban's end, a trim recheck. Read at every
   * change, so it costs O(1): at or before the moment (a socket gone since may have held it), never after.
   */
  nextDeadline(): number | undefined {
    let next = this.#pool.nextDeadline();
    const banEnd = this.#options.peers.nextBanExpiry();
    if (banEnd !== undefined && Number.isFinite(banEnd) && (next === undefined || banEnd < next)) next = banEnd;
    if (this.#running && this.#trimRecheckAt !== undefined && (next === undefined || this.#trimRecheckAt < next)) next = this.#trimRecheckAt;
    return next;
  }

  /** Time passed: what became due at `now`. Expired pending sockets' slots are freed here. */
  onTimeout(now: number): DueWork<T> {
    const expired = this.#pool.expire(now).map(({ entry, expiry }) => {
      this.#releasePending(entry.id);
      return { id: entry.id, expiry };
    });
    const unbanned = this.#options.peers.sweepBans(now);
    let trim: T[] = [];
    if (this.#trimRecheckAt !== undefined && this.#trimRecheckAt <= now) {
      this.#trimRecheckAt = undefined;
      if (this.#running) trim = this.trim(now, true);
    }
    return { expired, unbanned, trim };
  }

  #banRefusal(address: string, now: number): LimitRefusal | undefined {
    const ban = this.#options.peers.findBan({ ip: address }, now);
    if (ban === undefined) return undefined;
    return { reason: "banned", direction: "inbound", limit: 0, current: ban.offences, key: ban.key, retryAfterMs: ban.expiresAt - now };
  }

  #releasePending(id: number): void {
    this.#pendingSlots.get(id)?.release();
    this.#pendingSlots.delete(id);
  }
}
