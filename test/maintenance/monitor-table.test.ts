/**
 * MonitorTable: the maintenance service's flat per-connection table (one
 * Float64Array row per ConnectionMonitor). Rows are added, grown, swap-removed
 * and cleared; a monitor keeps its numbers wherever its row goes, and the
 * table's batch operations (observe, readyForScoring, fillInputs) give exactly
 * what the per-monitor path gives. Fake clock only: no sockets, no timers.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { propertyRuns } from "../helpers/property-runs.js";
import { createHealthScorer, type HealthBatch } from "../../src/health/scorer.js";
import { bandwidthFromReport, type ProbeReport } from "../../src/maintenance/bandwidth-probe.js";
import { ConnectionMonitor } from "../../src/maintenance/connection-monitor.js";
import { MonitorTable, type GatheredCounters } from "../../src/maintenance/monitor-table.js";
import { resolveMaintenanceOptions } from "../../src/maintenance/maintenance-options.js";
import { RttEstimator } from "../../src/maintenance/rtt-estimator.js";
import { ThroughputMeter } from "../../src/maintenance/throughput-meter.js";

/**
 * Slots per row (STRIDE in monitor-table.ts). The row
 * comparisons below line a table's row up with a lone twin monitor's row 0,
 * so a wrong value here fails them rather than passing silently.
 */
const STRIDE = 16;
/** The fake clock's start (ms). */
const T0 = 1_000;
const REFERENCE_BPS = 100_000;
const OPTIONS = resolveMaintenanceOptions({
  referenceBandwidthBps: REFERENCE_BPS,
  rateTimeConstantMs: 1_000,
  // Probing on, due at once, two frames per burst, so a test can complete a probe in a few polls.
  // Padding and rate such that any report below is one the prober finds plausible (bandwidth-probe.ts: at most
  // the bytes sent, no faster than the pacing, no longer than since the first frame left: reports here arrive
  // at once, so elapsed times stay within the 1 ms of slack).
  bandwidthProbe: { initialDelayMs: 0, intervalMs: 1, frameCount: 2, paddingBytes: 500_000, maxBytesPerSecond: 1e12, reportTimeoutMs: 1_000 },
});

const FIELDS = ["rttMs", "jitterMs", "pingsSent", "pingsAnswered", "framesOk", "framesFailed", "bandwidthBps"] as const;
type BatchEntry = Record<(typeof FIELDS)[number], number>;

function newBatch(): HealthBatch {
  return createHealthScorer({ engine: "js", capacity: 2 }).batch;
}

function entryOf(batch: HealthBatch, i: number): BatchEntry {
  const out = {} as BatchEntry;
  for (const f of FIELDS) out[f] = batch[f][i] as number;
  return out;
}

/** Equal numbers, NaN equal to NaN. */
function same(a: number | undefined, b: number | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && Number.isNaN(a) && Number.isNaN(b));
}

/** A copy of row `row` of `table`. */
function rowOf(table: MonitorTable, row: number): number[] {
  return Array.from(table.values.subarray(row * STRIDE, (row + 1) * STRIDE));
}

/** Sends the monitor's next ping at `at` and answers it `rttMs` later; returns the time of the answer. */
function pingPong(monitor: ConnectionMonitor, at: number, rttMs: number): number {
  const action = monitor.poll(at);
  if (action.type !== "ping") throw new Error(`expected a ping at ${at}, got ${action.type}`);
  expect(monitor.onPong(action.nonce, action.timestampUs, at + rttMs)).toBe(rttMs);
  return at + rttMs;
}

/** Sends a whole probe burst from `monitor` (starting no earlier than `now`); returns its id and when its last frame left. */
function sendProbe(monitor: ConnectionMonitor, now: number): { probeId: number; at: number } {
  const prober = monitor.prober;
  if (prober === undefined) throw new Error("probing is off");
  for (let i = 0; i < 4; i++) {
    const at = Math.max(now, prober.nextDeadline());
    const action = monitor.pollProbe(at);
    if (action.type === "probe" && action.frame.index === action.frame.count - 1) return { probeId: action.frame.probeId, at };
  }
  throw new Error("the probe burst did not complete");
}

/** Completes a probe on `monitor` whose report says `bytes` arrived over `elapsedUs`; returns the measured bandwidth. */
function probe(monitor: ConnectionMonitor, now: number, bytes: number, elapsedUs: number): number | undefined {
  const { probeId, at } = sendProbe(monitor, now);
  return monitor.onReport({ probeId, framesReceived: 2, bytesReceived: bytes, elapsedUs }, at);
}

