import { afterEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { HealthGrade } from "../../src/health/types.js";
import type { MaintenanceOptions } from "../../src/maintenance/maintenance-options.js";
import { DelayRelay } from "../helpers/delay-relay.js";
import { nextEvent, startNode, stopNodes, type TestNode } from "./fixtures/nodes.js";

const relays = new Set<DelayRelay>();

afterEach(async () => {
  await stopNodes();
  await Promise.all([...relays].map((r) => r.close()));
  relays.clear();
});

/**
 * The dialer's maintenance. Grade arithmetic: overall = (latency + reliability + bandwidth) / 3, and an
 * unmeasured bandwidth scores a neutral 0.5, so latency alone can never pull a connection below Fair.
 * Probes are on and the reference bandwidth is far above what a probe can show (~0.01), so that
 * latency decides: loopback scores ≈ (1 + 1 + 0) / 3 = Good, 600 ms of RTT ≈ (0.03 + 1 + 0) / 3 = Poor.
 */
const DIALER: MaintenanceOptions = {
  pingIntervalMs: 100,
  healthCheckIntervalMs: 300,
  hysteresisSamples: 2,
  degradedReplaceAfterMs: 600,
  minPongTimeoutMs: 1_500,
  maxPongTimeoutMs: 3_000,
  referenceBandwidthBps: 1e9,
  bandwidthProbe: { intervalMs: 500, initialDelayMs: 0, frameCount: 4, paddingBytes: 4_096 },
};

/** Peers answer probes (always on) and stay quiet otherwise. */
const PEER: MaintenanceOptions = { pingIntervalMs: 10_000, rttSampleIntervalMs: 10_000 };

async function degradedSetup(): Promise<{ a: TestNode; b: TestNode; c: TestNode; relay: DelayRelay; toB: Connection }> {
  const b = await startNode({ maintenance: PEER });
  const c = await startNode({ maintenance: PEER });
  const a = await startNode({ maintenance: DIALER });
  const relay = await DelayRelay.start({ targetPort: Number(b.manager.addresses[0]!.split(":").pop()), delayMs: 0 });
  relays.add(relay);
  // C is known to A's peer database (e.g. from discovery) but not connected.
  a.manager.peers.upsert(c.manager.peerId.toString(), { addresses: c.manager.addresses, lastSeen: Date.now() }, Date.now());
  const toB = await a.manager.dial({ peerId: b.manager.peerId, addresses: [`127.0.0.1:${relay.listenPort}`] });
  return { a, b, c, relay, toB };
}

describe("a connection that stays degraded", () => {
  it("is replaced by a healthy candidate from the peer database, dialed before the degraded one closes", async () => {
    const { a, b, c, relay, toB } = await degradedSetup();
    const bPeer = b.manager.peerId.toString();
    const cPeer = c.manager.peerId.toString();
    const timeline: string[] = [];
    let minimum = a.manager.connections().length;
    const track = (what: string): void => {
      const count = a.manager.connections().length;
      minimum = Math.min(minimum, count);
      timeline.push(`${what} → ${count}`);
    };
    a.manager.on("connection:open", ({ connection }) => track(`open ${connection.remotePeer.toString() === cPeer ? "C" : "?"}`));
    a.manager.on("connection:close", ({ peer, reason }) => track(`close ${peer === bPeer ? "B" : "?"} ${reason}`));
    expect(minimum).toBe(1);

    const closedB = nextEvent(a.manager, "connection:close", (e) => e.peer === bPeer, 15_000);
    relay.setDelay(300);
    const close = await closedB;

    expect(close.reason).toBe("network_restructure");
    expect(close.initiator).toBe("local");
    expect(timeline).toEqual(["open C → 2", "close B network_restructure → 1"]);
    expect(minimum).toBe(1);
    expect(a.manager.connections().map((conn) => conn.remotePeer.toString())).toEqual([cPeer]);
    expect(toB.state).toBe("closed");
    const [replaced] = a.manager.decisions({ kind: "replaced" });
    expect(replaced?.peerId).toBe(bPeer);
    expect(replaced?.code).toBe("network_restructure");
    expect(replaced?.detail).toMatch(new RegExp(`^health (poor|critical) for \\d+ ms; replaced by ${cPeer}`));
    expect(replaced?.value).toBeGreaterThanOrEqual(600);
  });

  it("is never replaced when its peer is protected", async () => {
    const { a, b, c, relay, toB } = await degradedSetup();
    a.manager.protect(b.manager.peerId);
    relay.setDelay(300);
    const service = a.maintenance!;
    // Degraded for three times the replacement threshold, over several health checks.
    await vi.waitFor(() => expect(service.inspect(toB)?.degradedForMs).toBeGreaterThanOrEqual(1_800), { timeout: 25_000, interval: 50 });
    expect([HealthGrade.POOR, HealthGrade.CRITICAL]).toContain(service.healthOf(toB)?.grade);
    expect(service.inspect(toB)?.replacingWith).toBeUndefined();
    expect(toB.state).toBe("open");
    expect(a.manager.connections()).toEqual([toB]);
    expect(c.manager.connections()).toHaveLength(0);
    expect(a.manager.decisions({ kind: "replaced" })).toHaveLength(0);
  }, 45_000);
});
