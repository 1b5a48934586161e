import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it, vi } from "vitest";
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

const portOf = (address: string | undefined) => Number(address?.split(":").pop());
const HEALTH_INTERVAL_MS = 1_000;

describe("a link with 600 ms of RTT, bandwidth unmeasured (default scoring and probing)", () => {
  it("is graded poor or worse at its first grading and replaced by a better candidate (make-before-break)", async () => {
    const slowPeer = await startNode({ maintenance: false });
    const goodPeer = await startNode({ maintenance: false });
    const a = await startNode({
      // Default scoring, hysteresis, probing; only the intervals are shortened for the test.
      maintenance: { healthCheckIntervalMs: HEALTH_INTERVAL_MS, degradedReplaceAfterMs: 3_000 },
      manager: { reconnect: false },
    });
    const relay = await DelayRelay.start({ targetPort: portOf(slowPeer.manager.addresses[0]), delayMs: 300 });
    relays.add(relay);
    // A better candidate the peer database knows.
    a.manager.peers.upsert(goodPeer.manager.peerId.toString(), { addresses: goodPeer.manager.addresses, healthy: true }, Date.now());

    const grades: HealthChangeEvent[] = [];
    onEvent(a.manager, "health:change", (e) => grades.push(e));
    const checksBefore = (): number => grades.length;
    const firstGrade = nextEvent(a.manager, "health:change", () => true, 20_000);
    const closed = nextEvent(a.manager, "connection:close", (e) => e.peer === slowPeer.manager.peerId.toString(), 30_000);
    const replacementOpen = nextEvent(a.manager, "connection:open", (e) => e.connection.remotePeer.equals(goodPeer.manager.peerId), 30_000);

    const dialedAt = performance.now();
    const slow = await a.manager.dial({ peerId: slowPeer.manager.peerId, addresses: [`127.0.0.1:${relay.listenPort}`] });
    const first = await firstGrade;
    const gradedAfterMs = performance.now() - dialedAt;
    expect(checksBefore()).toBe(1);
    expect(first.connection).toBe(slow);
    expect(first.from).toBeUndefined();
    // Graded at its first scoring (within the first health intervals), not fair: latency alone decides.
    expect(gradeIndex(first.to)).toBeLessThanOrEqual(gradeIndex(HealthGrade.POOR));
    expect(first.score.latency).toBeLessThan(0.05);
    expect(first.score.reliability).toBeGreaterThan(0.6);
    expect(first.score.overall).toBeLessThanOrEqual(first.score.latency + 0.3);
    const snapshot = a.maintenance!.inspect(slow)!;
    expect(snapshot.bandwidthInputBps).toBeNaN(); // bandwidth unmeasured
    expect(snapshot.probesCompleted).toBe(0); // and not worth a probe: no bandwidth would change the grade
    expect(snapshot.srttMs!).toBeGreaterThanOrEqual(600);

    // Degraded for 3 s: replaced by the better candidate, dialed before the slow link is closed.
    const opened = await replacementOpen;
    const close = await closed;
    expect(close.reason).toBe("network_restructure");
    expect(close.initiator).toBe("local");
    expect(a.manager.connections()).toEqual([opened.connection]);
    const journal = a.manager.decisions({ peerId: slowPeer.manager.peerId.toString(), kind: "replaced" });
    expect(journal).toHaveLength(1);
    expect(journal[0]!.detail).toMatch(new RegExp(`health (poor|critical) .*replaced by ${goodPeer.manager.peerId.toString()}`));
    reportFigures({ gradedAfterMs: Math.round(gradedAfterMs), healthIntervalMs: HEALTH_INTERVAL_MS, slowLinkGrade: first.to, slowLinkOverall: Number(first.score.overall.toFixed(3)), slowLinkLatency: Number(first.score.latency.toFixed(3)) });
  }, 60_000);

  it("a link near a grade boundary that bandwidth could cross is probed although periodic probing is off", async () => {
    // The peer answers probes (its maintenance service does, whatever its own probing).
    const b = await startNode({ maintenance: { replaceDegraded: false } });
    const a = await startNode({ maintenance: { healthCheckIntervalMs: HEALTH_INTERVAL_MS, pingIntervalMs: 200, replaceDegraded: false } });
    // About 80 ms of RTT: good, a few hundredths under excellent, bandwidth unmeasured on an idle link.
    const relay = await DelayRelay.start({ targetPort: portOf(b.manager.addresses[0]), delayMs: 40 });
    relays.add(relay);
    const conn = await a.manager.dial({ peerId: b.manager.peerId, addresses: [`127.0.0.1:${relay.listenPort}`] });
    expect(a.maintenance!.options.bandwidthProbe).toBeUndefined();
    await vi.waitFor(() => expect(a.maintenance!.inspect(conn)?.probesCompleted).toBeGreaterThanOrEqual(1), { timeout: 30_000, interval: 100 });
    const snapshot = a.maintenance!.inspect(conn)!;
    expect(snapshot.probedBandwidthBps).toBeGreaterThan(0);
    expect(snapshot.bandwidthInputBps).toBeGreaterThan(0); // measured now
  }, 45_000);
});
