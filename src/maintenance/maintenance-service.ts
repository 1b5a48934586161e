/**
 * The maintenance service (seed 4.2): keepalive pings and RTT, inactivity,
 * passive and active bandwidth measurement, batch health scoring with
 * hysteresis, and make-before-break replacement of degraded connections. It
 * runs beside the ConnectionManager as a {@link ManagerService}, on ONE timer
 * for all connections; each cycle costs O(connections).
 *
 * @example
 * ```ts
 * const manager = new ConnectionManager({
 *   listen: ["0.0.0.0:4001"],
 *   services: [createMaintenanceService({ pingIntervalMs: 10_000, bandwidthProbe: true })],
 * });
 * manager.on("health:change", ({ peer, from, to, score }) => console.log(peer, from, "→", to, score));
 * ```
 *
 * @module
 */
import { emptyConnectionStats, type MutableConnectionStats } from "../connection/stats.js";
import { performance } from "node:perf_hooks";
import type { Frame } from "../../generated/peerlink/v1/frame_pb.js";
import type { Connection } from "../connection/connection.js";
import { metricsOf, type ConnectionMetrics } from "../connection/metrics.js";
import type { ConnectionStats } from "../connection/types.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { createHealthScorer, type HealthScorer, type HealthScorerEngine } from "../health/scorer.js";
import { GRADE_BY_INDEX, type HealthGrade, type HealthScore } from "../health/types.js";
import type { ManagedClose, ManagedConnection, ManagerHost, ManagerService } from "../manager/services.js";
import { DisconnectReason } from "../reasons.js";
import type { Unsubscribe } from "../util/typed-emitter.js";
import { MAX_TIMER_DELAY_MS } from "../util/timers.js";
import { ConnectionMonitor, type MonitorAction } from "./connection-monitor.js";
import { MonitorTable } from "./monitor-table.js";
import { isDegradedGrade } from "./health-tracker.js";
import {
  DEAD_PEER_CLOSE_TIMEOUT_MS,
  INITIAL_HEALTH_BATCH_CAPACITY,
  resolveMaintenanceOptions,
  type MaintenanceOptions,
  type ResolvedMaintenanceOptions,
} from "./maintenance-options.js";
import type { HealthChangeEvent, MaintenanceSnapshot } from "./maintenance-types.js";
import { encodedProbeFrameBytes, probeFrame, reportFrame } from "./probe-frames.js";

/** Name of the manager event emitted on a published grade change (payload {@link HealthChangeEvent}). */
export const HEALTH_CHANGE_EVENT = "health:change";

/**
 * Smallest change of a score component (each in [0, 1]) that makes a new
 * health snapshot; smaller moves keep the previous one (and its grade decides
 * hysteresis all the same). Avoids allocating and republishing 10,000 nearly
 * identical objects at every check.
 */
export const HEALTH_REPUBLISH_DELTA = 0.005;

/**
 * How late (ms) the cycle timer may fire before the cycle is put off by one event-loop turn, so that data
 * that arrived while this process was blocked is read before anyone is judged silent.
 */
const LATE_TIMER_MS = 50;

/** Most probe frames released for one connection in one cycle (a bound, not a rate). */
const MAX_PROBE_FRAMES_PER_CYCLE = 1024;

/** The maintenance service as the manager and the application see it. */
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

/** A connection's counters, written in place by `Connection.readStats` (one object per service, reused). */

interface Tracked {
  readonly connection: Connection;
  readonly peer: string;
  readonly monitor: ConnectionMonitor;
  readonly unsubscribe: readonly Unsubscribe[];
  /** The connection's metrics slot (`connection.rtt`), looked up once. */
  metrics: ConnectionMetrics | undefined;
  /** Position in the service's records and in its {@link CycleTable} (changes when another record is removed). */
  index: number;
  dead: boolean;
  removed: boolean;
  replacement: { readonly target: string; readonly abort: AbortController } | undefined;
  replaced: boolean;
  /**
   * Published in the connection's metrics slot instead of a score object when only the components
   * moved (see {@link LAZY}): made once per connection, so publishing allocates nothing.
   */
  readonly lazyHealth: () => HealthScore | undefined;
  /** The published health when the row left the table (what `lazyHealth` returns from then on). */
  finalHealth: HealthScore | undefined;
}

/** {@link CycleTable.flags}: declared dead (closing). */
const DEAD = 1;
/** {@link CycleTable.flags}: removed from maintenance (closed, or the service stopped). */
const REMOVED = 2;
/** {@link CycleTable.flags}: the connection has `readStats` (a real Connection); otherwise its `stats` are read. */
const READS_IN_PLACE = 4;
/**
 * {@link CycleTable.flags}: the last health update left nothing pending (the
 * raw grade is the published one, so the tracker holds no streak): feeding it
 * the same score again changes nothing and can be skipped.
 */
