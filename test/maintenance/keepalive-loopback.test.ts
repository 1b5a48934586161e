import { performance } from "node:perf_hooks";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DelayRelay } from "../helpers/delay-relay.js";
import { reportFigures } from "../helpers/reliability.js";
import { ChildNode, disposeChildren, ensureDist } from "./fixtures/child-node.js";
import { nextEvent, startNode, stopNodes } from "./fixtures/nodes.js";

const relays = new Set<DelayRelay>();

beforeAll(async () => {
  await ensureDist();
}, 120_000);

afterEach(async () => {
  await stopNodes();
  await disposeChildren();
  await Promise.all([...relays].map((r) => r.close()));
  relays.clear();
});

afterAll(async () => {
  await disposeChildren();
});

function portOf(address: string | undefined): number {
  return Number(address?.split(":").pop());
}

describe("RTT measured by keepalive pings", () => {
  it("includes the delay a userspace relay injects (50 ms each way: every sample at least 100 ms)", async () => {
    const b = await startNode({ maintenance: false });
    const a = await startNode({
      maintenance: { pingIntervalMs: 100, minPongTimeoutMs: 1_000, maxPongTimeoutMs: 2_000 },
    });
    const relay = await DelayRelay.start({ targetPort: portOf(b.manager.addresses[0]), delayMs: 50 });
    relays.add(relay);
    const conn = await a.manager.dial({ peerId: b.manager.peerId, addresses: [`127.0.0.1:${relay.listenPort}`] });
    const service = a.maintenance!;
    await vi.waitFor(() => expect(service.inspect(conn)?.rttSamples).toBeGreaterThanOrEqual(6), { timeout: 8_000, interval: 50 });
    const srtt = service.rttOf(conn)!;
    // Every sample crossed the relay twice. No upper bound: on a loaded machine a round trip may take any
    // time longer (the estimator's arithmetic is checked with a fake clock in test/maintenance).
    expect(service.inspect(conn)!.minRttMs).toBeGreaterThanOrEqual(99);
    expect(srtt).toBeGreaterThanOrEqual(99);
    // The connection exposes the same value.
    expect(conn.rtt).toBe(srtt);
  });
});

describe("a SIGSTOPped peer process", () => {
  it("is declared dead by its missed pongs (about pingInterval × missed pongs + pong timeout), long before the inactivity timeout", async () => {
    const pingIntervalMs = 300;
    const maxMissedPongs = 3;
    const pongTimeoutMs = 200;
    const child = await ChildNode.start([{ name: "peer", maintenance: false }]);
    const peer = child.ready.nodes.peer!;
    const a = await startNode({
      maintenance: {
        pingIntervalMs,
        maxMissedPongs,
        minPongTimeoutMs: pongTimeoutMs,
        maxPongTimeoutMs: pongTimeoutMs,
        inactivityTimeoutMs: 30_000,
      },
    });
    const conn = await a.manager.dial({ peerId: peer.peerId, addresses: peer.addresses });
    // The peer answered at least one ping: it was alive before the stop.
    await vi.waitFor(() => expect(a.maintenance!.inspect(conn)?.pongsReceived).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 20 });

    const closed = nextEvent(a.manager, "connection:close", (e) => e.connection === conn, 20_000);
    const stoppedAt = performance.now();
    child.signal("SIGSTOP");
    const event = await closed;
    const elapsed = performance.now() - stoppedAt;

    expect(event.reason).toBe("timeout");
    expect(event.initiator).toBe("local");
    // Missed pongs (1.1 s here, late on a busy machine), not the 30 s inactivity timeout; the journal
    // below names the cause. The exact schedule is checked with a fake clock in maintenance-core.test.ts.
    expect(elapsed).toBeLessThan(15_000);
    reportFigures({ declaredDeadAfterMs: Math.round(elapsed), expectedMs: pingIntervalMs * maxMissedPongs + pongTimeoutMs });
    // It took the missed pongs, not a socket error: at least the three pong timeouts.
    expect(elapsed).toBeGreaterThanOrEqual(maxMissedPongs * pongTimeoutMs * 0.9);
    const journal = a.manager.decisions({ peerId: peer.peerId, kind: "closed" });
    expect(journal.some((e) => e.code === "timeout" && /3 consecutive pings unanswered/.test(e.detail))).toBe(true);
  });
});

describe("a peer process killed with SIGKILL", () => {
  it("is noticed at once from the socket close, long before any ping timeout", async () => {
    const child = await ChildNode.start([{ name: "peer", maintenance: false }]);
    const peer = child.ready.nodes.peer!;
    const a = await startNode({ maintenance: { pingIntervalMs: 20_000, maxPongTimeoutMs: 20_000 } });
    const conn = await a.manager.dial({ peerId: peer.peerId, addresses: peer.addresses });
    await vi.waitFor(() => expect(a.maintenance!.inspect(conn)?.pongsReceived).toBe(1), { timeout: 10_000, interval: 20 });

    const closed = nextEvent(a.manager, "connection:close", (e) => e.connection === conn, 15_000);
    const killedAt = performance.now();
    child.signal("SIGKILL");
    const event = await closed;
    const elapsed = performance.now() - killedAt;

    // Before the first ping is even due (20 s), late as the close may be noticed on a busy machine.
    expect(elapsed).toBeLessThan(10_000);
    reportFigures({ noticedAfterMs: Math.round(elapsed) });
    expect(event.initiator).toBe("remote");
    expect(event.reason).not.toBe("timeout");
    expect(a.maintenance!.size).toBe(0);
  });
});

