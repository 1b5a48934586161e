import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isPeerlinkError } from "../../src/errors.js";
import { gradeIndexOf, LATENCY_HEADROOM } from "../../src/health/curves.js";
import { createHealthScorer, scoreHealth, type HealthInputs } from "../../src/health/scorer.js";

const FIELDS = ["rttMs", "jitterMs", "pingsSent", "pingsAnswered", "framesOk", "framesFailed", "bandwidthBps"] as const;
const OUTPUTS = ["latency", "reliability", "bandwidth", "overall"] as const;

/** Any double, biased towards the awkward ones. */
const arbInput = fc.oneof(
  fc.constantFrom(NaN, 0, -0, -1, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, 2 ** 53 + 2, 1e300),
  fc.double(),
  fc.double({ min: 0, max: 1e4, noNaN: true }),
  fc.integer({ min: 0, max: 1_000_000 }),
);

const arbInputs: fc.Arbitrary<HealthInputs> = fc.record(
  Object.fromEntries(FIELDS.map((f) => [f, arbInput])) as Record<(typeof FIELDS)[number], fc.Arbitrary<number>>,
);

const neutral: HealthInputs = {
  rttMs: NaN,
  jitterMs: NaN,
  pingsSent: 0,
  pingsAnswered: 0,
  framesOk: 0,
  framesFailed: 0,
  bandwidthBps: NaN,
};

describe("batch health scoring with the WASM and JS engines", () => {
  it("gives bit-identical scores and grades for random inputs including NaN, 0, negative and huge values", () => {
    const capacity = 64;
    const refs = [
      [100, 1_000_000],
      [3.5, 12_345.678],
      [1e-3, 1e9],
    ] as const;
    const scorers = refs.map(([l, b]) => ({
      wasm: createHealthScorer({ engine: "wasm", capacity, referenceLatencyMs: l, referenceBandwidthBps: b }),
      js: createHealthScorer({ engine: "js", capacity, referenceLatencyMs: l, referenceBandwidthBps: b }),
    }));
    fc.assert(
      fc.property(fc.array(arbInputs, { minLength: 1, maxLength: capacity }), fc.nat({ max: 2 }), (rows, which) => {
        const { wasm, js } = scorers[which] as (typeof scorers)[number];
        for (const s of [wasm, js]) {
          rows.forEach((row, i) => {
            for (const f of FIELDS) s.batch[f][i] = row[f];
          });
          s.scoreBatch(rows.length);
        }
        for (const o of OUTPUTS) {
          const a = new Uint8Array(wasm.batch[o].buffer, wasm.batch[o].byteOffset, rows.length * 8);
          const b = new Uint8Array(js.batch[o].buffer, js.batch[o].byteOffset, rows.length * 8);
          expect(Buffer.compare(a, b)).toBe(0);
        }
        expect(Array.from(wasm.batch.grade.subarray(0, rows.length))).toEqual(Array.from(js.batch.grade.subarray(0, rows.length)));
        rows.forEach((row, i) => {
          const one = wasm.scoreOne(row);
          expect(Object.is(one.overall, wasm.batch.overall[i])).toBe(true);
        });
      }),
      { numRuns: 5_000 },
    );
  });

  it("keeps every score in [0, 1], never NaN, with overall the mean of the measured components capped by latency", () => {
    fc.assert(
      fc.property(arbInputs, (inputs) => {
        const s = scoreHealth(inputs);
        for (const v of [s.latency, s.reliability, s.bandwidth, s.overall]) {
          expect(v >= 0 && v <= 1).toBe(true);
        }
        const parts = [s.reliability];
        if (inputs.rttMs >= 0) parts.push(s.latency);
        if (inputs.bandwidthBps >= 0) parts.push(s.bandwidth);
        const mean = parts.reduce((a, b) => a + b, 0) / parts.length;
        expect(s.overall).toBeCloseTo(inputs.rttMs >= 0 ? Math.min(mean, s.latency + LATENCY_HEADROOM) : mean, 12);
        expect(s.overall).toBeLessThanOrEqual(inputs.rttMs >= 0 ? s.latency + LATENCY_HEADROOM : 1);
      }),
      { numRuns: 20_000 },
    );
  });

  it("scores 10k connections in one call on either engine", () => {
    for (const engine of ["wasm", "js"] as const) {
      const s = createHealthScorer({ engine, capacity: 10_000 });
      s.batch.rttMs.fill(20);
      s.batch.bandwidthBps.fill(9_000_000);
      s.batch.pingsSent.fill(100);
      s.batch.pingsAnswered.fill(100);
      s.batch.framesOk.fill(1000);
      s.scoreBatch();
      expect(s.batch.grade.every((g) => g === 4)).toBe(true);
    }
  });
});

