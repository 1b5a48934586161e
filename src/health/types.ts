/**
 * Health grades and the explainable score of a connection.
 *
 * @module
 */

/**
 * The five health grades, best first. Thresholds on the overall score: 0.8, 0.6, 0.4, 0.2.
 *
 * @category Maintenance
 */
export const HealthGrade = {
  /** Overall score >= 0.8. */
  EXCELLENT: "excellent",
  /** Overall score >= 0.6. */
  GOOD: "good",
  /** Overall score >= 0.4. */
  FAIR: "fair",
  /** Overall score >= 0.2: a candidate for replacement once it lasts. */
  POOR: "poor",
  /** Overall score < 0.2: a candidate for replacement once it lasts. */
  CRITICAL: "critical",
} as const;

/** Union of every {@link HealthGrade} value. */
export type HealthGrade = (typeof HealthGrade)[keyof typeof HealthGrade];

/**
 * Grades indexed by the integer the scorers (WASM and JS) write:
 * 0 = critical, 1 = poor, 2 = fair, 3 = good, 4 = excellent.
 */
export const GRADE_BY_INDEX: readonly HealthGrade[] = [
  HealthGrade.CRITICAL,
  HealthGrade.POOR,
  HealthGrade.FAIR,
  HealthGrade.GOOD,
  HealthGrade.EXCELLENT,
];

/** Integer rank of a grade (critical 0 … excellent 4). */
export function gradeIndex(grade: HealthGrade): number {
  return GRADE_BY_INDEX.indexOf(grade);
}

/**
 * A connection's health with its components, each in [0, 1] (1 is best).
 *
 * @category Maintenance
 */
export interface HealthScore {
  /** Score from RTT (EWMA plus jitter) against the reference latency. */
  readonly latency: number;
  /** Score from answered pings and well-formed frames. */
  readonly reliability: number;
  /** Score from measured bandwidth against the reference bandwidth. */
  readonly bandwidth: number;
  /**
   * Mean of the measured components (an unmeasured latency or bandwidth has no weight), at most
   * `latency + 0.3` once latency is measured: see `LATENCY_HEADROOM` in src/health/curves.ts.
   */
  readonly overall: number;
  /** Grade of `overall`. */
  readonly grade: HealthGrade;
}
