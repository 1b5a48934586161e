/**
 * The maintenance cycle, sans-IO: keepalive pings and RTT, inactivity,
 * passive and active bandwidth measurement, and (through
 * {@link HealthPublication}) batch health scoring with hysteresis and the
 * decision to replace degraded connections. It owns no timer and no socket:
 * the adapter (maintenance-service.ts) gives it `now` (one monotonic clock),
 * the connections' events and a way to read their counters, performs the
 * {@link MaintenanceAction}s it returns, and arms one timer for
 * {@link MaintenanceCore.nextDeadline}. Each cycle costs O(connections).
 *
 * @example
 * ```ts
 * const core = new MaintenanceCore(options, (conn, into) => conn.readStats(into));
 * core.start(now);
 * const entry = core.open(conn, peer, now);
 * for (const action of core.tick(now)) perform(action);
 * setTimer(core.nextDeadline());
 * ```
 *
 * @module
 */
import { emptyConnectionStats, type MutableConnectionStats } from "../connection/stats.js";
import type { ConnectionStats } from "../connection/types.js";
import { PeerlinkError } from "../errors.js";
import type { HealthScorer, HealthScorerEngine } from "../health/scorer.js";
import type { HealthScore } from "../health/types.js";
import { DisconnectReason } from "../reasons.js";
import { TokenBucket } from "../util/token-bucket.js";
import type { ProbeFrameHeader, ProbeReport } from "./bandwidth-probe.js";
import { ConnectionMonitor } from "./connection-monitor.js";
import { ConnectionTable, DEAD, REMOVED, SETTLED, type Entry } from "./connection-table.js";
import { PROBE_ON_DEMAND_BURST, PROBE_ON_DEMAND_PER_MINUTE } from "./defaults.js";
import { HealthPublication } from "./health-publication.js";
import { Outbox, type MaintenanceAction } from "./maintenance-actions.js";
import { DEAD_PEER_CLOSE_TIMEOUT_MS, type ResolvedMaintenanceOptions } from "./maintenance-options.js";
import type { MaintenanceSnapshot } from "./maintenance-types.js";

/**
 * How late (ms) a timer may fire before the cycle is put off until pending I/O is read (a `yield`
 * action), so that data that arrived while this process was blocked counts before anyone is judged silent.
 */
export const LATE_TIMER_MS = 50;

/** Most probe frames released for one connection in one cycle (a bound, not a rate). */
const MAX_PROBE_FRAMES_PER_CYCLE = 1024;

const YIELD: readonly MaintenanceAction<never>[] = Object.freeze([{ type: "yield" } as const]);
const NOTHING: readonly MaintenanceAction<never>[] = Object.freeze([]);

/**
 * Reads a connection's cumulative counters: into `into` when it can (no allocation), or as a new object.
 * The counters are in memory: reading them is an observation, not I/O.
 */
export type CounterReader<H> = (handle: H, into: MutableConnectionStats) => ConnectionStats;

/** The sans-IO maintenance core (see the module comment). `H` is the adapter's handle for a connection. */
export class MaintenanceCore<H> {
  /** The validated options. */
  readonly options: ResolvedMaintenanceOptions;
  readonly #read: CounterReader<H>;
  readonly #table: ConnectionTable<H>;
  readonly #out = new Outbox<H>();
  readonly #health: HealthPublication<H>;
  readonly #bursting = new Set<Entry<H>>();
  /** Connections the health check found worth an on-demand bandwidth probe. */
  readonly #probeWanted: Entry<H>[] = [];
  /** Where counters are read into (one object, reused). */
  readonly #stats: MutableConnectionStats = emptyConnectionStats();
  #started = false;
  #stopped = false;
  /** The next tick is the retry of a late one (see {@link tick}). */
  #lateDeferred = false;
  #lastFullAt = Number.NEGATIVE_INFINITY;
  #nextFullAt = Number.POSITIVE_INFINITY;
  #nextHealthAt = Number.POSITIVE_INFINITY;

  /**
   * @param options - resolved maintenance options.
   * @param read - reads a connection's counters (the per-connection observations).
   */
  /** The node's budget of on-demand probes, made at the first check that wants one. */
  #onDemandProbes: TokenBucket | undefined;

