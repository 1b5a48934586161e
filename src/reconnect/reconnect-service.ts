/**
 * The reconnect service (seed 4.3, `schedule_reconnect`): a
 * {@link ManagerService} that redials lost peers the node still wants, with
 * the {@link ReconnectScheduler} deciding when. It is the thin IO adapter
 * around the sans-IO scheduler: one timer set to the scheduler's next
 * deadline, dials through the manager, and the scheduler's state saved in the
 * peer database so backoff and dampening survive a restart.
 *
 * **Which peers are redialed (the wanted rule).** A peer is *wanted* when
 * - this node dialed it itself (an outbound connection to it opened), or
 * - the application called {@link ReconnectService.want} for it
 *   (or, with `redialInbound: true`, any connection to it opened).
 *
 * Peers that only ever connected to us (inbound) are not redialed by default:
 * they know where we are and come back on their own, and redialing every
 * inbound peer would turn a listener into a dialer of everyone who ever
 * connected. A peer wanted only because this node dialed it stops being
 * wanted when this node itself closes the connection on purpose (`normal`,
 * `network_restructure` — e.g. the application's `close()` or trimming —,
 * `shutdown`); closes for the peer's fault or for lack of resources (local
 * `timeout`, `protocol_violation`, `resource_constraint`, …) keep it wanted.
 * {@link ReconnectService.unwant} stops the redials of any peer, explicit
 * ones included (its connection, if any, stays open). Implicitly wanted peers are bounded by
 * `maxWantedPeers` (least recently touched forgotten first); explicit ones
 * are kept until `unwant`.
 *
 * **What happens when a wanted peer is lost.** The manager reports the close
 * (reason, initiator, the peer's retry-after, whether the connection was
 * healthy); the scheduler applies the policy of that reason (see
 * `./policy.ts`: immediate for `normal` and `network_restructure`, backoff
 * with full jitter for `timeout`, `protocol_violation`, `shutdown`,
 * `rate_limited`, …, after freed resources for a local
 * `resource_constraint`, never for `peer_banned` and the other hopeless
 * reasons), the retry-after floor, flap dampening and the global budget
 * (healthy peers first). When an attempt is due the service dials the peer's
 * best addresses from the peer database; an opened connection resets the
 * backoff. A failed redial takes the next backoff step, except: a handshake
 * the peer ended with a Goodbye (or that this node failed as incompatible,
 * unauthenticated or violating) takes that reason's strategy and the peer's
 * retry-after; another identity at an address drops that address for the
 * peer; this node's own connection limits make the peer wait for a freed
 * slot without counting an attempt; a ban or a self dial abandons the peer.
 * Closes caused by this node's own shutdown are not scheduled.
 *
 * Events (emitted on the manager): `reconnect:scheduled`
 * ({@link ReconnectScheduledEvent}), `reconnect:attempt`
 * ({@link ReconnectAttemptEvent}) and `reconnect:abandoned`
 * ({@link ReconnectAbandonedEvent}).
 *
 * Time comes from the manager's clock (`Date.now` by default). Keep it epoch
 * time when the peer database is persistent: saved deadlines are absolute.
 *
 * @example
 * ```ts
 * let reconnect!: ReconnectService;
 * const manager = new ConnectionManager({
 *   peerStore: "./peers.json",
 *   services: [(host) => (reconnect = createReconnectService({ budget: { capacity: 10, refillPerSecond: 5 } })(host))],
 * });
 * await manager.start();
 * reconnect.want(bootstrapPeerId, ["10.0.0.7:4001"]); // dialed now, and again whenever lost
 * ```
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { ConnectionManagerEvents } from "../manager/connection-manager.js";
import type { ManagedClose, ManagedConnection, ManagerHost, ManagerService } from "../manager/services.js";
import { DisconnectReason } from "../reasons.js";
import { type FlapDampingOptions } from "./flap-damping.js";
import { type ReconnectPolicy, type ReconnectPolicyOptions } from "./policy.js";
import { encodeReconnectState, parseReconnectState, type WantedPeerState } from "./reconnect-state.js";
import { isLocalLimitRefusal, redialVerdictOf } from "./redial-failure.js";
import { type ReconnectDecision, ReconnectScheduler, type ReconnectSchedulerOptions, type ReconnectStatus } from "./scheduler.js";
import { DEFAULT_MAX_WANTED_PEERS, MAX_TIMER_DELAY_MS, RECONNECT_STATE_KEY } from "./service-defaults.js";

/** Options of {@link createReconnectService}. Every option has a default. */
export interface ReconnectOptions {
  /**
   * The reconnect policy (a strategy per disconnect reason, backoffs, the
   * largest retry-after honoured), or options to build one.
   * @default `new ReconnectPolicy()`: the table in `./policy.ts`
   */
  readonly policy?: ReconnectPolicy | ReconnectPolicyOptions;
  /**
   * Global reconnect budget (token bucket): at most `capacity` redials at
   * once, refilled at `refillPerSecond` redials per second.
   * @default { capacity: 10, refillPerSecond: 5 } (200 lost peers come back over ~40 s)
   */
  readonly budget?: { readonly capacity: number; readonly refillPerSecond: number };
  /**
   * Flap-dampening parameters (BGP-style decaying penalty per disconnect), or
   * `false` to disable dampening.
   * @default the `FlapDamping` defaults: penalty 1000, suppress above 2000, reuse below 750, half-life 60 s
   */
  readonly dampening?: FlapDampingOptions | false;
  /** Source of randomness in [0, 1) for the backoff jitter; inject for deterministic tests. @default Math.random */
  readonly random?: () => number;
  /**
   * Also want (and so redial) peers that connected to us, not only peers we dialed.
   * @default false
   */
  readonly redialInbound?: boolean;
  /**
   * Most implicitly wanted peers remembered, in peers (explicit `want()` peers are not counted against it
   * for eviction). @default {@link DEFAULT_MAX_WANTED_PEERS} (1000)
   */
  readonly maxWantedPeers?: number;
  /**
   * At start, dial the saved wanted peers that have no attempt scheduled and were not lost for a
   * "never" reason (e.g. the peers connected when the node last stopped).
   * @default true
   */
  readonly resumeOnStart?: boolean;
  /**
   * Save the scheduler state and the wanted set in the peer database (extra key
   * {@link RECONNECT_STATE_KEY}, plus each record's `backoff`) and restore them at start.
   * @default true
   */
  readonly persist?: boolean;
}