/** What a monitor reports through its getters (they read its row, wherever it is). */
function readings(m: ConnectionMonitor, now: number): unknown[] {
  return [
    m.rateIn,
    m.rateOut,
    m.pingsResolved,
    m.pongsReceived,
    m.srttMs,
    m.rttVarMs,
    m.probedBandwidth,
    m.latencyInput(now),
    m.bandwidthInput(),
    m.outstandingPingAge(now),
  ];
}

/** Gives monitor `i` of a table numbers no other row has: traffic, an RTT sample, a probe for some, an outstanding ping for others. */
function makeDistinctive(m: ConnectionMonitor, i: number): void {
  m.observe(10_000 * (i + 1), 1_000 * (i + 1) + 7, T0 + 3, T0 + 5 + i);
  const answeredAt = pingPong(m, T0 + 100, 1 + i);
  if (i % 2 === 0) expect(probe(m, answeredAt, 1_000 + 10 * i, 1_000)).toBeGreaterThan(0);
  if (i % 3 === 0) expect(m.poll(answeredAt + OPTIONS.pingIntervalMs).type).toBe("ping");
}

describe("a monitor table's rows", () => {
  it("gives monitors consecutive rows from 0 in the order they are added", () => {
    const table = new MonitorTable(OPTIONS);
    expect(table.size).toBe(0);
    const monitors = [0, 1, 2].map((i) => new ConnectionMonitor(OPTIONS, T0, { bytesIn: i, bytesOut: 0 }, table));
    expect(table.size).toBe(3);
    monitors.forEach((m, row) => expect(table.monitorAt(row)).toBe(m));
    expect(table.monitorAt(3)).toBeUndefined();
    // Each row is its monitor's: observing row 1 moves monitor 1's meter only.
    table.observe(1, 50_000, 0, undefined, T0 + 1_000);
    expect(monitors.map((m) => m.rateIn > 0)).toEqual([false, true, false]);
  });

  it("keeps every row's values when it grows past its initial capacity", () => {
    const table = new MonitorTable(OPTIONS);
    const monitors = [new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table)];
    const capacity = table.values.length / STRIDE;
    expect(Number.isInteger(capacity) && capacity >= 2).toBe(true);
    while (monitors.length < capacity) monitors.push(new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table));
    const now = T0 + 20_000;
    monitors.forEach(makeDistinctive);
    const before = table.values;
    expect(before.length).toBe(capacity * STRIDE);
    const rows = monitors.map((_, row) => rowOf(table, row));
    const seen = monitors.map((m) => readings(m, now));
    expect(new Set(rows.map((r) => r.join())).size).toBe(capacity);

    const twinTable = new MonitorTable(OPTIONS);
    const twin = new ConnectionMonitor(OPTIONS, now, { bytesIn: 5, bytesOut: 6 }, twinTable);
    const added = new ConnectionMonitor(OPTIONS, now, { bytesIn: 5, bytesOut: 6 }, table);

    expect(table.values).not.toBe(before);
    expect(table.values.length).toBeGreaterThanOrEqual((capacity + 1) * STRIDE);
    expect(table.size).toBe(capacity + 1);
    expect(table.monitorAt(capacity)).toBe(added);
    // The new row starts as a lone monitor's row does.
    expect(twinTable.monitorAt(0)).toBe(twin);
    expect(rowOf(table, capacity)).toEqual(rowOf(twinTable, 0));
    monitors.forEach((m, row) => {
      expect(table.monitorAt(row)).toBe(m);
      expect(rowOf(table, row)).toEqual(rows[row]);
      expect(readings(m, now)).toEqual(seen[row]);
    });
    // The monitors now write to the new array: a monitor's observe shows through the table and back.
    monitors[0]?.observe(10_000 + 500_000, 7 + 1_000, undefined, now);
    expect(table.bandwidthInput(0)).toBe(monitors[0]?.bandwidthInput());
    expect(monitors[0]?.rateIn).toBeGreaterThan(seen[0]?.[0] as number);
    expect(Array.from(before.subarray(0, STRIDE))).toEqual(rows[0]);
  });

  it("moves the last row into a removed middle row, and the moved monitor reads its own values there", () => {
    const table = new MonitorTable(OPTIONS);
    const monitors = [0, 1, 2, 3, 4].map(() => new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table));
    monitors.forEach(makeDistinctive);
    const [m0, m1, m2, m3, m4] = monitors as [ConnectionMonitor, ConnectionMonitor, ConnectionMonitor, ConnectionMonitor, ConnectionMonitor];
    const now = T0 + 20_000;
    const rows = monitors.map((_, row) => rowOf(table, row));
    const seen = monitors.map((m) => readings(m, now));

    table.removeSwap(2);

    expect(table.size).toBe(4);
    expect([0, 1, 2, 3, 4].map((row) => table.monitorAt(row))).toEqual([m0, m1, m4, m3, undefined]);
    expect(rowOf(table, 2)).toEqual(rows[4]);
    expect(rowOf(table, 0)).toEqual(rows[0]);
    expect(rowOf(table, 1)).toEqual(rows[1]);
    expect(rowOf(table, 3)).toEqual(rows[3]);
    expect(readings(m4, now)).toEqual(seen[4]);
    expect(readings(m2, now)).toEqual(seen[2]);

    // The moved monitor writes row 2 now; the other rows do not change.
    m4.observe(5_000_000, 5_000_000, undefined, now);
    expect(rowOf(table, 2)).not.toEqual(rows[4]);
    expect(table.bandwidthInput(2)).toBe(m4.bandwidthInput());
    expect(table.latencyInput(2, now)).toBe(m4.latencyInput(now));
    expect(m4.rateIn).toBeGreaterThan(REFERENCE_BPS);
    expect([0, 1, 3].map((row) => rowOf(table, row))).toEqual([rows[0], rows[1], rows[3]]);

    // The removed monitor keeps its numbers and keeps working alone, touching no row of the table.
    const values = Array.from(table.values);
    m2.observe(7_000_000, 0, undefined, now);
    expect(m2.rateIn).toBeGreaterThan(seen[2]?.[0] as number);
    expect(Array.from(table.values)).toEqual(values);
  });

  it("removes the last row without moving any other", () => {
    const table = new MonitorTable(OPTIONS);
    const monitors = [0, 1, 2].map(() => new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table));
    monitors.forEach(makeDistinctive);
    const rows = monitors.map((_, row) => rowOf(table, row));
    const seenLast = readings(monitors[2] as ConnectionMonitor, T0 + 20_000);

    table.removeSwap(2);

    expect(table.size).toBe(2);
    expect([0, 1, 2].map((row) => table.monitorAt(row))).toEqual([monitors[0], monitors[1], undefined]);
    expect([rowOf(table, 0), rowOf(table, 1)]).toEqual([rows[0], rows[1]]);
    expect(readings(monitors[2] as ConnectionMonitor, T0 + 20_000)).toEqual(seenLast);
    table.removeSwap(1);
    table.removeSwap(0);
    expect(table.size).toBe(0);
    expect(table.monitorAt(0)).toBeUndefined();
  });

  it("ignores the removal of a row that does not exist", () => {
    const table = new MonitorTable(OPTIONS);
    const monitors = [0, 1].map(() => new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table));
    monitors.forEach(makeDistinctive);
    const values = Array.from(table.values);
    table.removeSwap(2);
    table.removeSwap(-1);
    expect(table.size).toBe(2);
    expect([table.monitorAt(0), table.monitorAt(1)]).toEqual(monitors);
    expect(Array.from(table.values)).toEqual(values);
  });

  it("clears every row, each monitor keeping its numbers in a table of its own", () => {
    const table = new MonitorTable(OPTIONS);
    const monitors = [0, 1, 2, 3].map(() => new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table));
    monitors.forEach(makeDistinctive);
    const now = T0 + 20_000;
    const seen = monitors.map((m) => readings(m, now));
    table.clear();
    expect(table.size).toBe(0);
    expect(table.monitorAt(0)).toBeUndefined();
    expect(monitors.map((m) => readings(m, now))).toEqual(seen);
    monitors[1]?.observe(9_000_000, 0, undefined, now);
    const after = monitors.map((m) => readings(m, now));
    expect([after[0], after[2], after[3]]).toEqual([seen[0], seen[2], seen[3]]);
    expect(after[1]).not.toEqual(seen[1]);
  });
});

