// Batch health scorer over structure-of-arrays f64 inputs (see src/health/scorer.ts for the
// curves, which this file must compute with exactly the same operations in the same order:
// only + - * / and comparisons, so JS and WASM results are bit-identical).
//
// Block layout at `base`, each array `capacity` entries long:
//   f64 arrays 0..10: rttMs, jitterMs, pingsSent, pingsAnswered, framesOk, framesFailed,
//                     bandwidthBps, latency, reliability, bandwidth, overall
//   then u8 array: grade (0 critical .. 4 excellent)

const COUNT_CAP: f64 = 9007199254740992.0; // 2^53

function count(x: f64): f64 {
  return x > 0 ? (x < COUNT_CAP ? x : COUNT_CAP) : 0;
}

function latencyScore(rtt: f64, jitter: f64, refLatencySquared: f64): f64 {
  if (!(rtt >= 0)) return 0.5;
  const l = jitter > 0 ? rtt + jitter : rtt;
  return refLatencySquared / (refLatencySquared + l * l);
}

function reliabilityScore(sent: f64, answered: f64, ok: f64, failed: f64): f64 {
  const s = count(sent);
  let a = count(answered);
  if (a > s) a = s;
  const o = count(ok);
  const f = count(failed);
  const pingRate = (a + 1) / (s + 2);
  const frameRate = (o + 1) / (o + f + 2);
  return (pingRate + frameRate) * 0.5;
}

function bandwidthScore(bps: f64, refBandwidth: f64): f64 {
  if (!(bps >= 0)) return 0.5;
  if (bps == Infinity) return 1;
  return bps / (bps + refBandwidth);
}

// LATENCY_HEADROOM and overallScore: see src/health/curves.ts.
const LATENCY_HEADROOM: f64 = 0.3;

function overallScore(lat: f64, rel: f64, bws: f64, rtt: f64, bps: f64): f64 {
  let sum = rel;
  let n: f64 = 1;
  const timed = rtt >= 0;
  if (timed) {
    sum = sum + lat;
    n = n + 1;
  }
  if (bps >= 0) {
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

function grade(overall: f64): u8 {
  if (overall >= 0.8) return 4;
  if (overall >= 0.6) return 3;
  if (overall >= 0.4) return 2;
  if (overall >= 0.2) return 1;
  return 0;
}

/** Scores entries [0, count) of the block at `base` (see the layout above). */
export function scoreBatch(base: u32, capacity: u32, n: u32, refLatencySquared: f64, refBandwidth: f64): void {
  const stride = capacity << 3;
  const rtt = base;
  const jitter = rtt + stride;
  const sent = jitter + stride;
  const answered = sent + stride;
  const ok = answered + stride;
  const failed = ok + stride;
  const bw = failed + stride;
  const outLatency = bw + stride;
  const outReliability = outLatency + stride;
  const outBandwidth = outReliability + stride;
  const outOverall = outBandwidth + stride;
  const outGrade = outOverall + stride;
  if (n > capacity) n = capacity;
  for (let i: u32 = 0; i < n; i++) {
    const o = i << 3;
    const rttIn = load<f64>(rtt + o);
    const bwIn = load<f64>(bw + o);
    const lat = latencyScore(rttIn, load<f64>(jitter + o), refLatencySquared);
    const rel = reliabilityScore(load<f64>(sent + o), load<f64>(answered + o), load<f64>(ok + o), load<f64>(failed + o));
    const bws = bandwidthScore(bwIn, refBandwidth);
    const overall = overallScore(lat, rel, bws, rttIn, bwIn);
    store<f64>(outLatency + o, lat);
    store<f64>(outReliability + o, rel);
    store<f64>(outBandwidth + o, bws);
    store<f64>(outOverall + o, overall);
    store<u8>(outGrade + i, grade(overall));
  }
}