/** What triggered a scheduled attempt: a disconnect reason, or one of the service's own causes. */
export type ReconnectTrigger =
  | DisconnectReason
  /** The previous reconnect dial failed; this is the next backoff step. */
  | "dial_failed"
  /** {@link ReconnectService.schedule} or {@link ReconnectService.want} asked for it. */
  | "requested"
  /** A connection slot was freed while the peer waited for resources. */
  | "resources_available"
  /** Restored at start: a saved wanted peer with nothing scheduled. */
  | "resumed";

/** Payload of the manager event `reconnect:scheduled`: an attempt to redial `peer` is planned. */
export interface ReconnectScheduledEvent {
  /** Printable peer id. */
  readonly peer: string;
  /** Why. */
  readonly reason: ReconnectTrigger;
  /** Milliseconds from now until the attempt is due (retry-after floor and dampening included). */
  readonly delayMs: number;
  /** When the attempt is due, manager clock (ms). The budget may delay it further. */
  readonly at: number;
  /** Failed redials since the last established connection. */
  readonly attempt: number;
  /** True when the peer waits for a freed slot (then `at` is the latest fallback time). */
  readonly waitingForResources: boolean;
  /** True when flap dampening holds the peer back (then `at` is its release time). */
  readonly suppressed: boolean;
}

/** Payload of the manager event `reconnect:attempt`: the service is dialing `peer` now. */
export interface ReconnectAttemptEvent {
  /** Printable peer id. */
  readonly peer: string;
  /** Failed redials before this one. */
  readonly attempt: number;
  /** The addresses dialed, best first. */
  readonly addresses: readonly string[];
}

/** Payload of the manager event `reconnect:abandoned`: `peer` will not be redialed (until asked again). */
export interface ReconnectAbandonedEvent {
  /** Printable peer id. */
  readonly peer: string;
  /** The disconnect reason whose strategy is "never", or the error code that refused the redial. */
  readonly reason: DisconnectReason | ErrorCode;
}