  constructor(options: ResolvedMaintenanceOptions, read: CounterReader<H>) {
    this.options = options;
    this.#read = read;
    this.#table = new ConnectionTable<H>(options);
    this.#health = new HealthPublication(options, this.#table, this.#out, (entry) => this.#probeWanted.push(entry));
  }

  /** The scoring engine in use (`"js"` after a WASM failure). */
  get engine(): HealthScorerEngine {
    return this.#health.engine;
  }

  /** Connections monitored. */
  get size(): number {
    return this.#table.size;
  }

  /** Starts the schedule at `now`: the first health check one interval later, due connections at once. */
  start(now: number): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#nextHealthAt = now + this.options.healthCheckIntervalMs;
    this.#nextFullAt = this.#table.size > 0 ? now : this.#nextHealthAt;
  }

  /** Forgets every connection (each keeps its published health as `finalHealth`); the core is done. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const entry of this.#table.entries) {
      entry.finalHealth = this.#health.materialize(entry);
      entry.removed = true;
    }
    this.#table.clear();
    this.#health.reset();
    this.#bursting.clear();
    this.#nextFullAt = Number.POSITIVE_INFINITY;
  }

  /**
   * Starts monitoring the connection `handle` of `peer`, opened at `now` (its counters so far are the
   * baseline). Its RTT ping is due at once.
   */
  open(handle: H, peer: string, now: number): Entry<H> {
    const stats = this.#read(handle, this.#stats);
    const monitor = new ConnectionMonitor(
      this.options,
      now,
      { bytesIn: stats.bytesIn, bytesOut: stats.bytesOut },
      this.#table.monitors,
    );
    const entry: Entry<H> = {
      handle,
      peer,
      monitor,
      index: -1,
      dead: this.#stopped,
      removed: this.#stopped,
      replacingWith: undefined,
      replaced: false,
      finalHealth: undefined,
    };
    if (this.#stopped) return entry;
    this.#table.push(entry, now);
    this.#wake(now);
    return entry;
  }

  /** Stops monitoring `entry` (its connection closed). Its published health stays as `finalHealth`. */
  remove(entry: Entry<H>): void {
    if (entry.removed) return;
    entry.finalHealth = this.#health.materialize(entry);
    entry.removed = true;
    this.#bursting.delete(entry);
    this.#table.remove(entry);
  }

  // ---- connection events ----

  /** A Pong arrived at `now`. Returns the RTT sample (ms) when it answered one of our pings. */
  onPong(entry: Entry<H>, nonce: number, timestampUs: number, now: number): number | undefined {
    if (entry.removed || entry.dead) return undefined;
    const sample = entry.monitor.onPong(nonce, timestampUs, now);
    // The answered ping's timeout was the deadline; the next ping may be due sooner.
    this.#reschedule(entry, now);
    return sample;
  }

  /**
   * One of the peer's probe frames (`frameBytes` encoded) arrived at `now`. Returns the report to send
   * when it completes a burst, a close when the probe is impossible (protocol violation), else nothing.
   */
  onProbe(entry: Entry<H>, probe: ProbeFrameHeader, frameBytes: number, now: number): MaintenanceAction<H> | undefined {
    if (entry.removed || entry.dead) return undefined;
    let report: ProbeReport | undefined;
    try {
      report = entry.monitor.onProbe(probe, frameBytes, now);
    } catch (error) {
      const e = PeerlinkError.from(error);
      this.#markDead(entry);
      return {
        type: "close",
        entry,
        reason: DisconnectReason.PROTOCOL_VIOLATION,
        detail: e.rawMessage,
        note: `bandwidth probe: ${e.rawMessage}`,
        missed: undefined,
        timeoutMs: undefined,
      };
    }
    if (report !== undefined) return { type: "report", entry, report };
    this.#reschedule(entry, now);
    return undefined;
  }

  /** The peer's BandwidthReport for one of our probes arrived at `now`. */
  onReport(entry: Entry<H>, report: ProbeReport, now: number): void {
    if (entry.removed || entry.dead) return;
    entry.monitor.onReport(report, now);
    this.#reschedule(entry, now);
  }

  /**
   * Re-checks every connection at `now` (this node slept, or its network changed): an RTT ping for each at
   * once, and a health check as soon as their pongs are due (the shorter of the health interval and the
   * minimum pong timeout), whose grades are published without hysteresis, so they reflect the network as it
   * is now. Returns the connections re-checked.
   */
  recheckAll(now: number): number {
    if (!this.#started || this.#stopped) return 0;
    let count = 0;
    // The next health check waits for the pongs (a check due before them, e.g. one a long stop made late,
    // would grade the network as it was).
    const healthAt = now + Math.min(this.options.healthCheckIntervalMs, this.options.minPongTimeoutMs);
    for (const entry of this.#table.entries) {
      if (entry.dead || entry.removed) continue;
      entry.monitor.recheck(now);
      entry.monitor.health.expedite(healthAt);
      // Not settled: the next check hands its score to the hysteresis even if it did not move (a lazily
      // published score is made an object first, so that is the score it hands).
      this.#health.materialize(entry);
      this.#table.flags[entry.index] = (this.#table.flags[entry.index] as number) & ~SETTLED;
      this.#setDeadline(entry, now);
      count++;
    }
    this.#nextHealthAt = healthAt;
    this.#wake(now);
    return count;
  }

  // ---- replacement bookkeeping ----

  /** A replacement for `entry` is being dialed (`target`), or no longer (`undefined`). */
  setReplacing(entry: Entry<H>, target: string | undefined): void {
    entry.replacingWith = target;
  }

  /**
   * The replacement of `entry` is open at `now`. Returns how long (ms) `entry` has been degraded when it
   * is still to be closed for it (and marks it replaced); `undefined` when it recovered meanwhile or is gone.
   */
  replacementOpened(entry: Entry<H>, now: number): number | undefined {
    if (this.#stopped || entry.removed || entry.dead || entry.replaced) return undefined;
    // The dial took a while (up to the handshake timeout): a connection that recovered meanwhile stays.
    if (!entry.monitor.health.isDegradedFor(now, this.options.degradedReplaceAfterMs)) return undefined;
    entry.replaced = true;
    return Math.round(entry.monitor.health.degradedFor(now));
  }

  // ---- queries ----

  /** True while `entry`'s published health is a function of the table's numbers (see {@link health}). */
  isLazy(entry: Entry<H>): boolean {
    return this.#health.isLazy(entry);
  }

  /** Published health of `entry` (made into an object if it was lazy); `undefined` before its first check. */
  health(entry: Entry<H>): HealthScore | undefined {
    return this.#health.materialize(entry);
  }

  /** Everything the core knows about `entry` at `now` (its counters are read first). */
  inspect(entry: Entry<H>, now: number): MaintenanceSnapshot {
    const m = entry.monitor;
    if (!entry.removed) {
      const stats = this.#read(entry.handle, this.#stats);
      m.observe(stats.bytesIn, stats.bytesOut, stats.lastReceivedAt, now);
    }
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
      health: this.#health.materialize(entry),
      degradedForMs: m.health.degradedFor(now),
      replacingWith: entry.replacingWith,
      dead: entry.dead,
    };
  }

  // ---- the schedule ----

  /** When {@link tick} must run next (ms); +Infinity when nothing is scheduled (not started, stopped, idle). */
  nextDeadline(): number {
    if (!this.#started || this.#stopped) return Number.POSITIVE_INFINITY;
    let at = this.#nextFullAt;
    for (const entry of this.#bursting) {
      const next = entry.monitor.prober?.nextDeadline() ?? Number.POSITIVE_INFINITY;
      if (next < at) at = next;
    }
    return at;
  }

  /**
   * Runs what is due at `now`: a full cycle (keepalive for every due connection, probes, and the health
   * check when due) or only the probe bursts in progress. `plannedAt` is the deadline the timer was armed
   * for: when `now` is more than {@link LATE_TIMER_MS} past it, this process was blocked and what peers
   * sent meanwhile is unread, so the only action is `yield` (call again after reading it).
   */
  tick(now: number, plannedAt: number = now): readonly MaintenanceAction<H>[] {
    if (!this.#started || this.#stopped) return NOTHING;
    if (!this.#lateDeferred && now - plannedAt > LATE_TIMER_MS) {
      this.#lateDeferred = true;
      return YIELD;
    }
    this.#lateDeferred = false;
    try {
      if (now >= this.#nextFullAt) this.#fullCycle(now);
      else this.#burstCycle(now);
    } catch (error) {
      // A bug here must not stop maintenance: report it and carry on.
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      this.#out.push({ type: "warn", message: `cycle failed: ${message}` });
      this.#nextFullAt = now + Math.max(this.options.minCycleIntervalMs, 1);
    }
    return this.#out.take();
  }

  /** Runs a full cycle at `now` whatever is due (benchmarks, diagnostics). */
  runCycle(now: number): readonly MaintenanceAction<H>[] {
    if (this.#stopped) return NOTHING;
    this.#fullCycle(now);
    return this.#out.take();
  }

  /** Makes sure a full cycle runs no later than `at` (but not sooner than the minimum cycle interval allows). */
  #wake(at: number): void {
    const floor = this.#lastFullAt + this.options.minCycleIntervalMs;
    const due = at > floor ? at : floor;
    if (due < this.#nextFullAt) this.#nextFullAt = due;
  }

  /** Recomputes an entry's deadline after an event changed its state. */
  #reschedule(entry: Entry<H>, now: number): void {
    const deadline = entry.monitor.nextDeadline(now, now);
    this.#setDeadline(entry, deadline);
    this.#wake(deadline);
  }

  #setDeadline(entry: Entry<H>, deadline: number): void {
    if (!entry.removed) this.#table.deadline[entry.index] = deadline;
  }

  #markDead(entry: Entry<H>): void {
    entry.dead = true;
    this.#bursting.delete(entry);
    if (!entry.removed) this.#table.flags[entry.index] = (this.#table.flags[entry.index] as number) | DEAD;
  }

  /**
   * Keepalive, probes and (when due) the health check for every connection. Without a health check due,
   * a connection whose deadline has not come costs one comparison; with one, every connection's counters
   * are read and its inputs written into the batch, then scored in one call.
   */
  #fullCycle(now: number): void {
    const table = this.#table;
    let earliest = Number.POSITIVE_INFINITY;
    if (now >= this.#nextHealthAt) {
      const scorer = this.#health.scorer(table.size);
      const filled = this.#pollAndFill(scorer, now);
      earliest = filled.earliest;
      this.#health.check(scorer, filled.count, now);
      earliest = this.#startWantedProbes(now, earliest);
      const next = this.#nextHealthAt + this.options.healthCheckIntervalMs;
      this.#nextHealthAt = next > now ? next : now + this.options.healthCheckIntervalMs;
    } else {
      const { deadline, flags, entries } = table;
      for (let i = 0; i < entries.length; i++) {
        if ((flags[i] as number) & (DEAD | REMOVED)) continue;
        if ((deadline[i] as number) <= now) {
          const entry = entries[i] as Entry<H>;
          this.#service(entry, now, this.#read(entry.handle, this.#stats));
          if (entry.dead) continue;
        }
        const at = deadline[i] as number;
        if (at < earliest) earliest = at;
      }
    }
    this.#lastFullAt = now;
    if (this.#nextHealthAt < earliest) earliest = this.#nextHealthAt;
    const floor = now + this.options.minCycleIntervalMs;
    this.#nextFullAt = earliest > floor ? earliest : floor;
  }

  /**
   * The health-check pass: reads every connection's counters, services those whose deadline came, and
   * writes the inputs of those ready to be scored into the batch. The counters are gathered first, in a
   * loop that does nothing else: visiting 10,000 connections' objects is the expensive part (memory
   * latency), and a small loop lets the processor overlap those visits. The rest runs over contiguous arrays.
   */
  #pollAndFill(scorer: HealthScorer, now: number): { count: number; earliest: number } {
    const table = this.#table;
    const { handles, entries, monitors, deadline, flags, framesOk, framesFailed, bytesIn, bytesOut, lastReceivedAt } = table;
    const read = this.#read;
    const scratch = this.#stats;
    const rows = handles.length;
    for (let i = 0; i < rows; i++) {
      if ((flags[i] as number) & (DEAD | REMOVED)) continue;
      const stats = read(handles[i] as H, scratch);
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
    const order = this.#health.order;
    let earliest = Number.POSITIVE_INFINITY;
    let count = 0;
    for (let i = 0; i < rows; i++) {
      if ((flags[i] as number) & (DEAD | REMOVED)) continue;
      if ((deadline[i] as number) <= now) {
        const entry = entries[i] as Entry<H>;
        this.#service(entry, now, this.#counters(i));
        if (entry.dead) continue;
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
   * Starts the on-demand probes the health check asked for, each bounded by its minimum interval and all of
   * them by the node's budget ({@link PROBE_ON_DEMAND_BURST}); those over the budget wait for a later check.
   */
  #startWantedProbes(now: number, earliest: number): number {
    const wanted = this.#probeWanted;
    const budget = (this.#onDemandProbes ??= new TokenBucket({ capacity: PROBE_ON_DEMAND_BURST, refillPerSecond: PROBE_ON_DEMAND_PER_MINUTE / 60 }, now));
    for (const entry of wanted) {
      if (entry.dead || entry.removed || budget.available(now) < 1) continue;
      if (!entry.monitor.requestProbe(now, this.options.probeOnDemandMinIntervalMs)) continue;
      budget.tryTake(now);
      const deadline = entry.monitor.nextDeadline(now, now);
      this.#setDeadline(entry, deadline);
      if (deadline < earliest) earliest = deadline;
    }
    wanted.length = 0;
    return earliest;
  }

  /** Row `i`'s gathered counters, in the scratch object (for {@link #service}). */
  #counters(i: number): ConnectionStats {
    const s = this.#stats;
    const t = this.#table;
    s.bytesIn = t.bytesIn[i] as number;
    s.bytesOut = t.bytesOut[i] as number;
    const at = t.lastReceivedAt[i] as number;
    s.lastReceivedAt = Number.isNaN(at) ? undefined : at;
    return s;
  }

  /**
   * Feeds a due connection's counters to its monitor, collects what the monitor asks for (ping, close as
   * dead, probe frames, a probe report) and stores its next deadline.
   */
  #service(entry: Entry<H>, now: number, stats: ConnectionStats): void {
    const monitor = entry.monitor;
    monitor.observe(stats.bytesIn, stats.bytesOut, stats.lastReceivedAt, now);
    const action = monitor.poll(now);
    if (action.type === "dead") {
      this.#markDead(entry);
      const detail =
        action.cause === "missed_pongs"
          ? `keepalive: ${action.missed} consecutive pings unanswered`
          : `inactivity: nothing received for ${this.options.inactivityTimeoutMs} ms`;
      this.#out.push({
        type: "close",
        entry,
        reason: DisconnectReason.TIMEOUT,
        detail,
        note: detail,
        missed: action.missed,
        timeoutMs: DEAD_PEER_CLOSE_TIMEOUT_MS,
      });
      return;
    }
    if (action.type === "ping") this.#out.push({ type: "ping", entry, nonce: action.nonce, timestampUs: action.timestampUs });
    if (monitor.prober !== undefined) this.#pumpProbe(entry, now);
    const receiver = monitor.pollReceiver(now);
    if (receiver.type === "report") this.#out.push({ type: "report", entry, report: receiver.report });
    this.#setDeadline(entry, monitor.nextDeadline(now, now));
  }

  /** Releases the next frames of the probe bursts in progress: O(bursting connections). */
  #burstCycle(now: number): void {
    for (const entry of this.#bursting) {
      this.#pumpProbe(entry, now);
      const deadline = entry.monitor.nextDeadline(now, now);
      this.#setDeadline(entry, deadline);
      // A finished burst waits for the report: a full-cycle deadline again.
      if (!entry.monitor.bursting) this.#wake(deadline);
    }
  }

  #pumpProbe(entry: Entry<H>, now: number): void {
    const monitor = entry.monitor;
    for (let i = 0; i < MAX_PROBE_FRAMES_PER_CYCLE; i++) {
      const action = monitor.pollProbe(now);
      if (action.type === "none") break;
      if (action.type === "probe") this.#out.push({ type: "probe", entry, frame: action.frame });
    }
    if (monitor.bursting && !entry.dead && !entry.removed) this.#bursting.add(entry);
    else this.#bursting.delete(entry);
  }
}
