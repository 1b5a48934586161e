import { describe, expect, it } from "vitest";
import { ErrorCode, isPeerlinkError } from "../../src/errors.js";
import { RttEstimator } from "../../src/maintenance/rtt-estimator.js";

describe("an RTT estimator before any sample", () => {
  it("reports no srtt, jitter or minimum and a timeout equal to the maximum", () => {
    const rtt = new RttEstimator();
    expect(rtt.srtt).toBeUndefined();
    expect(rtt.rttvar).toBeUndefined();
    expect(rtt.min).toBeUndefined();
    expect(rtt.samples).toBe(0);
    expect(rtt.timeout(1_000, 10_000)).toBe(10_000);
  });
});

describe("an RTT estimator fed samples (RFC 6298)", () => {
  it("sets srtt to the first sample and rttvar to half of it", () => {
    const rtt = new RttEstimator();
    rtt.addSample(80);
    expect(rtt.srtt).toBe(80);
    expect(rtt.rttvar).toBe(40);
    expect(rtt.latest).toBe(80);
  });

  it("updates rttvar with beta 1/4 before srtt with alpha 1/8", () => {
    const rtt = new RttEstimator();
    rtt.addSample(80);
    rtt.addSample(160);
    // rttvar = 3/4 * 40 + 1/4 * |80 - 160| = 50; srtt = 7/8 * 80 + 1/8 * 160 = 90
    expect(rtt.rttvar).toBe(50);
    expect(rtt.srtt).toBe(90);
  });

  it("converges to a constant RTT with vanishing jitter", () => {
    const rtt = new RttEstimator();
    rtt.addSample(300);
    for (let i = 0; i < 200; i++) rtt.addSample(50);
    expect(rtt.srtt).toBeCloseTo(50, 6);
    expect(rtt.rttvar).toBeLessThan(0.001);
  });

  it("tracks the smallest sample and the sample count", () => {
    const rtt = new RttEstimator();
    for (const s of [30, 12, 45, 20]) rtt.addSample(s);
    expect(rtt.min).toBe(12);
    expect(rtt.samples).toBe(4);
  });

  it("clamps its timeout into the given bounds", () => {
    const rtt = new RttEstimator();
    rtt.addSample(100); // 100 + 4 * 50 = 300
    expect(rtt.timeout(0, 10_000)).toBe(300);
    expect(rtt.timeout(500, 10_000)).toBe(500);
    expect(rtt.timeout(0, 200)).toBe(200);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])("rejects the sample %d with INVALID_ARGUMENT", (sample) => {
    const rtt = new RttEstimator();
    expect(() => rtt.addSample(sample)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(rtt.samples).toBe(0);
  });
});

describe("an RTT estimator's errors", () => {
  it("are PeerlinkErrors", () => {
    try {
      new RttEstimator().addSample(-5);
      expect.unreachable();
    } catch (e) {
      expect(isPeerlinkError(e, ErrorCode.INVALID_ARGUMENT)).toBe(true);
    }
  });
});
