import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { gradeIndex, HealthGrade } from "../../src/health/types.js";
import { RTT_CONFIRMATION_PINGS } from "../../src/maintenance/defaults.js";
import { createMaintenanceService } from "../../src/maintenance/maintenance-service.js";
import { FakeConnection, FakeHost } from "./fixtures/fake-host.js";

describe("a path whose RTT jumps from 1 ms to 600 ms (default options, fake clock)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("is published poor or worse within 3 health intervals, the RTT average following with back-to-back pings", () => {
    const host = new FakeHost();
    const service = createMaintenanceService({ engine: "js" })(host);
    service.start?.();
    const fake = new FakeConnection({ rttMs: 1 });
    service.onOpen?.(host.adopt(fake));
    vi.advanceTimersByTime(60_000);
    expect(service.healthOf(fake.asConnection)?.grade).toBe(HealthGrade.EXCELLENT);
    // A steady path: the open ping and one keepalive ping per quiet 15 s, nothing more.
    expect(fake.pings.length).toBeLessThanOrEqual(1 + 60_000 / 15_000);
    const before = fake.pings.length;

    fake.rttMs = 600;
    const interval = service.options.healthCheckIntervalMs;
    vi.advanceTimersByTime(3 * interval);
    const grade = service.healthOf(fake.asConnection)!.grade;
    expect(gradeIndex(grade)).toBeLessThanOrEqual(gradeIndex(HealthGrade.POOR));
    // The shift was confirmed by a bounded burst of RTT pings (one outstanding at a time), then the schedule resumed.
    const extra = fake.pings.length - before;
    expect(extra).toBeGreaterThan(1);
    expect(extra).toBeLessThanOrEqual(1 + RTT_CONFIRMATION_PINGS + 3 * interval / 15_000);
    expect(service.rttOf(fake.asConnection)!).toBeGreaterThan(300);
    service.stop?.();
  });
});