// ---------------------------------------------------------------------------
// Batch inputs: the table path against the per-monitor path and hand-computed values.

interface Scenario {
  readonly name: string;
  /** Drives a monitor created at T0 (with zero traffic); returns the time to read it at. */
  readonly run: (m: ConnectionMonitor) => number;
  readonly expected: Omit<BatchEntry, "framesOk" | "framesFailed">;
  readonly ready: boolean;
}

const RATE_200K_OVER_TAU = 200_000 * (1 - Math.exp(-1)); // 126 424 B/s: above the reference
const RATE_50K_OVER_TAU = 50_000 * (1 - Math.exp(-1)); // 31 606 B/s: below it

const SCENARIOS: readonly Scenario[] = [
  {
    name: "a connection just opened writes NaN for everything not measured and zero ping counts",
    run: () => T0 + 1,
    expected: { rttMs: Number.NaN, jitterMs: Number.NaN, pingsSent: 0, pingsAnswered: 0, bandwidthBps: Number.NaN },
    ready: false,
  },
  {
    name: "one answered RTT ping of 40 ms writes srtt 40, jitter 20 and one ping sent and answered",
    run: (m) => pingPong(m, T0, 40),
    expected: { rttMs: 40, jitterMs: 20, pingsSent: 1, pingsAnswered: 1, bandwidthBps: Number.NaN },
    ready: true,
  },
  {
    name: "a ping unanswered for longer than the smoothed RTT writes its age as the RTT, and is not yet counted as sent",
    run: (m) => {
      const answeredAt = pingPong(m, T0, 40);
      expect(m.poll(answeredAt + OPTIONS.pingIntervalMs).type).toBe("ping"); // keepalive ping: nothing received for 15 s
      return answeredAt + OPTIONS.pingIntervalMs + 300;
    },
    expected: { rttMs: 300, jitterMs: 20, pingsSent: 1, pingsAnswered: 1, bandwidthBps: Number.NaN },
    ready: true,
  },
  {
    name: "a ping that timed out counts as sent but not answered",
    run: (m) => {
      const answeredAt = pingPong(m, T0, 40);
      const sentAt = answeredAt + OPTIONS.pingIntervalMs;
      expect(m.poll(sentAt).type).toBe("ping");
      // Pong timeout clamp(40 + 4·20, 2000, 10000) = 2000 ms; at that deadline the next keepalive ping leaves at once.
      expect(m.poll(sentAt + OPTIONS.minPongTimeoutMs).type).toBe("ping");
      return sentAt + OPTIONS.minPongTimeoutMs;
    },
    expected: { rttMs: 40, jitterMs: 20, pingsSent: 2, pingsAnswered: 1, bandwidthBps: Number.NaN },
    ready: true,
  },
  {
    name: "passive throughput at or above the reference bandwidth is the bandwidth input",
    run: (m) => {
      m.observe(200_000, 1_000, undefined, T0 + 1_000);
      return T0 + 1_000;
    },
    expected: { rttMs: Number.NaN, jitterMs: Number.NaN, pingsSent: 0, pingsAnswered: 0, bandwidthBps: RATE_200K_OVER_TAU },
    ready: false,
  },
  {
    name: "passive throughput below the reference bandwidth is written as not measured",
    run: (m) => {
      m.observe(50_000, 0, undefined, T0 + 1_000);
      return T0 + 1_000;
    },
    expected: { rttMs: Number.NaN, jitterMs: Number.NaN, pingsSent: 0, pingsAnswered: 0, bandwidthBps: Number.NaN },
    ready: false,
  },
  {
    name: "a probe measurement above the passive throughput is the bandwidth input",
    run: (m) => {
      m.observe(50_000, 0, undefined, T0 + 1_000);
      // 2 frames, 1000 bytes over 1 ms: 1000·(1/2) / 0.001 s = 500 000 B/s
      expect(probe(m, T0 + 1_000, 1_000, 1_000)).toBe(500_000);
      return T0 + 1_000;
    },
    expected: { rttMs: Number.NaN, jitterMs: Number.NaN, pingsSent: 0, pingsAnswered: 0, bandwidthBps: 500_000 },
    ready: false,
  },
  {
    name: "a probe measurement below the passive throughput is raised to it",
    run: (m) => {
      m.observe(200_000, 0, undefined, T0 + 1_000);
      expect(probe(m, T0 + 1_000, 100, 1_000)).toBe(50_000);
      return T0 + 1_000;
    },
    expected: { rttMs: Number.NaN, jitterMs: Number.NaN, pingsSent: 0, pingsAnswered: 0, bandwidthBps: RATE_200K_OVER_TAU },
    ready: false,
  },
];

