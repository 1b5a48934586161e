import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMaintenanceService } from "../../src/maintenance/maintenance-service.js";
import type { NodeResumedEvent, NetworkChangedEvent } from "../../src/maintenance/maintenance-types.js";
import { resolveMaintenanceOptions } from "../../src/maintenance/maintenance-options.js";
import { WakeDetector } from "../../src/maintenance/wake-detector.js";
import { WakeWatch } from "../../src/maintenance/wake-watch.js";
import { FakeConnection, FakeHost } from "./fixtures/fake-host.js";

const settings = { checkIntervalMs: 1_000, lateThresholdMs: 5_000, networkPollMs: 5_000 };

describe("the sleep and network-change detector (sans-IO)", () => {
  it("says nothing while its timer fires on time or a little late (a GC pause, a busy machine)", () => {
    const d = new WakeDetector(settings, 0, 1_000_000);
    expect(d.nextDeadline()).toBe(1_000);
    expect(d.tick(1_000, 1_001_000)).toBeUndefined();
    expect(d.tick(2_000 + 4_999, 1_002_000 + 4_999)).toBeUndefined();
    expect(d.nextDeadline()).toBe(7_999);
  });

  it("notices a timer firing the threshold late or more: the process did not run (SIGSTOP)", () => {
    const d = new WakeDetector(settings, 0, 1_000_000);
    // 30 s stopped: both clocks moved together, the timer is 30 s late.
    expect(d.tick(31_000, 1_031_000)).toEqual({ type: "resumed", cause: "timer-late", sleptMs: 30_000 });
    expect(d.tick(32_000, 1_032_000)).toBeUndefined(); // once
  });

  it("notices the wall clock jumping against the monotonic clock: a suspended machine (either direction)", () => {
    const d = new WakeDetector(settings, 0, 1_000_000);
    // Suspended 1 h: the monotonic clock stood still, the wall clock did not.
    expect(d.tick(1_000, 1_000_000 + 1_000 + 3_600_000)).toEqual({ type: "resumed", cause: "clock-jump", sleptMs: 3_600_000 });
    // A step back of the wall clock by 10 s counts too (the network may have changed meanwhile).
    expect(d.tick(2_000, 3_601_000 + 1_000_000 + 1_000 - 10_000)?.type).toBe("resumed");
    expect(d.tick(3_000, 4_592_000 - 1_000 + 1_000 + 1_000)).toBeUndefined();
  });

  it("compares the local addresses when due and reports what appeared and what went away", () => {
    const d = new WakeDetector(settings, 0, 0, ["eth0/10.0.0.2", "wlan0/192.168.1.4"]);
    expect(d.networkDue(4_999)).toBe(false);
    expect(d.networkDue(5_000)).toBe(true);
    expect(d.addresses(["wlan0/192.168.1.4", "eth0/10.0.0.2"], 5_000)).toBeUndefined();
    expect(d.networkDue(9_999)).toBe(false);
    expect(d.addresses(["wlan0/172.16.0.9"], 10_000)).toEqual({
      type: "network-changed",
      added: ["wlan0/172.16.0.9"],
      removed: ["wlan0/192.168.1.4", "eth0/10.0.0.2"],
    });
  });

  it("never polls the addresses with networkPollMs 0", () => {
    const d = new WakeDetector({ ...settings, networkPollMs: 0 }, 0, 0);
    expect(d.networkDue(Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});

describe("the maintenance service after a sleep or a network change (fake clock)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("re-checks every connection at once after the process was stopped: node:resumed, a ping each, fresh grades", () => {
    const host = new FakeHost();
    const service = createMaintenanceService({ engine: "js", pingIntervalMs: 600_000, rttSampleIntervalMs: 600_000, healthCheckIntervalMs: 600_000 })(host);
    service.start?.();
    const fakes = [new FakeConnection({ rttMs: 1 }), new FakeConnection({ rttMs: 1 })];
    for (const fake of fakes) service.onOpen?.(host.adopt(fake));
    vi.advanceTimersByTime(100);
    expect(fakes.map((f) => f.pings.length)).toEqual([1, 1]); // the RTT ping at open
    vi.advanceTimersByTime(10_000);
    expect(fakes.map((f) => f.pings.length)).toEqual([1, 1]); // nothing due for 10 minutes

    // The process stops for 30 s: time passes, no timer runs. Then it runs again.
    vi.setSystemTime(Date.now() + 30_000);
    vi.advanceTimersByTime(1_000);
    const resumed = host.events.filter((e) => e.type === "node:resumed");
    expect(resumed).toHaveLength(1);
    const event = resumed[0]!.event as NodeResumedEvent;
    expect(event).toMatchObject({ cause: "timer-late", connections: 2 });
    expect(event.sleptMs).toBeGreaterThanOrEqual(30_000);
    expect(fakes.map((f) => f.pings.length)).toEqual([2, 2]);
    // A health check follows once the pongs are due (the minimum pong timeout), not 10 minutes later.
    const graded = host.events.filter((e) => e.type === "health:change").length;
    vi.advanceTimersByTime(2_000);
    expect(host.events.filter((e) => e.type === "health:change").length).toBeGreaterThanOrEqual(graded);
    expect(service.inspect(fakes[0]!.asConnection)?.health).toBeDefined();
    service.stop?.();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("publishes the grade of the first check after a resume at once, without waiting for agreeing checks", () => {
    const host = new FakeHost();
    const service = createMaintenanceService({ engine: "js", pingIntervalMs: 600_000, rttSampleIntervalMs: 600_000, healthCheckIntervalMs: 10_000 })(host);
    service.start?.();
    const fake = new FakeConnection({ rttMs: 1 });
    service.onOpen?.(host.adopt(fake));
    vi.advanceTimersByTime(30_000);
    expect(service.healthOf(fake.asConnection)?.grade).toBe("excellent");
    // Asleep for a minute; it wakes up on a network 600 ms away.
    vi.setSystemTime(Date.now() + 60_000);
    fake.rttMs = 600;
    const changes = (): unknown[] => host.events.filter((e) => e.type === "health:change").map((e) => (e.event as { to: string }).to);
    const before = changes().length;
    vi.advanceTimersByTime(1_000); // the watch fires: re-check
    vi.advanceTimersByTime(2_000); // the pongs are due: one health check
    expect(changes().slice(before)).toEqual(["poor"]);
    expect(service.healthOf(fake.asConnection)?.grade).toBe("poor");
    // Afterwards the hysteresis applies again: one better check does not move the grade back.
    fake.rttMs = 1;
    vi.advanceTimersByTime(10_000);
    expect(service.healthOf(fake.asConnection)?.grade).toBe("poor");
    service.stop?.();
  });

  it("turns off with wakeDetection: false (no timer of its own, no event)", () => {
    const on = createMaintenanceService({ engine: "js" })(new FakeHost());
    on.start?.();
    const withWatch = vi.getTimerCount();
    on.stop?.();
    const host = new FakeHost();
    const service = createMaintenanceService({ engine: "js", wakeDetection: false })(host);
    service.start?.();
    expect(vi.getTimerCount()).toBe(withWatch - 1);
    vi.setSystemTime(Date.now() + 60_000);
    vi.advanceTimersByTime(60_000);
    expect(host.events.filter((e) => e.type === "node:resumed")).toEqual([]);
    service.stop?.();
  });

  it("the watch reads the interfaces through its adapter and reports a change once", () => {
    let list = ["eth0/10.0.0.2"];
    const events: unknown[] = [];
    const watch = new WakeWatch(settings, { mono: () => Date.now(), wall: () => Date.now(), addresses: () => list }, (e) => events.push(e));
    watch.start();
    vi.advanceTimersByTime(10_000);
    expect(events).toEqual([]);
    list = ["eth0/10.0.0.2", "tun0/10.8.0.6"];
    vi.advanceTimersByTime(5_000);
    expect(events).toEqual([{ type: "network-changed", added: ["tun0/10.8.0.6"], removed: [] }]);
    watch.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("validates wakeDetection with the other options", () => {
    expect(resolveMaintenanceOptions({}).wakeDetection).toEqual(settings);
    expect(resolveMaintenanceOptions({ wakeDetection: false }).wakeDetection).toBeUndefined();
    expect(resolveMaintenanceOptions({ wakeDetection: { lateThresholdMs: 1_500, networkPollMs: 0 } }).wakeDetection).toEqual({
      checkIntervalMs: 1_000,
      lateThresholdMs: 1_500,
      networkPollMs: 0,
    });
    expect(() => resolveMaintenanceOptions({ wakeDetection: { checkIntervalMs: 0, bogus: 1 } as never })).toThrow(
      /wakeDetection\.checkIntervalMs[\s\S]*unknown option wakeDetection\.bogus|unknown option wakeDetection\.bogus[\s\S]*wakeDetection\.checkIntervalMs/,
    );
  });
});

export type { NetworkChangedEvent };
