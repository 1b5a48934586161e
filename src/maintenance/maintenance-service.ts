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
import { performance } from "node:perf_hooks";
import type { Frame } from "../../generated/peerlink/v1/frame_pb.js";
import type { Connection } from "../connection/connection.js";
import { metricsOf } from "../connection/metrics.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { createHealthScorer, type HealthScorer, type HealthScorerEngine } from "../health/scorer.js";
import { GRADE_BY_INDEX, type HealthGrade, type HealthScore } from "../health/types.js";
import type { ManagedClose, ManagedConnection, ManagerHost, ManagerService } from "../manager/services.js";
import { DisconnectReason } from "../reasons.js";
import type { Unsubscribe } from "../util/typed-emitter.js";
import { ConnectionMonitor, type MonitorAction } from "./connection-monitor.js";
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

interface Tracked {
  readonly connection: Connection;
  readonly peer: string;
  readonly monitor: ConnectionMonitor;
  readonly unsubscribe: readonly Unsubscribe[];
  index: number;
  /** Earliest time (ms) its monitor may have something to do; until then cycles skip it (except health checks). */
  deadline: number;
  framesOk: number;
  framesFailed: number;
  dead: boolean;
  removed: boolean;
  /** Published health: components of {@link Tracked.healthFrom}, hysteresis-filtered grade. */
  health: HealthScore | undefined;
  /** The raw score {@link Tracked.health} was made from. */
  healthFrom: HealthScore | undefined;
  /** The last raw score (components and grade of one check). */
  rawScore: HealthScore | undefined;
  replacement: { readonly target: string; readonly abort: AbortController } | undefined;
  replaced: boolean;
}

const noop = (): void => undefined;

function warn(message: string): void {
  process.emitWarning(`peerlink maintenance: ${message}`, "PeerlinkMaintenanceWarning");
}

class Maintenance implements MaintenanceService {
  readonly options: ResolvedMaintenanceOptions;
  readonly #host: ManagerHost;
  readonly #records: Tracked[] = [];
  readonly #byConnection = new Map<Connection, Tracked>();
  readonly #bursting = new Set<Tracked>();
  readonly #replacements = new Set<AbortController>();
  /** Batch index → record, reused between checks. */
  readonly #order: (Tracked | undefined)[] = [];
  #engine: HealthScorerEngine;
  #scorer: HealthScorer | undefined;
  #started = false;
  #stopped = false;
  #inCycle = false;
  #deferredRemovals: Tracked[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #lastFullAt = Number.NEGATIVE_INFINITY;
  #nextFullAt = Number.POSITIVE_INFINITY;
  #nextHealthAt = Number.POSITIVE_INFINITY;

  constructor(options: ResolvedMaintenanceOptions, host: ManagerHost) {
    this.options = options;
    this.#host = host;
    this.#engine = options.engine;
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
    const now = this.#host.clock();
    this.#nextHealthAt = now + this.options.healthCheckIntervalMs;
    this.#nextFullAt = this.#records.length > 0 ? now : this.#nextHealthAt;
    this.#arm();
  }

