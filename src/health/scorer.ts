/**
 * Batch health scoring of many connections in one call, over structure-of-arrays inputs, with a
 * WASM engine and an identical JS engine. Curves: see ./curves.ts.
 *
 * @example
 * ```ts
 * const scorer = createHealthScorer({ capacity: 4096 });
 * const b = scorer.batch;
 * b.rttMs[0] = 35; b.jitterMs[0] = 4; b.pingsSent[0] = 20; b.pingsAnswered[0] = 20;
 * b.framesOk[0] = 900; b.framesFailed[0] = 0; b.bandwidthBps[0] = 2_000_000;
 * scorer.scoreBatch(1);
 * GRADE_BY_INDEX[b.grade[0]]; // "excellent"
 * ```
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { instantiateCore } from "../wasm/loader.js";
import { bandwidthScore, gradeIndexOf, latencyScore, overallScore, reliabilityScore } from "./curves.js";
import { GRADE_BY_INDEX, type HealthGrade, type HealthScore } from "./types.js";

/** Default reference latency: 100 ms of RTT + jitter scores 0.5 (50 ms scores 0.8, 200 ms 0.2). */
export const DEFAULT_REFERENCE_LATENCY_MS = 100;
/** Default reference bandwidth: 1 MB/s (8 Mbit/s) scores 0.5 (9 MB/s scores 0.9). */
export const DEFAULT_REFERENCE_BANDWIDTH_BPS = 1_000_000;
/** Default number of connections a scorer's batch holds. */
export const DEFAULT_HEALTH_BATCH_CAPACITY = 16_384;
/**
 * Engine used when none is asked for: `"wasm"`, because the benchmark (BENCHMARKS.md) shows it is
 * not slower than JS on batches of 10k connections.
 */
export const DEFAULT_HEALTH_ENGINE: HealthScorerEngine = "wasm";

/**
 * Which implementation computes the scores.
 *
 * @category Maintenance
 */
export type HealthScorerEngine = "wasm" | "js";

/** Options of {@link createHealthScorer}. */
export interface HealthScorerOptions {
  /** `"wasm"` or `"js"`; results are bit-identical. @default "wasm" */
  engine?: HealthScorerEngine;
  /** RTT + jitter (ms) that scores 0.5 on latency; finite, > 0 and < 1e100. @default 100 */
  referenceLatencyMs?: number;
  /** Bandwidth (bytes/s) that scores 0.5; finite, > 0 and < 1e100. @default 1_000_000 */
  referenceBandwidthBps?: number;
  /** Connections the batch holds (fixed for the scorer's lifetime); integer in [1, 2^22]. @default 16384 */
  capacity?: number;
}

/**
 * Structure-of-arrays inputs and outputs for up to `capacity` connections, entry i being connection
 * i. Fill the inputs, call {@link HealthScorer.scoreBatch}, read the outputs. For the wasm engine the
 * arrays are views of WASM memory that never move (the memory is sized once), so no copy is made.
 */
export interface HealthBatch {
  readonly capacity: number;
  /** Input: RTT EWMA in ms; NaN (or negative) = no sample yet. */
  readonly rttMs: Float64Array;
  /** Input: RTT jitter (mean deviation) in ms; NaN or negative counts as 0. */
  readonly jitterMs: Float64Array;
  /** Input: pings sent and resolved (answered or timed out). */
  readonly pingsSent: Float64Array;
  /** Input: pings answered. */
  readonly pingsAnswered: Float64Array;
  /** Input: frames received and accepted. */
  readonly framesOk: Float64Array;
  /** Input: frames received and rejected. */
  readonly framesFailed: Float64Array;
  /** Input: measured bandwidth in bytes/s; NaN (or negative) = not measured. */
  readonly bandwidthBps: Float64Array;
  /** Output: latency score in [0, 1]. */
  readonly latency: Float64Array;
  /** Output: reliability score in [0, 1]. */
  readonly reliability: Float64Array;
  /** Output: bandwidth score in [0, 1]. */
  readonly bandwidth: Float64Array;
  /** Output: overall score, the mean of the measured components capped by latency (see ./curves.ts). */
  readonly overall: Float64Array;
  /** Output: grade index, 0 critical … 4 excellent (see `GRADE_BY_INDEX`). */
  readonly grade: Uint8Array;
}