describe("filling the scorer batch from a table row", () => {
  it("passive-rate scenarios use the throughput meter's formula", () => {
    const meter = new ThroughputMeter({ timeConstantMs: OPTIONS.rateTimeConstantMs }, T0, { bytesIn: 0, bytesOut: 0 });
    meter.update(200_000, 0, T0 + 1_000);
    expect(meter.rateIn).toBe(RATE_200K_OVER_TAU);
    expect(RATE_200K_OVER_TAU).toBeGreaterThan(REFERENCE_BPS);
    expect(RATE_50K_OVER_TAU).toBeLessThan(REFERENCE_BPS);
  });

  for (const scenario of SCENARIOS) {
    it(`${scenario.name}, the same as the per-monitor path, before and after its row moves`, () => {
      const table = new MonitorTable(OPTIONS);
      const fillers = [0, 1, 2].map(() => new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table));
      fillers.forEach(makeDistinctive);
      const inTable = new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table);
      const alone = new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 });
      const now = scenario.run(inTable);
      expect(scenario.run(alone)).toBe(now);
      const expected: BatchEntry = { ...scenario.expected, framesOk: 7, framesFailed: 2 };
      const batch = newBatch();

      expect(table.monitorAt(3)).toBe(inTable);
      table.fillInputs(3, batch, 0, 7, 2, now);
      alone.fillInputs(batch, 1, 7, 2, now);
      expect(entryOf(batch, 0)).toEqual(expected);
      expect(entryOf(batch, 1)).toEqual(expected);

      table.removeSwap(0); // the last row (inTable) moves to row 0
      expect(table.monitorAt(0)).toBe(inTable);
      batch.rttMs.fill(-1);
      batch.bandwidthBps.fill(-1);
      table.fillInputs(0, batch, 1, 7, 2, now);
      expect(entryOf(batch, 1)).toEqual(expected);
      expect(table.readyForScoring(0, now)).toBe(scenario.ready);
      expect(alone.readyForScoring(now)).toBe(scenario.ready);
    });
  }
});