  onOpen(managed: ManagedConnection): void {
    const connection = managed.connection;
    if (this.#stopped || this.#byConnection.has(connection) || connection.state !== "open") return;
    const now = this.#host.clock();
    const stats = connection.stats;
    const record: Tracked = {
      connection,
      peer: managed.peer,
      monitor: new ConnectionMonitor(this.options, now, { bytesIn: stats.bytesIn, bytesOut: stats.bytesOut }),
      unsubscribe: [
        connection.on("pong", (p) => this.#onPong(record, p.nonce, p.timestampUs)),
        connection.on("control", (frame) => this.#onControl(record, frame)),
      ],
      index: this.#records.length,
      deadline: now,
      framesOk: 0,
      framesFailed: 0,
      dead: false,
      removed: false,
      health: undefined,
      healthFrom: undefined,
      rawScore: undefined,
      replacement: undefined,
      replaced: false,
    };
    this.#records.push(record);
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
      record.removed = true;
      for (const off of record.unsubscribe) off();
    }
    this.#records.length = 0;
    this.#order.length = 0;
    this.#deferredRemovals = [];
    this.#byConnection.clear();
    this.#bursting.clear();
    this.#scorer = undefined;
  }

  // ---- queries ----

  rttOf(connection: Connection): number | undefined {
    return this.#byConnection.get(connection)?.monitor.keepalive.rtt.srtt;
  }

  healthOf(connection: Connection): HealthScore | undefined {
    return this.#byConnection.get(connection)?.health;
  }

  inspect(connection: Connection): MaintenanceSnapshot | undefined {
    const record = this.#byConnection.get(connection);
    if (record === undefined) return undefined;
    const m = record.monitor;
    const now = this.#host.clock();
    const stats = connection.stats;
    m.observe(stats.bytesIn, stats.bytesOut, stats.lastReceivedAt, now);
    const rtt = m.keepalive.rtt;
    return {
      srttMs: rtt.srtt,
      rttVarMs: rtt.rttvar,
      minRttMs: rtt.min,
      rttSamples: rtt.samples,
      pingsResolved: m.pingsResolved,
      pongsReceived: m.pongsReceived,
      outstandingPingMs: m.outstandingPingAge(now),
      consecutiveMissed: m.keepalive.consecutiveMissed,
      rateInBps: m.throughput.rateIn,
      rateOutBps: m.throughput.rateOut,
      probedBandwidthBps: m.probedBandwidth,
      probesCompleted: m.prober?.probesCompleted ?? 0,
      bandwidthInputBps: m.bandwidthInput(),
      health: record.health,
      degradedForMs: m.health.degradedFor(now),
      replacingWith: record.replacement?.target,
      dead: record.dead,
    };
  }

  runCycle(): void {
    if (this.#stopped) return;
    this.#fullCycle(this.#host.clock());
    this.#arm();
  }

  // ---- connection events ----

  #onPong(record: Tracked, nonce: number, timestampUs: number): void {
    if (record.removed || record.dead) return;
    const now = this.#host.clock();
    const sample = record.monitor.onPong(nonce, timestampUs, now);
    // The answered ping's timeout was the deadline; the next ping may be due sooner.
    this.#reschedule(record, now);
    if (sample !== undefined) {
      // Read through `connection.rtt`.
      const rtt = record.monitor.keepalive.rtt;
      const slot = metricsOf(record.connection);
      slot.rttMs = rtt.srtt;
      slot.rttVarMs = rtt.rttvar;
    }
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
      else this.#reschedule(record, this.#host.clock());
    } else if (kind.case === "bandwidthReport") {
      const r = kind.value;
      const now = this.#host.clock();
      record.monitor.onReport(
        { probeId: r.probeId, framesReceived: r.framesReceived, bytesReceived: r.bytesReceived, elapsedUs: r.elapsedUs },
        now,
      );
      this.#reschedule(record, now);
    }
  }

  #violation(record: Tracked, error: unknown): void {
    const e = PeerlinkError.from(error);
    record.dead = true;
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
    record.deadline = record.monitor.nextDeadline(now, performance.now());
    this.#wake(record.deadline);
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
    const delay = Math.min(Math.max(0, at - this.#host.clock()), 2 ** 31 - 1);
    this.#timer = setTimeout(this.#onTimer, delay);
    this.#timer.unref();
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#stopped) return;
    const now = this.#host.clock();
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

  /** Keepalive, probes and (when due) the health check for every connection: O(connections). */
  #fullCycle(now: number): void {
    const perfNow = performance.now();
    this.#inCycle = true;
    let earliest = Number.POSITIVE_INFINITY;
    try {
      const records = this.#records;
      // The health check's inputs are filled in the same pass (one walk over the connections' state).
      const scorer = now >= this.#nextHealthAt ? this.#ensureScorer(records.length) : undefined;
      const batch = scorer?.batch;
      const order = this.#order;
      let count = 0;
      for (let i = 0; i < records.length; i++) {
        const record = records[i] as Tracked;
        if (record.dead || record.removed) continue;
        const due = record.deadline <= now;
        if (!due && batch === undefined) {
          if (record.deadline < earliest) earliest = record.deadline;
          continue;
        }
        const monitor = record.monitor;
        const stats = record.connection.stats;
        record.framesOk = stats.framesIn - stats.unknownProtocolFrames;
        record.framesFailed = stats.unknownProtocolFrames;
        monitor.observe(stats.bytesIn, stats.bytesOut, stats.lastReceivedAt, now);
        if (due) {
          const action = monitor.poll(now);
          if (action.type === "dead") {
            this.#declareDead(record, action);
            continue;
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
          record.deadline = monitor.nextDeadline(now, perfNow);
        }
        if (record.deadline < earliest) earliest = record.deadline;
        if (batch !== undefined && monitor.readyForScoring(now)) {
          monitor.fillInputs(batch, count, record.framesOk, record.framesFailed, now);
          order[count++] = record;
        }
      }
      if (scorer !== undefined) {
        this.#healthCheck(scorer, count, now);
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

  /** Releases the next frames of the probe bursts in progress: O(bursting connections). */
  #burstCycle(now: number): void {
    const perfNow = performance.now();
    for (const record of this.#bursting) {
      this.#pumpProbe(record, now);
      record.deadline = record.monitor.nextDeadline(now, perfNow);
      // A finished burst waits for the report: a full-cycle deadline again.
      if (!record.monitor.bursting) this.#wake(record.deadline);
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
      record.connection.sendControl(frame);
    } catch {
      // closing, or the frame exceeds the connection's maximum (then the probe times out)
    }
  }

  #declareDead(record: Tracked, action: Extract<MonitorAction, { type: "dead" }>): void {
    record.dead = true;
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
    return this.#scorer;
  }

  /**
   * Scores the `count` connections whose inputs the cycle wrote into the batch
   * (in the reused order array) in one call, applies hysteresis, publishes,
   * and replaces degraded ones.
   */
  #healthCheck(filled: HealthScorer, filledCount: number, now: number): void {
    const records = this.#records;
    const order = this.#order;
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
    const b = scorer.batch;
    const { latency, reliability, bandwidth, overall } = b;
    const grades = b.grade;
    let exclude: Set<string> | undefined;
    for (let k = 0; k < count; k++) {
      const record = order[k] as Tracked;
      order[k] = undefined;
      if (record.removed) continue;
      const grade = GRADE_BY_INDEX[grades[k] as number] as HealthGrade;
      const lat = latency[k] as number;
      const rel = reliability[k] as number;
      const bw = bandwidth[k] as number;
      const all = overall[k] as number;
      // A score is an immutable snapshot; a new one is made only when it moved (steady links allocate nothing).
      let raw = record.rawScore;
      if (
        raw === undefined ||
        raw.grade !== grade ||
        Math.abs(raw.latency - lat) >= HEALTH_REPUBLISH_DELTA ||
        Math.abs(raw.reliability - rel) >= HEALTH_REPUBLISH_DELTA ||
        Math.abs(raw.bandwidth - bw) >= HEALTH_REPUBLISH_DELTA
      ) {
        raw = { latency: lat, reliability: rel, bandwidth: bw, overall: all, grade };
        record.rawScore = raw;
      }
      const tracker = record.monitor.health;
      const change = tracker.update(raw, now);
      const published = tracker.grade ?? grade;
      let health = record.health;
      if (health === undefined || record.healthFrom !== raw || health.grade !== published) {
        health = published === raw.grade ? raw : { ...raw, grade: published };
        record.health = health;
        record.healthFrom = raw;
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
      if (
        this.options.replaceDegraded &&
        !record.replaced &&
        record.replacement === undefined &&
        !record.dead &&
        !record.removed &&
        tracker.isDegradedFor(now, this.options.degradedReplaceAfterMs)
      ) {
        exclude ??= this.#connectedPeers();
        this.#replace(record, now, exclude);
      }
    }
  }

  /** Fills a batch from scratch (after switching engines). */
  #fillBatch(scorer: HealthScorer, now: number): number {
    const b = scorer.batch;
    const order = this.#order;
    let count = 0;
    for (const record of this.#records) {
      if (record.dead || record.removed || !record.monitor.readyForScoring(now)) continue;
      record.monitor.fillInputs(b, count, record.framesOk, record.framesFailed, now);
      order[count++] = record;
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
  #replace(record: Tracked, now: number, exclude: Set<string>): void {
    const host = this.#host;
    if (!host.running || host.isProtected(record.peer)) return;
    const [candidate] = host.peers.candidates({ now, exclude, limit: 1 });
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
        record.replaced = true;
        const at = host.clock();
        const grade = record.health?.grade ?? "unknown";
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

  #remove(record: Tracked): void {
    if (record.removed) return;
    record.removed = true;
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

  /** Swap-removes a record from the array: O(1). */
  #splice(record: Tracked): void {
    const records = this.#records;
    const i = record.index;
    if (records[i] !== record) return;
    const last = records.pop() as Tracked;
    if (last !== record) {
      records[i] = last;
      last.index = i;
    }
  }
}
