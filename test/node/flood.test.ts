import net from "node:net";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, startManager } from "../manager/fixtures.js";

afterEach(cleanup);

const ATTEMPTS = 2_000;
const CONCURRENCY = 64;

/**
 * One attacker connection from 127.0.0.2: connects, then either stays silent, sends garbage or sends a
 * huge length prefix, and hangs up after a short while or when the manager closes it.
 */
function attack(port: number, index: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.2" });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 200 + (index % 5) * 100);
    socket.on("error", done);
    socket.on("close", done);
    socket.on("connect", () => {
      if (index % 3 === 1) socket.write(randomBytes(64));
      if (index % 3 === 2) socket.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f));
    });
    socket.resume();
  });
}

describe("a manager under a connection flood from 127.0.0.2", () => {
  for (const scenario of ["default rate limit", "rate limit wide open"] as const) {
  it(`never holds more sockets than its caps, still admits a legitimate peer, and stays bounded in memory (${scenario})`, async () => {
    const open = scenario === "rate limit wide open";
    const limits = {
      ...(open ? { inboundRateBurst: 100_000, inboundRatePerSecond: 100_000 } : {}),
      maxConnections: 128,
      maxInbound: 128,
      maxPendingInbound: 32,
      maxPerIp: 8,
      lowWatermark: 120,
      highWatermark: 128,
      handshakeTimeoutMs: 1_000,
    };
    const target = await startManager({ limits, tls: true });
    const port = Number(target.addresses[0]!.split(":")[1]);
    const legit = await startManager({ listen: [] });

    let maxSockets = 0;
    let maxPending = 0;
    let maxFromAttacker = 0;
    const sample = () => {
      maxSockets = Math.max(maxSockets, target.socketCount);
      const counts = target.counts;
      maxPending = Math.max(maxPending, counts.pendingInbound);
      maxFromAttacker = Math.max(maxFromAttacker, target.connectionLimitsReached("127.0.0.2:1") === "per_ip" ? limits.maxPerIp : 0);
    };
    const refusedReasons = new Map<string, number>();
    target.on("inbound:refused", (e) => {
      refusedReasons.set(e.reason, (refusedReasons.get(e.reason) ?? 0) + 1);
      sample();
    });
    target.on("handshake:failed", sample);

    (globalThis as { gc?: () => void }).gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = Date.now();

    let next = 0;
    let legitOpenedDuringFlood = false;
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      while (next < ATTEMPTS) {
        const index = next++;
        await attack(port, index);
        sample();
      }
    });
    // The legitimate peer dials from 127.0.0.3 while the flood is running.
    const legitDial = (async () => {
      while (next < ATTEMPTS / 4) await new Promise((r) => setImmediate(r));
      const conn = await legit.dial(target.addresses[0]!, { localAddress: "127.0.0.3" });
      legitOpenedDuringFlood = next < ATTEMPTS;
      return conn;
    })();
    await Promise.all(workers);
    const conn = await legitDial;
    await target.settled();
    const elapsed = Date.now() - started;
    (globalThis as { gc?: () => void }).gc?.();
    const heapAfter = process.memoryUsage().heapUsed;

    expect(next).toBeGreaterThanOrEqual(ATTEMPTS);
    expect(legitOpenedDuringFlood).toBe(true);
    expect(conn.state).toBe("open");
    expect(target.getConnection(legit.peerId)).toBeDefined();
    expect(maxSockets).toBeLessThanOrEqual(limits.maxConnections);
    expect(maxPending).toBeLessThanOrEqual(limits.maxPendingInbound);
    expect(target.connections()).toHaveLength(1);
    expect(target.counts.pendingInbound).toBe(0);
    // Every refusal is journaled with its reason (the journal keeps the most recent ones).
    const refusals = [...refusedReasons.values()].reduce((a, b) => a + b, 0);
    expect(refusals).toBeGreaterThan(ATTEMPTS / 2);
    const journaled = target.decisions({ kind: "refused", address: "127.0.0.2" });
    expect(journaled.length).toBeGreaterThan(0);
    expect(journaled.every((e) => typeof e.code === "string" && e.detail.length > 0)).toBe(true);
    // Bounded memory: the rate limiter, journal and ban list are all capped.
    const growthMiB = (heapAfter - heapBefore) / 1048576;
    console.log(
      `flood (${scenario}): ${ATTEMPTS} attempts in ${elapsed} ms; max sockets held ${maxSockets}, max pending ${maxPending}; ` +
        `refusals ${JSON.stringify(Object.fromEntries(refusedReasons))}; heap growth ${growthMiB.toFixed(2)} MiB`,
    );
    expect(growthMiB).toBeLessThan(16);
    if (open) {
      // With the rate limiter out of the way, the per-IP bound on pending sockets is what holds the attacker.
      expect(refusedReasons.get("pending") ?? 0).toBeGreaterThan(0);
      expect(maxPending).toBeLessThanOrEqual(target.options.limits.maxPendingPerIp + 1);
    }
  }, 60_000);
  }
});
