/**
 * The maintenance service: keepalive pings and RTT, inactivity, passive and
 * active bandwidth measurement, batch health scoring with hysteresis, and
 * make-before-break replacement of degraded connections. It runs beside the
 * ConnectionManager as a {@link ManagerService}; the manager creates it from
 * its `maintenance` option (adding another through `services` would ping every
 * peer twice). The policy is the sans-IO {@link MaintenanceCore}; this module
 * is its adapter: ONE timer for all connections, the connections' events, and
 * performing the core's actions. Everything is timed on one clock, the host's
 * monotonic clock. Beside it, the sleep/network watch (wake-watch.ts, its own
 * timer) re-checks every connection at once after a sleep or a network change.
 *
 * @example
 * ```ts
 * const manager = new ConnectionManager({
 *   listen: ["0.0.0.0:4001"],
 *   maintenance: { pingIntervalMs: 10_000, bandwidthProbe: true },
 * });
 * manager.on("health:change", ({ peer, from, to, score }) => console.log(peer, from, "→", to, score));
 * ```
 *
 * @module
 */
import type { Frame } from "../../generated/peerlink/v1/frame_pb.js";
import type { Connection } from "../connection/connection.js";
import { metricsOf, type ConnectionMetrics } from "../connection/metrics.js";
import type { MutableConnectionStats } from "../connection/stats.js";
import type { ConnectionStats } from "../connection/types.js";
import type { HealthScorerEngine } from "../health/scorer.js";
import type { HealthScore } from "../health/types.js";
import type { ManagedClose, ManagedConnection, ManagerHost, ManagerService } from "../manager/services.js";
import type { Unsubscribe } from "../util/typed-emitter.js";
import { MAX_TIMER_DELAY_MS } from "../util/timers.js";
import type { Entry } from "./connection-table.js";
import type { MaintenanceAction } from "./maintenance-actions.js";
import { MaintenanceCore } from "./maintenance-core.js";
import { resolveMaintenanceOptions, type MaintenanceOptions, type ResolvedMaintenanceOptions } from "./maintenance-options.js";
import type { HealthChangeEvent, MaintenanceSnapshot } from "./maintenance-types.js";
import { encodedProbeFrameBytes, probeFrame, reportFrame } from "./probe-frames.js";
import { inReplacementOrder, Replacer } from "./replacement.js";
import type { WakeEvent } from "./wake-detector.js";
import { WakeWatch } from "./wake-watch.js";

export { HEALTH_REPUBLISH_DELTA } from "./health-publication.js";

/** Name of the manager event emitted on a published grade change (payload {@link HealthChangeEvent}). */
export const HEALTH_CHANGE_EVENT = "health:change";

/**
 * The maintenance service as the manager and the application see it.
 *
 * @category Maintenance
 */
export interface MaintenanceService extends ManagerService {
  /** The validated options. */
  readonly options: ResolvedMaintenanceOptions;
  /** The scoring engine in use (`"js"` after a WASM failure). */
  readonly engine: HealthScorerEngine;
  /** Connections monitored right now. */
  readonly size: number;
  /** Smoothed RTT of `connection` in ms; `undefined` before the first sample or for an unknown connection. */
  rttOf(connection: Connection): number | undefined;
  /**
   * Health of `connection`: the three components and overall score of the last
   * check, with the published (hysteresis-filtered) grade; `undefined` before
   * its first check or for an unknown connection.
   */
  healthOf(connection: Connection): HealthScore | undefined;
  /** Everything maintenance knows about `connection` (RTT, pings, rates, probes, health), or `undefined`. */
  inspect(connection: Connection): MaintenanceSnapshot | undefined;
  /**
   * Runs one full maintenance cycle now (keepalive for every connection, probes,
   * and the health check when due) and re-arms the timer. The timer does this
   * by itself; this is for benchmarks and diagnostics.
   */
  runCycle(): void;
}

/**
 * Creates the maintenance service factory to pass in the manager's `services`.
 * Options are validated here, once.
 *
 * @throws PeerlinkError INVALID_ARGUMENT naming the first bad option.
 */
export function createMaintenanceService(options: MaintenanceOptions = {}): (host: ManagerHost) => MaintenanceService {
  const resolved = resolveMaintenanceOptions(options);
  return (host) => new Maintenance(resolved, host);
}

/** What the adapter keeps per connection besides the core's entry. */
interface Attached {
  readonly entry: Entry<Connection>;
  readonly unsubscribe: readonly Unsubscribe[];
  /** The connection's metrics slot (`connection.rtt`), looked up once. */
  metrics: ConnectionMetrics | undefined;
  /**
   * Published in the connection's metrics slot instead of a score object while the core's health of the
   * connection is lazy: made once per connection, so publishing allocates nothing.
   */
  readonly lazyHealth: () => HealthScore | undefined;
}

const noop = (): void => undefined;

function warn(message: string): void {
  process.emitWarning(`peerlink maintenance: ${message}`, "PeerlinkMaintenanceWarning");
}

