import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import {
  BandwidthProber,
  bandwidthFromReport,
  ProbeReceiver,
  type ProberAction,
  type ProbeFrame,
} from "../../src/maintenance/bandwidth-probe.js";
import { PROBE_FRAME_OVERHEAD_BYTES } from "../../src/maintenance/defaults.js";

/** 9968 bytes of padding + 32 of overhead = 10 000 bytes a frame; at 1 MB/s that is one frame every 10 ms. */
const PACED = {
  intervalMs: 60_000,
  initialDelayMs: 1_000,
  frameCount: 4,
  paddingBytes: 10_000 - PROBE_FRAME_OVERHEAD_BYTES,
  maxBytesPerSecond: 1_000_000,
  reportTimeoutMs: 5_000,
};

function expectFrame(action: ProberAction): ProbeFrame {
  expect(action.type).toBe("probe");
  if (action.type !== "probe") throw new Error("unreachable");
  return action.frame;
}

/** Sends a whole burst, polling exactly at each deadline; returns the frames and their send times. */
function sendBurst(prober: BandwidthProber): { frames: ProbeFrame[]; sentAt: number[] } {
  const frames: ProbeFrame[] = [];
  const sentAt: number[] = [];
  for (let i = 0; i < 2 * prober.frameCount && (frames.length === 0 || prober.inFlight); i++) {
    const now = prober.nextDeadline();
    const action = prober.poll(now);
    if (action.type !== "probe") break;
    frames.push(action.frame);
    sentAt.push(now);
    if (action.frame.index === action.frame.count - 1) break;
  }
  return { frames, sentAt };
}

describe("bandwidthFromReport", () => {
  it("divides the bytes after the first frame by the time from first to last arrival", () => {
    // 4 frames of 1000 bytes, 3 ms from first to last: 3000 bytes / 3 ms = 1 MB/s
    expect(bandwidthFromReport({ probeId: 1, framesReceived: 4, bytesReceived: 4_000, elapsedUs: 3_000 })).toBe(
      1_000_000,
    );
  });

  it("cannot measure anything from one frame or zero elapsed time", () => {
    expect(bandwidthFromReport({ probeId: 1, framesReceived: 1, bytesReceived: 1_000, elapsedUs: 3_000 })).toBeUndefined();
    expect(bandwidthFromReport({ probeId: 1, framesReceived: 4, bytesReceived: 4_000, elapsedUs: 0 })).toBeUndefined();
  });
});

