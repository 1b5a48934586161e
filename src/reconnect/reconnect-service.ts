/**
 * The reconnect service: a {@link ManagerService} that redials lost peers the
 * node still wants, with the sans-IO {@link ReconnectCore} deciding which and
 * when, and its state saved in the peer database so backoff and dampening
 * survive a restart.
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
 * `shutdown`); closes for the peer's fault, for lack of resources or a lost
 * connection (local `timeout`, `protocol_violation`, `resource_constraint`,
 * `connection_lost`, …) keep it wanted.
 * {@link ReconnectService.unwant} stops the redials of any peer, explicit
 * ones included (its connection, if any, stays open). Implicitly wanted peers are bounded by
 * `maxWantedPeers` (least recently touched forgotten first); explicit ones
 * are kept until `unwant`.
 *
 * **What happens when a wanted peer is lost.** The manager reports the close
 * (reason, initiator, the peer's retry-after, whether the connection was
 * healthy); the scheduler applies the policy of that reason (see
 * `./policy.ts`: immediate for `normal` and `network_restructure`, backoff
 * with full jitter for `timeout`, `connection_lost` (no Goodbye: a crash or a
 * reset), `protocol_violation`, `shutdown`, `rate_limited`, …, after freed
 * resources for a local
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
 * Closes caused by this node's own shutdown are not scheduled. A peer the
 * peer database reports banned (`host.peers.isBanned`) is never redialed: it
 * is abandoned (`PEER_BANNED`) instead of being scheduled or dialed.
 *
 * **Parts.** The rules live in the sans-IO {@link ReconnectCore}
 * (`./reconnect-core.ts`, tested with a fake clock); the queue of due times in
 * `./scheduler.ts`, its budget in `./budget.ts`. This module is the thin
 * adapter: one timer set to the core's next deadline, dials through the
 * manager, events, and the state saved in the peer database.
 *
 * Events (emitted on the manager): `reconnect:scheduled`
 * ({@link ReconnectScheduledEvent}), `reconnect:attempt`
 * ({@link ReconnectAttemptEvent}) and `reconnect:abandoned`
 * ({@link ReconnectAbandonedEvent}).
 *
 * Time comes from the manager's clock (`Date.now` by default). Keep it epoch
 * time when the peer database is persistent: saved deadlines are absolute.
 *
 * The manager creates it from its `reconnect` option and exposes it as
 * `manager.reconnect` (adding another through `services` would redial twice).
 *
 * @example
 * ```ts
 * const manager = new ConnectionManager({
 *   peerStore: "./peers.json",
 *   reconnect: { budget: { capacity: 10, refillPerSecond: 5 } },
 * });
 * await manager.start();
 * manager.reconnect?.want(bootstrapPeerId, ["10.0.0.7:4001"]); // dialed now, and again whenever lost
 * ```
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { ManagedClose, ManagedConnection, ManagerHost, ManagerService } from "../manager/services.js";
import type { ReconnectBudget } from "./budget.js";
import type { FlapDampingOptions } from "./flap-damping.js";
import type { ReconnectPolicy, ReconnectPolicyOptions } from "./policy.js";
import type { ReconnectAction, ReconnectEvent, ReconnectView } from "./reconnect-actions.js";
import { ReconnectCore } from "./reconnect-core.js";
import type { ReconnectServiceStatus } from "./reconnect-events.js";
import { encodeReconnectState } from "./reconnect-state.js";
import { ReconnectScheduler, type ReconnectSchedulerOptions } from "./scheduler.js";
import { DEFAULT_MAX_WANTED_PEERS, MAX_TIMER_DELAY_MS, RECONNECT_STATE_KEY } from "./service-defaults.js";

export type {
  ReconnectAbandonedEvent,
  ReconnectAttemptEvent,
  ReconnectScheduledEvent,
  ReconnectServiceEvents,
  ReconnectServiceStatus,
  ReconnectTrigger,
} from "./reconnect-events.js";

/**
 * Options of the reconnect service (the `reconnect` option of a `ConnectionManager`). Every option has a default.
 *
 * @category Reconnection
 */
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
  readonly budget?: {
    /** Redials that may start at once (token bucket capacity). */
    readonly capacity: number;
    /** Redials added back per second. */
    readonly refillPerSecond: number;
  };
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
  /** Local IP address redials go out from (a node listening on one of several host or loopback addresses). @default chosen by the OS */
  readonly localAddress?: string;
}