describe("readiness for scoring", () => {
  it("comes one maximum pong timeout after the start without an RTT sample, and is then final", () => {
    const table = new MonitorTable(OPTIONS);
    new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table);
    const target = new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table);
    const alone = new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 });
    const at = T0 + OPTIONS.maxPongTimeoutMs;
    expect(table.readyForScoring(1, at - 1)).toBe(false);
    expect(alone.readyForScoring(at - 1)).toBe(false);
    expect(table.readyForScoring(1, at)).toBe(true);
    expect(alone.readyForScoring(at)).toBe(true);
    // Final: it stays ready even when asked about an earlier time, also after its row moved.
    table.removeSwap(0);
    expect(table.monitorAt(0)).toBe(target);
    expect(table.readyForScoring(0, T0)).toBe(true);
    expect(target.readyForScoring(T0)).toBe(true);
    expect(alone.readyForScoring(T0)).toBe(true);
  });

  it("comes with the first RTT sample, before the pong timeout", () => {
    const table = new MonitorTable(OPTIONS);
    const m = new ConnectionMonitor(OPTIONS, T0, { bytesIn: 0, bytesOut: 0 }, table);
    const action = m.poll(T0);
    if (action.type !== "ping") throw new Error("expected the opening RTT ping");
    expect(table.readyForScoring(0, T0 + 10)).toBe(false);
    m.onPong(action.nonce, action.timestampUs, T0 + 10);
    expect(table.readyForScoring(0, T0 + 10)).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// Differential check: random add / remove / observe / ping / pong / probe sequences
// against a model (the expected numbers) and a twin of every monitor on the per-monitor path.

interface PingSent {
  readonly nonce: number;
  readonly timestampUs: number;
  readonly sentAt: number;
}

/** One connection: the monitor under test, its twin fed the same inputs in a table of its own, and what the model expects. */
interface Peer {
  readonly id: number;
  readonly monitor: ConnectionMonitor;
  readonly twin: ConnectionMonitor;
  readonly twinTable: MonitorTable;
  /** The expected passive rates. */
  readonly meter: ThroughputMeter;
  /** The expected smoothed RTT and jitter. */
  readonly rtt: RttEstimator;
  readonly startedAt: number;
  bytesIn: number;
  bytesOut: number;
  pongs: number;
  probed: number | undefined;
  ping: PingSent | undefined;
  twinPing: PingSent | undefined;
}

type Op =
  | { readonly kind: "add"; readonly count: number; readonly bytesIn: number; readonly bytesOut: number }
  | { readonly kind: "remove"; readonly pick: number }
  | { readonly kind: "clear" }
  | {
      readonly kind: "observe";
      readonly pick: number;
      readonly dIn: number;
      readonly dOut: number;
      readonly receivedAgo: number | null;
      readonly via: "row" | "gathered" | "monitor";
    }
  | { readonly kind: "poll"; readonly pick: number }
  | { readonly kind: "pong"; readonly pick: number }
  | { readonly kind: "deadline"; readonly pick: number }
  | { readonly kind: "probe"; readonly pick: number; readonly bytes: number; readonly elapsedUs: number }
  | { readonly kind: "tick"; readonly ms: number };

const pick = fc.nat({ max: 10_000 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("add" as const),
      count: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 40 })),
      bytesIn: fc.nat({ max: 1_000_000 }),
      bytesOut: fc.nat({ max: 1_000_000 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("remove" as const), pick }) },
  { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("observe" as const),
      pick,
      dIn: fc.oneof(fc.constant(0), fc.nat({ max: 500_000 })),
      dOut: fc.oneof(fc.constant(0), fc.nat({ max: 500_000 })),
      receivedAgo: fc.option(fc.integer({ min: -100, max: 5_000 })),
      via: fc.constantFrom("row" as const, "gathered" as const, "monitor" as const),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("poll" as const), pick }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("pong" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("deadline" as const), pick }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("probe" as const),
      pick,
      bytes: fc.nat({ max: 1_000_000 }),
      elapsedUs: fc.integer({ min: 1, max: 1_000 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 3_000 }) }) },
);