describe("a connection that goes silent", () => {
  it("is closed by the inactivity timeout, not before it, when missed pongs would take longer", async () => {
    const inactivityTimeoutMs = 1_000;
    const child = await ChildNode.start([{ name: "peer", maintenance: false }]);
    const peer = child.ready.nodes.peer!;
    // Ten missed pongs of 200 ms take 2 s past the first ping: the inactivity timeout comes first.
    const a = await startNode({
      maintenance: { pingIntervalMs: 300, maxMissedPongs: 10, minPongTimeoutMs: 200, maxPongTimeoutMs: 200, inactivityTimeoutMs },
    });
    const conn = await a.manager.dial({ peerId: peer.peerId, addresses: peer.addresses });
    await vi.waitFor(() => expect(a.maintenance!.inspect(conn)?.pongsReceived).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 20 });

    const closed = nextEvent(a.manager, "connection:close", (e) => e.connection === conn, 10_000);
    const stoppedAt = performance.now();
    child.signal("SIGSTOP");
    const event = await closed;
    const elapsed = performance.now() - stoppedAt;

    expect(event.reason).toBe("timeout");
    expect(event.initiator).toBe("local");
    // Counted from the last thing received, which was before the stop (the exact time is checked with a
    // fake clock in test/maintenance/maintenance-core.test.ts).
    expect(elapsed).toBeGreaterThanOrEqual(inactivityTimeoutMs * 0.5);
    const journal = a.manager.decisions({ peerId: peer.peerId, kind: "closed" });
    expect(journal.some((e) => e.code === "timeout" && /inactivity: nothing received for 1000 ms/.test(e.detail))).toBe(true);
    expect(a.maintenance!.size).toBe(0);
  });
});

describe("this process blocked for longer than the inactivity timeout", () => {
  it("does not declare a peer dead whose traffic was waiting in the socket meanwhile", async () => {
    // The peer pings us every 100 ms: it sends the whole time we are blocked.
    const child = await ChildNode.start([{ name: "peer", maintenance: { pingIntervalMs: 100, rttSampleIntervalMs: 100 } }]);
    const peer = child.ready.nodes.peer!;
    // RTT pings every 100 ms: its pong count shows when its cycles run again.
    const a = await startNode({
      maintenance: { pingIntervalMs: 300, rttSampleIntervalMs: 100, minPongTimeoutMs: 200, maxPongTimeoutMs: 500, inactivityTimeoutMs: 1_000 },
    });
    const conn = await a.manager.dial({ peerId: peer.peerId, addresses: peer.addresses });
    await vi.waitFor(() => expect(a.maintenance!.inspect(conn)?.pongsReceived).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 20 });
    const closes: unknown[] = [];
    a.manager.on("connection:close", (e) => {
      if (e.connection === conn) closes.push(e);
    });
    // A 1.5 s stall (a long GC pause, synchronous work): every timer is overdue when it ends, and the
    // peer's pings are still unread in the socket.
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        const t = performance.now();
        while (performance.now() - t < 1_500) {
          // blocked
        }
        resolve();
      }, 10),
    );
    // A pong answered after the stall proves the overdue cycles have run (they ping): by then a wrong
    // judgement would have closed it.
    const pongs = a.maintenance!.inspect(conn)!.pongsReceived;
    await vi.waitFor(() => expect(a.maintenance!.inspect(conn)?.pongsReceived).toBeGreaterThan(pongs + 1), { timeout: 5_000, interval: 20 });
    expect(closes).toEqual([]);
    expect(conn.state).toBe("open");
    expect(a.manager.decisions({ peerId: peer.peerId, kind: "closed" })).toEqual([]);
  });
});

describe("the system clock stepped while connections are up", () => {
  it("neither closes live idle connections (step forward) nor stops keepalive (step back)", async () => {
    // Date.now is replaced before the nodes exist, so everything that reads the wall clock sees the steps.
    const realNow = Date.now.bind(Date);
    let offset = 0;
    const step = vi.spyOn(Date, "now").mockImplementation(() => realNow() + offset);
    try {
      const maintenance = { pingIntervalMs: 200, minPongTimeoutMs: 200, maxPongTimeoutMs: 400, inactivityTimeoutMs: 1_000 };
      const a = await startNode({ maintenance });
      const b = await startNode({ maintenance });
      const conn = await a.manager.dial({ peerId: b.manager.peerId, addresses: b.manager.addresses });
      await vi.waitFor(() => expect(a.maintenance!.inspect(conn)?.pongsReceived).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 20 });
      const closes: unknown[] = [];
      for (const node of [a, b]) node.manager.on("connection:close", (e) => closes.push(e));
      const before = a.maintenance!.inspect(conn)!.pongsReceived;
      offset = 2 * 3_600_000; // two hours ahead
      // Several keepalive rounds after the step: a clock-confused cycle would have closed it by then.
      await vi.waitFor(() => expect(a.maintenance!.inspect(conn)!.pongsReceived).toBeGreaterThan(before + 2), { timeout: 10_000, interval: 20 });
      expect(closes).toEqual([]);
      const pongs = a.maintenance!.inspect(conn)!.pongsReceived;
      offset = -3 * 3_600_000; // then three hours back
      await vi.waitFor(() => expect(a.maintenance!.inspect(conn)!.pongsReceived).toBeGreaterThan(pongs + 2), { timeout: 10_000, interval: 20 });
      expect(closes).toEqual([]);
      expect(conn.state).toBe("open");
    } finally {
      step.mockRestore();
    }
  });
});