/** The events the reconnect service emits on the manager, for the manager's event map. */
export interface ReconnectServiceEvents {
  /** An attempt is planned. */
  "reconnect:scheduled": ReconnectScheduledEvent;
  /** A redial starts. */
  "reconnect:attempt": ReconnectAttemptEvent;
  /** A peer will not be redialed (a "never" reason, or a ban/self refusal). */
  "reconnect:abandoned": ReconnectAbandonedEvent;
}

/** One peer's reconnect state, as {@link ReconnectService.status} reports it. */
export interface ReconnectServiceStatus {
  /** True when the service redials the peer when it is lost. */
  readonly wanted: boolean;
  /** True when wanted through {@link ReconnectService.want}. */
  readonly explicit: boolean;
  /** True when the manager keeps a connection to the peer now. */
  readonly connected: boolean;
  /** True while a redial of the peer is in flight. */
  readonly dialing: boolean;
  /** Failed redials since the last established connection. */
  readonly attempt: number;
  /** When the next attempt is due (manager clock, ms); undefined when none is scheduled. */
  readonly dueAt: number | undefined;
  /** True while waiting for a freed connection slot. */
  readonly waitingForResources: boolean;
  /** True while flap dampening suppresses redials. */
  readonly suppressed: boolean;
  /** The flap penalty now. */
  readonly penalty: number;
}

/** The reconnect service: the {@link ManagerService} hooks plus the public controls. */
export interface ReconnectService extends ManagerService {
  /**
   * Plans a redial of `peerId` in `delayMs` milliseconds whatever its last
   * disconnect reason was (the retry-after floor, dampening and the budget
   * still apply) and marks it wanted. Throws INVALID_ARGUMENT on a negative
   * or non-finite delay, INVALID_PEER_ID on an empty id, STOPPED when the
   * manager is not running.
   */
  schedule(peerId: string, delayMs: number): void;
  /** Cancels the planned redial of `peerId` and aborts its redial in flight; backoff and dampening history are kept. */
  cancel(peerId: string): void;
  /**
   * Marks `peerId` wanted: redialed whenever it is lost, and dialed now (through the budget) when not
   * connected. `addresses` (`"host:port"`) are added to the peer database. May be called before start.
   */
  want(peerId: string, addresses?: readonly string[]): void;
  /** Stops redialing `peerId`: forgets it as wanted, cancels its planned and in-flight redial. Keeps its connection. */
  unwant(peerId: string): void;
  /** The reconnect state of `peerId`. */
  status(peerId: string): ReconnectServiceStatus;
  /** When the service's timer fires next (manager clock, ms); undefined when nothing is planned. */
  readonly nextWakeAt: number | undefined;
  /** Peers wanted now. */
  wanted(): string[];
}

/**
 * Creates the reconnect service factory for `ConnectionManagerOptions.services`.
 * Validates `options` at once (INVALID_ARGUMENT).
 *
 * @example
 * ```ts
 * new ConnectionManager({ services: [createReconnectService({ random: () => 0.5 })] });
 * ```
 */
export function createReconnectService(options: ReconnectOptions = {}): (host: ManagerHost) => ReconnectService {
  const schedulerOptions = toSchedulerOptions(options);
  new ReconnectScheduler(schedulerOptions); // validate now, not when the manager is built
  const maxWanted = options.maxWantedPeers ?? DEFAULT_MAX_WANTED_PEERS;
  if (!Number.isSafeInteger(maxWanted) || maxWanted <= 0) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "maxWantedPeers must be a positive integer");
  }
  return (host) =>
    new ReconnectServiceImpl(host, schedulerOptions, {
      redialInbound: options.redialInbound ?? false,
      maxWanted,
      resumeOnStart: options.resumeOnStart ?? true,
      persist: options.persist ?? true,
    });
}

function toSchedulerOptions(options: ReconnectOptions): ReconnectSchedulerOptions {
  if (options === null || typeof options !== "object") {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "reconnect options must be an object");
  }
  return {
    ...(options.policy !== undefined ? { policy: options.policy } : {}),
    ...(options.budget !== undefined ? { budget: { capacity: options.budget.capacity, refillPerSecond: options.budget.refillPerSecond } } : {}),
    ...(options.dampening !== undefined ? { dampening: options.dampening } : {}),
    ...(options.random !== undefined ? { random: options.random } : {}),
  };
}