/** Counters for observeGathered: three entries, the one used filled in, the others junk. */
const GATHERED: GatheredCounters = {
  bytesIn: new Float64Array(3),
  bytesOut: new Float64Array(3),
  lastReceivedAt: new Float64Array(3),
};

class Model {
  readonly table = new MonitorTable(OPTIONS);
  /** `rows[i]` owns row i of the table. */
  readonly rows: Peer[] = [];
  /** Monitors removed from the table: they keep working alone. */
  readonly detached: Peer[] = [];
  /** Disagreements found while applying an operation. */
  readonly problems: string[] = [];
  readonly batch = newBatch();
  now = T0;
  #nextId = 0;

  #pick(n: number): Peer | undefined {
    const total = this.rows.length + this.detached.length;
    if (total === 0) return undefined;
    const i = n % total;
    return i < this.rows.length ? this.rows[i] : this.detached[i - this.rows.length];
  }

  apply(op: Op): void {
    const now = this.now;
    switch (op.kind) {
      case "tick":
        this.now += op.ms;
        return;
      case "add":
        for (let k = 0; k < op.count; k++) {
          const traffic = { bytesIn: op.bytesIn + k, bytesOut: op.bytesOut };
          const twinTable = new MonitorTable(OPTIONS);
          this.rows.push({
            id: this.#nextId++,
            monitor: new ConnectionMonitor(OPTIONS, now, traffic, this.table),
            twin: new ConnectionMonitor(OPTIONS, now, traffic, twinTable),
            twinTable,
            meter: new ThroughputMeter({ timeConstantMs: OPTIONS.rateTimeConstantMs }, now, traffic),
            rtt: new RttEstimator(),
            startedAt: now,
            bytesIn: traffic.bytesIn,
            bytesOut: traffic.bytesOut,
            pongs: 0,
            probed: undefined,
            ping: undefined,
            twinPing: undefined,
          });
        }
        return;
      case "remove": {
        if (this.rows.length === 0) return;
        const row = op.pick % this.rows.length;
        this.table.removeSwap(row);
        const removed = this.rows[row] as Peer;
        const last = this.rows.pop() as Peer;
        if (last !== removed) this.rows[row] = last;
        this.detached.push(removed);
        return;
      }
      case "clear":
        this.table.clear();
        this.detached.push(...this.rows);
        this.rows.length = 0;
        return;
      default:
    }
    const peer = this.#pick(op.pick);
    if (peer === undefined) return;
    const row = this.rows.indexOf(peer);
    const { monitor, twin } = peer;
    switch (op.kind) {
      case "observe": {
        peer.bytesIn += op.dIn;
        peer.bytesOut += op.dOut;
        const receivedAt = op.receivedAgo === null ? undefined : now - op.receivedAgo;
        if (row >= 0 && op.via === "row") this.table.observe(row, peer.bytesIn, peer.bytesOut, receivedAt, now);
        else if (row >= 0 && op.via === "gathered") {
          GATHERED.bytesIn.fill(9e15);
          GATHERED.bytesOut.fill(9e15);
          GATHERED.lastReceivedAt.fill(-5);
          const entry = peer.id % 3;
          GATHERED.bytesIn[entry] = peer.bytesIn;
          GATHERED.bytesOut[entry] = peer.bytesOut;
          GATHERED.lastReceivedAt[entry] = receivedAt ?? Number.NaN;
          this.table.observeGathered(row, GATHERED, entry, now);
        } else monitor.observe(peer.bytesIn, peer.bytesOut, receivedAt, now);
        twin.observe(peer.bytesIn, peer.bytesOut, receivedAt, now);
        peer.meter.update(peer.bytesIn, peer.bytesOut, now);
        return;
      }
      case "poll": {
        const a = monitor.poll(now);
        const b = twin.poll(now);
        if (a.type !== b.type) this.problems.push(`monitor ${peer.id} polled ${a.type}, its twin ${b.type}`);
        if (a.type === "ping") peer.ping = { nonce: a.nonce, timestampUs: a.timestampUs, sentAt: now };
        if (b.type === "ping") peer.twinPing = { nonce: b.nonce, timestampUs: b.timestampUs, sentAt: now };
        return;
      }
      case "pong": {
        const { ping, twinPing } = peer;
        if (ping === undefined || twinPing === undefined) return;
        peer.ping = undefined;
        peer.twinPing = undefined;
        const sample = monitor.onPong(ping.nonce, ping.timestampUs, now);
        const twinSample = twin.onPong(twinPing.nonce, twinPing.timestampUs, now);
        if (sample !== twinSample) this.problems.push(`monitor ${peer.id} took RTT sample ${sample}, its twin ${twinSample}`);
        if (sample === undefined) return;
        if (sample !== now - ping.sentAt) this.problems.push(`monitor ${peer.id} took RTT sample ${sample}, not ${now - ping.sentAt}`);
        peer.rtt.addSample(sample);
        peer.pongs += 1;
        return;
      }
      case "deadline": {
        // Hands the traffic observe recorded (pending in the row) to the keepalive trackers.
        if (monitor.pingDeadline() !== twin.pingDeadline()) this.problems.push(`monitor ${peer.id}: ping deadline differs from its twin's`);
        if (monitor.consecutiveMissed !== twin.consecutiveMissed) this.problems.push(`monitor ${peer.id}: missed pongs differ from its twin's`);
        return;
      }
      case "probe": {
        const report: ProbeReport = { probeId: 0, framesReceived: 2, bytesReceived: op.bytes, elapsedUs: op.elapsedUs };
        const sent = sendProbe(monitor, now);
        const twinSent = sendProbe(twin, now);
        const measured = monitor.onReport({ ...report, probeId: sent.probeId }, sent.at);
        const twinMeasured = twin.onReport({ ...report, probeId: twinSent.probeId }, twinSent.at);
        const expected = bandwidthFromReport(report);
        if (measured !== expected || twinMeasured !== expected) {
          this.problems.push(`monitor ${peer.id} measured ${measured} (twin ${twinMeasured}), expected ${expected}`);
        }
        if (expected !== undefined) peer.probed = expected;
        return;
      }
    }
  }

  /** Everything that disagrees with the model now. Reads readiness and batch inputs on both paths (each may latch readiness). */
  check(): string[] {
    const out = this.problems.splice(0);
    const { table, rows } = this;
    if (table.size !== rows.length) out.push(`size ${table.size}, expected ${rows.length}`);
    if (table.monitorAt(rows.length) !== undefined) out.push(`a monitor at row ${rows.length}, past the end`);
    if (table.values.length < rows.length * STRIDE) out.push(`values hold ${table.values.length} slots for ${rows.length} rows`);
    rows.forEach((peer, row) => {
      if (table.monitorAt(row) !== peer.monitor) out.push(`row ${row} is not monitor ${peer.id}'s`);
      this.#checkPeer(out, peer, row);
      const mine = table.values.subarray(row * STRIDE, (row + 1) * STRIDE);
      const twins = peer.twinTable.values.subarray(0, STRIDE);
      for (let s = 0; s < STRIDE; s++) {
        if (!same(mine[s], twins[s])) out.push(`monitor ${peer.id} at row ${row}, slot ${s}: ${mine[s]}, its twin's ${twins[s]}`);
      }
    });
    for (const peer of this.detached) this.#checkPeer(out, peer, -1);
    return out;
  }

  #checkPeer(out: string[], peer: Peer, row: number): void {
    const { monitor: m, twin, meter, rtt } = peer;
    const now = this.now;
    const at = `monitor ${peer.id}${row >= 0 ? ` (row ${row})` : " (alone)"}`;
    const differs = (what: string, actual: number | boolean | undefined, expected: number | boolean | undefined): void => {
      if (typeof actual === "boolean" || typeof expected === "boolean" ? actual !== expected : !same(actual, expected)) {
        out.push(`${at} ${what}: ${actual}, expected ${expected}`);
      }
    };
    differs("rateIn", m.rateIn, meter.rateIn);
    differs("rateOut", m.rateOut, meter.rateOut);
    differs("srtt", m.srttMs, rtt.srtt);
    differs("rttvar", m.rttVarMs, rtt.rttvar);
    differs("pongs", m.pongsReceived, peer.pongs);
    differs("pings resolved", m.pingsResolved, twin.pingsResolved);
    differs("probed bandwidth", m.probedBandwidth, peer.probed);
    const age = twin.outstandingPingAge(now);
    differs("outstanding ping age", m.outstandingPingAge(now), age);
    const latency = rtt.srtt === undefined ? Number.NaN : Math.max(age, rtt.srtt);
    const passive = Math.max(meter.rateIn, meter.rateOut);
    const bandwidth =
      peer.probed !== undefined ? Math.max(peer.probed, passive) : passive >= REFERENCE_BPS ? passive : Number.NaN;
    const ready = rtt.srtt !== undefined || now - peer.startedAt >= OPTIONS.maxPongTimeoutMs;
    differs("latency input", m.latencyInput(now), latency);
    differs("bandwidth input", m.bandwidthInput(), bandwidth);
    differs("ready (monitor)", m.readyForScoring(now), ready);
    differs("ready (twin)", twin.readyForScoring(now), ready);
    const framesOk = peer.id * 3 + 1;
    const framesFailed = peer.id % 5;
    const expected: BatchEntry = {
      rttMs: latency,
      jitterMs: rtt.rttvar ?? Number.NaN,
      pingsSent: twin.pingsResolved,
      pingsAnswered: peer.pongs,
      framesOk,
      framesFailed,
      bandwidthBps: bandwidth,
    };
    const b = this.batch;
    if (row >= 0) {
      const t = this.table;
      differs("table outstanding ping age", t.outstandingPingAge(row, now), age);
      differs("table latency input", t.latencyInput(row, now), latency);
      differs("table bandwidth input", t.bandwidthInput(row), bandwidth);
      differs("table ready", t.readyForScoring(row, now), ready);
      t.fillInputs(row, b, 0, framesOk, framesFailed, now);
    } else m.fillInputs(b, 0, framesOk, framesFailed, now);
    twin.fillInputs(b, 1, framesOk, framesFailed, now);
    for (const f of FIELDS) {
      differs(`batch ${f}`, b[f][0], expected[f]);
      differs(`twin's batch ${f}`, b[f][1], expected[f]);
    }
  }
}

