import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { scoreHealth } from "../../src/health/scorer.js";
import { BandwidthProber } from "../../src/maintenance/bandwidth-probe.js";
import { createMaintenanceService } from "../../src/maintenance/maintenance-service.js";
import { bandwidthCouldMatter } from "../../src/maintenance/probe-demand.js";
import { FakeConnection, FakeHost } from "./fixtures/fake-host.js";

/** Whether `bandwidthCouldMatter` says to probe a lossless link of `rttMs` whose bandwidth is unmeasured. */
function wanted(rttMs: number): boolean {
  const s = scoreHealth({ rttMs, jitterMs: 0, pingsSent: 40, pingsAnswered: 40, framesOk: 400, framesFailed: 0, bandwidthBps: NaN });
  return bandwidthCouldMatter(s.latency, s.reliability, true, s.overall);
}

describe("when a bandwidth measurement is worth it (sans-IO)", () => {
  it("only on a score near a grade boundary that a measured bandwidth could cross", () => {
    expect(wanted(1)).toBe(false); // excellent whatever its bandwidth could show
    expect(wanted(95)).toBe(true); // good, 0.044 under excellent: bandwidth decides
    expect(wanted(200)).toBe(false); // fair, 0.1 from the boundary a bandwidth could cross
    expect(wanted(600)).toBe(false); // capped by latency: no bandwidth changes its grade
    expect(wanted(Infinity)).toBe(false);
    // Without an RTT sample, reliability alone: (rel + bw) / 2 spans grades; 0.42 is near 0.4.
    expect(bandwidthCouldMatter(0.5, 0.42, false, 0.42)).toBe(true);
    expect(bandwidthCouldMatter(0.5, 1, false, 1)).toBe(false);
  });

  it("a prober asked on demand starts at once, but never twice within the minimum interval nor during a probe", () => {
    const prober = new BandwidthProber({ initialDelayMs: Number.MAX_SAFE_INTEGER, intervalMs: Number.MAX_SAFE_INTEGER, reportTimeoutMs: 1_000 }, 0);
    expect(prober.poll(1_000).type).toBe("none");
    expect(prober.request(1_000, 60_000)).toBe(true);
    expect(prober.poll(1_000).type).toBe("probe");
    expect(prober.request(1_001, 60_000)).toBe(false); // in flight
    let at = 1_000;
    for (let a = prober.poll(at); a.type !== "timeout"; a = prober.poll(at)) at += 10;
    expect(prober.request(at + 1, 60_000)).toBe(false); // 60 s since the last start have not passed
    expect(prober.request(61_000, 60_000)).toBe(true);
  });
});

describe("on-demand probes through the maintenance service (fake clock)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const probeIds = (fake: FakeConnection): Set<number> =>
    new Set(fake.controls.filter((f) => f.kind.case === "bandwidthProbe").map((f) => (f.kind.value as { probeId: number }).probeId));

  it("probes a borderline idle connection (probing off) at most once per minimum interval, and no other", () => {
    const host = new FakeHost();
    const service = createMaintenanceService({ engine: "js", pingIntervalMs: 500, healthCheckIntervalMs: 1_000, probeOnDemandMinIntervalMs: 60_000 })(host);
    service.start?.();
    const borderline = new FakeConnection({ rttMs: 85 });
    const excellent = new FakeConnection({ rttMs: 1 });
    const slow = new FakeConnection({ rttMs: 600 });
    for (const f of [borderline, excellent, slow]) service.onOpen?.(host.adopt(f));
    vi.advanceTimersByTime(10_000);
    expect(probeIds(borderline).size).toBe(1);
    expect(borderline.controls.filter((f) => f.kind.case === "bandwidthProbe")).toHaveLength(8); // one burst
    expect(probeIds(excellent).size).toBe(0);
    expect(probeIds(slow).size).toBe(0);
    // The fake peer never reports: the probe times out and the link stays borderline, yet no second
    // probe before the minimum interval.
    vi.advanceTimersByTime(45_000);
    expect(probeIds(borderline).size).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(probeIds(borderline).size).toBe(2);
    service.stop?.();
  });

  it("probes at most 8 borderline connections at once and 8 a minute node-wide, however many there are", () => {
    // A peer that reconnects gets a fresh connection, with no probe history: the per-connection interval alone
    // let each new borderline connection pull a 256 KiB burst for a few bytes.
    const host = new FakeHost();
    const service = createMaintenanceService({ engine: "js", pingIntervalMs: 500, healthCheckIntervalMs: 1_000, probeOnDemandMinIntervalMs: 60_000 })(host);
    service.start?.();
    const borderline = Array.from({ length: 40 }, () => new FakeConnection({ rttMs: 85 }));
    for (const f of borderline) service.onOpen?.(host.adopt(f));
    const probed = (): number => borderline.filter((f) => probeIds(f).size > 0).length;
    // 8 at the first check that wants them, then one more every 7.5 s (the budget starts at that check, after 1 s
    // at least): 8 + ⌊(t − 1 s) / 7.5 s⌋ at most by t; without the budget, all 40 within the first seconds.
    vi.advanceTimersByTime(10_000);
    expect(probed()).toBeGreaterThanOrEqual(8);
    expect(probed()).toBeLessThanOrEqual(8 + Math.floor(9_000 / 7_500));
    vi.advanceTimersByTime(60_000);
    expect(probed()).toBeLessThanOrEqual(8 + Math.floor(69_000 / 7_500));
    expect(probed()).toBeGreaterThanOrEqual(8 + Math.floor(60_000 / 7_500));
    service.stop?.();
  });

  it("never probes with probeOnDemand: false", () => {
    const host = new FakeHost();
    const service = createMaintenanceService({ engine: "js", pingIntervalMs: 500, healthCheckIntervalMs: 1_000, probeOnDemand: false })(host);
    service.start?.();
    const borderline = new FakeConnection({ rttMs: 85 });
    service.onOpen?.(host.adopt(borderline));
    vi.advanceTimersByTime(30_000);
    expect(probeIds(borderline).size).toBe(0);
    service.stop?.();
  });
});
