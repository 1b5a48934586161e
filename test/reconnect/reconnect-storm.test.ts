/**
 * Acceptance: a reconnect storm. One hub dials 200 peers (managers in this
 * process, plain TCP on loopback); every peer drops its connection at the same
 * moment (abort: no goodbye, the hub sees the transport lost → `normal`,
 * immediate). The hub must redial no faster than its token bucket allows, and
 * every peer must come back.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import { cleanup, onEvent, startNode, startReconnectingNode, until } from "./fixtures.js";

afterEach(cleanup);

const PEERS = 200;
const BUDGET = { capacity: 20, refillPerSecond: 100 };

describe("200 wanted peers dropped at once", () => {
  it("come back no faster than the reconnect budget allows, and all come back", async () => {
    const { manager: hub, reconnect } = await startReconnectingNode(
      { budget: BUDGET, random: () => 0.5 },
      {
        limits: {
          maxConnections: 400,
          maxOutbound: 400,
          maxInbound: 16,
          maxPendingOutbound: 64,
          lowWatermark: 380,
          highWatermark: 390,
        },
      },
    );
    const peers: ConnectionManager[] = [];
    for (let i = 0; i < PEERS; i += 50) {
      peers.push(...(await Promise.all(Array.from({ length: Math.min(50, PEERS - i) }, () => startNode()))));
    }
    for (let i = 0; i < PEERS; i += 50) {
      await Promise.all(peers.slice(i, i + 50).map((p) => hub.dial({ peerId: p.peerId, addresses: p.addresses })));
    }
    expect(hub.connections()).toHaveLength(PEERS);
    expect(reconnect.wanted()).toHaveLength(PEERS);
    // Every peer has adopted its side too (the hub's open can precede the peer's by a round trip).
    await Promise.all(peers.map((p) => until(p, "connection:open", () => p.getConnection(hub.peerId) !== undefined)));

    const attempts: Array<{ peer: string; at: number }> = [];
    const back = new Set<string>();
    onEvent(hub, "reconnect:attempt", (e) => attempts.push({ peer: e.peer, at: Date.now() }));
    onEvent(hub, "connection:open", (e) => back.add(e.connection.remotePeer.toString()));

    const droppedAt = Date.now();
    for (const p of peers) p.getConnection(hub.peerId)?.abort();
    await until(hub, "connection:open", () => back.size === PEERS, 20_000);
    const doneAt = Date.now();

    // All came back, each after exactly one attempt (nothing failed, nothing was dialed twice).
    expect(hub.connections()).toHaveLength(PEERS);
    expect(new Set(attempts.map((a) => a.peer)).size).toBe(PEERS);
    expect(attempts).toHaveLength(PEERS);

    // Never faster than the bucket: by time t at most capacity + rate · (t − first) attempts (+1 for rounding).
    const first = attempts[0]!.at;
    let worst = Number.NEGATIVE_INFINITY;
    attempts.forEach((a, i) => {
      const allowed = BUDGET.capacity + (BUDGET.refillPerSecond * (a.at - first)) / 1000 + 1;
      worst = Math.max(worst, i + 1 - allowed);
      expect(i + 1, `attempt ${i + 1} at +${a.at - first} ms`).toBeLessThanOrEqual(allowed);
    });
    // Hence the whole storm takes at least (200 − 20) / 100 s = 1.8 s.
    const minimumMs = ((PEERS - BUDGET.capacity) / BUDGET.refillPerSecond) * 1000;
    expect(attempts.at(-1)!.at - first).toBeGreaterThanOrEqual(minimumMs - 20);
    console.log(
      `storm: ${PEERS} peers dropped; first redial +${first - droppedAt} ms, last +${attempts.at(-1)!.at - droppedAt} ms, ` +
        `all back +${doneAt - droppedAt} ms (budget floor ${minimumMs} ms); max excess over the bucket ${worst.toFixed(2)}`,
    );
  }, 30_000);
});