const SETTLED = 8;
/** {@link CycleTable.flags}: the published grade is Poor or Critical (a replacement candidate once it lasts). */
const DEGRADED = 16;
/**
 * {@link CycleTable.flags}: the published health is the raw components and grade in the table's arrays,
 * not yet made into an object (`rawScores`, `healths`, `healthFroms` are stale). Set when a settled
 * connection's components moved but its grade did not: the common case when many scores move at once
 * (every connection's traffic changed), where allocating and storing 10,000 immutable objects a check
 * dominated the cycle. The object is made on first read ({@link Maintenance.healthOf},
 * `connection.health`) and when the row leaves the table.
 */
const LAZY = 32;

/**
 * The service's per-connection values a cycle reads for EVERY connection, as
 * parallel typed arrays indexed by {@link Tracked.index}, next to the array of
 * connections (the monitors' numbers are in a {@link MonitorTable} with the
 * same rows): a cycle walks contiguous memory instead of each connection's
 * record and monitor. Between health checks a cycle reads only `deadline` and
 * `flags`; a health check reads the connections' counters, the two tables and
 * the batch, and touches a record only when its score moved or its grade may
 * change.
 */
class CycleTable {
  capacity = 0;
  /** Earliest time (ms) the connection's monitor may have something to do; until then cycles skip it (except health checks). */
  deadline = new Float64Array(0);
  /** Bit set: DEAD, REMOVED, READS_IN_PLACE, SETTLED, DEGRADED. */
  flags = new Uint8Array(0);
  /** Frames accepted and rejected at the last read of the counters (health inputs). */
  framesOk = new Float64Array(0);
  framesFailed = new Float64Array(0);
  /**
   * Bytes in and out and last receive time (NaN: none) gathered by the health
   * check in progress (scratch: only valid during that check, not moved by removeSwap).
   */
  bytesIn = new Float64Array(0);
  bytesOut = new Float64Array(0);
  lastReceivedAt = new Float64Array(0);
  /** Components and grade index (-1: none yet) of `rawScores[i]`. */
  rawLatency = new Float64Array(0);
  rawReliability = new Float64Array(0);
  rawBandwidth = new Float64Array(0);
  rawOverall = new Float64Array(0);
  rawGrade = new Int8Array(0);
  readonly connections: Connection[] = [];
  /** The last raw score (components and grade of one check), `undefined` before the first. */
  readonly rawScores: (HealthScore | undefined)[] = [];
  /** Published health: components of `healthFroms[i]`, hysteresis-filtered grade; `undefined` before the first check. */
  readonly healths: (HealthScore | undefined)[] = [];
  /** The raw score `healths[i]` was made from. */
  readonly healthFroms: (HealthScore | undefined)[] = [];

  /** Appends a row at index `connections.length` (growing the arrays by doubling). */
  push(connection: Connection, deadline: number, flags: number): void {
    const i = this.connections.length;
    if (i === this.capacity) this.#grow(Math.max(64, this.capacity * 2));
    this.connections.push(connection);
    this.rawScores.push(undefined);
    this.healths.push(undefined);
    this.healthFroms.push(undefined);
    this.deadline[i] = deadline;
    this.flags[i] = flags;
    this.framesOk[i] = 0;
    this.framesFailed[i] = 0;
    this.rawLatency[i] = Number.NaN;
    this.rawReliability[i] = Number.NaN;
    this.rawBandwidth[i] = Number.NaN;
    this.rawOverall[i] = Number.NaN;
    this.rawGrade[i] = -1;
  }

  /** Moves the last row into row `i` (swap-remove; `i` may be the last row) and drops the last row. */
  removeSwap(i: number): void {
    const last = this.connections.length - 1;
    if (i !== last) {
      this.connections[i] = this.connections[last] as Connection;
      this.rawScores[i] = this.rawScores[last];
      this.healths[i] = this.healths[last];
      this.healthFroms[i] = this.healthFroms[last];
      this.deadline[i] = this.deadline[last] as number;
      this.flags[i] = this.flags[last] as number;
      this.framesOk[i] = this.framesOk[last] as number;
      this.framesFailed[i] = this.framesFailed[last] as number;
      this.rawLatency[i] = this.rawLatency[last] as number;
      this.rawReliability[i] = this.rawReliability[last] as number;
      this.rawBandwidth[i] = this.rawBandwidth[last] as number;
      this.rawOverall[i] = this.rawOverall[last] as number;
      this.rawGrade[i] = this.rawGrade[last] as number;
    }
    this.connections.pop();
    this.rawScores.pop();
    this.healths.pop();
    this.healthFroms.pop();
  }

  clear(): void {
    this.connections.length = 0;
    this.rawScores.length = 0;
    this.healths.length = 0;
    this.healthFroms.length = 0;
  }

  #grow(capacity: number): void {
    const f64 = (old: Float64Array) => {
      const next = new Float64Array(capacity);
      next.set(old);
      return next;
    };
    this.deadline = f64(this.deadline);
    this.framesOk = f64(this.framesOk);
    this.framesFailed = f64(this.framesFailed);
    this.bytesIn = f64(this.bytesIn);
    this.bytesOut = f64(this.bytesOut);
    this.lastReceivedAt = f64(this.lastReceivedAt);
    this.rawLatency = f64(this.rawLatency);
    this.rawReliability = f64(this.rawReliability);
    this.rawBandwidth = f64(this.rawBandwidth);
    this.rawOverall = f64(this.rawOverall);
    const flags = new Uint8Array(capacity);
    flags.set(this.flags);
    this.flags = flags;
    const rawGrade = new Int8Array(capacity);
    rawGrade.set(this.rawGrade);
    this.rawGrade = rawGrade;
    this.capacity = capacity;
  }
}

