/**
 * Tags order the replacement of degraded connections (fake clock, the maintenance service with a fake
 * host): when two connections are due in the same check and the peer database holds one candidate, the
 * lowest-tagged connection gets it, whatever the order the connections opened in.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMaintenanceService } from "../../src/maintenance/maintenance-service.js";
import { FakeConnection, FakeHost, randomPeer } from "./fixtures/fake-host.js";

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("replacement order", () => {
  it.each([
    ["the first-opened peer tagged higher", [10, 0], 1],
    ["the later-opened peer tagged higher", [0, 10], 0],
  ] as const)("gives the one candidate to the lowest-tagged degraded connection (%s)", (_name, values, winner) => {
    const host = new FakeHost();
    const service = createMaintenanceService({
      engine: "js",
      pingIntervalMs: 500,
      healthCheckIntervalMs: 500,
      hysteresisSamples: 1,
      degradedReplaceAfterMs: 1_000,
      maxPongTimeoutMs: 5_000,
    })(host);
    service.start?.();
    const candidate = randomPeer();
    host.peers.upsert(candidate, { addresses: ["127.0.0.1:9"] }, Date.now());
    host.dial.mockImplementation(() => new Promise(() => undefined)); // the replacement stays in flight
    // Both degraded alike (2 s pongs, most frames rejected) from the same moment.
    const fakes = [0, 1].map(() => {
      const fake = new FakeConnection({ rttMs: 2_000 });
      fake.failedFrames = 1_000;
      service.onOpen?.(host.adopt(fake));
      return fake;
    });
    fakes.forEach((fake, i) => host.peers.tags.tag(fake.peer, "weight", { value: values[i]! }, Date.now()));
    vi.advanceTimersByTime(6_000);
    expect(host.dial).toHaveBeenCalledTimes(1);
    expect(service.inspect(fakes[winner]!.asConnection)?.replacingWith).toBe(candidate);
    expect(service.inspect(fakes[1 - winner]!.asConnection)?.replacingWith).toBeUndefined();
    service.stop?.();
  });
});
