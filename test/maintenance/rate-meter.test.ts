import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { RateMeter } from "../../src/maintenance/rate-meter.js";

describe("a rate meter fed a steady stream", () => {
  it("reads the stream's rate after a few time constants", () => {
    const meter = new RateMeter({ timeConstantMs: 1_000 }, 0);
    // 1000 bytes every 100 ms = 10 000 bytes/s, for 10 time constants
    for (let t = 0; t <= 10_000; t += 100) meter.record(1_000, t);
    const rate = meter.rate(10_050);
    expect(rate).toBeGreaterThan(9_500);
    expect(rate).toBeLessThan(10_500);
    expect(meter.totalBytes).toBe(101_000);
  });

  it("reaches about 63 % of the rate after one time constant", () => {
    const meter = new RateMeter({ timeConstantMs: 1_000 }, 0);
    for (let t = 1; t <= 1_000; t += 1) meter.record(10, t); // 10 000 bytes/s
    const rate = meter.rate(1_000);
    expect(rate / 10_000).toBeGreaterThan(0.6);
    expect(rate / 10_000).toBeLessThan(0.67);
  });
});

describe("a rate meter on an idle connection", () => {
  it("decays by a factor e every time constant", () => {
    const meter = new RateMeter({ timeConstantMs: 2_000 }, 0);
    meter.record(4_000, 0);
    expect(meter.rate(0)).toBe(2_000); // 4000 bytes / 2 s
    expect(meter.rate(2_000)).toBeCloseTo(2_000 / Math.E, 9);
    expect(meter.rate(4_000)).toBeCloseTo(2_000 / Math.E ** 2, 9);
  });

  it("reads zero before anything was recorded", () => {
    const meter = new RateMeter({}, 0);
    expect(meter.rate(10_000)).toBe(0);
    expect(meter.timeConstantMs).toBe(5_000);
  });

  it("treats a clock that went backwards as not having moved", () => {
    const meter = new RateMeter({ timeConstantMs: 1_000 }, 0);
    meter.record(1_000, 500);
    meter.record(1_000, 400);
    expect(meter.rate(500)).toBe(2_000);
  });
});

describe("a rate meter given bad input", () => {
  it("rejects a non-positive time constant", () => {
    expect(() => new RateMeter({ timeConstantMs: 0 }, 0)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });

  it("rejects negative or non-finite byte counts without changing its state", () => {
    const meter = new RateMeter({}, 0);
    expect(() => meter.record(-1, 0)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => meter.record(Number.NaN, 0)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(meter.totalBytes).toBe(0);
  });
});
