/**
 * Sans-IO accounting of connection slots: pending and open connections per
 * direction, inbound connections per IP and per subnet, and the admission
 * checks that use them. The connection manager asks before doing any work
 * (accepting the TLS handshake, dialing), reserves a slot, then promotes or
 * frees it exactly once.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { BanList } from "./ban-list.js";
import { type ConnectionLimitsOptions, type ResolvedLimits, resolveLimits } from "./config.js";
import { normalizeIp, subnetKey } from "./ip.js";
import { PerKeyRateLimiter } from "./rate-limiter.js";
import { decrement, increment } from "../util/counter-map.js";

/**
 * Direction of a connection as seen from this node.
 *
 * @category Manager
 */
export type ConnectionDirection = "inbound" | "outbound";

/**
 * Why a connection was refused before any work was done.
 *
 * @category Manager
 */
export type RefusalReason =
  | "banned"
  | "pending"
  | "per_ip"
  | "per_subnet"
  | "rate_limited"
  | "gated"
  | "inbound_full"
  | "outbound_full"
  | "total_full";

/**
 * A typed refusal: which limit fired, its value and the count that hit it.
 * For `banned`, `limit` is 0 and `current` the ban's offence count.
 */
export interface LimitRefusal {
  /** Which check refused. */
  readonly reason: RefusalReason;
  /** Direction of the refused connection. */
  readonly direction: ConnectionDirection;
  /** The limit that was reached. */
  readonly limit: number;
  /** The count (or, for `rate_limited`, whole tokens left) when it was refused. */
  readonly current: number;
  /** What was counted: `"ip:…"`, `"subnet:…"` or the ban key. */
  readonly key?: string;
  /** Name of the option that fired (e.g. `"maxPerIp"`); absent for `banned`. */
  readonly option?: keyof ResolvedLimits;
  /** For `rate_limited` and `banned`: ms until an attempt may succeed (Infinity for a permanent ban). */
  readonly retryAfterMs?: number;
  /** For `gated`: the gater's reason (local text, never sent). */
  readonly detail?: string;
}

/** Lifecycle of a {@link ConnectionReservation}. */
export type ReservationState = "pending" | "open" | "released";

/**
 * One reserved connection slot. Created pending; {@link ConnectionReservation.open}
 * promotes it to open, {@link ConnectionReservation.release} frees it. Each
 * transition happens at most once; later calls are no-ops that return false,
 * so counters can never go negative or leak.
 */
export interface ConnectionReservation {
  /** Direction of the slot. */
  readonly direction: ConnectionDirection;
  /** Normalised remote IP (always set for inbound; for outbound when known). */
  readonly ip: string | undefined;
  /** Current state. */
  readonly state: ReservationState;
  /** Pending → open (handshake done). Returns true if this call made the transition. */
  open(): boolean;
  /** Pending or open → released (slot freed). Returns true if this call freed the slot. */
  release(): boolean;
}

// Set in ConnectionLimiter's static block: a reservation's changes to its limiter's counters.
let reservationOpened: (limiter: ConnectionLimiter, direction: ConnectionDirection) => void;
let reservationReleased: (limiter: ConnectionLimiter, reservation: Reservation, wasOpen: boolean, counted: boolean, subnet: string | undefined) => void;

/**
 * A {@link ConnectionReservation} as a class (one is held per connection for its life): its state is a
 * field and its methods live on the prototype. A frozen object literal with a getter and two closures was
 * a V8 dictionary with a map of its own, ~1 KiB each.
 */
class Reservation implements ConnectionReservation {
  readonly ip: string | undefined;
  readonly #limiter: ConnectionLimiter;
  /** The subnet counted (inbound, counted reservations only). */
  readonly #subnet: string | undefined;
  /** Direction, counted and state as bits ({@link INBOUND}, {@link COUNTED}, {@link OPEN}, {@link RELEASED}): one field instead of three. */
  #bits: number;

  constructor(limiter: ConnectionLimiter, direction: ConnectionDirection, ip: string | undefined, subnet: string | undefined, counted: boolean) {
    this.#limiter = limiter;
    this.ip = ip;
    this.#subnet = subnet;
    this.#bits = (direction === "inbound" ? INBOUND : 0) | (counted ? COUNTED : 0);
    // Its public face cannot be changed from outside (its state is a private field).
    Object.freeze(this);
  }