const noop = (): void => undefined;

function warn(message: string): void {
  process.emitWarning(`peerlink maintenance: ${message}`, "PeerlinkMaintenanceWarning");
}

class Maintenance implements MaintenanceService {
  readonly options: ResolvedMaintenanceOptions;
  readonly #host: ManagerHost;
  /** Monotonic when the host offers it: every deadline here is on this clock (see ManagerHost.monotonicClock). */
  readonly #clock: () => number;
  readonly #records: Tracked[] = [];
  readonly #table = new CycleTable();
  /** The monitors' numbers, row i being `#records[i].monitor`'s. */
  readonly #monitors: MonitorTable;
  readonly #byConnection = new Map<Connection, Tracked>();
  readonly #bursting = new Set<Tracked>();
  readonly #replacements = new Set<AbortController>();
  /** Batch entry → record index, for the health check in progress (sized with the batch). */
  #order = new Int32Array(0);
  #engine: HealthScorerEngine;
  #scorer: HealthScorer | undefined;
  #started = false;
  #stopped = false;
  #inCycle = false;
  #deferredRemovals: Tracked[] = [];
  /** Where connections' counters are read into each cycle (`Connection.readStats`), instead of a new object each. */
  readonly #stats: MutableConnectionStats = emptyConnectionStats();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  /** The current firing is the one-turn-later retry of a late timer (see #onTimer). */
  #lateDeferred = false;
  #lastFullAt = Number.NEGATIVE_INFINITY;
  #nextFullAt = Number.POSITIVE_INFINITY;
  #nextHealthAt = Number.POSITIVE_INFINITY;

  constructor(options: ResolvedMaintenanceOptions, host: ManagerHost) {
    this.options = options;
    this.#host = host;
    this.#clock = host.monotonicClock ?? host.clock;
    this.#engine = options.engine;
    this.#monitors = new MonitorTable(options);
  }

  get engine(): HealthScorerEngine {
    return this.#engine;
  }

  get size(): number {
    return this.#byConnection.size;
  }