/**
 * Reasons of a close this node initiates on purpose: after such a local close an implicitly wanted
 * peer is no longer wanted (an explicit one still is, until `unwant`).
 */
const DELIBERATE_CLOSE_REASONS: ReadonlySet<DisconnectReason> = new Set<DisconnectReason>(["normal", "network_restructure", "shutdown"]);

interface WantedEntry {
  explicit: boolean;
  addresses: string[];
}

interface Settings {
  readonly redialInbound: boolean;
  readonly maxWanted: number;
  readonly resumeOnStart: boolean;
  readonly persist: boolean;
}

class ReconnectServiceImpl implements ReconnectService {
  readonly #host: ManagerHost;
  readonly #settings: Settings;
  readonly #schedulerOptions: ReconnectSchedulerOptions;
  #scheduler: ReconnectScheduler;
  /** Wanted peers; Map order = least recently touched first (eviction order). */
  readonly #wanted = new Map<string, WantedEntry>();
  /** Redials in flight, with the controller that cancels them. */
  readonly #dialing = new Map<string, AbortController>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  #state: "new" | "running" | "stopped" = "new";
  /** Slot-freed notifications to ignore: the one that follows our own resource_constraint close. */
  #ignoreSlotFreed = 0;
  #persistQueued = false;
  readonly #touched = new Set<string>();

  constructor(host: ManagerHost, schedulerOptions: ReconnectSchedulerOptions, settings: Settings) {
    this.#host = host;
    this.#settings = settings;
    this.#schedulerOptions = schedulerOptions;
    this.#scheduler = new ReconnectScheduler(schedulerOptions);
  }

  // ---- ManagerService hooks ----

