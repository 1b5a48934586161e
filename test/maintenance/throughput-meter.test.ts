import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { ThroughputMeter } from "../../src/maintenance/throughput-meter.js";

/** Feeds a constant stream of `rate` B/s in and `rate / 2` out, read every `stepMs`, for `durationMs`. */
function constantStream(rate: number, stepMs: number, durationMs: number): ThroughputMeter {
  const meter = new ThroughputMeter({ timeConstantMs: 5_000 }, 0, { bytesIn: 0, bytesOut: 0 });
  for (let t = stepMs; t <= durationMs; t += stepMs) meter.update((rate * t) / 1000, (rate * t) / 2000, t);
  return meter;
}

describe("a throughput meter over cumulative counters", () => {
  it("reads a constant stream the same whether it is sampled every 50 ms or every 10 s", () => {
    for (const step of [50, 1_000, 10_000]) {
      const meter = constantStream(1_000_000, step, 60_000);
      expect(meter.rateIn, `step ${step}`).toBeCloseTo(1_000_000, -3);
      expect(meter.rateOut, `step ${step}`).toBeCloseTo(500_000, -3);
    }
  });

  it("decays by a factor e per time constant of silence", () => {
    const meter = constantStream(1_000_000, 1_000, 60_000);
    const before = meter.rateIn;
    meter.update(1_000_000 * 60, 500_000 * 60, 65_000);
    expect(meter.rateIn / before).toBeCloseTo(Math.exp(-1), 6);
  });

  it("ignores an update at the same instant and keeps the bytes for the next one", () => {
    const meter = new ThroughputMeter({ timeConstantMs: 1_000 }, 0, { bytesIn: 0, bytesOut: 0 });
    meter.update(500, 0, 0);
    expect(meter.rateIn).toBe(0);
    meter.update(500, 0, 1_000);
    expect(meter.rateIn).toBeCloseTo(500 * (1 - Math.exp(-1)), 9);
  });

  it("treats counters that went down as a new baseline instead of a negative rate", () => {
    const meter = new ThroughputMeter({}, 0, { bytesIn: 1_000, bytesOut: 1_000 });
    meter.update(10, 10, 1_000);
    expect(meter.rateIn).toBe(0);
    meter.update(1_010, 10, 2_000);
    expect(meter.rateIn).toBeGreaterThan(0);
  });

  it("rejects a time constant that is not a positive finite number", () => {
    for (const tau of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new ThroughputMeter({ timeConstantMs: tau }, 0, { bytesIn: 0, bytesOut: 0 })).toThrow(PeerlinkError);
      try {
        new ThroughputMeter({ timeConstantMs: tau }, 0, { bytesIn: 0, bytesOut: 0 });
      } catch (error) {
        expect((error as PeerlinkError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      }
    }
  });
});