/** A connection's counters: written in place when it can (`Connection.readStats`), else its `stats` copy. */
function readCounters(connection: Connection, into: MutableConnectionStats): ConnectionStats {
  return typeof (connection as Partial<Connection>).readStats === "function" ? connection.readStats(into) : connection.stats;
}

class Maintenance implements MaintenanceService {
  readonly options: ResolvedMaintenanceOptions;
  readonly #host: ManagerHost;
  /** Monotonic when the host offers it (see ManagerHost.monotonicClock): every time here is on this clock. */
  readonly #clock: () => number;
  readonly #core: MaintenanceCore<Connection>;
  readonly #replacer: Replacer;
  readonly #wake: WakeWatch | undefined;
  readonly #attached = new Map<Connection, Attached>();
  #started = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(options: ResolvedMaintenanceOptions, host: ManagerHost) {
    this.options = options;
    this.#host = host;
    this.#clock = host.monotonicClock ?? host.clock;
    this.#core = new MaintenanceCore(options, readCounters);
    this.#replacer = new Replacer(host, this.#core, this.#clock, (entry) => this.#health(entry));
    // Wall against monotonic time: both are the test clock when one was given, so it never "jumps".
    this.#wake =
      options.wakeDetection === undefined
        ? undefined
        : new WakeWatch(options.wakeDetection, { mono: this.#clock, wall: host.clock }, (event) => this.#onWake(event));
  }

  get engine(): HealthScorerEngine {
    return this.#core.engine;
  }

  get size(): number {
    return this.#attached.size;
  }

  // ---- ManagerService hooks ----

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#core.start(this.#clock());
    this.#wake?.start();
    this.#arm();
  }

