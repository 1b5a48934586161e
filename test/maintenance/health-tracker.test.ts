import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { HealthTracker, isDegradedGrade } from "../../src/maintenance/health-tracker.js";
import { HealthGrade, type HealthScore } from "../../src/health/types.js";

const OVERALL: Record<HealthGrade, number> = {
  excellent: 0.9,
  good: 0.7,
  fair: 0.5,
  poor: 0.3,
  critical: 0.1,
};

function score(grade: HealthGrade): HealthScore {
  const v = OVERALL[grade];
  return { latency: v, reliability: v, bandwidth: v, overall: v, grade };
}

/** Feeds grades at t = 0, 10 000, 20 000 … and returns the published grade after each. */
function feed(tracker: HealthTracker, grades: HealthGrade[]): (HealthGrade | undefined)[] {
  return grades.map((g, i) => {
    tracker.update(score(g), i * 10_000);
    return tracker.grade;
  });
}

const { EXCELLENT, GOOD, FAIR, POOR, CRITICAL } = HealthGrade;

describe("a health tracker's first sample", () => {
  it("is published immediately with no old grade", () => {
    const tracker = new HealthTracker();
    const s = score(FAIR);
    expect(tracker.update(s, 0)).toEqual({ old: undefined, new: FAIR, score: s });
    expect(tracker.grade).toBe(FAIR);
  });
});

describe("a health tracker with the default hysteresis of two samples", () => {
  it("ignores a single worse sample", () => {
    const tracker = new HealthTracker();
    expect(feed(tracker, [GOOD, POOR, GOOD, GOOD])).toEqual([GOOD, GOOD, GOOD, GOOD]);
  });

  it("publishes a worse grade after two consecutive worse samples and returns the change", () => {
    const tracker = new HealthTracker();
    tracker.update(score(GOOD), 0);
    expect(tracker.update(score(FAIR), 1)).toBeUndefined();
    const s = score(FAIR);
    expect(tracker.update(s, 2)).toEqual({ old: GOOD, new: FAIR, score: s });
  });

  it("publishes the grade closest to the old one when the streak's samples differ", () => {
    expect(feed(new HealthTracker(), [GOOD, POOR, FAIR])).toEqual([GOOD, GOOD, FAIR]);
    expect(feed(new HealthTracker(), [GOOD, FAIR, CRITICAL])).toEqual([GOOD, GOOD, FAIR]);
    expect(feed(new HealthTracker(), [POOR, EXCELLENT, GOOD])).toEqual([POOR, POOR, GOOD]);
  });

  it("never changes while samples alternate around the published grade", () => {
    const tracker = new HealthTracker();
    expect(feed(tracker, [FAIR, GOOD, POOR, GOOD, POOR, EXCELLENT, CRITICAL])).toEqual(Array(7).fill(FAIR));
  });

  it("restarts the count when a sample equals the published grade", () => {
    const tracker = new HealthTracker();
    expect(feed(tracker, [GOOD, FAIR, GOOD, FAIR, FAIR])).toEqual([GOOD, GOOD, GOOD, GOOD, FAIR]);
  });

  it("needs two samples to improve as well", () => {
    const tracker = new HealthTracker();
    expect(feed(tracker, [POOR, GOOD, GOOD, EXCELLENT, EXCELLENT])).toEqual([POOR, POOR, GOOD, GOOD, EXCELLENT]);
  });
});

