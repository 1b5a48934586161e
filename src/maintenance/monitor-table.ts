/**
 * The numbers of many connection monitors in one Float64Array, one row per
 * monitor: what a maintenance cycle reads for every connection (byte counters
 * seen, rates, RTT, ping counts), so that a check over 10,000 connections walks
 * one contiguous array instead of 10,000 objects and the number boxes their
 * fields point to. The per-connection logic that owns a row is
 * `ConnectionMonitor` (connection-monitor.ts); this module does not know it.
 *
 * @module
 */
import type { HealthBatch } from "../health/scorer.js";
import type { ResolvedMaintenanceOptions } from "./maintenance-options.js";
import { nextRate } from "./throughput-meter.js";

/** What owns a row of a {@link MonitorTable}: told when its row moves (swap-remove) or leaves for a table of its own. */
export interface RowOwner {
  /** The owner's numbers are now row `row` of `table`. */
  relocate(table: MonitorTable, row: number): void;
}

// Slots of a monitor's row in its table (Float64, STRIDE per row).
/** Received bytes already seen (the liveness baseline: only growth counts). */
export const BYTES_IN = 0;
/** Written bytes already seen. */
export const BYTES_OUT = 1;
/** Latest `now` given to observe (ms): also the time of the rate meters' last update. */
export const OBSERVED_AT = 2;
/** Latest receive time not yet given to the keepalive tracker; -Infinity: none. */
export const PENDING_RECEIVED_AT = 3;
/** Latest send time not yet given to the keepalive tracker; -Infinity: none. */
export const PENDING_SENT_AT = 4;
/** Received bytes per second (EWMA). */
export const RATE_IN = 5;
/** Written bytes per second (EWMA). */
export const RATE_OUT = 6;
/** Received-bytes counter at the rate meters' last update. */
export const METERED_IN = 7;
/** Written-bytes counter at the rate meters' last update. */
export const METERED_OUT = 8;
/** Smoothed RTT (ms); NaN before the first sample. */
export const SRTT = 9;
/** RTT mean deviation (ms); NaN before the first sample. */
export const RTTVAR = 10;
/** Pings sent and resolved, keepalive and RTT pings together. */
export const PINGS_RESOLVED = 11;
/** Pings answered, keepalive and RTT pings together. */
export const PONGS = 12;
/** When the oldest ping still waiting for its Pong was sent (ms); +Infinity: none. */
export const OUTSTANDING_SENT_AT = 13;
/** Bandwidth the last active probe measured (bytes/s); NaN: none. */
export const PROBED = 14;
/** When monitoring began (ms); -Infinity once ready for scoring (final). */
export const STARTED_AT = 15;
/** Slots per row: 16 × 8 bytes, two cache lines. */
export const STRIDE = 16;

/** Connections' byte counters read for a health check, one entry per {@link MonitorTable} row. */
export interface GatheredCounters {
  /** Cumulative bytes received. */
  readonly bytesIn: Float64Array;
  /** Cumulative bytes written. */
  readonly bytesOut: Float64Array;
  /** When the last bytes arrived (ms); NaN: never (as `undefined` for {@link MonitorTable.observe}). */
  readonly lastReceivedAt: Float64Array;
}

/**
 * The rows of many connection monitors (`ConnectionMonitor`) in one Float64Array (structure
 * of arrays; one row per monitor, in the order they were added), with the
 * operations a maintenance cycle runs for every connection: {@link observe},
 * {@link readyForScoring}, {@link fillInputs}. They read and write the row
 * only, never the monitor object, and are exactly what the monitor's methods
 * of the same names do. Row `i` belongs to `monitorAt(i)`.
 *
 * @example
 * ```ts
 * const table = new MonitorTable(options);
 * const monitor = new ConnectionMonitor(options, now, conn.stats, table); // row 0
 * table.observe(0, bytesIn, bytesOut, lastReceivedAt, now);
 * if (table.readyForScoring(0, now)) table.fillInputs(0, batch, 0, framesOk, framesFailed, now);
 * ```
 */