/**
 * The reconnect service: the {@link ManagerService} hooks plus the public controls.
 *
 * @category Reconnection
 */
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
 * Validates `options` at once (INVALID_ARGUMENT). `shared.budget` replaces the
 * service's own budget with one shared with other dialers (the manager shares
 * one with its target mesh); `options.budget` is then ignored.
 *
 * @example
 * ```ts
 * new ConnectionManager({ services: [createReconnectService({ random: () => 0.5 })] });
 * ```
 */
export function createReconnectService(
  options: ReconnectOptions = {},
  shared: { readonly budget?: ReconnectBudget } = {},
): (host: ManagerHost) => ReconnectService {
  const schedulerOptions = { ...toSchedulerOptions(options), ...(shared.budget !== undefined ? { budget: shared.budget } : {}) };
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
      localAddress: options.localAddress,
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

interface Settings {
  readonly redialInbound: boolean;
  readonly maxWanted: number;
  readonly resumeOnStart: boolean;
  readonly persist: boolean;
  readonly localAddress: string | undefined;
}

/** The adapter: the manager's hooks and the public controls fed to the core, its actions carried out. */
class ReconnectServiceImpl implements ReconnectService {
  readonly #host: ManagerHost;
  readonly #persistEnabled: boolean;
  readonly #localAddress: string | undefined;
  readonly #core: ReconnectCore;
  /** Redials in flight by the core's dial id. */
  readonly #controllers = new Map<number, AbortController>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  #persistQueued = false;

  constructor(host: ManagerHost, schedulerOptions: ReconnectSchedulerOptions, settings: Settings) {
    this.#host = host;
    this.#persistEnabled = settings.persist;
    this.#localAddress = settings.localAddress;
    this.#core = new ReconnectCore(hostView(host), schedulerOptions, {
      redialInbound: settings.redialInbound,
      maxWanted: settings.maxWanted,
      resumeOnStart: settings.resumeOnStart,
      trackBackoff: settings.persist,
    });
  }

  // ---- ManagerService hooks ----

  start(): void {
    if (this.#core.state !== "new") return;
    if (this.#persistEnabled) this.#restore();
    this.#run(this.#core.start(this.#now()));
  }

  onOpen(managed: ManagedConnection): void {
    this.#run(this.#core.onOpen(managed.peer, managed.connection.direction));
  }

  onClose(managed: ManagedConnection, close: ManagedClose): void {
    if (!this.#host.running) return;
    this.#run(
      this.#core.onClose(
        managed.peer,
        { reason: close.reason, initiator: close.initiator, retryAfterMs: close.remoteRetryAfterMs, wasHealthy: close.wasHealthy },
        this.#now(),
      ),
    );
  }

  /** A dial failed at `target.address`: kept for the redial of that peer in flight, whose addresses were raced. */
  onDialFailed(target: { peerId: string | undefined; address: string }, _error: Error): void {
    if (target.peerId !== undefined) this.#core.onAttemptFailed(target.peerId, target.address);
  }

  onSlotFreed(): void {
    if (!this.#host.running) return;
    this.#run(this.#core.onSlotFreed(this.#now()));
  }

  stop(): void {
    const wasRunning = this.#core.state === "running";
    this.#run(this.#core.stop());
    this.#clearTimer();
    if (wasRunning && this.#persistEnabled) this.#persist();
    this.#persistQueued = false;
  }

  // ---- public controls ----

  schedule(peerId: string, delayMs: number): void {
    if (this.#core.state === "running" && !this.#host.running) {
      throw new PeerlinkError(ErrorCode.STOPPED, "the manager is stopped");
    }
    this.#run(this.#core.schedule(peerId, delayMs, this.#now()));
  }

  cancel(peerId: string): void {
    this.#run(this.#core.cancel(peerId));
  }

  want(peerId: string, addresses: readonly string[] = []): void {
    this.#run(this.#core.want(peerId, addresses, this.#now()));
  }

  unwant(peerId: string): void {
    this.#run(this.#core.unwant(peerId));
  }

  status(peerId: string): ReconnectServiceStatus {
    return this.#core.status(peerId, this.#now());
  }

  get nextWakeAt(): number | undefined {
    return this.#timerAt;
  }

  wanted(): string[] {
    return this.#core.wanted();
  }

  // ---- carrying out the core's actions ----

  #now(): number {
    return this.#host.clock();
  }

  /** Carries out `actions`, then, when the core's state changed, re-arms the timer and queues a save. */
  #run(actions: readonly ReconnectAction[]): void {
    for (const action of actions) {
      switch (action.type) {
        case "dial":
          this.#dial(action.peer, action.dialId, action.addresses);
          break;
        case "abort": {
          const controller = this.#controllers.get(action.dialId);
          this.#controllers.delete(action.dialId);
          const message = action.code === ErrorCode.STOPPED ? "the reconnect service is stopping" : "reconnect cancelled";
          controller?.abort(new PeerlinkError(action.code, message));
          break;
        }
        case "emit":
          this.#emit(action.emit);
          break;
        case "learn_addresses":
          this.#learnAddresses(action.peer, action.addresses);
          break;
        case "drop_address":
          this.#host.peers.removeAddress(action.peer, action.address);
          break;
      }
    }
    if (this.#core.takeChanged()) this.#changed();
  }

  #dial(peer: string, dialId: number, addresses: readonly string[]): void {
    const controller = new AbortController();
    this.#controllers.set(dialId, controller);
    let dial: Promise<unknown>;
    try {
      const local = this.#localAddress;
      dial = this.#host.dial({ peerId: peer, addresses }, { signal: controller.signal, ...(local !== undefined ? { localAddress: local } : {}) });
    } catch (error) {
      dial = Promise.reject(error);
    }
    dial.then(
      () => {
        this.#controllers.delete(dialId);
        this.#run(this.#core.onDialSucceeded(peer, dialId));
      },
      (error: unknown) => {
        this.#controllers.delete(dialId);
        // A failure while the manager stops says nothing about the peer.
        const failure = this.#host.running ? PeerlinkError.from(error) : new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping");
        this.#run(this.#core.onDialFailed(peer, dialId, failure, this.#now()));
      },
    );
  }

  #emit(emit: ReconnectEvent): void {
    // The host's event map is the manager's, which composes the reconnect events; the core made the payload.
    (this.#host.emit as (this: ManagerHost, type: string, event: unknown) => void).call(this.#host, emit.type, emit.event);
  }

  #learnAddresses(peer: string, addresses: readonly string[]): void {
    try {
      this.#host.peers.upsert(peer, { addresses }, this.#now());
    } catch (error) {
      // A bad address or peer id from want(): keep it out of the database, the dial will report it.
      this.#host.journal("refused", { peerId: peer, code: PeerlinkError.from(error).code, detail: `reconnect: ${String(error)}` });
    }
  }

  /** Something changed: re-arm the timer and save (once per tick). */
  #changed(): void {
    if (this.#core.state !== "running") return;
    this.#arm();
    if (!this.#persistEnabled || this.#persistQueued) return;
    this.#persistQueued = true;
    queueMicrotask(() => {
      if (!this.#persistQueued) return;
      this.#persistQueued = false;
      if (this.#core.state === "running") this.#persist();
    });
  }

  #arm(): void {
    const at = this.#core.nextDeadline();
    if (at === this.#timerAt && (at === undefined || this.#timer !== undefined)) return;
    this.#clearTimer();
    if (at === undefined) return;
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, at - this.#now()));
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      if (this.#host.running) this.#run(this.#core.tick(this.#now()));
    }, delay);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
  }

  #persist(): void {
    const peers = this.#host.peers;
    try {
      for (const peer of this.#core.touched()) {
        if (peers.has(peer)) peers.setBackoff(peer, this.#core.backoffOf(peer) ?? { attempt: 0 });
      }
      this.#core.clearTouched();
      peers.setExtra(RECONNECT_STATE_KEY, encodeReconnectState(this.#core.toState()));
    } catch (error) {
      process.emitWarning(`peerlink: saving the reconnect state failed: ${String(error)}`, "PeerlinkServiceWarning");
    }
  }

  #restore(): void {
    const saved = this.#host.peers.getExtra()[RECONNECT_STATE_KEY];
    if (saved === undefined) return;
    try {
      this.#core.restore(saved);
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

/** The core's read-only view of the manager and its peer database. */
function hostView(host: ManagerHost): ReconnectView {
  return {
    isConnected: (peer) => host.managed().some((m) => m.peer === peer),
    addressesOf: (peer) => host.peers.addressesOf(peer),
    lastFailureAt: (peer, address) => host.peers.get(peer)?.addresses.find((a) => a.address === address)?.lastFailure,
    lastDisconnect: (peer) => host.peers.get(peer)?.disconnections.at(-1),
    // Optional: the peer database owns bans; a host whose database has no ban list bans nobody here.
    isBanned: (peer, now) => host.peers.isBanned?.(peer, now) ?? false,
  };
}