describe("a health tracker with other hysteresis settings", () => {
  it("publishes every change at once with one sample", () => {
    const tracker = new HealthTracker({ hysteresisSamples: 1 });
    expect(feed(tracker, [GOOD, POOR, GOOD, CRITICAL])).toEqual([GOOD, POOR, GOOD, CRITICAL]);
  });

  it("waits for three samples with three", () => {
    const tracker = new HealthTracker({ hysteresisSamples: 3 });
    expect(feed(tracker, [GOOD, FAIR, FAIR, FAIR])).toEqual([GOOD, GOOD, GOOD, FAIR]);
  });

  it.each([[{ hysteresisSamples: 0 }], [{ hysteresisSamples: 1.5 }], [{ degradedThresholdMs: -1 }]])(
    "rejects %o with INVALID_ARGUMENT",
    (options) => {
      expect(() => new HealthTracker(options)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    },
  );

  it("rejects a score with an unknown grade", () => {
    const bad = { ...score(GOOD), grade: "splendid" as HealthGrade };
    expect(() => new HealthTracker().update(bad, 0)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });
});

describe("degradation tracking", () => {
  it("counts Poor and Critical as degraded and nothing else", () => {
    expect([EXCELLENT, GOOD, FAIR, POOR, CRITICAL].map(isDegradedGrade)).toEqual([false, false, false, true, true]);
  });

  it("dates degradedSince from the first sample of the streak that published it", () => {
    const tracker = new HealthTracker();
    tracker.update(score(GOOD), 0);
    tracker.update(score(POOR), 10_000);
    expect(tracker.degradedSince).toBeUndefined();
    tracker.update(score(POOR), 20_000);
    expect(tracker.degradedSince).toBe(10_000);
    expect(tracker.degradedFor(25_000)).toBe(15_000);
  });

  it("says the connection is degraded at the threshold exactly and not 1 ms before", () => {
    const tracker = new HealthTracker({ degradedThresholdMs: 60_000 });
    tracker.update(score(CRITICAL), 5_000);
    expect(tracker.degradedSince).toBe(5_000);
    expect(tracker.isDegradedFor(64_999)).toBe(false);
    expect(tracker.isDegradedFor(65_000)).toBe(true);
    expect(tracker.isDegradedFor(10_000, 5_000)).toBe(true);
  });

  it("keeps degradedSince when moving between Poor and Critical", () => {
    const tracker = new HealthTracker();
    feed(tracker, [POOR, CRITICAL, CRITICAL, POOR, POOR]);
    expect(tracker.grade).toBe(POOR);
    expect(tracker.degradedSince).toBe(0);
  });

  it("clears degradedSince when the published grade recovers", () => {
    const tracker = new HealthTracker();
    feed(tracker, [POOR, FAIR, FAIR]);
    expect(tracker.grade).toBe(FAIR);
    expect(tracker.degradedSince).toBeUndefined();
    expect(tracker.degradedFor(100_000)).toBe(0);
    expect(tracker.isDegradedFor(100_000)).toBe(false);
  });

  it("is not cleared by a single good sample", () => {
    const tracker = new HealthTracker();
    feed(tracker, [CRITICAL, GOOD, CRITICAL]);
    expect(tracker.degradedSince).toBe(0);
  });
});

describe("a health tracker asked to expedite (after a resume or a network change)", () => {
  it("publishes the first sample at or after the given time as it is, then applies the hysteresis again", () => {
    const tracker = new HealthTracker();
    tracker.update(score(EXCELLENT), 0);
    tracker.expedite(20_000);
    // A sample before the re-check still waits for agreement.
    expect(tracker.update(score(POOR), 10_000)).toBeUndefined();
    expect(tracker.grade).toBe(EXCELLENT);
    const s = score(CRITICAL);
    expect(tracker.update(s, 20_000)).toEqual({ old: EXCELLENT, new: CRITICAL, score: s });
    expect(tracker.degradedSince).toBe(20_000);
    // Once used, it is gone: one better sample changes nothing.
    expect(tracker.update(score(GOOD), 30_000)).toBeUndefined();
    expect(tracker.grade).toBe(CRITICAL);
  });

  it("is used up by a sample equal to the published grade", () => {
    const tracker = new HealthTracker();
    tracker.update(score(GOOD), 0);
    tracker.expedite(0);
    expect(tracker.update(score(GOOD), 1)).toBeUndefined();
    expect(tracker.update(score(POOR), 2)).toBeUndefined(); // hysteresis again
    expect(tracker.grade).toBe(GOOD);
  });
});
