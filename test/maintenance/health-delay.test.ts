import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { gradeIndex, HealthGrade } from "../../src/health/types.js";
import type { HealthChangeEvent } from "../../src/maintenance/maintenance-types.js";
import { DelayRelay } from "../helpers/delay-relay.js";
import { reportFigures } from "../helpers/reliability.js";
import { nextEvent, onEvent, startNode, stopNodes } from "./fixtures/nodes.js";

const relays = new Set<DelayRelay>();

afterEach(async () => {
  await stopNodes();
  await Promise.all([...relays].map((r) => r.close()));
  relays.clear();
});

const HEALTH_INTERVAL_MS = 1_000;
/** How late health checks may run on a busy machine (load average 8 on 2 cores); timers fire late, never early. */
const SCHEDULING_SLACK_MS = 4_000;

describe("health of a connection through a delay relay", () => {
  it("drops within 3 health intervals when 300 ms of delay are added, and recovers when it is removed", async () => {
    const b = await startNode({ maintenance: false });
    const a = await startNode({
      maintenance: {
        pingIntervalMs: 100,
        healthCheckIntervalMs: HEALTH_INTERVAL_MS,
        hysteresisSamples: 2,
        minPongTimeoutMs: 1_500,
        maxPongTimeoutMs: 3_000,
        replaceDegraded: false,
      },
    });
    const relay = await DelayRelay.start({ targetPort: Number(b.manager.addresses[0]!.split(":").pop()), delayMs: 0 });
    relays.add(relay);
    const changes: HealthChangeEvent[] = [];
    onEvent(a.manager, "health:change", (e) => changes.push(e));
    const excellent = nextEvent(a.manager, "health:change", (e) => e.to === HealthGrade.EXCELLENT, 10_000);
    const conn = await a.manager.dial({ peerId: b.manager.peerId, addresses: [`127.0.0.1:${relay.listenPort}`] });
    const healthy = await excellent;
    expect(healthy.connection).toBe(conn);
    expect(healthy.peer).toBe(b.manager.peerId.toString());
    expect(healthy.score.grade).toBe(HealthGrade.EXCELLENT);
    expect(healthy.score.latency).toBeGreaterThan(0.9);

    // 300 ms each way: RTT + 600 ms.
    const dropped = nextEvent(a.manager, "health:change", (e) => gradeIndex(e.to) < gradeIndex(HealthGrade.EXCELLENT), 3 * HEALTH_INTERVAL_MS + SCHEDULING_SLACK_MS + 2_000);
    const impairedAt = performance.now();
    relay.setDelay(300);
    const drop = await dropped;
    const dropAfter = performance.now() - impairedAt;
    expect(dropAfter).toBeLessThanOrEqual(3 * HEALTH_INTERVAL_MS + SCHEDULING_SLACK_MS);
    reportFigures({ droppedAfterMs: Math.round(dropAfter), healthIntervalMs: HEALTH_INTERVAL_MS, addedDelayMs: 300 });
    expect(drop.from).toBe(HealthGrade.EXCELLENT);
    // Latency is what dropped; reliability did not (every ping was answered).
    expect(drop.score.latency).toBeLessThan(0.5);
    expect(drop.score.reliability).toBeGreaterThan(0.8);
    expect(drop.score.grade).toBe(drop.to);
    // What the application reads agrees with the event.
    expect(a.maintenance!.healthOf(conn)).toEqual(drop.score);
    expect(conn.health?.grade).toBe(drop.to);
    expect(a.maintenance!.rttOf(conn)).toBeGreaterThan(50);

    const recovered = nextEvent(a.manager, "health:change", (e) => e.to === HealthGrade.EXCELLENT, 12_000);
    relay.setDelay(0);
    const recovery = await recovered;
    expect(recovery.from).not.toBe(HealthGrade.EXCELLENT);
    expect(recovery.score.latency).toBeGreaterThan(0.9);
    // Hysteresis: a published grade never changes on a single check, so the grade did not flap:
    // every change moved from the grade published before.
    for (let i = 1; i < changes.length; i++) expect(changes[i]!.from).toBe(changes[i - 1]!.to);
  });
});
