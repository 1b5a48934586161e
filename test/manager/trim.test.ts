import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { type TrimCandidate, compareForTrim, selectConnectionsToTrim } from "../../src/manager/trim.js";
import { throwsWithCode } from "../helpers/error-code.js";

const NOW = 1_000_000;
const GRACE = 20_000;
const OLD = NOW - 60_000;

function conn(id: string, extra: Partial<TrimCandidate> = {}): TrimCandidate {
  return { id, direction: "inbound", openedAt: OLD, healthScore: 0.5, ...extra };
}

function trim(candidates: TrimCandidate[], low: number, high: number): string[] {
  return selectConnectionsToTrim(candidates, { lowWatermark: low, highWatermark: high, gracePeriodMs: GRACE, now: NOW }).map((c) => c.id);
}

describe("trimming at or below the high watermark", () => {
  it("closes nothing", () => {
    const candidates = Array.from({ length: 5 }, (_, i) => conn(`c${i}`, { healthScore: 0 }));
    expect(trim(candidates, 2, 5)).toEqual([]);
    expect(trim([], 0, 0)).toEqual([]);
  });
});

describe("trimming above the high watermark", () => {
  it("closes count − lowWatermark connections, worst health first", () => {
    const candidates = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2].map((h, i) => conn(`h${h}`, { healthScore: h, openedAt: OLD - i }));
    expect(trim(candidates, 3, 5)).toEqual(["h0.1", "h0.2", "h0.3"]);
  });

  it("never closes protected connections, even the worst", () => {
    const candidates = [conn("vip", { healthScore: 0, protected: true }), conn("a", { healthScore: 0.4 }), conn("b", { healthScore: 0.6 })];
    expect(trim(candidates, 1, 2)).toEqual(["a", "b"]);
  });

  it("never closes connections younger than the grace period", () => {
    const candidates = [
      conn("baby", { healthScore: 0, openedAt: NOW - GRACE + 1 }),
      conn("exactly-grace", { healthScore: 0.1, openedAt: NOW - GRACE }),
      conn("old", { healthScore: 0.9 }),
    ];
    expect(trim(candidates, 1, 2)).toEqual(["exactly-grace", "old"]);
  });

  it("closes fewer than asked when too few are eligible", () => {
    const candidates = [conn("p1", { protected: true }), conn("p2", { protected: true }), conn("young", { openedAt: NOW }), conn("x")];
    expect(trim(candidates, 0, 1)).toEqual(["x"]);
  });

  it("treats an unknown health score as 0.5", () => {
    const candidates = [conn("bad", { healthScore: 0.4 }), conn("unknown", { healthScore: undefined }), conn("good", { healthScore: 0.6 })];
    expect(trim(candidates, 0, 2)).toEqual(["bad", "unknown", "good"]);
    const nan = [conn("nan", { healthScore: Number.NaN }), conn("worse", { healthScore: 0.49 })];
    expect(trim(nan, 0, 1)).toEqual(["worse", "nan"]);
  });

  it("breaks health ties by closing inbound before outbound", () => {
    const candidates = [conn("out", { direction: "outbound", openedAt: NOW - GRACE }), conn("in", { direction: "inbound", openedAt: OLD })];
    expect(trim(candidates, 1, 1)).toEqual(["in"]);
  });

  it("breaks remaining ties by closing the newest first, then by id", () => {
    const candidates = [conn("older", { openedAt: OLD - 10 }), conn("newer", { openedAt: OLD }), conn("b", { openedAt: OLD - 20 }), conn("a", { openedAt: OLD - 20 })];
    expect(trim(candidates, 0, 3)).toEqual(["newer", "older", "a", "b"]);
  });

  it("returns the caller's own objects", () => {
    const candidates = [{ ...conn("x"), socket: "s1" }, { ...conn("y"), socket: "s2" }];
    const chosen = selectConnectionsToTrim(candidates, { lowWatermark: 1, highWatermark: 1, gracePeriodMs: 0, now: NOW });
    expect(chosen).toHaveLength(1);
    expect(candidates).toContain(chosen[0]);
  });

  it("rejects inconsistent watermarks and grace periods", () => {
    for (const options of [
      { lowWatermark: 5, highWatermark: 4, gracePeriodMs: 0, now: 0 },
      { lowWatermark: -1, highWatermark: 4, gracePeriodMs: 0, now: 0 },
      { lowWatermark: 1.5, highWatermark: 4, gracePeriodMs: 0, now: 0 },
      { lowWatermark: 1, highWatermark: 4, gracePeriodMs: -1, now: 0 },
    ]) {
      throwsWithCode(() => selectConnectionsToTrim([], options), ErrorCode.INVALID_ARGUMENT);
    }
  });
});

describe("trim selection on random connection sets", () => {
  const candidate = fc.record({
    id: fc.uuid(),
    direction: fc.constantFrom("inbound" as const, "outbound" as const),
    openedAt: fc.integer({ min: NOW - 100_000, max: NOW }),
    protected: fc.boolean(),
    healthScore: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  });

  it("chooses only eligible connections, no more than needed, in ranking order, and the worst ones", () => {
    fc.assert(
      fc.property(fc.array(candidate, { maxLength: 40 }), fc.nat(20), fc.nat(20), (candidates, a, b) => {
        const low = Math.min(a, b);
        const high = Math.max(a, b);
        const chosen = selectConnectionsToTrim(candidates, { lowWatermark: low, highWatermark: high, gracePeriodMs: GRACE, now: NOW });
        const eligible = candidates.filter((c) => !c.protected && NOW - c.openedAt >= GRACE);
        if (candidates.length <= high) {
          expect(chosen).toEqual([]);
          return;
        }
        expect(chosen.length).toBe(Math.min(candidates.length - low, eligible.length));
        for (const c of chosen) expect(eligible).toContain(c);
        for (let i = 1; i < chosen.length; i++) expect(compareForTrim(chosen[i - 1]!, chosen[i]!)).toBeLessThanOrEqual(0);
        const last = chosen[chosen.length - 1];
        if (last !== undefined) {
          for (const c of eligible) if (!chosen.includes(c)) expect(compareForTrim(last, c)).toBeLessThanOrEqual(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
