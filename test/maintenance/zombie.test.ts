/**
 * A peer that sends something now and then (a bogus Pong) but answers no Ping, on a fake clock. The keepalive
 * pings only a silent peer, so such a peer was never found dead and was graded on reliability alone (Fair or
 * better): the RTT pings it leaves unanswered now count as misses too.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMaintenanceService } from "../../src/maintenance/maintenance-service.js";
import { FakeConnection, FakeHost } from "./fixtures/fake-host.js";

describe("a peer that answers no ping but keeps sending", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("is closed as dead after as many unanswered RTT pings as the keepalive allows misses; an honest one stays", () => {
    const host = new FakeHost();
    const service = createMaintenanceService({ engine: "js", pingIntervalMs: 15_000, rttSampleIntervalMs: 5_000, maxMissedPongs: 3 })(host);
    service.start?.();
    const zombie = new FakeConnection({ rttMs: undefined });
    const honest = new FakeConnection({ rttMs: 20 });
    for (const f of [zombie, honest]) service.onOpen?.(host.adopt(f));
    // Every 4 s: a Pong with a nonce it made up, which proves it sends but answers nothing.
    const bogus = setInterval(() => {
      zombie.receive(12);
      zombie.emit("pong", { nonce: 12345, timestampUs: 678 });
    }, 4_000);
    vi.advanceTimersByTime(120_000);
    clearInterval(bogus);
    expect(zombie.closes.map((c) => c.reason)).toEqual(["timeout"]);
    expect(zombie.pings.length).toBeGreaterThanOrEqual(3);
    expect(honest.closes).toEqual([]);
    service.stop?.();
  });
});