  get direction(): ConnectionDirection {
    return (this.#bits & INBOUND) !== 0 ? "inbound" : "outbound";
  }

  get state(): ReservationState {
    const bits = this.#bits;
    return (bits & RELEASED) !== 0 ? "released" : (bits & OPEN) !== 0 ? "open" : "pending";
  }

  open(): boolean {
    if ((this.#bits & (OPEN | RELEASED)) !== 0) return false;
    this.#bits |= OPEN;
    reservationOpened(this.#limiter, this.direction);
    return true;
  }

  release(): boolean {
    const bits = this.#bits;
    if ((bits & RELEASED) !== 0) return false;
    this.#bits = (bits & ~OPEN) | RELEASED;
    reservationReleased(this.#limiter, this, (bits & OPEN) !== 0, (bits & COUNTED) !== 0, this.#subnet);
    return true;
  }
}

// The bits of Reservation's #bits.
const INBOUND = 1;
const COUNTED = 2;
const OPEN = 4;
const RELEASED = 8;

/** Result of {@link ConnectionLimiter.tryReserveInbound} / {@link ConnectionLimiter.tryReserveOutbound}. */
export type AdmissionResult =
  | { readonly ok: true; readonly reservation: ConnectionReservation }
  | { readonly ok: false; readonly refusal: LimitRefusal };

/**
 * Snapshot of the connection counters (pending and open, per direction).
 *
 * @category Manager
 */
export interface ConnectionCounts {
  /** Inbound connections still in the handshake. */
  pendingInbound: number;
  /** Outbound dials in progress. */
  pendingOutbound: number;
  /** Open inbound connections. */
  openInbound: number;
  /** Open outbound connections. */
  openOutbound: number;
  /** All reserved slots: pending + open, both directions. */
  total: number;
  /** Distinct IPs with inbound slots. */
  ips: number;
  /** Distinct subnets with inbound slots. */
  subnets: number;
}

/** Where a {@link ConnectionLimiter} looks bans up: a {@link BanList} or the peer database that owns one. */
export interface BanLookup {
  /** The active ban covering the peer id, the IP or one of its subnets at `now`, if any. */
  findBan(query: { peerId?: string | undefined; ip?: string | undefined }, now: number): { readonly key: string; readonly offences: number; readonly expiresAt: number } | undefined;
}

/** Optional collaborators of a {@link ConnectionLimiter}; by default it builds its own from the limits. */
export interface ConnectionLimiterDeps {
  /** Bans consulted first by {@link ConnectionLimiter.checkInbound}: share the node's owner of bans. */
  banList?: BanLookup;
  /** Per-IP inbound rate limiter. */
  rateLimiter?: PerKeyRateLimiter;
}

const CODE_BY_REASON: Readonly<Record<RefusalReason, ErrorCode>> = {
  banned: ErrorCode.PEER_BANNED,
  pending: ErrorCode.TOO_MANY_PENDING,
  per_ip: ErrorCode.CONNECTION_LIMIT,
  per_subnet: ErrorCode.CONNECTION_LIMIT,
  rate_limited: ErrorCode.RATE_LIMITED,
  gated: ErrorCode.GATED,
  inbound_full: ErrorCode.CONNECTION_LIMIT,
  outbound_full: ErrorCode.CONNECTION_LIMIT,
  total_full: ErrorCode.CONNECTION_LIMIT,
};

/**
 * The {@link ErrorCode} for a refusal reason: `banned` → PEER_BANNED,
 * `pending` → TOO_MANY_PENDING, `rate_limited` → RATE_LIMITED, every
 * capacity reason → CONNECTION_LIMIT.
 */
export function refusalErrorCode(reason: RefusalReason): ErrorCode {
  return CODE_BY_REASON[reason];
}

/** One-line description of a refusal, naming the limit that fired (for logs, errors and the journal). */
export function describeRefusal(refusal: LimitRefusal): string {
  const what = `${refusal.direction} connection refused`;
  const on = refusal.key === undefined ? "" : ` for ${refusal.key}`;
  switch (refusal.reason) {
    case "banned":
      return `${what}: ${refusal.key ?? "target"} is banned (offence ${refusal.current})`;
    case "rate_limited":
      return `${what}: rate limit${on} exceeded (burst ${refusal.limit}, retry in ${refusal.retryAfterMs ?? 0} ms)`;
    case "gated":
      return `${what}: denied by the connection gater${on}${refusal.detail ? `: ${refusal.detail}` : ""}`;
    default:
      return `${what}: ${refusal.option ?? refusal.reason} ${refusal.limit} reached${on} (current ${refusal.current})`;
  }
}

/** A {@link PeerlinkError} for a refusal, with the mapped code and `initiator: "local"`. */
export function refusalToError(refusal: LimitRefusal): PeerlinkError {
  return new PeerlinkError(refusalErrorCode(refusal.reason), describeRefusal(refusal), { initiator: "local" });
}

function refusal(
  reason: RefusalReason,
  direction: ConnectionDirection,
  limit: number,
  current: number,
  extra: { key?: string; option?: keyof ResolvedLimits; retryAfterMs?: number } = {},
): LimitRefusal {
  return Object.freeze({ reason, direction, limit, current, ...extra });
}

/**
 * Counts connection slots and decides admissions, without sockets or timers.
 *
 * A slot is reserved when a connection is accepted or a dial starts, and
 * counts against every limit of its direction (pending ones included) until
 * released, so a completed handshake always finds its slot.
 *
 * @example
 * ```ts
 * const limiter = new ConnectionLimiter({ maxPerIp: 2 });
 * const admission = limiter.tryReserveInbound(socket.remoteAddress, Date.now());
 * if (!admission.ok) { socket.destroy(); journal.record(...); return; }
 * try { await handshake(); admission.reservation.open(); }
 * catch { admission.reservation.release(); }
 * // on close: admission.reservation.release();
 * ```
 */
export class ConnectionLimiter {
  /** The resolved limits in force. */
  readonly limits: ResolvedLimits;
  /** Bans checked first for inbound connections. */
  readonly banList: BanLookup;
  /** Per-IP inbound rate limiter. */
  readonly rateLimiter: PerKeyRateLimiter;
  #pendingInbound = 0;
  #pendingOutbound = 0;
  #openInbound = 0;
  #openOutbound = 0;
  readonly #perIp = new Map<string, number>();
  readonly #perSubnet = new Map<string, number>();

  /** @throws PeerlinkError INVALID_ARGUMENT when the limits contradict each other (see `resolveLimits`). */
  constructor(limits: ConnectionLimitsOptions = {}, deps: ConnectionLimiterDeps = {}) {
    this.limits = resolveLimits(limits);
    this.banList =
      deps.banList ??
      new BanList({
        maxSize: this.limits.banListMaxSize,
        durationsMs: this.limits.banDurationsMs,
        offenceMemoryMs: this.limits.offenceMemoryMs,
      });
    this.rateLimiter =
      deps.rateLimiter ??
      new PerKeyRateLimiter({
        capacity: this.limits.inboundRateBurst,
        refillPerSecond: this.limits.inboundRatePerSecond,
        maxKeys: this.limits.rateLimiterMaxIps,
      });
  }

  /** Counters now. */
  counts(): ConnectionCounts {
    return {
      pendingInbound: this.#pendingInbound,
      pendingOutbound: this.#pendingOutbound,
      openInbound: this.#openInbound,
      openOutbound: this.#openOutbound,
      total: this.#total(),
      ips: this.#perIp.size,
      subnets: this.#perSubnet.size,
    };
  }

  /** Inbound slots (pending + open) held by `ip`. @throws PeerlinkError INVALID_ARGUMENT on a bad IP. */
  countForIp(ip: string): number {
    return this.#perIp.get(normalizeIp(ip)) ?? 0;
  }

  /** Inbound slots (pending + open) held by `ip`'s subnet. @throws PeerlinkError INVALID_ARGUMENT on a bad IP. */
  countForSubnet(ip: string): number {
    return this.#perSubnet.get(this.#subnetOf(normalizeIp(ip))) ?? 0;
  }

  /**
   * Decides whether an inbound connection from `ip` may start its handshake,
   * checking in this order: ban list (IP and subnet) → pending inbound →
   * per IP → per subnet → rate limit → inbound capacity → total capacity.
   * Returns the first refusal, or undefined to admit.
   *
   * Reaching the rate-limit step takes one token from `ip`'s bucket (every
   * attempt that got that far counts, even if capacity then refuses it).
   * Does not reserve: follow with {@link ConnectionLimiter.reservePending},
   * or use {@link ConnectionLimiter.tryReserveInbound}.
   *
   * @throws PeerlinkError INVALID_ARGUMENT when `ip` is not an IP address.
   */
  checkInbound(ip: string, now: number): LimitRefusal | undefined {
    const address = normalizeIp(ip);
    return (
      this.#banRefusal(address, now) ??
      this.#inboundSlotRefusal(address, "before-rate") ??
      this.#rateRefusal(address, now) ??
      this.#inboundSlotRefusal(address, "after-rate")
    );
  }


  /**
   * The checks made when an inbound socket arrives, before any TLS work: bans (IP and subnet) → per IP →
   * per subnet → rate limit. These refusals are answered with a reset. The global pending bound is the
   * pending pool's (it evicts rather than refuses), and capacity is checked once the peer is authenticated
   * ({@link ConnectionLimiter.checkOpenCapacity}), so it can be told why it is refused.
   *
   * @throws PeerlinkError INVALID_ARGUMENT when `ip` is not an IP address.
   */
  checkInboundArrival(ip: string, now: number): LimitRefusal | undefined {
    const address = normalizeIp(ip);
    return this.#banRefusal(address, now) ?? this.#sourceRefusal(address) ?? this.#rateRefusal(address, now);
  }


  /**
   * Whether one more *open* connection of `direction` fits: inbound → `maxInbound`, then `maxConnections`
   * over open connections (pending ones are bounded on their own). Outbound dials are checked with their
   * pending slots at dial time ({@link ConnectionLimiter.checkOutbound}), so they always fit here.
   */
  checkOpenCapacity(direction: ConnectionDirection): LimitRefusal | undefined {
    if (direction === "outbound") return undefined;
    const l = this.limits;
    if (this.#openInbound >= l.maxInbound) return refusal("inbound_full", "inbound", l.maxInbound, this.#openInbound, { option: "maxInbound" });
    const open = this.#openInbound + this.#openOutbound;
    if (open >= l.maxConnections) return refusal("total_full", "inbound", l.maxConnections, open, { option: "maxConnections" });
    return undefined;
  }

  /** The subnet key `ip` counts under (the prefixes of the limits). */
  subnetOf(ip: string): string {
    return this.#subnetOf(normalizeIp(ip));
  }

  /**
   * Decides whether a dial may start: pending outbound → outbound capacity →
   * total capacity. Bans are the caller's job (it knows the peer id it dials).
   * Returns the first refusal, or undefined to admit. Does not reserve.
   */
  checkOutbound(): LimitRefusal | undefined {
    const l = this.limits;
    if (this.#pendingOutbound >= l.maxPendingOutbound) {
      return refusal("pending", "outbound", l.maxPendingOutbound, this.#pendingOutbound, { option: "maxPendingOutbound" });
    }
    const outbound = this.#pendingOutbound + this.#openOutbound;
    if (outbound >= l.maxOutbound) return refusal("outbound_full", "outbound", l.maxOutbound, outbound, { option: "maxOutbound" });
    return this.#totalRefusal("outbound");
  }

  /**
   * Which capacity limit a new connection in `direction` from/to `ip` would
   * hit now (`connection_limits_reached` in the original design), without consulting bans
   * or consuming rate-limit tokens; undefined when there is room. For inbound:
   * pending → per IP → per subnet → inbound → total; for outbound: pending →
   * outbound → total.
   *
   * @throws PeerlinkError INVALID_ARGUMENT when `direction` is inbound and `ip` is missing or not an IP address.
   */
  connectionLimitsReached(ip: string | undefined, direction: ConnectionDirection = "inbound"): RefusalReason | undefined {
    if (direction === "outbound") return this.checkOutbound()?.reason;
    if (ip === undefined) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "an inbound limit check needs the remote IP");
    const address = normalizeIp(ip);
    return (this.#inboundSlotRefusal(address, "before-rate") ?? this.#inboundSlotRefusal(address, "after-rate"))?.reason;
  }

  /**
   * Reserves a pending slot without checking limits (call a check first, or
   * use the `tryReserve…` methods). Inbound reservations count against
   * `ip`'s per-IP and per-subnet totals, unless `uncounted` (an allow-listed
   * address: exempt from those bounds, it does not use up its neighbours' share either).
   *
   * @throws PeerlinkError INVALID_ARGUMENT when an inbound `ip` (or a given outbound one) is not an IP address.
   */
  reservePending(direction: ConnectionDirection, ip?: string, options: { uncounted?: boolean } = {}): ConnectionReservation {
    if (direction !== "inbound" && direction !== "outbound") {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `direction must be "inbound" or "outbound", got ${String(direction)}`);
    }
    if (direction === "inbound" && ip === undefined) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "an inbound reservation needs the remote IP");
    }
    const address = ip === undefined ? undefined : normalizeIp(ip);
    const counted = options.uncounted !== true;
    const subnet = direction === "inbound" && address !== undefined ? this.#subnetOf(address) : undefined;
    if (direction === "inbound") {
      this.#pendingInbound++;
      if (counted) {
        increment(this.#perIp, address as string);
        increment(this.#perSubnet, subnet as string);
      }
    } else {
      this.#pendingOutbound++;
    }
    return new Reservation(this, direction, address, counted ? subnet : undefined, counted);
  }

  static {
    reservationOpened = (limiter, direction) => {
      if (direction === "inbound") {
        limiter.#pendingInbound--;
        limiter.#openInbound++;
      } else {
        limiter.#pendingOutbound--;
        limiter.#openOutbound++;
      }
    };
    reservationReleased = (limiter, reservation, wasOpen, counted, subnet) => {
      if (reservation.direction === "inbound") {
        if (wasOpen) limiter.#openInbound--;
        else limiter.#pendingInbound--;
        if (counted) {
          decrement(limiter.#perIp, reservation.ip as string);
          decrement(limiter.#perSubnet, subnet as string);
        }
      } else if (wasOpen) {
        limiter.#openOutbound--;
      } else {
        limiter.#pendingOutbound--;
      }
    };
  }

  /** {@link ConnectionLimiter.checkInbound} then, when admitted, {@link ConnectionLimiter.reservePending}. */
  tryReserveInbound(ip: string, now: number): AdmissionResult {
    const refused = this.checkInbound(ip, now);
    if (refused !== undefined) return { ok: false, refusal: refused };
    return { ok: true, reservation: this.reservePending("inbound", ip) };
  }

  /** {@link ConnectionLimiter.checkOutbound} then, when admitted, {@link ConnectionLimiter.reservePending}. */
  tryReserveOutbound(ip?: string): AdmissionResult {
    const refused = this.checkOutbound();
    if (refused !== undefined) return { ok: false, refusal: refused };
    return { ok: true, reservation: this.reservePending("outbound", ip) };
  }

  #total(): number {
    return this.#pendingInbound + this.#pendingOutbound + this.#openInbound + this.#openOutbound;
  }

  #subnetOf(address: string): string {
    return subnetKey(address, this.limits.ipv4SubnetPrefix, this.limits.ipv6SubnetPrefix);
  }

  #totalRefusal(direction: ConnectionDirection): LimitRefusal | undefined {
    const total = this.#total();
    const max = this.limits.maxConnections;
    return total >= max ? refusal("total_full", direction, max, total, { option: "maxConnections" }) : undefined;
  }

  #banRefusal(address: string, now: number): LimitRefusal | undefined {
    const ban = this.banList.findBan({ ip: address }, now);
    return ban === undefined ? undefined : refusal("banned", "inbound", 0, ban.offences, { key: ban.key, retryAfterMs: ban.expiresAt - now });
  }

  /** Takes a token from the IP's bucket; refuses when it is empty. */
  #rateRefusal(address: string, now: number): LimitRefusal | undefined {
    if (this.rateLimiter.tryTake(address, now)) return undefined;
    return refusal("rate_limited", "inbound", this.rateLimiter.capacity, Math.floor(this.rateLimiter.available(address, now)), {
      key: `ip:${address}`,
      option: "inboundRateBurst",
      retryAfterMs: this.rateLimiter.msUntil(address, now),
    });
  }

  /** Per-IP and per-subnet totals (pending + open). */
  #sourceRefusal(address: string): LimitRefusal | undefined {
    const l = this.limits;
    const fromIp = this.#perIp.get(address) ?? 0;
    if (fromIp >= l.maxPerIp) return refusal("per_ip", "inbound", l.maxPerIp, fromIp, { key: `ip:${address}`, option: "maxPerIp" });
    const subnet = this.#subnetOf(address);
    const fromSubnet = this.#perSubnet.get(subnet) ?? 0;
    if (fromSubnet >= l.maxPerSubnet) {
      return refusal("per_subnet", "inbound", l.maxPerSubnet, fromSubnet, { key: `subnet:${subnet}`, option: "maxPerSubnet" });
    }
    return undefined;
  }

  /** The slot checks before the rate limit (pending, per IP, per subnet) or after it (inbound, total). */
  #inboundSlotRefusal(address: string, phase: "before-rate" | "after-rate"): LimitRefusal | undefined {
    const l = this.limits;
    if (phase === "before-rate") {
      if (this.#pendingInbound >= l.maxPendingInbound) {
        return refusal("pending", "inbound", l.maxPendingInbound, this.#pendingInbound, { option: "maxPendingInbound" });
      }
      return this.#sourceRefusal(address);
    }
    const inbound = this.#pendingInbound + this.#openInbound;
    if (inbound >= l.maxInbound) return refusal("inbound_full", "inbound", l.maxInbound, inbound, { option: "maxInbound" });
    return this.#totalRefusal("inbound");
  }
}