  onOpen(managed: ManagedConnection): void {
    const connection = managed.connection;
    if (this.#stopped || this.#attached.has(connection) || connection.state !== "open") return;
    const entry = this.#core.open(connection, managed.peer, this.#clock());
    const attached: Attached = {
      entry,
      unsubscribe: [
        connection.on("pong", (p) => this.#onPong(attached, p.nonce, p.timestampUs)),
        connection.on("control", (frame) => this.#onControl(entry, frame)),
      ],
      metrics: undefined,
      lazyHealth: () => this.#health(entry),
    };
    this.#attached.set(connection, attached);
    this.#arm();
  }

  onClose(managed: ManagedConnection, _close: ManagedClose): void {
    const attached = this.#attached.get(managed.connection);
    if (attached === undefined) return;
    this.#detach(attached);
    this.#attached.delete(managed.connection);
    this.#core.remove(attached.entry);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#wake?.stop();
    this.#replacer.stop();
    for (const attached of this.#attached.values()) this.#detach(attached);
    this.#attached.clear();
    this.#core.stop();
  }

  // ---- queries ----

  rttOf(connection: Connection): number | undefined {
    return this.#attached.get(connection)?.entry.monitor.srttMs;
  }

  healthOf(connection: Connection): HealthScore | undefined {
    const attached = this.#attached.get(connection);
    return attached === undefined ? undefined : this.#health(attached.entry);
  }

  inspect(connection: Connection): MaintenanceSnapshot | undefined {
    const attached = this.#attached.get(connection);
    if (attached === undefined) return undefined;
    this.#health(attached.entry);
    return this.#core.inspect(attached.entry, this.#clock());
  }

  runCycle(): void {
    if (this.#stopped) return;
    this.#perform(this.#core.runCycle(this.#clock()));
    this.#arm();
  }

  /** This node slept or its network changed: every connection is re-checked now, then the event is emitted. */
  #onWake(event: WakeEvent): void {
    if (this.#stopped) return;
    const connections = this.#core.recheckAll(this.#clock());
    // Re-armed from the clock as it is now (a timer armed before a clock jump may be due much later). The
    // pings go out on a later turn of the event loop, once what peers sent meanwhile has been read (a full
    // cycle now could judge a connection silent whose data waits unread in its socket).
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#arm();
    if (event.type === "resumed") this.#host.emit("node:resumed", { cause: event.cause, sleptMs: Math.round(event.sleptMs), connections });
    else this.#host.emit("network:changed", { added: event.added, removed: event.removed, connections });
  }

  // ---- connection events ----

  #onPong(attached: Attached, nonce: number, timestampUs: number): void {
    const entry = attached.entry;
    const sample = this.#core.onPong(entry, nonce, timestampUs, this.#clock());
    if (sample !== undefined) {
      // Read through `connection.rtt`.
      const slot = (attached.metrics ??= metricsOf(entry.handle));
      slot.rttMs = entry.monitor.srttMs;
      slot.rttVarMs = entry.monitor.rttVarMs;
    }
    this.#arm();
  }

  #onControl(entry: Entry<Connection>, frame: Frame): void {
    const kind = frame.kind;
    if (kind.case === "bandwidthProbe") {
      const probe = kind.value;
      const header = { probeId: probe.probeId, index: probe.index, count: probe.count };
      const action = this.#core.onProbe(entry, header, encodedProbeFrameBytes(probe), this.#clock());
      if (action !== undefined) this.#do(action);
    } else if (kind.case === "bandwidthReport") {
      const r = kind.value;
      const report = { probeId: r.probeId, framesReceived: r.framesReceived, bytesReceived: r.bytesReceived, elapsedUs: r.elapsedUs };
      this.#core.onReport(entry, report, this.#clock());
    } else {
      return;
    }
    this.#arm();
  }

  // ---- publication ----

  /**
   * The published health of `entry`. When the core's value is lazy, the object is made now and replaces
   * the function in the connection's slot, whoever asked: a slot never keeps the function (and through it
   * this service) once the value is an object.
   */
  #health(entry: Entry<Connection>): HealthScore | undefined {
    const lazy = this.#core.isLazy(entry);
    const score = this.#core.health(entry);
    if (lazy && score !== undefined) this.#host.setHealth(entry.handle, score);
    return score;
  }

  /** Before a connection leaves: listeners off, and a lazy health made into the object its slot keeps. */
  #detach(attached: Attached): void {
    this.#health(attached.entry);
    for (const off of attached.unsubscribe) off();
  }

  // ---- actions ----

  #perform(actions: readonly MaintenanceAction<Connection>[]): void {
    let exclude: Set<string> | undefined;
    const now = this.#host.clock();
    for (const action of inReplacementOrder(actions, (a) => this.#host.peers.tags.value(a.entry.peer, now))) {
      // A callback (a health:change listener, a pong) may have stopped the service meanwhile.
      if (this.#stopped) return;
      if (action.type === "replace") {
        if (action.entry.removed) continue;
        exclude ??= this.#replacer.busyPeers(this.#entries());
        this.#replacer.replace(action.entry, exclude);
      } else {
        this.#do(action);
      }
    }
  }

  *#entries(): Iterable<Entry<Connection>> {
    for (const attached of this.#attached.values()) yield attached.entry;
  }

  /** Performs one action (the `replace` ones go through {@link #perform}, which shares their exclude set). */
  #do(action: MaintenanceAction<Connection>): void {
    switch (action.type) {
      case "yield":
      case "replace":
        return;
      case "warn":
        warn(action.message);
        return;
    }
    const entry = action.entry;
    if (entry.removed) return;
    const connection = entry.handle;
    switch (action.type) {
      case "ping":
        try {
          connection.sendPing(action.nonce, action.timestampUs);
        } catch {
          // closing: the close event removes it
        }
        return;
      case "probe":
        this.#sendControl(connection, probeFrame(action.frame));
        return;
      case "report":
        this.#sendControl(connection, reportFrame(action.report));
        return;
      case "close":
        this.#host.journal("closed", {
          peerId: entry.peer,
          address: connection.remoteAddress,
          code: action.reason,
          detail: action.note,
          ...(action.missed === undefined ? {} : { value: action.missed }),
        });
        connection
          .close(action.reason, action.timeoutMs === undefined ? { detail: action.detail } : { detail: action.detail, timeoutMs: action.timeoutMs })
          .catch(noop);
        return;
      case "publish": {
        const attached = this.#attached.get(connection);
        if (attached === undefined) return;
        // A reader may have made the lazy value an object since the core asked: publish that instead.
        const score = action.score ?? (this.#core.isLazy(entry) ? attached.lazyHealth : this.#core.health(entry));
        if (score !== undefined) this.#host.setHealth(connection, score);
        return;
      }
      case "health-change": {
        const event: HealthChangeEvent = { connection, peer: entry.peer, from: action.from, to: action.to, score: action.score };
        this.#host.emit(HEALTH_CHANGE_EVENT, event);
        return;
      }
    }
  }

  #sendControl(connection: Connection, frame: Frame): void {
    try {
      // Probes and reports only measure: dropped, not queued, while the peer is not reading.
      connection.sendControl(frame, { droppable: true });
    } catch {
      // closing, or the frame exceeds the connection's maximum (then the probe times out)
    }
  }

  // ---- timer ----

  /** Arms the one timer for the core's next deadline (keeps an earlier one). */
  #arm(): void {
    if (!this.#started || this.#stopped) return;
    const at = this.#core.nextDeadline();
    if (at === Number.POSITIVE_INFINITY) return;
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    const delay = Math.min(Math.max(0, at - this.#clock()), MAX_TIMER_DELAY_MS);
    this.#timer = setTimeout(this.#onTimer, delay);
    this.#timer.unref();
  }

  readonly #onTimer = (): void => {
    const planned = this.#timerAt;
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#stopped) return;
    const actions = this.#core.tick(this.#clock(), planned);
    if (actions.length === 1 && actions[0]?.type === "yield") {
      // Timers run before I/O in each turn of the event loop: one turn later, the data is read.
      this.#timerAt = planned;
      this.#timer = setTimeout(this.#onTimer, 0);
      this.#timer.unref();
      return;
    }
    this.#perform(actions);
    this.#arm();
  };
}