/** A sequence that grows the table past its first capacity, swap-removes in the middle, and keeps working. */
const GROWING: Op[] = [
  { kind: "add", count: 40, bytesIn: 10, bytesOut: 20 },
  { kind: "tick", ms: 500 },
  { kind: "observe", pick: 3, dIn: 300_000, dOut: 1_000, receivedAgo: 100, via: "row" },
  { kind: "poll", pick: 39 },
  { kind: "tick", ms: 25 },
  { kind: "pong", pick: 39 },
  { kind: "probe", pick: 3, bytes: 50_000, elapsedUs: 900 },
  { kind: "add", count: 40, bytesIn: 0, bytesOut: 0 },
  { kind: "observe", pick: 79, dIn: 1, dOut: 2, receivedAgo: null, via: "gathered" },
  { kind: "remove", pick: 3 },
  { kind: "tick", ms: 1_000 },
  { kind: "observe", pick: 3, dIn: 500_000, dOut: 0, receivedAgo: 0, via: "row" },
  { kind: "remove", pick: 39 },
  { kind: "observe", pick: 79, dIn: 10, dOut: 10, receivedAgo: 10, via: "monitor" },
  { kind: "deadline", pick: 3 },
  { kind: "clear" },
  { kind: "tick", ms: 20_000 },
  { kind: "add", count: 2, bytesIn: 1, bytesOut: 1 },
];

describe("a monitor table under random add, remove, observe, ping, pong and probe sequences", () => {
  it("keeps every live and removed monitor's numbers equal to the model's and to a lone twin's", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 50, size: "max" }), (ops) => {
        const model = new Model();
        ops.forEach((op, step) => {
          model.apply(op);
          const problems = model.check();
          if (problems.length > 0) {
            throw new Error(`after step ${step} ${JSON.stringify(op)}:\n${problems.slice(0, 8).join("\n")}`);
          }
        });
      }),
      { numRuns: propertyRuns(60), examples: [[GROWING]] },
    );
  });
});
