/**
 * Hysteresis over health grades: turns a stream of {@link HealthScore}s into
 * published grade changes, and remembers since when a connection is degraded.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { GRADE_BY_INDEX, gradeIndex, HealthGrade, type HealthScore } from "../health/types.js";
import { DEFAULT_DEGRADED_THRESHOLD_MS, DEFAULT_HYSTERESIS_SAMPLES } from "./defaults.js";

/** Options of a {@link HealthTracker}. */
export interface HealthTrackerOptions {
  /**
   * Consecutive samples on the same side of the published grade needed to
   * publish a new grade. 1 publishes every change at once.
   * @default 2 ({@link DEFAULT_HYSTERESIS_SAMPLES})
   */
  hysteresisSamples?: number;
  /**
   * How long (ms) the published grade must stay Poor or Critical before
   * {@link HealthTracker.isDegradedFor} says the connection should be replaced.
   * @default 60000 ({@link DEFAULT_DEGRADED_THRESHOLD_MS})
   */
  degradedThresholdMs?: number;
}

/** A published grade change, returned by {@link HealthTracker.update}. */
export interface HealthGradeChange {
  /** The grade published before, `undefined` for the first sample. */
  readonly old: HealthGrade | undefined;
  /** The grade published now. */
  readonly new: HealthGrade;
  /** The score that triggered the change. */
  readonly score: HealthScore;
}

/** True for the grades that count as degraded (Poor, Critical). */
export function isDegradedGrade(grade: HealthGrade): boolean {
  return grade === HealthGrade.POOR || grade === HealthGrade.CRITICAL;
}

interface Streak {
  /** -1: worse than the published grade, +1: better. */
  readonly direction: -1 | 1;
  count: number;
  /** Grade index of the streak's sample closest to the published grade. */
  mildest: number;
  readonly since: number;
}

/**
 * Publishes a connection's health grade with hysteresis. The first sample is
 * published at once. After that a new grade is published only when
 * `hysteresisSamples` consecutive samples were all worse (or all better) than
 * the published grade; the grade published is the one of those samples that is
 * closest to the old grade (the change every sample of the streak confirms).
 * A sample equal to the published grade, or on the other side, restarts the count.
 *
 * It also tracks since when the published grade is Poor or Critical
 * (`degradedSince`, dated from the first sample of the streak that led there).
 *
 * @example
 * ```ts
 * const health = new HealthTracker();
 * const change = health.update(score, now);
 * if (change) emit("connection:health", change);
 * if (health.isDegradedFor(now)) replace(connection);
 * ```
 */
export class HealthTracker {
  /** Samples needed to publish a change (validated). */
  readonly hysteresisSamples: number;
  /** Degraded duration (ms) that makes {@link isDegradedFor} true by default (validated). */
  readonly degradedThresholdMs: number;
  #grade: HealthGrade | undefined;
  #score: HealthScore | undefined;
  #streak: Streak | undefined;
  #degradedSince: number | undefined;
  /** From when the next sample is published without hysteresis; `undefined`: not asked. */
  #expeditedFrom: number | undefined;

  /** @throws PeerlinkError INVALID_ARGUMENT on a non-integer or < 1 `hysteresisSamples`, or a negative threshold. */
  constructor(options: HealthTrackerOptions = {}) {
    const samples = options.hysteresisSamples ?? DEFAULT_HYSTERESIS_SAMPLES;
    if (!Number.isInteger(samples) || samples < 1) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `health hysteresisSamples must be an integer >= 1, got ${samples}`);
    }
    const threshold = options.degradedThresholdMs ?? DEFAULT_DEGRADED_THRESHOLD_MS;
    if (!Number.isFinite(threshold) || threshold < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `health degradedThresholdMs must be a finite number >= 0, got ${threshold}`);
    }
    this.hysteresisSamples = samples;
    this.degradedThresholdMs = threshold;
  }

  /**
   * Publishes the grade of the first sample taken at or after `from` (ms) as it is, without waiting for
   * agreeing samples: the network under the connection may have changed (a resume, a new network), so the
   * grade published before says nothing, and samples before `from` predate the re-check.
   */
  expedite(from: number): void {
    this.#expeditedFrom = from;
  }

  /** The published grade, `undefined` before the first sample. */
  get grade(): HealthGrade | undefined {
    return this.#grade;
  }

  /** The most recent score passed to {@link update}. */
  get lastScore(): HealthScore | undefined {
    return this.#score;
  }

  /** Time (ms) since which the published grade is Poor or Critical, `undefined` when it is not. */
  get degradedSince(): number | undefined {
    return this.#degradedSince;
  }

  /**
   * Feeds one score taken at `now` (ms). Returns the change when the published
   * grade changes, otherwise `undefined`.
   *
   * @throws PeerlinkError INVALID_ARGUMENT when `score.grade` is not a {@link HealthGrade}.
   */
  update(score: HealthScore, now: number): HealthGradeChange | undefined {
    const index = gradeIndex(score.grade);
    if (index < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `unknown health grade ${String(score.grade)}`);
    }
    this.#score = score;
    const old = this.#grade;
    if (old === undefined) return this.#publish(undefined, score.grade, score, now);
    const current = gradeIndex(old);
    if (this.#expeditedFrom !== undefined && now >= this.#expeditedFrom) {
      this.#expeditedFrom = undefined;
      if (index !== current) return this.#publish(old, score.grade, score, now);
    }
    if (index === current) {
      this.#streak = undefined;
      return undefined;
    }
    const direction = index < current ? -1 : 1;
    let streak = this.#streak;
    if (streak === undefined || streak.direction !== direction) {
      streak = { direction, count: 0, mildest: index, since: now };
      this.#streak = streak;
    }
    streak.count += 1;
    streak.mildest = direction === -1 ? Math.max(streak.mildest, index) : Math.min(streak.mildest, index);
    if (streak.count < this.hysteresisSamples) return undefined;
    const next = gradeFromIndex(streak.mildest);
    return this.#publish(old, next, score, streak.since);
  }

  #publish(old: HealthGrade | undefined, next: HealthGrade, score: HealthScore, since: number): HealthGradeChange {
    this.#grade = next;
    this.#streak = undefined;
    if (!isDegradedGrade(next)) this.#degradedSince = undefined;
    else if (this.#degradedSince === undefined) this.#degradedSince = since;
    return { old, new: next, score };
  }

  /** Milliseconds the published grade has been Poor or Critical at `now`; 0 when it is not degraded. */
  degradedFor(now: number): number {
    return this.#degradedSince === undefined ? 0 : Math.max(0, now - this.#degradedSince);
  }

  /**
   * True when the published grade has been Poor or Critical for at least
   * `thresholdMs` at `now` (ms): the connection is a candidate for replacement.
   */
  isDegradedFor(now: number, thresholdMs: number = this.degradedThresholdMs): boolean {
    return this.#degradedSince !== undefined && now - this.#degradedSince >= thresholdMs;
  }
}

function gradeFromIndex(index: number): HealthGrade {
  const grade = GRADE_BY_INDEX[index];
  if (grade === undefined) throw new PeerlinkError(ErrorCode.INTERNAL, `no health grade at index ${index}`);
  return grade;
}