  // ---- ManagerService hooks ----

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    const now = this.#clock();
    this.#nextHealthAt = now + this.options.healthCheckIntervalMs;
    this.#nextFullAt = this.#records.length > 0 ? now : this.#nextHealthAt;
    this.#arm();
  }

  onOpen(managed: ManagedConnection): void {
    const connection = managed.connection;
    if (this.#stopped || this.#byConnection.has(connection) || connection.state !== "open") return;
    const now = this.#clock();
    const readsInPlace = typeof (connection as Partial<Connection>).readStats === "function";
    const stats = readsInPlace ? connection.readStats(this.#stats) : connection.stats;
    const unsubscribe = [
      connection.on("pong", (p) => this.#onPong(record, p.nonce, p.timestampUs)),
      connection.on("control", (frame) => this.#onControl(record, frame)),
    ];
    // The monitor takes the next row of the monitor table: the same index as the record's.
    const monitor = new ConnectionMonitor(this.options, now, { bytesIn: stats.bytesIn, bytesOut: stats.bytesOut }, this.#monitors);
    const record: Tracked = {
      connection,
      peer: managed.peer,
      monitor,
      unsubscribe,
      metrics: undefined,
      index: this.#records.length,
      dead: false,
      removed: false,
      replacement: undefined,
      lazyHealth: () => this.#materialize(record),
      finalHealth: undefined,
      replaced: false,
    };
    this.#records.push(record);
    this.#table.push(connection, now, readsInPlace ? READS_IN_PLACE : 0);
    this.#byConnection.set(connection, record);
    // The RTT ping at open is due now.
    this.#wake(now);
  }

  onClose(managed: ManagedConnection, _close: ManagedClose): void {
    const record = this.#byConnection.get(managed.connection);
    if (record !== undefined) this.#remove(record);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    for (const abort of this.#replacements) abort.abort(new PeerlinkError(ErrorCode.STOPPED, "maintenance stopped"));
    this.#replacements.clear();
    for (const record of this.#records) {
      this.#settlePublication(record);
      record.removed = true;
      for (const off of record.unsubscribe) off();
    }
    this.#records.length = 0;
    this.#table.clear();
    this.#monitors.clear();
    this.#order = new Int32Array(0);
    this.#deferredRemovals = [];
    this.#byConnection.clear();
    this.#bursting.clear();
    this.#scorer = undefined;
  }

  // ---- queries ----

  rttOf(connection: Connection): number | undefined {
    return this.#byConnection.get(connection)?.monitor.srttMs;
  }

  healthOf(connection: Connection): HealthScore | undefined {
    const record = this.#byConnection.get(connection);
    return record === undefined ? undefined : this.#materialize(record);
  }

  inspect(connection: Connection): MaintenanceSnapshot | undefined {
    const record = this.#byConnection.get(connection);
    if (record === undefined) return undefined;
    const m = record.monitor;
    const now = this.#clock();
    const stats = this.#readStats(record);
    m.observe(stats.bytesIn, stats.bytesOut, stats.lastReceivedAt, now);
    return {
      srttMs: m.srttMs,
      rttVarMs: m.rttVarMs,
      minRttMs: m.minRttMs,
      rttSamples: m.rttSamples,
      pingsResolved: m.pingsResolved,
      pongsReceived: m.pongsReceived,
      outstandingPingMs: m.outstandingPingAge(now),
      consecutiveMissed: m.consecutiveMissed,
      rateInBps: m.rateIn,
      rateOutBps: m.rateOut,
      probedBandwidthBps: m.probedBandwidth,
      probesCompleted: m.prober?.probesCompleted ?? 0,
      bandwidthInputBps: m.bandwidthInput(),
      health: this.#materialize(record),
      degradedForMs: m.health.degradedFor(now),
      replacingWith: record.replacement?.target,
      dead: record.dead,
    };
  }

  runCycle(): void {
    if (this.#stopped) return;
    this.#fullCycle(this.#clock());
    this.#arm();
  }

  // ---- connection events ----

  #onPong(record: Tracked, nonce: number, timestampUs: number): void {
    if (record.removed || record.dead) return;
    const now = this.#clock();
    const sample = record.monitor.onPong(nonce, timestampUs, now);
    // The answered ping's timeout was the deadline; the next ping may be due sooner.
    this.#reschedule(record, now);
    if (sample !== undefined) {
      // Read through `connection.rtt`.
      const slot = (record.metrics ??= metricsOf(record.connection));
      slot.rttMs = record.monitor.srttMs;
      slot.rttVarMs = record.monitor.rttVarMs;
    }
  }

  /** The connection's counters: in the service's scratch object when the connection can write them there. */
  #readStats(record: Tracked): ConnectionStats {
    return (this.#table.flags[record.index] as number) & READS_IN_PLACE
      ? record.connection.readStats(this.#stats)
      : record.connection.stats;
  }

  #onControl(record: Tracked, frame: Frame): void {
    if (record.removed || record.dead) return;
    const kind = frame.kind;
    if (kind.case === "bandwidthProbe") {
      const probe = kind.value;
      let report;
      try {
        report = record.monitor.onProbe(
          { probeId: probe.probeId, index: probe.index, count: probe.count },
          encodedProbeFrameBytes(probe),
          performance.now(),
        );
      } catch (error) {
        this.#violation(record, error);
        return;
      }
      if (report !== undefined) this.#sendControl(record, reportFrame(report));
      else this.#reschedule(record, this.#clock());
    } else if (kind.case === "bandwidthReport") {
      const r = kind.value;
      const now = this.#clock();
      record.monitor.onReport(
        { probeId: r.probeId, framesReceived: r.framesReceived, bytesReceived: r.bytesReceived, elapsedUs: r.elapsedUs },
        now,
      );
      this.#reschedule(record, now);
    }
  }

  #violation(record: Tracked, error: unknown): void {
    const e = PeerlinkError.from(error);
    this.#markDead(record);
    this.#bursting.delete(record);
    this.#host.journal("closed", {
      peerId: record.peer,
      address: record.connection.remoteAddress,
      code: DisconnectReason.PROTOCOL_VIOLATION,
      detail: `bandwidth probe: ${e.rawMessage}`,
    });
    record.connection.close(DisconnectReason.PROTOCOL_VIOLATION, { detail: e.rawMessage }).catch(noop);
  }

  // ---- timer ----

  /** Recomputes a record's deadline after an event changed its state, and wakes the timer for it. */
  #reschedule(record: Tracked, now: number): void {
    const deadline = record.monitor.nextDeadline(now, performance.now());
    this.#setDeadline(record, deadline);
    this.#wake(deadline);
  }

  /** Makes sure a full cycle runs no later than `at` (but not sooner than the minimum cycle interval allows). */
  #wake(at: number): void {
    const floor = this.#lastFullAt + this.options.minCycleIntervalMs;
    const due = at > floor ? at : floor;
    if (due < this.#nextFullAt) this.#nextFullAt = due;
    this.#arm();
  }

  #arm(): void {
    if (!this.#started || this.#stopped) return;
    let at = this.#nextFullAt;
    for (const record of this.#bursting) {
      const next = record.monitor.prober?.nextDeadline() ?? Number.POSITIVE_INFINITY;
      if (next < at) at = next;
    }
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
    const now = this.#clock();
    // Fired well after it was due: this process was blocked (GC pause, synchronous work, suspend), and
    // what peers sent meanwhile is still unread (timers run before I/O in each turn of the event loop).
    // Judged now, live peers would look silent: run the cycle one turn later, after the reads.
    if (!this.#lateDeferred && now - planned > LATE_TIMER_MS) {
      this.#lateDeferred = true;
      this.#timerAt = planned;
      this.#timer = setTimeout(this.#onTimer, 0);
      this.#timer.unref();
      return;
    }
    this.#lateDeferred = false;
    try {
      if (now >= this.#nextFullAt) this.#fullCycle(now);
      else this.#burstCycle(now);
    } catch (error) {
      // A bug here must not kill the timer: report it and carry on.
      warn(`cycle failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      this.#nextFullAt = now + Math.max(this.options.minCycleIntervalMs, 1);
    }
    this.#arm();
  };

  // ---- cycles ----

  /**
   * Keepalive, probes and (when due) the health check for every connection:
   * O(connections). Without a health check due, a connection whose deadline
   * has not come costs one comparison in the table; with one, every
   * connection's counters are read and its inputs written into the batch
   * (`#pollAndFill`), then scored in one call.
   */
  #fullCycle(now: number): void {
    const perfNow = performance.now();
    this.#inCycle = true;
    let earliest = Number.POSITIVE_INFINITY;
    try {
      const table = this.#table;
      const scorer = now >= this.#nextHealthAt ? this.#ensureScorer(table.connections.length) : undefined;
      if (scorer === undefined) {
        let { deadline, flags } = table;
        // The length is read each time: a connection opened by a callback during the cycle is polled too.
        for (let i = 0; i < table.connections.length; i++) {
          if ((flags[i] as number) & (DEAD | REMOVED)) continue;
          let at = deadline[i] as number;
          if (at <= now) {
            const record = this.#records[i] as Tracked;
            this.#service(record, now, perfNow, this.#readStats(record));
            if (record.dead) continue;
            // Callbacks may have grown the table.
            ({ deadline, flags } = table);
            at = deadline[i] as number;
          }
          if (at < earliest) earliest = at;
        }
      } else {
        const filled = this.#pollAndFill(scorer, now, perfNow);
        earliest = filled.earliest;
        this.#healthCheck(scorer, filled.count, now);
        const next = this.#nextHealthAt + this.options.healthCheckIntervalMs;
        this.#nextHealthAt = next > now ? next : now + this.options.healthCheckIntervalMs;
      }
    } finally {
      this.#inCycle = false;
      this.#flushRemovals();
    }
    this.#lastFullAt = now;
    if (this.#nextHealthAt < earliest) earliest = this.#nextHealthAt;
    const floor = now + this.options.minCycleIntervalMs;
    this.#nextFullAt = earliest > floor ? earliest : floor;
  }

  /**
   * The health-check pass: reads every connection's counters, services those
   * whose deadline came, and writes the inputs of those ready to be scored into
   * the batch. The counters are gathered first, in a loop that does nothing
   * else: visiting 10,000 connections' objects is the expensive part (memory
   * latency), and a small loop lets the processor overlap those visits. The
   * rest then runs over contiguous arrays. A due connection's counters are
   * read again right before it is serviced, as in a cycle without a check.
   */
  #pollAndFill(scorer: HealthScorer, now: number, perfNow: number): { count: number; earliest: number } {
    const table = this.#table;
    const monitors = this.#monitors;
    const { connections } = table;
    let { deadline, flags, framesOk, framesFailed, bytesIn, bytesOut, lastReceivedAt } = table;
    const scratch = this.#stats;
    const gathered = connections.length;
    for (let i = 0; i < gathered; i++) {
      const f = flags[i] as number;
      if (f & (DEAD | REMOVED)) continue;
      const connection = connections[i] as Connection;
      const stats = f & READS_IN_PLACE ? connection.readStats(scratch) : connection.stats;
      const failed = stats.unknownProtocolFrames;
      framesOk[i] = stats.framesIn - failed;
      framesFailed[i] = failed;
      bytesIn[i] = stats.bytesIn;
      bytesOut[i] = stats.bytesOut;
      // NaN stands for undefined: both mean "now" to observe().
      lastReceivedAt[i] = stats.lastReceivedAt ?? Number.NaN;
    }
    const batch = scorer.batch;
    const capacity = batch.capacity;
    const order = this.#order;
    let earliest = Number.POSITIVE_INFINITY;
    let count = 0;
    // The length is read each time: a connection opened by a callback during the cycle is polled too
    // (and scored if the batch has room; else at the next check).
    for (let i = 0; i < connections.length; i++) {
      if ((flags[i] as number) & (DEAD | REMOVED)) continue;
      if ((deadline[i] as number) <= now || i >= gathered) {
        const record = this.#records[i] as Tracked;
        const stats = this.#readStats(record);
        const failed = stats.unknownProtocolFrames;
        framesOk[i] = stats.framesIn - failed;
        framesFailed[i] = failed;
        if ((deadline[i] as number) <= now) {
          this.#service(record, now, perfNow, stats);
          if (record.dead) continue;
          // Callbacks may have grown the table.
          ({ deadline, flags, framesOk, framesFailed, bytesIn, bytesOut, lastReceivedAt } = table);
        } else {
          monitors.observe(i, stats.bytesIn, stats.bytesOut, stats.lastReceivedAt, now);
        }
      } else {
        monitors.observeGathered(i, table, i, now);
      }
      const next = deadline[i] as number;
      if (next < earliest) earliest = next;
      if (count < capacity && monitors.readyForScoring(i, now)) {
        monitors.fillInputs(i, batch, count, framesOk[i] as number, framesFailed[i] as number, now);
        order[count++] = i;
      }
    }
    return { count, earliest };
  }

  /**
   * Feeds a due connection's counters to its monitor, performs what the monitor
   * returns (ping, close as dead, probe frames, a probe report) and stores its
   * next deadline.
   */
  #service(record: Tracked, now: number, perfNow: number, stats: ConnectionStats): void {
    const monitor = record.monitor;
    monitor.observe(stats.bytesIn, stats.bytesOut, stats.lastReceivedAt, now);
    const action = monitor.poll(now);
    if (action.type === "dead") {
      this.#declareDead(record, action);
      return;
    }
    if (action.type === "ping") {
      try {
        record.connection.sendPing(action.nonce, action.timestampUs);
      } catch {
        // closing: the close event removes it
      }
    }
    if (monitor.prober !== undefined) this.#pumpProbe(record, now);
    const receiver = monitor.pollReceiver(perfNow);
    if (receiver.type === "report") this.#sendControl(record, reportFrame(receiver.report));
    this.#setDeadline(record, monitor.nextDeadline(now, perfNow));
  }

  /** Stores a record's next deadline in its table row (a removed record may have no row left). */
  #setDeadline(record: Tracked, deadline: number): void {
    if (!record.removed) this.#table.deadline[record.index] = deadline;
  }

  /** Releases the next frames of the probe bursts in progress: O(bursting connections). */
  #burstCycle(now: number): void {
    const perfNow = performance.now();
    for (const record of this.#bursting) {
      this.#pumpProbe(record, now);
      const deadline = record.monitor.nextDeadline(now, perfNow);
      this.#setDeadline(record, deadline);
      // A finished burst waits for the report: a full-cycle deadline again.
      if (!record.monitor.bursting) this.#wake(deadline);
    }
  }

  #pumpProbe(record: Tracked, now: number): void {
    const monitor = record.monitor;
    for (let i = 0; i < MAX_PROBE_FRAMES_PER_CYCLE; i++) {
      const action = monitor.pollProbe(now);
      if (action.type === "none") break;
      if (action.type === "probe") this.#sendControl(record, probeFrame(action.frame));
    }
    if (monitor.bursting && !record.dead && !record.removed) this.#bursting.add(record);
    else this.#bursting.delete(record);
  }

  #sendControl(record: Tracked, frame: Frame): void {
    try {
      // Probes and reports only measure: dropped, not queued, while the peer is not reading.
      record.connection.sendControl(frame, { droppable: true });
    } catch {
      // closing, or the frame exceeds the connection's maximum (then the probe times out)
    }
  }

  #declareDead(record: Tracked, action: Extract<MonitorAction, { type: "dead" }>): void {
    this.#markDead(record);
    this.#bursting.delete(record);
    const detail =
      action.cause === "missed_pongs"
        ? `keepalive: ${action.missed} consecutive pings unanswered`
        : `inactivity: nothing received for ${this.options.inactivityTimeoutMs} ms`;
    this.#host.journal("closed", {
      peerId: record.peer,
      address: record.connection.remoteAddress,
      code: DisconnectReason.TIMEOUT,
      detail,
      value: action.missed,
    });
    record.connection.close(DisconnectReason.TIMEOUT, { detail, timeoutMs: DEAD_PEER_CLOSE_TIMEOUT_MS }).catch(noop);
  }

  // ---- health ----

  #ensureScorer(count: number): HealthScorer {
    const current = this.#scorer;
    if (current !== undefined && current.batch.capacity >= count && current.engine === this.#engine) return current;
    let capacity = current?.batch.capacity ?? INITIAL_HEALTH_BATCH_CAPACITY;
    while (capacity < count) capacity *= 2;
    const make = (engine: HealthScorerEngine): HealthScorer =>
      createHealthScorer({
        engine,
        capacity,
        referenceLatencyMs: this.options.referenceLatencyMs,
        referenceBandwidthBps: this.options.referenceBandwidthBps,
      });
    try {
      this.#scorer = make(this.#engine);
    } catch (error) {
      if (this.#engine === "js") throw error;
      warn(`the WASM health scorer is unavailable, using the JS engine: ${String(error)}`);
      this.#engine = "js";
      this.#scorer = make("js");
    }
    if (this.#order.length < capacity) {
      const order = new Int32Array(capacity);
      order.set(this.#order);
      this.#order = order;
    }
    return this.#scorer;
  }

  /**
   * Scores the `count` connections whose inputs the cycle wrote into the batch
   * (in the reused order array) in one call, applies hysteresis, publishes,
   * and replaces degraded ones.
   */
  #healthCheck(filled: HealthScorer, filledCount: number, now: number): void {
    const records = this.#records;
    let scorer = filled;
    let count = filledCount;
    try {
      scorer.scoreBatch(count);
    } catch (error) {
      if (this.#engine === "js") throw error;
      warn(`the WASM health scorer failed, switching to the JS engine: ${String(error)}`);
      this.#engine = "js";
      scorer = this.#ensureScorer(records.length);
      count = this.#fillBatch(scorer, now);
      scorer.scoreBatch(count);
    }
    const order = this.#order;
    const b = scorer.batch;
    const { latency, reliability, bandwidth, overall } = b;
    const grades = b.grade;
    const table = this.#table;
    const { flags, rawLatency, rawReliability, rawBandwidth, rawOverall, rawGrade, rawScores, connections } = table;
    const replaceDegraded = this.options.replaceDegraded;
    let exclude: Set<string> | undefined;
    for (let k = 0; k < count; k++) {
      // A health:change listener may have stopped the service (its tables are cleared then).
      if (this.#stopped) return;
      const i = order[k] as number;
      const f = flags[i] as number;
      if (f & REMOVED) continue;
      const gradeIndex = grades[k] as number;
      const lat = latency[k] as number;
      const rel = reliability[k] as number;
      const bw = bandwidth[k] as number;
      // A score is an immutable snapshot; a new one is made only when it moved (steady links allocate
      // nothing). The comparison reads the copies in the table, not the connection's record.
      const moved =
        rawGrade[i] !== gradeIndex ||
        Math.abs((rawLatency[i] as number) - lat) >= HEALTH_REPUBLISH_DELTA ||
        Math.abs((rawReliability[i] as number) - rel) >= HEALTH_REPUBLISH_DELTA ||
        Math.abs((rawBandwidth[i] as number) - bw) >= HEALTH_REPUBLISH_DELTA;
      // Same score as last time and nothing pending: the hysteresis would change nothing, and
      // the published score stays. Only a Poor or Critical published grade can need a replacement.
      if (!moved && f & SETTLED && !(replaceDegraded && f & DEGRADED)) continue;
      if (moved) {
        const sameGrade = rawGrade[i] === gradeIndex;
        rawLatency[i] = lat;
        rawReliability[i] = rel;
        rawBandwidth[i] = bw;
        rawOverall[i] = overall[k] as number;
        rawGrade[i] = gradeIndex;
        if (sameGrade && f & SETTLED) {
          // Components moved, grade unchanged and equal to the published one: the hysteresis has
          // nothing to decide, so the new score is published as is, lazily (LAZY): the row's numbers
          // are the score, and the object is made only if someone reads it.
          if (!(f & LAZY)) {
            flags[i] = f | LAZY;
            this.#host.setHealth(connections[i] as Connection, (this.#records[i] as Tracked).lazyHealth);
          }
        } else {
          const grade = GRADE_BY_INDEX[gradeIndex] as HealthGrade;
          const raw: HealthScore = { latency: lat, reliability: rel, bandwidth: bw, overall: overall[k] as number, grade };
          rawScores[i] = raw;
          flags[i] = f & ~LAZY;
          this.#updateHealth(this.#records[i] as Tracked, raw, now);
        }
      } else if (!(f & SETTLED)) {
        this.#updateHealth(this.#records[i] as Tracked, rawScores[i] as HealthScore, now);
      }
      if (!(replaceDegraded && (flags[i] as number) & DEGRADED)) continue;
      const record = this.#records[i] as Tracked;
      if (
        !record.replaced &&
        record.replacement === undefined &&
        !record.dead &&
        !record.removed &&
        record.monitor.health.isDegradedFor(now, this.options.degradedReplaceAfterMs)
      ) {
        exclude ??= this.#connectedPeers();
        this.#replace(record, exclude);
      }
    }
  }

  /**
   * The published health of a tracked row, made into an object first if it is {@link LAZY}. Called by
   * the record's `lazyHealth` (from the connection's metrics slot), and where the service reads it.
   */
  #materialize(record: Tracked): HealthScore | undefined {
    const table = this.#table;
    const i = record.index;
    if (record.removed && table.connections[i] !== record.connection) return record.finalHealth;
    const f = table.flags[i] as number;
    if (!(f & LAZY)) return table.healths[i];
    const score: HealthScore = {
      latency: table.rawLatency[i] as number,
      reliability: table.rawReliability[i] as number,
      bandwidth: table.rawBandwidth[i] as number,
      overall: table.rawOverall[i] as number,
      grade: GRADE_BY_INDEX[table.rawGrade[i] as number] as HealthGrade,
    };
    table.rawScores[i] = score;
    table.healths[i] = score;
    table.healthFroms[i] = score;
    table.flags[i] = f & ~LAZY;
    // LAZY means "the connection's slot holds lazyHealth": replace it with the object now, whoever asked,
    // so a slot never keeps the function (and through it this service) once the row is settled.
    this.#host.setHealth(record.connection, score);
    return score;
  }

  /**
   * Before a row leaves the table (connection removed, service stopped): a lazily published health
   * becomes a plain object in the connection's slot, so `connection.health` keeps its last value.
   */
  #settlePublication(record: Tracked): void {
    record.finalHealth = this.#materialize(record);
  }

  /** Feeds a raw score to the connection's hysteresis, publishes its health and emits a grade change. */
  #updateHealth(record: Tracked, raw: HealthScore, now: number): void {
    const tracker = record.monitor.health;
    const change = tracker.update(raw, now);
    const published = tracker.grade ?? raw.grade;
    const flags = this.#table.flags;
    let f = (flags[record.index] as number) & ~(SETTLED | DEGRADED);
    if (published === raw.grade) f |= SETTLED;
    if (isDegradedGrade(published)) f |= DEGRADED;
    flags[record.index] = f;
    const { healths, healthFroms } = this.#table;
    const i = record.index;
    let health = healths[i];
    if (health === undefined || healthFroms[i] !== raw || health.grade !== published) {
      health = published === raw.grade ? raw : { ...raw, grade: published };
      healths[i] = health;
      healthFroms[i] = raw;
      this.#host.setHealth(record.connection, health);
    }
    if (change !== undefined) {
      const event: HealthChangeEvent = {
        connection: record.connection,
        peer: record.peer,
        from: change.old,
        to: change.new,
        score: health,
      };
      this.#host.emit(HEALTH_CHANGE_EVENT, event);
    }
  }

  /** Fills a batch from scratch (after switching engines), from the counters read in this cycle. */
  #fillBatch(scorer: HealthScorer, now: number): number {
    const b = scorer.batch;
    const order = this.#order;
    const { flags, framesOk, framesFailed } = this.#table;
    const monitors = this.#monitors;
    let count = 0;
    for (let i = 0; i < monitors.size && count < b.capacity; i++) {
      if ((flags[i] as number) & (DEAD | REMOVED) || !monitors.readyForScoring(i, now)) continue;
      monitors.fillInputs(i, b, count, framesOk[i] as number, framesFailed[i] as number, now);
      order[count++] = i;
    }
    return count;
  }

  // ---- degraded replacement ----

  #connectedPeers(): Set<string> {
    const peers = new Set<string>();
    for (const m of this.#host.managed()) peers.add(m.peer);
    for (const record of this.#records) {
      peers.add(record.peer);
      if (record.replacement !== undefined) peers.add(record.replacement.target);
    }
    return peers;
  }

  /** Dials a healthy candidate first; only once it is open, closes the degraded connection (make-before-break). */
  #replace(record: Tracked, exclude: Set<string>): void {
    const host = this.#host;
    if (!host.running || host.isProtected(record.peer)) return;
    // The peer database keeps wall-clock times (backoff, bans): ask it with the wall clock.
    const [candidate] = host.peers.candidates({ now: host.clock(), exclude, limit: 1 });
    if (candidate === undefined) return;
    exclude.add(candidate.peerId);
    const abort = new AbortController();
    this.#replacements.add(abort);
    record.replacement = { target: candidate.peerId, abort };
    const settle = (): void => {
      this.#replacements.delete(abort);
      record.replacement = undefined;
    };
    let dialing: Promise<Connection>;
    try {
      dialing = host.dial({ peerId: candidate.peerId, addresses: candidate.addresses }, { signal: abort.signal });
    } catch {
      settle();
      return;
    }
    dialing.then(
      (replacement) => {
        settle();
        if (this.#stopped || record.removed || record.dead || replacement.state !== "open") return;
        if (host.isProtected(record.peer)) return;
        const at = this.#clock();
        // The dial took a while (up to the handshake timeout): a connection that recovered meanwhile stays.
        if (!record.monitor.health.isDegradedFor(at, this.options.degradedReplaceAfterMs)) return;
        record.replaced = true;
        const grade = this.#materialize(record)?.grade ?? "unknown";
        const degradedFor = Math.round(record.monitor.health.degradedFor(at));
        host.journal("replaced", {
          peerId: record.peer,
          address: record.connection.remoteAddress,
          code: DisconnectReason.NETWORK_RESTRUCTURE,
          detail: `health ${grade} for ${degradedFor} ms; replaced by ${candidate.peerId} (now open)`,
          value: degradedFor,
        });
        record.connection
          .close(DisconnectReason.NETWORK_RESTRUCTURE, { detail: `replaced by a healthier peer after ${degradedFor} ms ${grade}` })
          .catch(noop);
      },
      () => settle(),
    );
  }

  // ---- bookkeeping ----

  /** Marks a record dead (it is closing): cycles skip it from now on. */
  #markDead(record: Tracked): void {
    record.dead = true;
    if (!record.removed) this.#table.flags[record.index] = (this.#table.flags[record.index] as number) | DEAD;
  }

  #remove(record: Tracked): void {
    if (record.removed) return;
    this.#settlePublication(record);
    record.removed = true;
    this.#table.flags[record.index] = (this.#table.flags[record.index] as number) | REMOVED;
    for (const off of record.unsubscribe) off();
    this.#byConnection.delete(record.connection);
    this.#bursting.delete(record);
    if (this.#inCycle) this.#deferredRemovals.push(record);
    else this.#splice(record);
  }

  #flushRemovals(): void {
    if (this.#deferredRemovals.length === 0) return;
    const removals = this.#deferredRemovals;
    this.#deferredRemovals = [];
    for (const record of removals) this.#splice(record);
  }

  /** Swap-removes a record from the array and its row from the table: O(1). */
  #splice(record: Tracked): void {
    const records = this.#records;
    const i = record.index;
    if (records[i] !== record) return;
    this.#table.removeSwap(i);
    this.#monitors.removeSwap(i);
    const last = records.pop() as Tracked;
    if (last !== record) {
      records[i] = last;
      last.index = i;
    }
  }
}