export class MonitorTable {
  readonly #options: ResolvedMaintenanceOptions;
  readonly #monitors: RowOwner[] = [];
  /** One entry of counters, for {@link observe}. */
  readonly #one: GatheredCounters = {
    bytesIn: new Float64Array(1),
    bytesOut: new Float64Array(1),
    lastReceivedAt: new Float64Array(1),
  };
  /** The rows; replaced (copied) when it grows. */
  values = new Float64Array(0);

  /** @param options - resolved maintenance options (the same the monitors get). */
  constructor(options: ResolvedMaintenanceOptions) {
    this.#options = options;
  }

  /** Rows in use. */
  get size(): number {
    return this.#monitors.length;
  }

  /** The monitor owning row `row`. */
  monitorAt(row: number): RowOwner | undefined {
    return this.#monitors[row];
  }

  /** Appends a row for `monitor` (called by its constructor) and returns its index. */
  add(monitor: RowOwner): number {
    const row = this.#monitors.length;
    if ((row + 1) * STRIDE > this.values.length) {
      const grown = new Float64Array(Math.max(64, row * 2) * STRIDE);
      grown.set(this.values);
      this.values = grown;
    }
    this.#monitors.push(monitor);
    return row;
  }

  /**
   * Removes row `row`: its monitor moves to a table of its own (it keeps
   * working, alone), and the last row moves into `row` (swap-remove, O(1)).
   */
  removeSwap(row: number): void {
    const monitors = this.#monitors;
    const removed = monitors[row];
    if (removed === undefined) return;
    const own = new MonitorTable(this.#options);
    own.values = this.values.slice(row * STRIDE, (row + 1) * STRIDE);
    own.#monitors.push(removed);
    removed.relocate(own, 0);
    const last = monitors.length - 1;
    if (row !== last) {
      const moved = monitors[last] as RowOwner;
      this.values.copyWithin(row * STRIDE, last * STRIDE, (last + 1) * STRIDE);
      monitors[row] = moved;
      moved.relocate(this, row);
    }
    monitors.pop();
  }

  /** Removes every row (each monitor moves to a table of its own). */
  clear(): void {
    while (this.#monitors.length > 0) this.removeSwap(this.#monitors.length - 1);
  }

  /**
   * Records the cumulative byte counters of row `row`'s connection at `now`:
   * see `ConnectionMonitor.observe`.
   */
  observe(row: number, bytesIn: number, bytesOut: number, lastReceivedAt: number | undefined, now: number): void {
    const one = this.#one;
    one.bytesIn[0] = bytesIn;
    one.bytesOut[0] = bytesOut;
    one.lastReceivedAt[0] = lastReceivedAt ?? Number.NaN;
    this.observeGathered(row, one, 0, now);
  }

  /**
   * {@link observe} with the counters taken from entry `entry` of `counters`.
   * For a loop over many rows: the numbers go from array to array unboxed (a
   * floating-point argument to a call the compiler does not inline is
   * allocated as a heap number: 10,000 of them per health check).
   */
  observeGathered(row: number, counters: GatheredCounters, entry: number, now: number): void {
    const bytesIn = counters.bytesIn[entry] as number;
    const bytesOut = counters.bytesOut[entry] as number;
    const v = this.values;
    const b = row * STRIDE;
    const observedAt = v[b + OBSERVED_AT] as number;
    if (bytesIn > (v[b + BYTES_IN] as number)) {
      v[b + BYTES_IN] = bytesIn;
      // NaN (no receive time) means now, as undefined does.
      let at = counters.lastReceivedAt[entry] as number;
      if (!(at <= now)) at = now;
      if (at < observedAt) at = observedAt;
      if (at > (v[b + PENDING_RECEIVED_AT] as number)) v[b + PENDING_RECEIVED_AT] = at;
    }
    if (bytesOut > (v[b + BYTES_OUT] as number)) {
      v[b + BYTES_OUT] = bytesOut;
      if (now > (v[b + PENDING_SENT_AT] as number)) v[b + PENDING_SENT_AT] = now;
    }
    // The rate meters: exactly ThroughputMeter.update (their last update is the last later `now` observed).
    const dt = now - observedAt;
    if (dt > 0) {
      const meteredIn = v[b + METERED_IN] as number;
      const meteredOut = v[b + METERED_OUT] as number;
      const tau = this.#options.rateTimeConstantMs;
      v[b + RATE_IN] = nextRate(v[b + RATE_IN] as number, bytesIn > meteredIn ? bytesIn - meteredIn : 0, dt, tau);
      v[b + RATE_OUT] = nextRate(v[b + RATE_OUT] as number, bytesOut > meteredOut ? bytesOut - meteredOut : 0, dt, tau);
      v[b + METERED_IN] = bytesIn;
      v[b + METERED_OUT] = bytesOut;
      v[b + OBSERVED_AT] = now;
    }
  }

  /** See `ConnectionMonitor.readyForScoring`. */
  readyForScoring(row: number, now: number): boolean {
    const v = this.values;
    const b = row * STRIDE;
    const startedAt = v[b + STARTED_AT] as number;
    if (startedAt === Number.NEGATIVE_INFINITY) return true;
    if (!Number.isNaN(v[b + SRTT] as number) || now - startedAt >= this.#options.maxPongTimeoutMs) {
      v[b + STARTED_AT] = Number.NEGATIVE_INFINITY;
      return true;
    }
    return false;
  }

  /** See `ConnectionMonitor.outstandingPingAge`. */
  outstandingPingAge(row: number, now: number): number {
    const sentAt = this.values[row * STRIDE + OUTSTANDING_SENT_AT] as number;
    return sentAt === Number.POSITIVE_INFINITY ? 0 : Math.max(0, now - sentAt);
  }

  /** See `ConnectionMonitor.latencyInput`. */
  latencyInput(row: number, now: number): number {
    const srtt = this.values[row * STRIDE + SRTT] as number;
    if (Number.isNaN(srtt)) return Number.NaN;
    const age = this.outstandingPingAge(row, now);
    return age > srtt ? age : srtt;
  }

  /** See `ConnectionMonitor.bandwidthInput`. */
  bandwidthInput(row: number): number {
    const v = this.values;
    const b = row * STRIDE;
    const rx = v[b + RATE_IN] as number;
    const tx = v[b + RATE_OUT] as number;
    const passive = rx > tx ? rx : tx;
    const probed = v[b + PROBED] as number;
    if (!Number.isNaN(probed)) return probed > passive ? probed : passive;
    return passive >= this.#options.referenceBandwidthBps ? passive : Number.NaN;
  }

  /** Writes row `row`'s health inputs into entry `i` of `batch`: see `ConnectionMonitor.fillInputs`. */
  fillInputs(row: number, batch: HealthBatch, i: number, framesOk: number, framesFailed: number, now: number): void {
    const v = this.values;
    const b = row * STRIDE;
    batch.rttMs[i] = this.latencyInput(row, now);
    batch.jitterMs[i] = v[b + RTTVAR] as number;
    batch.pingsSent[i] = v[b + PINGS_RESOLVED] as number;
    batch.pingsAnswered[i] = v[b + PONGS] as number;
    batch.framesOk[i] = framesOk;
    batch.framesFailed[i] = framesFailed;
    batch.bandwidthBps[i] = this.bandwidthInput(row);
  }
}