/** Inputs of {@link HealthScorer.scoreOne}; see {@link HealthBatch} for meanings. */
export interface HealthInputs {
  rttMs: number;
  jitterMs: number;
  pingsSent: number;
  pingsAnswered: number;
  framesOk: number;
  framesFailed: number;
  bandwidthBps: number;
}

/** Scores connection health in batches. Create with {@link createHealthScorer}. */
export interface HealthScorer {
  readonly engine: HealthScorerEngine;
  readonly referenceLatencyMs: number;
  readonly referenceBandwidthBps: number;
  /** The scorer's batch (its arrays stay valid for the scorer's lifetime). */
  readonly batch: HealthBatch;
  /**
   * Scores entries [0, count) of {@link HealthScorer.batch}.
   *
   * @param count - number of connections, integer in [0, capacity]; default all
   * @throws PeerlinkError INVALID_ARGUMENT for a bad count, WASM_FAILURE if the WASM instance trapped
   */
  scoreBatch(count?: number): void;
  /** Scores one connection (same curves; does not touch the batch). */
  scoreOne(inputs: HealthInputs): HealthScore;
}

const ARRAYS_F64 = 11;
const MAX_CAPACITY = 2 ** 22;

function checkReference(name: string, value: number): number {
  // Scores use the square of the reference: below 1e-6 it could underflow to 0 and make 0/0 (NaN).
  if (!(Number.isFinite(value) && value >= 1e-6 && value < 1e100)) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${name} must be finite, >= 1e-6 and < 1e100, got ${value}`);
  }
  return value;
}

function makeBatch(buffer: ArrayBuffer, base: number, capacity: number): HealthBatch {
  const f = (i: number) => new Float64Array(buffer, base + i * capacity * 8, capacity);
  return {
    capacity,
    rttMs: f(0),
    jitterMs: f(1),
    pingsSent: f(2),
    pingsAnswered: f(3),
    framesOk: f(4),
    framesFailed: f(5),
    bandwidthBps: f(6),
    latency: f(7),
    reliability: f(8),
    bandwidth: f(9),
    overall: f(10),
    grade: new Uint8Array(buffer, base + ARRAYS_F64 * capacity * 8, capacity),
  };
}

/** JS reference of the batch scorer (the WASM engine computes the same, see assembly/health.ts). */
export function scoreBatchJs(b: HealthBatch, count: number, refLatencySquared: number, refBandwidthBps: number): void {
  const { rttMs, jitterMs, pingsSent, pingsAnswered, framesOk, framesFailed, bandwidthBps } = b;
  const { latency, reliability, bandwidth, overall, grade } = b;
  for (let i = 0; i < count; i++) {
    const lat = latencyScore(rttMs[i] as number, jitterMs[i] as number, refLatencySquared);
    const rel = reliabilityScore(
      pingsSent[i] as number,
      pingsAnswered[i] as number,
      framesOk[i] as number,
      framesFailed[i] as number,
    );
    const bws = bandwidthScore(bandwidthBps[i] as number, refBandwidthBps);
    const all = overallScore(lat, rel, bws, rttMs[i] as number, bandwidthBps[i] as number);
    latency[i] = lat;
    reliability[i] = rel;
    bandwidth[i] = bws;
    overall[i] = all;
    grade[i] = gradeIndexOf(all);
  }
}

interface HealthCoreExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  scoreBatch(base: number, capacity: number, count: number, refLatencySquared: number, refBandwidth: number): void;
}

/**
 * Creates a health scorer with its own batch. The wasm engine uses its own WASM instance whose memory
 * is sized once here, so the batch arrays never detach.
 *
 * @throws PeerlinkError INVALID_ARGUMENT for a bad option, WASM_FAILURE when the wasm engine cannot load
 */
export function createHealthScorer(options: HealthScorerOptions = {}): HealthScorer {
  const engine = options.engine ?? DEFAULT_HEALTH_ENGINE;
  if (engine !== "wasm" && engine !== "js") {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `engine must be "wasm" or "js", got ${String(engine)}`);
  }
  const refLatency = checkReference("referenceLatencyMs", options.referenceLatencyMs ?? DEFAULT_REFERENCE_LATENCY_MS);
  const refBandwidth = checkReference(
    "referenceBandwidthBps",
    options.referenceBandwidthBps ?? DEFAULT_REFERENCE_BANDWIDTH_BPS,
  );
  const capacity = options.capacity ?? DEFAULT_HEALTH_BATCH_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `capacity must be an integer in [1, ${MAX_CAPACITY}]`);
  }
  const refLatencySquared = refLatency * refLatency;
  const bytes = capacity * (ARRAYS_F64 * 8 + 1);

  let batch: HealthBatch;
  let run: (count: number) => void;
  if (engine === "js") {
    batch = makeBatch(new ArrayBuffer(bytes), 0, capacity);
    run = (count) => scoreBatchJs(batch, count, refLatencySquared, refBandwidth);
  } else {
    const core = instantiateCore() as unknown as HealthCoreExports;
    const base = Math.ceil(core.heapBase() / 64) * 64;
    const need = base + bytes - core.memory.buffer.byteLength;
    if (need > 0) {
      try {
        core.memory.grow(Math.ceil(need / 65536));
      } catch (cause) {
        throw new PeerlinkError(ErrorCode.WASM_FAILURE, "cannot size WASM memory for the health batch", { cause });
      }
    }
    batch = makeBatch(core.memory.buffer, base, capacity);
    let poisoned: PeerlinkError | undefined;
    run = (count) => {
      if (poisoned) throw poisoned;
      try {
        core.scoreBatch(base, capacity, count, refLatencySquared, refBandwidth);
      } catch (cause) {
        poisoned = new PeerlinkError(ErrorCode.WASM_FAILURE, "the WASM health scorer trapped", { cause });
        throw poisoned;
      }
    };
  }

  return {
    engine,
    referenceLatencyMs: refLatency,
    referenceBandwidthBps: refBandwidth,
    batch,
    scoreBatch(count = capacity) {
      if (!Number.isInteger(count) || count < 0 || count > capacity) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `count must be an integer in [0, ${capacity}], got ${count}`);
      }
      run(count);
    },
    scoreOne(inputs) {
      return scoreHealth(inputs, refLatency, refBandwidth);
    },
  };
}

/**
 * Scores one connection with the JS reference curves (bit-identical to both batch engines).
 *
 * @throws PeerlinkError INVALID_ARGUMENT for a bad reference value
 * @param referenceLatencyMs - @default 100
 * @param referenceBandwidthBps - @default 1_000_000
 */
export function scoreHealth(
  inputs: HealthInputs,
  referenceLatencyMs: number = DEFAULT_REFERENCE_LATENCY_MS,
  referenceBandwidthBps: number = DEFAULT_REFERENCE_BANDWIDTH_BPS,
): HealthScore {
  checkReference("referenceLatencyMs", referenceLatencyMs);
  checkReference("referenceBandwidthBps", referenceBandwidthBps);
  const lat = latencyScore(inputs.rttMs, inputs.jitterMs, referenceLatencyMs * referenceLatencyMs);
  const rel = reliabilityScore(inputs.pingsSent, inputs.pingsAnswered, inputs.framesOk, inputs.framesFailed);
  const bws = bandwidthScore(inputs.bandwidthBps, referenceBandwidthBps);
  const overall = overallScore(lat, rel, bws, inputs.rttMs, inputs.bandwidthBps);
  return {
    latency: lat,
    reliability: rel,
    bandwidth: bws,
    overall,
    grade: GRADE_BY_INDEX[gradeIndexOf(overall)] as HealthGrade,
  };
}