describe("the scoring curves", () => {
  it("give a fresh connection with no samples the neutral 0.5 everywhere (grade fair)", () => {
    expect(scoreHealth(neutral)).toEqual({ latency: 0.5, reliability: 0.5, bandwidth: 0.5, overall: 0.5, grade: "fair" });
  });

  it("grade a lossless link on latency alone while bandwidth is unmeasured: 600 ms of RTT is poor, not fair", () => {
    const clean = { ...neutral, pingsSent: 40, pingsAnswered: 40, framesOk: 400, jitterMs: 0 };
    const grade = (rttMs: number, bandwidthBps = NaN) => scoreHealth({ ...clean, rttMs, bandwidthBps }).grade;
    // The documented curve (docs/CONFIGURATION.md, reference latency 100 ms).
    expect(grade(1)).toBe("excellent");
    expect(grade(50)).toBe("excellent");
    expect(grade(100)).toBe("good");
    expect(grade(150)).toBe("good");
    expect(grade(200)).toBe("fair");
    expect(grade(300)).toBe("fair");
    expect(grade(350)).toBe("poor");
    expect(grade(600)).toBe("poor");
    expect(grade(Infinity)).toBe("poor");
    // The old rule (a neutral 0.5 for the unmeasured bandwidth, mean of three) kept 600 ms at fair.
    const s = scoreHealth({ ...clean, rttMs: 600 });
    expect(gradeIndexOf((s.latency + s.reliability + 0.5) / 3)).toBe(2);
    // A measured bandwidth, however high, does not buy back the round trip.
    expect(grade(600, 1e12)).toBe("poor");
    expect(grade(600, 0)).toBe("poor");
    // Without an RTT sample, only reliability is known: a fresh connection stays at the neutral fair.
    expect(scoreHealth({ ...neutral, bandwidthBps: 9e6 }).overall).toBeCloseTo((0.5 + 0.9) / 2, 12);
  });

  it("score latency 1 at 0 ms, 0.8 at half the reference, 0.5 at the reference and 0.2 at twice it", () => {
    const lat = (rttMs: number) => scoreHealth({ ...neutral, rttMs, jitterMs: 0 }, 100).latency;
    expect(lat(0)).toBe(1);
    expect(lat(50)).toBe(0.8);
    expect(lat(100)).toBe(0.5);
    expect(lat(200)).toBe(0.2);
    expect(lat(Infinity)).toBe(0);
  });

  it("add jitter to the RTT and ignore a NaN or negative jitter", () => {
    const lat = (rttMs: number, jitterMs: number) => scoreHealth({ ...neutral, rttMs, jitterMs }).latency;
    expect(lat(60, 40)).toBe(lat(100, 0));
    expect(lat(60, NaN)).toBe(lat(60, 0));
    expect(lat(60, -5)).toBe(lat(60, 0));
  });

  it("score bandwidth 0 at 0, 0.5 at the reference and 1 at infinity, neutral when unmeasured", () => {
    const bw = (bandwidthBps: number) => scoreHealth({ ...neutral, bandwidthBps }, 100, 1000).bandwidth;
    expect(bw(0)).toBe(0);
    expect(bw(1000)).toBe(0.5);
    expect(bw(9000)).toBe(0.9);
    expect(bw(Infinity)).toBe(1);
    expect(bw(NaN)).toBe(0.5);
    expect(bw(-1)).toBe(0.5);
  });

  it("smooth reliability so that one lost ping does not zero it, and cap answered at sent", () => {
    const rel = (p: Partial<HealthInputs>) => scoreHealth({ ...neutral, ...p }).reliability;
    expect(rel({ pingsSent: 1, pingsAnswered: 0 })).toBe((1 / 3 + 0.5) / 2);
    expect(rel({ pingsSent: 10, pingsAnswered: 50 })).toBe(rel({ pingsSent: 10, pingsAnswered: 10 }));
    expect(rel({ pingsSent: Infinity, pingsAnswered: Infinity, framesOk: NaN, framesFailed: -3 })).toBe(
      rel({ pingsSent: 2 ** 53, pingsAnswered: 2 ** 53 }),
    );
  });

  it("are monotone: worse latency, lost pings, failed frames or less bandwidth never raise a score", () => {
    const nonNeg = fc.double({ min: 0, max: 1e12, noNaN: true });
    fc.assert(
      fc.property(nonNeg, nonNeg, nonNeg, nonNeg, (x, dx, y, dy) => {
        expect(scoreHealth({ ...neutral, rttMs: x + dx, jitterMs: 0 }).latency).toBeLessThanOrEqual(
          scoreHealth({ ...neutral, rttMs: x, jitterMs: 0 }).latency,
        );
        expect(scoreHealth({ ...neutral, bandwidthBps: x + dx }).bandwidth).toBeGreaterThanOrEqual(
          scoreHealth({ ...neutral, bandwidthBps: x }).bandwidth,
        );
        expect(scoreHealth({ ...neutral, framesOk: y, framesFailed: x + dx }).reliability).toBeLessThanOrEqual(
          scoreHealth({ ...neutral, framesOk: y, framesFailed: x }).reliability,
        );
        const sent = x + dx + dy;
        expect(scoreHealth({ ...neutral, pingsSent: sent, pingsAnswered: x }).reliability).toBeLessThanOrEqual(
          scoreHealth({ ...neutral, pingsSent: sent, pingsAnswered: x + dx }).reliability,
        );
        void y;
      }),
      { numRuns: 5_000 },
    );
  });

  it("grade by the thresholds 0.8, 0.6, 0.4 and 0.2 on the overall score, inclusive", () => {
    const cases: [number, number][] = [
      [1, 4], [0.8, 4], [0.7999999, 3], [0.6, 3], [0.5999999, 2], [0.4, 2], [0.3999999, 1], [0.2, 1], [0.1999999, 0], [0, 0],
    ];
    for (const [overall, grade] of cases) expect(gradeIndexOf(overall)).toBe(grade);
  });

  it("write in the batch the grade of each connection's overall score", () => {
    const s = createHealthScorer({ engine: "wasm", capacity: 1000 });
    for (let i = 0; i < 1000; i++) {
      s.batch.rttMs[i] = i;
      s.batch.bandwidthBps[i] = i * 10_000;
      s.batch.pingsSent[i] = 10;
      s.batch.pingsAnswered[i] = i % 11;
    }
    s.scoreBatch();
    const grades = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      expect(s.batch.grade[i]).toBe(gradeIndexOf(s.batch.overall[i] as number));
      grades.add(s.batch.grade[i] as number);
    }
    expect(grades.size).toBeGreaterThanOrEqual(3);
  });

  it("rejects invalid reference values and batch counts with INVALID_ARGUMENT", () => {
    // 1e-200 squared underflows to 0: an RTT of 0 would then score 0/0 = NaN.
    for (const bad of [0, -1, NaN, Infinity, 1e200, 1e-200, 1e-7]) {
      expect(() => createHealthScorer({ referenceLatencyMs: bad })).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
      expect(() => createHealthScorer({ referenceBandwidthBps: bad })).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
    const tiny = createHealthScorer({ capacity: 1, referenceLatencyMs: 1e-6, referenceBandwidthBps: 1e-6 });
    tiny.batch.rttMs[0] = 0;
    tiny.batch.jitterMs[0] = 0;
    tiny.scoreBatch(1);
    expect(Number.isNaN(tiny.batch.overall[0])).toBe(false);
    const s = createHealthScorer({ capacity: 8 });
    expect(() => s.scoreBatch(9)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    try {
      s.scoreBatch(1.5);
      expect.unreachable();
    } catch (e) {
      expect(isPeerlinkError(e, "INVALID_ARGUMENT")).toBe(true);
    }
  });
});