  start(): void {
    if (this.#state !== "new") return;
    this.#state = "running";
    if (this.#settings.persist) this.#restore();
    const now = this.#now();
    for (const [peerId, entry] of this.#wanted) {
      if (entry.addresses.length > 0) this.#learnAddresses(peerId, entry.addresses, now);
    }
    if (this.#settings.resumeOnStart) {
      for (const peerId of this.#wanted.keys()) {
        if (this.#isConnected(peerId) || this.#scheduler.status(peerId, now)?.dueAt !== undefined) continue;
        if (this.#lostForGood(peerId)) continue;
        this.#report(peerId, "resumed", this.#scheduler.schedule(peerId, 0, now), now);
      }
    }
    this.#changed();
  }

  onOpen(managed: ManagedConnection): void {
    if (this.#state !== "running") return;
    const peer = managed.peer;
    const outbound = managed.connection.direction === "outbound";
    if (outbound || this.#settings.redialInbound || this.#wanted.has(peer)) this.#touchWanted(peer, false, []);
    this.#scheduler.onConnected(peer);
    this.#touch(peer);
    this.#changed();
  }

  onClose(managed: ManagedConnection, close: ManagedClose): void {
    if (this.#state !== "running" || !this.#host.running) return;
    const peer = managed.peer;
    const entry = this.#wanted.get(peer);
    if (entry === undefined) return;
    if (close.initiator === "local" && DELIBERATE_CLOSE_REASONS.has(close.reason) && !entry.explicit) {
      // This node chose to end it (the application's close(), trimming): it no longer wants the peer.
      this.#touch(peer);
      this.#wanted.delete(peer);
      this.#scheduler.cancel(peer);
      this.#changed();
      return;
    }
    const now = this.#now();
    if (close.reason === DisconnectReason.UNEXPECTED_IDENTITY) {
      // "Not the expected peer" condemns an address, not the peer: redial after the dial-failure backoff;
      // a redial that meets another identity again drops that address (see #onRedialFailed).
      if (this.#addressesOf(peer).length === 0) {
        this.#scheduler.cancel(peer);
        this.#emit("reconnect:abandoned", { peer, reason: close.reason });
      } else {
        this.#report(peer, close.reason, this.#scheduler.onDialFailed(peer, now), now);
      }
      this.#touch(peer);
      this.#changed();
      return;
    }
    // A duplicate closed as `already_connected` normally leaves the kept connection behind. When none is
    // left (the kept one closed first, or the peer dropped both) and no redial is in flight, the peer is
    // simply lost: treat it as a normal close.
    const lostDuplicate =
      close.reason === DisconnectReason.ALREADY_CONNECTED && !this.#isConnected(peer) && !this.#dialing.has(peer);
    const decision = this.#scheduler.onDisconnect(
      peer,
      {
        reason: lostDuplicate ? DisconnectReason.NORMAL : close.reason,
        initiator: close.initiator,
        ...(close.remoteRetryAfterMs !== undefined ? { retryAfterMs: close.remoteRetryAfterMs } : {}),
        ...(close.wasHealthy !== undefined ? { wasHealthy: close.wasHealthy } : {}),
      },
      now,
    );
    // The manager reports the slot this very close freed right after this hook: that is not
    // "resources became available" for the peer we just dropped for lack of them.
    if (decision.action === "waiting_for_resources") this.#ignoreSlotFreed++;
    if (decision.action === "never") this.#emit("reconnect:abandoned", { peer, reason: close.reason });
    else this.#report(peer, close.reason, decision, now);
    this.#touch(peer);
    this.#changed();
  }

  onSlotFreed(): void {
    if (this.#state !== "running" || !this.#host.running) return;
    if (this.#ignoreSlotFreed > 0) {
      this.#ignoreSlotFreed--;
      return;
    }
    const now = this.#now();
    const released = this.#scheduler.resourcesAvailable(now, 1);
    for (const peer of released) {
      this.#report(peer, "resources_available", { action: "scheduled", ...this.#dueOf(peer, now) }, now);
      this.#touch(peer);
    }
    if (released.length > 0) this.#changed();
  }

  stop(): void {
    if (this.#state === "stopped") return;
    const wasRunning = this.#state === "running";
    this.#state = "stopped";
    this.#clearTimer();
    for (const controller of this.#dialing.values()) {
      controller.abort(new PeerlinkError(ErrorCode.STOPPED, "the reconnect service is stopping"));
    }
    this.#dialing.clear();
    if (wasRunning && this.#settings.persist) this.#persist();
    this.#persistQueued = false;
  }

  // ---- public controls ----

  schedule(peerId: string, delayMs: number): void {
    this.#checkPeerId(peerId);
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "delayMs must be a finite number >= 0 (milliseconds)");
    }
    this.#checkRunning();
    this.#touchWanted(peerId, false, []);
    const now = this.#now();
    this.#report(peerId, "requested", this.#scheduler.schedule(peerId, delayMs, now), now);
    this.#touch(peerId);
    this.#changed();
  }

  cancel(peerId: string): void {
    this.#checkPeerId(peerId);
    this.#scheduler.cancel(peerId);
    this.#abortDial(peerId);
    this.#touch(peerId);
    this.#changed();
  }

  want(peerId: string, addresses: readonly string[] = []): void {
    this.#checkPeerId(peerId);
    if (!Array.isArray(addresses) || addresses.some((a) => typeof a !== "string" || a.length === 0)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "addresses must be an array of \"host:port\" strings");
    }
    if (this.#state === "stopped") throw new PeerlinkError(ErrorCode.STOPPED, "the reconnect service is stopped");
    this.#touchWanted(peerId, true, addresses);
    if (this.#state !== "running") return; // applied at start
    const now = this.#now();
    if (addresses.length > 0) this.#learnAddresses(peerId, addresses, now);
    const status = this.#scheduler.status(peerId, now);
    if (!this.#isConnected(peerId) && !this.#dialing.has(peerId) && status?.dueAt === undefined && !status?.waitingForResources) {
      this.#report(peerId, "requested", this.#scheduler.schedule(peerId, 0, now), now);
      this.#touch(peerId);
    }
    this.#changed();
  }

  unwant(peerId: string): void {
    this.#checkPeerId(peerId);
    if (!this.#wanted.has(peerId)) return;
    this.#touch(peerId);
    this.#wanted.delete(peerId);
    this.#scheduler.cancel(peerId);
    this.#abortDial(peerId);
    this.#changed();
  }

  status(peerId: string): ReconnectServiceStatus {
    const entry = this.#wanted.get(peerId);
    const st: ReconnectStatus | undefined = this.#scheduler.status(peerId, this.#now());
    return {
      wanted: entry !== undefined,
      explicit: entry?.explicit ?? false,
      connected: this.#isConnected(peerId),
      dialing: this.#dialing.has(peerId),
      attempt: st?.attempt ?? 0,
      dueAt: st?.dueAt,
      waitingForResources: st?.waitingForResources ?? false,
      suppressed: st?.suppressed ?? false,
      penalty: st?.penalty ?? 0,
    };
  }

  get nextWakeAt(): number | undefined {
    return this.#timerAt;
  }

  wanted(): string[] {
    return [...this.#wanted.keys()];
  }

  // ---- internals ----

  #now(): number {
    return this.#host.clock();
  }

  #checkPeerId(peerId: string): void {
    if (typeof peerId !== "string" || peerId.length === 0) {
      throw new PeerlinkError(ErrorCode.INVALID_PEER_ID, "peer id must be a non-empty string");
    }
  }

  #checkRunning(): void {
    if (this.#state !== "running" || !this.#host.running) {
      throw new PeerlinkError(ErrorCode.STOPPED, this.#state === "new" ? "the manager has not started" : "the manager is stopped");
    }
  }

  #isConnected(peerId: string): boolean {
    return this.#host.managed().some((m) => m.peer === peerId);
  }

  /** True when the peer's last recorded disconnect has a "never" strategy (not resumed at start). */
  #lostForGood(peerId: string): boolean {
    const last = this.#host.peers.get(peerId)?.disconnections.at(-1);
    if (last === undefined) return false;
    return this.#scheduler.policy.strategyFor(last.reason, last.initiator).kind === "never";
  }

  #learnAddresses(peerId: string, addresses: readonly string[], now: number): void {
    try {
      this.#host.peers.upsert(peerId, { addresses }, now);
    } catch (error) {
      // A bad address or peer id from want(): keep it out of the database, the dial will report it.
      this.#host.journal("refused", { peerId, code: PeerlinkError.from(error).code, detail: `reconnect: ${String(error)}` });
    }
  }

  #touchWanted(peerId: string, explicit: boolean, addresses: readonly string[]): void {
    const old = this.#wanted.get(peerId);
    this.#wanted.delete(peerId);
    const entry: WantedEntry = {
      explicit: explicit || (old?.explicit ?? false),
      addresses: addresses.length > 0 ? [...addresses] : (old?.addresses ?? []),
    };
    this.#wanted.set(peerId, entry);
    this.#evictWanted();
  }

  #evictWanted(): void {
    if (this.#wanted.size <= this.#settings.maxWanted) return;
    for (const [peerId, entry] of this.#wanted) {
      if (this.#wanted.size <= this.#settings.maxWanted) return;
      if (entry.explicit) continue;
      this.#wanted.delete(peerId);
      this.#scheduler.forget(peerId);
      this.#abortDial(peerId);
    }
  }

  #abortDial(peerId: string): void {
    const controller = this.#dialing.get(peerId);
    if (controller === undefined) return;
    this.#dialing.delete(peerId);
    controller.abort(new PeerlinkError(ErrorCode.ABORTED, "reconnect cancelled"));
  }

  #dueOf(peerId: string, now: number): { at?: number; suppressed?: boolean } {
    const st = this.#scheduler.status(peerId, now);
    return {
      ...(st?.dueAt !== undefined ? { at: st.dueAt } : {}),
      suppressed: st?.suppressed ?? false,
    };
  }

  #report(peer: string, reason: ReconnectTrigger, decision: ReconnectDecision, now: number): void {
    if (decision.at === undefined) return;
    this.#emit("reconnect:scheduled", {
      peer,
      reason,
      delayMs: Math.max(0, decision.at - now),
      at: decision.at,
      attempt: this.#scheduler.status(peer, now)?.attempt ?? 0,
      waitingForResources: decision.action === "waiting_for_resources",
      suppressed: decision.suppressed ?? false,
    });
  }