describe("a bandwidth prober on a new connection", () => {
  it("starts the first probe after the initial delay and not before", () => {
    const prober = new BandwidthProber(PACED, 0);
    expect(prober.nextDeadline()).toBe(1_000);
    expect(prober.poll(999)).toEqual({ type: "none" });
    const first = expectFrame(prober.poll(1_000));
    expect(first).toMatchObject({ probeId: 1, index: 0, count: 4 });
    expect(first.padding.length).toBe(PACED.paddingBytes);
    expect(prober.inFlight).toBe(true);
    expect(prober.probesStarted).toBe(1);
  });

  it("paces the frames no faster than the byte-rate cap", () => {
    const prober = new BandwidthProber(PACED, 0);
    expect(prober.frameGapMs).toBe(10);
    expectFrame(prober.poll(1_000));
    expect(prober.poll(1_000)).toEqual({ type: "none" });
    expect(prober.poll(1_009.9)).toEqual({ type: "none" });
    expect(expectFrame(prober.poll(1_010)).index).toBe(1);
    expect(prober.nextDeadline()).toBe(1_020);
  });

  it("releases one frame per gap even when polled late, so a late timer never bursts", () => {
    const prober = new BandwidthProber(PACED, 0);
    expectFrame(prober.poll(1_000));
    expect(expectFrame(prober.poll(1_500)).index).toBe(1);
    expect(prober.poll(1_500)).toEqual({ type: "none" });
    expect(prober.nextDeadline()).toBe(1_510);
  });

  it("never starts a probe while one is in flight, even past the interval", () => {
    const prober = new BandwidthProber({ ...PACED, reportTimeoutMs: 200_000 }, 0);
    const { frames } = sendBurst(prober);
    expect(frames.map((f) => f.index)).toEqual([0, 1, 2, 3]);
    expect(prober.poll(150_000)).toEqual({ type: "none" });
    expect(prober.probesStarted).toBe(1);
  });

  it("ends the probe with the measured bandwidth when the matching report arrives", () => {
    const prober = new BandwidthProber(PACED, 0);
    sendBurst(prober);
    const bw = prober.onReport({ probeId: 1, framesReceived: 4, bytesReceived: 40_000, elapsedUs: 30_000 }, 1_100);
    expect(bw).toBe(1_000_000);
    expect(prober.lastBandwidth).toBe(1_000_000);
    expect(prober.inFlight).toBe(false);
    expect(prober.probesCompleted).toBe(1);
    // the next probe is due one interval after this one started
    expect(prober.nextDeadline()).toBe(61_000);
    expect(expectFrame(prober.poll(61_000)).probeId).toBe(2);
  });

  it("ignores a report for another probe id or with more frames than were sent", () => {
    const prober = new BandwidthProber(PACED, 0);
    sendBurst(prober);
    expect(prober.onReport({ probeId: 9, framesReceived: 4, bytesReceived: 40_000, elapsedUs: 30_000 }, 1_100)).toBeUndefined();
    expect(prober.onReport({ probeId: 1, framesReceived: 5, bytesReceived: 50_000, elapsedUs: 30_000 }, 1_100)).toBeUndefined();
    expect(prober.inFlight).toBe(true);
  });

  it("ignores reports that cannot describe what was sent: forged bytes, faster than the pacing, longer than since the start, ahead of the burst", () => {
    const prober = new BandwidthProber(PACED, 0);
    // Frames leave at 1000, 1010, 1020, 1030 (10 ms apart); the report comes at 1100.
    sendBurst(prober);
    const report = { probeId: 1, framesReceived: 4, bytesReceived: 40_000, elapsedUs: 30_000 };
    expect(prober.onReport({ ...report, bytesReceived: 2 ** 32 - 1 }, 1_100)).toBeUndefined(); // more bytes than 4 frames carry
    expect(prober.onReport({ ...report, elapsedUs: 1 }, 1_100)).toBeUndefined(); // 4 frames paced 10 ms apart cannot arrive within 1 µs
    expect(prober.onReport({ ...report, elapsedUs: 200_000 }, 1_100)).toBeUndefined(); // the first frame left only 100 ms ago
    expect(prober.inFlight).toBe(true);
    expect(prober.onReport(report, 1_100)).toBe(1_000_000); // the true report still counts

    const early = new BandwidthProber(PACED, 0);
    expectFrame(early.poll(1_000)); // only frame 0 has left
    expect(early.onReport({ probeId: 1, framesReceived: 2, bytesReceived: 20_000, elapsedUs: 10_000 }, 1_005)).toBeUndefined();
    expect(early.inFlight).toBe(true);
  });

  it("refuses a burst larger than docs/PROTOCOL.md §6 allows (more than 64 frames or 1 MiB) with INVALID_ARGUMENT", () => {
    expect(() => new BandwidthProber({ ...PACED, frameCount: 65, paddingBytes: 0 }, 0)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => new BandwidthProber({ ...PACED, frameCount: 64, paddingBytes: 32 * 1024 }, 0)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    expect(new BandwidthProber({ ...PACED, frameCount: 64, paddingBytes: 16 * 1024 - 64 }, 0).frameCount).toBe(64);
  });

  it("gives up on a probe whose report does not come within the report timeout", () => {
    const prober = new BandwidthProber(PACED, 0);
    const { sentAt } = sendBurst(prober);
    const last = sentAt[sentAt.length - 1] ?? Number.NaN;
    expect(prober.nextDeadline()).toBe(last + 5_000);
    expect(prober.poll(last + 4_999)).toEqual({ type: "none" });
    expect(prober.poll(last + 5_000)).toEqual({ type: "timeout", probeId: 1 });
    expect(prober.probesTimedOut).toBe(1);
    expect(prober.inFlight).toBe(false);
    expect(prober.nextDeadline()).toBe(61_000);
    // a late report no longer matches
    expect(prober.onReport({ probeId: 1, framesReceived: 4, bytesReceived: 1, elapsedUs: 1 }, last + 6_000)).toBeUndefined();
  });

  it.each([
    [{ frameCount: 1 }],
    [{ frameCount: 2.5 }],
    [{ paddingBytes: -1 }],
    [{ paddingBytes: 2 * 1024 * 1024 }],
    [{ maxBytesPerSecond: 0 }],
    [{ intervalMs: Number.NaN }],
    [{ reportTimeoutMs: 0 }],
  ])("rejects the option %o with INVALID_ARGUMENT", (options) => {
    expect(() => new BandwidthProber(options, 0)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});

describe("a probe receiver", () => {
  it("reports a complete burst when the last index arrives, with the first-to-last elapsed time", () => {
    const rx = new ProbeReceiver();
    expect(rx.onProbe({ probeId: 3, index: 0, count: 3 }, 1_000, 100)).toBeUndefined();
    expect(rx.onProbe({ probeId: 3, index: 1, count: 3 }, 1_000, 101.5)).toBeUndefined();
    expect(rx.onProbe({ probeId: 3, index: 2, count: 3 }, 1_000, 103)).toEqual({
      probeId: 3,
      framesReceived: 3,
      bytesReceived: 3_000,
      elapsedUs: 3_000,
    });
    expect(rx.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it("does not answer one-frame probes, which measure nothing (a report each would be free writes for the sender)", () => {
    const rx = new ProbeReceiver();
    for (let id = 1; id <= 100; id++) expect(rx.onProbe({ probeId: id, index: 0, count: 1 }, 100, id)).toBeUndefined();
    expect(rx.poll(1_000_000)).toEqual({ type: "none" });
    expect(rx.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it("reports an incomplete burst once no frame came for the receive timeout, not 1 ms before", () => {
    const rx = new ProbeReceiver({ receiveTimeoutMs: 2_000 });
    rx.onProbe({ probeId: 4, index: 0, count: 8 }, 500, 10);
    rx.onProbe({ probeId: 4, index: 1, count: 8 }, 500, 20);
    expect(rx.nextDeadline()).toBe(2_020);
    expect(rx.poll(2_019)).toEqual({ type: "none" });
    expect(rx.poll(2_020)).toEqual({
      type: "report",
      report: { probeId: 4, framesReceived: 2, bytesReceived: 1_000, elapsedUs: 10_000 },
    });
    expect(rx.poll(5_000)).toEqual({ type: "none" });
  });

  it("ignores late frames of a burst it already reported", () => {
    const rx = new ProbeReceiver({ receiveTimeoutMs: 100 });
    rx.onProbe({ probeId: 5, index: 0, count: 3 }, 500, 0);
    rx.onProbe({ probeId: 5, index: 1, count: 3 }, 500, 1);
    expect(rx.poll(101).type).toBe("report");
    expect(rx.onProbe({ probeId: 5, index: 2, count: 3 }, 500, 150)).toBeUndefined();
    expect(rx.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it("answers no burst of which one frame arrived: lone frames of alternating bursts get no reports", () => {
    const rx = new ProbeReceiver({ receiveTimeoutMs: 100 });
    // Each frame completes its "burst" (index 1 of 2) or ends the one before it.
    for (let i = 0; i < 1_000; i++) expect(rx.onProbe({ probeId: 1 + (i % 2), index: 1, count: 2 }, 100, i)).toBeUndefined();
    expect(rx.poll(1_000)).toEqual({ type: "none" });
    rx.onProbe({ probeId: 9, index: 0, count: 4 }, 100, 2_000);
    expect(rx.poll(2_100)).toEqual({ type: "none" });
    expect(rx.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it("closes an open burst when a new probe id arrives and reports it on the next poll", () => {
    const rx = new ProbeReceiver();
    rx.onProbe({ probeId: 6, index: 0, count: 4 }, 100, 0);
    rx.onProbe({ probeId: 6, index: 1, count: 4 }, 100, 1);
    rx.onProbe({ probeId: 7, index: 0, count: 4 }, 100, 2);
    expect(rx.nextDeadline()).toBe(Number.NEGATIVE_INFINITY);
    expect(rx.poll(2)).toEqual({
      type: "report",
      report: { probeId: 6, framesReceived: 2, bytesReceived: 200, elapsedUs: 1_000 },
    });
    expect(rx.nextDeadline()).toBe(2 + 5_000);
  });

  it.each([
    [{ probeId: 1, index: 0, count: 0 }],
    [{ probeId: 1, index: 3, count: 3 }],
    [{ probeId: 1, index: -1, count: 3 }],
    [{ probeId: 1, index: 0, count: 5_000 }],
  ])("treats the malformed probe %o as a protocol violation", (probe) => {
    const rx = new ProbeReceiver();
    expect(() => rx.onProbe(probe, 100, 0)).toThrow(expect.objectContaining({ code: ErrorCode.PROTOCOL_VIOLATION }));
  });

  it("treats a burst whose count changes as a protocol violation", () => {
    const rx = new ProbeReceiver();
    rx.onProbe({ probeId: 1, index: 0, count: 4 }, 100, 0);
    expect(() => rx.onProbe({ probeId: 1, index: 1, count: 5 }, 100, 1)).toThrow(
      expect.objectContaining({ code: ErrorCode.PROTOCOL_VIOLATION }),
    );
  });
});

/**
 * Runs one probe through a simulated link that serialises bytes at `linkBytesPerSecond`
 * (arrival = max(sent, previous arrival) + frameBytes / rate) and returns the measurement.
 */
function measureThroughSimulatedLink(linkBytesPerSecond: number, maxBytesPerSecond: number): number | undefined {
  const prober = new BandwidthProber({ ...PACED, frameCount: 8, maxBytesPerSecond }, 0);
  const receiver = new ProbeReceiver();
  const { frames, sentAt } = sendBurst(prober);
  expect(frames).toHaveLength(8);
  let arrival = 0;
  let report;
  for (const [i, frame] of frames.entries()) {
    const frameBytes = frame.padding.length + PROBE_FRAME_OVERHEAD_BYTES;
    arrival = Math.max(sentAt[i] ?? 0, arrival) + (frameBytes / linkBytesPerSecond) * 1000;
    report = receiver.onProbe(frame, frameBytes, arrival);
  }
  expect(report).toBeDefined();
  return report === undefined ? undefined : prober.onReport(report, arrival + 1);
}

describe("a probe between a prober and a receiver over a simulated link", () => {
  it("measures the link's bandwidth when the link is slower than the cap", () => {
    const bw = measureThroughSimulatedLink(250_000, 1_000_000);
    expect(bw).toBeCloseTo(250_000, -2);
  });

  it("measures the cap when the link is faster than the cap", () => {
    const bw = measureThroughSimulatedLink(100_000_000, 1_000_000);
    expect(bw).toBeCloseTo(1_000_000, -3);
  });
});
