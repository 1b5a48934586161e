/**
 * The maintenance core's per-connection table: one {@link Entry} per monitored
 * connection and, in parallel typed arrays indexed by {@link Entry.index}, the
 * values a cycle reads for EVERY connection, next to the monitors' own rows (a
 * {@link MonitorTable} with the same row order). A cycle walks contiguous
 * memory instead of each connection's objects: between health checks it reads
 * only `deadline` and `flags`; a health check reads the counters, the two
 * tables and the batch, and touches an entry only when its score moved or its
 * grade may change. Rows are swap-removed (O(1)), so an entry's index changes
 * when another is removed.
 *
 * @module
 */
import type { HealthScore } from "../health/types.js";
import type { ConnectionMonitor } from "./connection-monitor.js";
import { MonitorTable } from "./monitor-table.js";
import type { ResolvedMaintenanceOptions } from "./maintenance-options.js";

/** {@link ConnectionTable.flags}: declared dead (closing). */
export const DEAD = 1;
/** {@link ConnectionTable.flags}: removed from maintenance (closed, or the service stopped). */
export const REMOVED = 2;
/**
 * {@link ConnectionTable.flags}: the last health update left nothing pending (the raw grade is the
 * published one, so the hysteresis holds no streak): feeding it the same score again changes nothing.
 */
export const SETTLED = 8;
/** {@link ConnectionTable.flags}: the published grade is Poor or Critical (a replacement candidate once it lasts). */
export const DEGRADED = 16;
/**
 * {@link ConnectionTable.flags}: the published health is the raw components and grade in the table's
 * arrays, not yet made into an object (`rawScores`, `healths`, `healthFroms` are stale). Set when a
 * settled connection's components moved but its grade did not: the common case when many scores move at
 * once, where allocating 10,000 immutable objects a check dominated the cycle. The object is made on
 * first read and when the row leaves the table.
 */
export const LAZY = 32;

/** One monitored connection, as the maintenance core knows it. `H` is the caller's handle for it. */
export interface Entry<H> {
  /** The caller's handle (the adapter's Connection; anything in tests). */
  readonly handle: H;
  /** Printable peer id of the remote side. */
  readonly peer: string;
  /** Keepalive, RTT, meters, probes and hysteresis of this connection. */
  readonly monitor: ConnectionMonitor;
  /** Row in the table (changes when another entry is removed). */
  index: number;
  /** Declared dead (closing): no more cycles. */
  dead: boolean;
  /** Left the table (closed, or the core stopped). */
  removed: boolean;
  /** Peer id of the replacement being dialed, if any. */
  replacingWith: string | undefined;
  /** A replacement was opened and this connection is being closed for it. */
  replaced: boolean;
  /** The published health when the row left the table. */
  finalHealth: HealthScore | undefined;
}

/** The per-connection table (see the module comment). */
export class ConnectionTable<H> {
  capacity = 0;
  /** The entries, row i being `entries[i]`. */
  readonly entries: Entry<H>[] = [];
  /** `entries[i].handle`, kept apart so the counters pass visits no entry object. */
  readonly handles: H[] = [];
  /** The monitors' numbers, row i being `entries[i].monitor`'s. */
  readonly monitors: MonitorTable;
  /** Earliest time (ms) the row's monitor may have something to do; until then cycles skip it (except health checks). */
  deadline = new Float64Array(0);
  /** Bit set: DEAD, REMOVED, SETTLED, DEGRADED, LAZY. */
  flags = new Uint8Array(0);
  /** Frames accepted and rejected at the last read of the counters (health inputs). */
  framesOk = new Float64Array(0);
  framesFailed = new Float64Array(0);
  /** Bytes in and out and last receive time (NaN: none) gathered by the health check in progress (scratch). */
  bytesIn = new Float64Array(0);
  bytesOut = new Float64Array(0);
  lastReceivedAt = new Float64Array(0);
  /** Components and grade index (-1: none yet) of the last raw score. */
  rawLatency = new Float64Array(0);
  rawReliability = new Float64Array(0);
  rawBandwidth = new Float64Array(0);
  rawOverall = new Float64Array(0);
  rawGrade = new Int8Array(0);
  /** The last raw score as an object, `undefined` before the first (stale while LAZY). */
  readonly rawScores: (HealthScore | undefined)[] = [];
  /** Published health: components of `healthFroms[i]`, hysteresis-filtered grade; `undefined` before the first check. */
  readonly healths: (HealthScore | undefined)[] = [];
  /** The raw score `healths[i]` was made from. */
  readonly healthFroms: (HealthScore | undefined)[] = [];

  /** @param options - resolved maintenance options (for the monitor table). */
  constructor(options: ResolvedMaintenanceOptions) {
    this.monitors = new MonitorTable(options);
  }

  /** Rows in use. */
  get size(): number {
    return this.entries.length;
  }

  /**
   * Appends a row for `entry`, whose monitor must have just taken the next row of {@link monitors}
   * (so both tables have the same order), and sets `entry.index`.
   */
  push(entry: Entry<H>, deadline: number): void {
    const i = this.entries.length;
    if (i === this.capacity) this.#grow(Math.max(64, this.capacity * 2));
    entry.index = i;
    this.entries.push(entry);
    this.handles.push(entry.handle);
    this.rawScores.push(undefined);
    this.healths.push(undefined);
    this.healthFroms.push(undefined);
    this.deadline[i] = deadline;
    this.flags[i] = 0;
    this.framesOk[i] = 0;
    this.framesFailed[i] = 0;
    this.rawLatency[i] = Number.NaN;
    this.rawReliability[i] = Number.NaN;
    this.rawBandwidth[i] = Number.NaN;
    this.rawOverall[i] = Number.NaN;
    this.rawGrade[i] = -1;
  }

  /** Removes `entry`'s row: the last row moves into it (swap-remove, O(1)), its monitor's row too. */
  remove(entry: Entry<H>): void {
    const i = entry.index;
    if (this.entries[i] !== entry) return;
    const last = this.entries.length - 1;
    this.monitors.removeSwap(i);
    if (i !== last) {
      const moved = this.entries[last] as Entry<H>;
      moved.index = i;
      this.entries[i] = moved;
      this.handles[i] = moved.handle;
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
    this.entries.pop();
    this.handles.pop();
    this.rawScores.pop();
    this.healths.pop();
    this.healthFroms.pop();
  }

  /** Removes every row. */
  clear(): void {
    this.entries.length = 0;
    this.handles.length = 0;
    this.rawScores.length = 0;
    this.healths.length = 0;
    this.healthFroms.length = 0;
    this.monitors.clear();
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