  #emit<K extends keyof ReconnectServiceEvents>(type: K, event: ReconnectServiceEvents[K]): void {
    // The manager's event map extends ReconnectServiceEvents, so the payload type is the same one.
    this.#host.emit(type, event as ConnectionManagerEvents[K]);
  }

  /** Something changed: re-arm the timer and save (once per tick). */
  #changed(): void {
    if (this.#state !== "running") return;
    this.#arm();
    if (!this.#settings.persist || this.#persistQueued) return;
    this.#persistQueued = true;
    queueMicrotask(() => {
      if (!this.#persistQueued) return;
      this.#persistQueued = false;
      if (this.#state === "running") this.#persist();
    });
  }

  #arm(): void {
    const at = this.#scheduler.nextDeadline();
    if (at === this.#timerAt && (at === undefined || this.#timer !== undefined)) return;
    this.#clearTimer();
    if (at === undefined || this.#state !== "running") return;
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, at - this.#now()));
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.#tick();
    }, delay);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
  }

  #tick(): void {
    if (this.#state !== "running" || !this.#host.running) return;
    const now = this.#now();
    for (const peer of this.#scheduler.due(now)) this.#attempt(peer, now);
    this.#changed();
  }

  #attempt(peer: string, now: number): void {
    this.#touch(peer);
    if (!this.#wanted.has(peer)) {
      this.#scheduler.cancel(peer);
      return;
    }
    if (this.#isConnected(peer)) {
      this.#scheduler.onConnected(peer);
      return;
    }
    if (this.#dialing.has(peer)) return; // the redial in flight reports its outcome
    const addresses = this.#addressesOf(peer);
    const attempt = this.#scheduler.status(peer, now)?.attempt ?? 0;
    const controller = new AbortController();
    this.#dialing.set(peer, controller);
    this.#emit("reconnect:attempt", { peer, attempt, addresses });
    let dial: Promise<unknown>;
    try {
      dial = this.#host.dial({ peerId: peer, addresses }, { signal: controller.signal });
    } catch (error) {
      dial = Promise.reject(error);
    }
    dial.then(
      () => {
        if (this.#dialing.get(peer) !== controller) return;
        this.#dialing.delete(peer);
        if (this.#state !== "running") return;
        this.#scheduler.onConnected(peer);
        this.#touch(peer);
        this.#changed();
      },
      (error: unknown) => {
        if (this.#dialing.get(peer) !== controller) return; // cancelled, unwanted or stopped
        this.#dialing.delete(peer);
        if (this.#state !== "running" || !this.#host.running) return;
        this.#onRedialFailed(peer, PeerlinkError.from(error), addresses, now);
      },
    );
  }

  /**
   * A redial of `peer` (to `addresses`, started at `startedAt`) failed with `error`:
   * - cancelled or stopped: nothing;
   * - someone else answered at an address (IDENTITY_MISMATCH): that address is dropped for this peer
   *   (never dialed again for it), the others are retried; abandoned when none is left;
   * - the peer refused with a Goodbye, or this node failed the handshake with a verdict that stands
   *   (incompatible, authentication, protocol violation): that reason's strategy ("never" abandons; its
   *   own backoff) and the peer's retry-after as a floor;
   * - banned or this node itself: abandoned;
   * - this node's own connection limits: waits for a freed slot, no attempt counted;
   * - anything else: the next backoff step.
   */
  #onRedialFailed(peer: string, error: PeerlinkError, addresses: readonly string[], startedAt: number): void {
    if (error.code === ErrorCode.STOPPED || error.code === ErrorCode.ABORTED) return;
    const now = this.#now();
    this.#touch(peer);
    const verdict = redialVerdictOf(error);
    if (error.code === ErrorCode.IDENTITY_MISMATCH) {
      this.#dropAddressAnsweredByAnother(peer, addresses, startedAt);
      if (this.#addressesOf(peer).length > 0) {
        this.#report(peer, "dial_failed", this.#scheduler.onDialFailed(peer, now), now);
      } else {
        const reason = DisconnectReason.UNEXPECTED_IDENTITY;
        this.#refused(peer, reason, this.#scheduler.onDialFailed(peer, now, { reason, initiator: "local" }), now);
      }
    } else if (verdict !== undefined) {
      this.#refused(peer, verdict.reason, this.#scheduler.onDialFailed(peer, now, verdict), now);
    } else if (error.code === ErrorCode.PEER_BANNED || error.code === ErrorCode.SELF_CONNECTION) {
      // Refused before any socket: retrying cannot help until the application changes something.
      this.#scheduler.cancel(peer);
      this.#emit("reconnect:abandoned", { peer, reason: error.code });
    } else if (isLocalLimitRefusal(error)) {
      // Our own limits refused it before any socket: not the peer's failure, wait for a free slot.
      this.#report(peer, "dial_failed", this.#scheduler.onLocalLimit(peer, now), now);
    } else {
      this.#report(peer, "dial_failed", this.#scheduler.onDialFailed(peer, now), now);
    }
    this.#changed();
  }

  /** Reports a redial failure decided by `reason`'s strategy: abandoned ("never") or the next attempt. */
  #refused(peer: string, reason: DisconnectReason, decision: ReconnectDecision, now: number): void {
    if (decision.action === "never") this.#emit("reconnect:abandoned", { peer, reason });
    else this.#report(peer, "dial_failed", decision, now);
  }

  /** The addresses a redial of `peer` dials: the peer database's, else those given to `want()`. */
  #addressesOf(peer: string): string[] {
    const known = this.#host.peers.addressesOf(peer);
    return known.length > 0 ? known : [...(this.#wanted.get(peer)?.addresses ?? [])];
  }

  /**
   * Forgets, for `peer`, the address at which another identity answered its redial. The manager tries the
   * addresses in order and stops at an identity failure, recording a failed dial for each address it tried:
   * the culprit is the last of them with a failure recorded since `startedAt` (the only one, if one was dialed).
   */
  #dropAddressAnsweredByAnother(peer: string, addresses: readonly string[], startedAt: number): void {
    let culprit: string | undefined = addresses.length === 1 ? addresses[0] : undefined;
    if (culprit === undefined) {
      const record = this.#host.peers.get(peer);
      for (const address of addresses) {
        const lastFailure = record?.addresses.find((a) => a.address === address)?.lastFailure;
        if (lastFailure !== undefined && lastFailure >= startedAt) culprit = address;
      }
    }
    if (culprit === undefined) return;
    this.#host.peers.removeAddress(peer, culprit);
    const entry = this.#wanted.get(peer);
    if (entry !== undefined) entry.addresses = entry.addresses.filter((a) => a !== culprit);
  }

  /** Notes that `peer`'s backoff changed, to be saved on its peer record (only when persisting, only wanted peers). */
  #touch(peer: string): void {
    if (this.#settings.persist && this.#wanted.has(peer)) this.#touched.add(peer);
  }

  #persist(): void {
    const peers = this.#host.peers;
    try {
      for (const peer of this.#touched) {
        if (!peers.has(peer)) continue;
        peers.setBackoff(peer, this.#scheduler.backoffOf(peer) ?? { attempt: 0 });
      }
      this.#touched.clear();
      const wanted: WantedPeerState[] = [...this.#wanted].map(([peerId, e]) => ({
        peerId,
        explicit: e.explicit,
        addresses: [...e.addresses],
      }));
      peers.setExtra(RECONNECT_STATE_KEY, encodeReconnectState({ version: 1, scheduler: this.#scheduler.toJSON(), wanted }));
    } catch (error) {
      process.emitWarning(`peerlink: saving the reconnect state failed: ${String(error)}`, "PeerlinkServiceWarning");
    }
  }

  #restore(): void {
    const saved = this.#host.peers.getExtra()[RECONNECT_STATE_KEY];
    if (saved === undefined) return;
    try {
      const state = parseReconnectState(saved);
      const scheduler = ReconnectScheduler.fromJSON(state.scheduler, this.#schedulerOptions);
      this.#scheduler = scheduler;
      const before = [...this.#wanted]; // want() calls made before start win
      this.#wanted.clear();
      for (const w of state.wanted) this.#wanted.set(w.peerId, { explicit: w.explicit, addresses: w.addresses });
      for (const [peerId, entry] of before) this.#touchWanted(peerId, entry.explicit, entry.addresses);
      this.#evictWanted();
    } catch (cause) {
      this.#host.emit("database:recovered", {
        from: "empty",
        error: new PeerlinkError(ErrorCode.DATABASE_CORRUPT, "saved reconnect state unreadable; starting without backoff history", {
          cause,
        }),
      });
    }
  }
}
