/**
 * When a bandwidth probe is worth its 256 KiB, sans-IO: only when the connection's bandwidth is unmeasured
 * and measuring it could change its grade, because its score lies within {@link PROBE_ON_DEMAND_MARGIN} of
 * a grade boundary between the scores a bandwidth of 0 and of +∞ would give. A link graded on latency
 * alone far from any boundary (600 ms of RTT: capped at 0.33, whatever its bandwidth) is never probed.
 *
 * @module
 */
import { LATENCY_HEADROOM, gradeIndexOf } from "../health/curves.js";
import { PROBE_ON_DEMAND_MARGIN } from "./defaults.js";

const BOUNDARIES = [0.2, 0.4, 0.6, 0.8] as const;

/** The overall score with a bandwidth score of `bws` (the curve of src/health/curves.ts, bandwidth measured). */
function withBandwidth(lat: number, rel: number, timed: boolean, bws: number): number {
  if (!timed) return (rel + bws) / 2;
  const mean = (lat + rel + bws) / 3;
  const cap = lat + LATENCY_HEADROOM;
  return mean > cap ? cap : mean;
}

/**
 * True when measuring the bandwidth could move the grade of a connection scored `current` (bandwidth
 * unmeasured) with latency score `lat`, reliability `rel`, `timed` when latency was measured.
 */
export function bandwidthCouldMatter(lat: number, rel: number, timed: boolean, current: number): boolean {
  const lo = withBandwidth(lat, rel, timed, 0);
  const hi = withBandwidth(lat, rel, timed, 1);
  if (gradeIndexOf(lo) === gradeIndexOf(hi)) return false;
  for (const boundary of BOUNDARIES) {
    if (boundary > lo && boundary <= hi && Math.abs(current - boundary) < PROBE_ON_DEMAND_MARGIN) return true;
  }
  return false;
}
