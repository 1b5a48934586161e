/**
 * The health scoring curves, JS reference. assembly/health.ts computes exactly the same operations
 * in the same order (only + − × ÷ and comparisons, which are correctly rounded IEEE-754 in both), so
 * the two engines give bit-identical results.
 *
 * All three components are monotone, lie in [0, 1] (1 is best) and are never NaN:
 *
 * - **latency** = `ref² / (ref² + L²)` with `L = rtt + jitter` (ms) and `ref` the reference latency:
 *   1 at L = 0, 0.8 at L = ref/2, 0.5 at L = ref, 0.2 at L = 2·ref, → 0 as L → ∞. No RTT sample yet
 *   (rtt NaN or negative) gives the neutral 0.5; a NaN or negative jitter counts as 0; +∞ gives 0.
 * - **reliability** = mean of the ping answer rate `(answered + 1) / (sent + 2)` and the frame
 *   success rate `(ok + 1) / (ok + failed + 2)` (Laplace-smoothed: no samples give 0.5, a handful
 *   of samples cannot swing the score to 0 or 1). Counts that are NaN, negative or 0 count as 0,
 *   counts above 2^53 (including +∞) as 2^53, and `answered` is capped at `sent`.
 * - **bandwidth** = `B / (B + ref)` with B in bytes/s and `ref` the reference bandwidth: 0 at B = 0,
 *   0.5 at B = ref, 0.9 at B = 9·ref, 1 at B = +∞. Not measured yet (NaN or negative) gives 0.5.
 *
 * **overall** (see {@link overallScore}) = the mean of the *measured* components, capped by latency:
 *
 * 1. mean: reliability always counts; latency counts once there is an RTT sample and bandwidth once it is
 *    measured (an unmeasured component keeps its neutral 0.5 in the output but has no weight, so an
 *    unknown bandwidth cannot pull a slow link up to the middle);
 * 2. cap: with an RTT sample, overall is at most `latency + LATENCY_HEADROOM` (0.3). Bandwidth and
 *    reliability cannot buy back a long round trip: with the default reference (100 ms) a link with no
 *    loss is at best good at 150 ms, fair at 200–300 ms, and poor from about 330 ms, whether or not its
 *    bandwidth was measured (600 ms of RTT scores 0.027 + 0.3 = 0.33: poor).
 *
 * Grade index 4 (excellent) at >= 0.8, 3 (good) >= 0.6, 2 (fair) >= 0.4, 1 (poor) >= 0.2, else 0 (critical).
 *
 * @module
 */

const COUNT_CAP = 9007199254740992; // 2^53

/**
 * How far above its latency score a connection's overall score may be (see the module comment). 0.3 puts
 * the fair/poor boundary (0.4) at a latency score of 0.1, i.e. 3× the reference latency (300 ms by
 * default): a round trip a human notices in every request/response exchange.
 */
export const LATENCY_HEADROOM = 0.3;

function count(x: number): number {
  return x > 0 ? (x < COUNT_CAP ? x : COUNT_CAP) : 0;
}

/** Latency score from RTT EWMA and jitter (ms); `refLatencySquared` is the reference latency squared. */
export function latencyScore(rttMs: number, jitterMs: number, refLatencySquared: number): number {
  if (!(rttMs >= 0)) return 0.5;
  const l = jitterMs > 0 ? rttMs + jitterMs : rttMs;
  return refLatencySquared / (refLatencySquared + l * l);
}

/** Reliability score from ping and frame counters. */
export function reliabilityScore(
  pingsSent: number,
  pingsAnswered: number,
  framesOk: number,
  framesFailed: number,
): number {
  const s = count(pingsSent);
  let a = count(pingsAnswered);
  if (a > s) a = s;
  const o = count(framesOk);
  const f = count(framesFailed);
  const pingRate = (a + 1) / (s + 2);
  const frameRate = (o + 1) / (o + f + 2);
  return (pingRate + frameRate) * 0.5;
}

/** Bandwidth score from measured bytes/s against the reference bandwidth (bytes/s). */
export function bandwidthScore(bandwidthBps: number, refBandwidthBps: number): number {
  if (!(bandwidthBps >= 0)) return 0.5;
  if (bandwidthBps === Infinity) return 1;
  return bandwidthBps / (bandwidthBps + refBandwidthBps);
}

/**
 * Overall score from the three components (see the module comment). `rttMs` and `bandwidthBps` are the
 * inputs, which say whether latency and bandwidth were measured (a value >= 0) or not.
 */
export function overallScore(lat: number, rel: number, bws: number, rttMs: number, bandwidthBps: number): number {
  let sum = rel;
  let n = 1;
  const timed = rttMs >= 0;
  if (timed) {
    sum = sum + lat;
    n = n + 1;
  }
  if (bandwidthBps >= 0) {
    sum = sum + bws;
    n = n + 1;
  }
  const mean = sum / n;
  if (timed) {
    const cap = lat + LATENCY_HEADROOM;
    if (mean > cap) return cap;
  }
  return mean;
}

/** Grade index (0 critical … 4 excellent) of an overall score. */
export function gradeIndexOf(overall: number): number {
  if (overall >= 0.8) return 4;
  if (overall >= 0.6) return 3;
  if (overall >= 0.4) return 2;
  if (overall >= 0.2) return 1;
  return 0;
}
