import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { ConnectionManager } from "../../src/node/connection-manager.js";
import { Identity } from "../../src/identity/identity.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { cleanup, closedByPeer, nextEvent, rawConnect, silentServer, startManager } from "../manager/fixtures.js";

afterEach(cleanup);

const enc = new TextEncoder();
const dec = new TextDecoder();

describe("two managers", () => {
  for (const tls of [true, false]) {
    it(`connect and exchange messages both ways (tls ${tls ? "on" : "off"})`, async () => {
      const a = await startManager({ tls });
      const b = await startManager({ tls });
      const bOpen = nextEvent(b, "connection:open");
      const conn = await a.dial({ peerId: b.peerId, addresses: b.addresses });
      expect(conn.remotePeer.equals(b.peerId)).toBe(true);
      expect(conn.direction).toBe("outbound");
      const inbound = (await bOpen).connection;
      expect(inbound.remotePeer.equals(a.peerId)).toBe(true);
      expect(inbound.direction).toBe("inbound");

      const atB = nextEvent(b, "message");
      await conn.send("/test", enc.encode("ping from a"));
      expect(dec.decode((await atB).data)).toBe("ping from a");
      const atA = nextEvent(a, "message");
      await inbound.send("/test", enc.encode("pong from b"));
      const got = await atA;
      expect(got.protocol).toBe("/test");
      expect(dec.decode(got.data)).toBe("pong from b");
      expect(a.connections()).toHaveLength(1);
      expect(b.getConnection(a.peerId)).toBe(inbound);
    });
  }

  it("deliver 0-RTT early messages exactly once, before later ones", async () => {
    const a = await startManager();
    const b = await startManager();
    const received: string[] = [];
    b.on("message", ({ data }) => received.push(dec.decode(data)));
    const conn = await a.dial(
      { peerId: b.peerId, addresses: b.addresses },
      { earlyMessages: [{ protocol: "/test", data: enc.encode("early-1") }, { protocol: "/test", data: enc.encode("early-2") }] },
    );
    const third = nextEvent(b, "message", (m) => dec.decode(m.data) === "late");
    await conn.send("/test", enc.encode("late"));
    await third;
    expect(received).toEqual(["early-1", "early-2", "late"]);
  });
});

describe("dialing", () => {
  it("returns the existing connection unless forced, and coalesces concurrent dials", async () => {
    const a = await startManager();
    const b = await startManager();
    const target = { peerId: b.peerId, addresses: b.addresses };
    const [one, two] = await Promise.all([a.dial(target), a.dial(target)]);
    expect(one).toBe(two);
    expect(await a.dial(target)).toBe(one);
    expect(a.connections()).toHaveLength(1);
  });

  it("coalesces concurrent dials to the same address, and one caller's abort leaves the others waiting", async () => {
    const a = await startManager();
    const b = await startManager();
    const quitter = new AbortController();
    const dials = [a.dial(b.addresses[0]!), a.dial(b.addresses[0]!, { signal: quitter.signal }), a.dial(b.addresses[0]!)];
    quitter.abort();
    await rejectsWithCode(dials[1]!, ErrorCode.ABORTED);
    const [one, three] = await Promise.all([dials[0]!, dials[2]!]);
    expect(one).toBe(three);
    expect(one.state).toBe("open");
    expect(a.connections()).toHaveLength(1);
  });

  it("refuses to dial this node itself before opening a socket", async () => {
    const a = await startManager();
    const refused = nextEvent(a, "dial:refused");
    await rejectsWithCode(a.dial({ peerId: a.peerId, addresses: a.addresses }), ErrorCode.SELF_CONNECTION);
    expect((await refused).error.code).toBe(ErrorCode.SELF_CONNECTION);
    expect(a.socketCount).toBe(0);
    expect(a.decisions({ kind: "refused" }).some((e) => e.code === ErrorCode.SELF_CONNECTION)).toBe(true);
  });

  it("detects a dial to its own address in the handshake (SELF_CONNECTION)", async () => {
    const a = await startManager();
    await rejectsWithCode(a.dial(a.addresses[0]!), ErrorCode.SELF_CONNECTION);
    await a.settled();
    expect(a.connections()).toHaveLength(0);
  });

  it("rejects a peer that proves another identity than the expected one (IDENTITY_MISMATCH)", async () => {
    const a = await startManager();
    const b = await startManager();
    const other = Identity.generate().peerId;
    await rejectsWithCode(a.dial({ peerId: other, addresses: b.addresses }), ErrorCode.IDENTITY_MISMATCH);
    expect(a.connections()).toHaveLength(0);
  });

  it("refuses a dial beyond maxPendingOutbound with TOO_MANY_PENDING and opens no socket for it", async () => {
    const silent = await silentServer();
    const other = await silentServer();
    const a = await startManager({ limits: { maxPendingOutbound: 1, handshakeTimeoutMs: 2_000 } });
    const first = a.dial(`127.0.0.1:${silent.port}`);
    first.catch(() => {});
    expect(a.counts.pendingOutbound).toBe(1);
    const error = await rejectsWithCode(a.dial(`127.0.0.1:${other.port}`), ErrorCode.TOO_MANY_PENDING);
    expect(error.message).toMatch(/maxPendingOutbound/);
    await rejectsWithCode(first, ErrorCode.HANDSHAKE_TIMEOUT);
    expect(silent.accepted()).toBe(1);
    expect(other.accepted()).toBe(0);
    const journal = a.decisions({ kind: "refused" });
    expect(journal.some((e) => e.code === "pending" && e.limit === "maxPendingOutbound")).toBe(true);
  });

  it("refuses dials to a banned peer id, and to an address known to belong to it", async () => {
    const a = await startManager();
    const b = await startManager();
    const conn = await a.dial(b.addresses[0]!);
    const closedAtB = nextEvent(b, "connection:close");
    a.ban(b.peerId, { reason: "misbehaved" });
    expect((await closedAtB).reason).toBe("peer_banned");
    await conn.closed;
    await rejectsWithCode(a.dial({ peerId: b.peerId, addresses: b.addresses }), ErrorCode.PEER_BANNED);
    await rejectsWithCode(a.dial(b.addresses[0]!), ErrorCode.PEER_BANNED);
    expect(a.decisions({ peerId: b.peerId.toString(), kind: "banned" })).toHaveLength(1);
  });

  it("can dial again after a short ban expires, announced by peer:unbanned", async () => {
    const a = await startManager();
    const b = await startManager();
    a.ban(b.peerId, { durationMs: 150 });
    await rejectsWithCode(a.dial({ peerId: b.peerId, addresses: b.addresses }), ErrorCode.PEER_BANNED);
    const unbanned = await nextEvent(a, "peer:unbanned");
    expect(unbanned.entry.value).toBe(b.peerId.toString());
    const conn = await a.dial({ peerId: b.peerId, addresses: b.addresses });
    expect(conn.remotePeer.equals(b.peerId)).toBe(true);
  });
});

describe("the inbound accept path", () => {
  it("refuses a banned IP before the handshake and closes the socket at once", async () => {
    const b = await startManager();
    b.ban({ ip: "127.0.0.9" });
    const refused = nextEvent(b, "inbound:refused");
    const socket = await rawConnect(Number(b.addresses[0]!.split(":")[1]), "127.0.0.9");
    expect((await refused).reason).toBe("banned");
    await closedByPeer(socket);
    expect(b.socketCount).toBe(0);
    expect(b.decisions({ kind: "refused", address: "127.0.0.9" })[0]?.code).toBe("banned");
  });

  it("refuses a connection beyond maxPendingInbound with reason pending", async () => {
    const b = await startManager({
      limits: { maxPendingInbound: 2, maxPerIp: 2, maxInbound: 3, maxConnections: 8, lowWatermark: 3, highWatermark: 3, inboundRateBurst: 100 },
    });
    const port = Number(b.addresses[0]!.split(":")[1]);
    // Two silent sockets from 127.0.0.20 fill the pending slots.
    await rawConnect(port, "127.0.0.20");
    await rawConnect(port, "127.0.0.20");
    await nextEventCount(b, () => b.counts.pendingInbound === 2);
    const pending = nextEvent(b, "inbound:refused");
    const third = await rawConnect(port, "127.0.0.21");
    expect((await pending).reason).toBe("pending");
    await closedByPeer(third);
    expect(b.connectionLimitsReached("127.0.0.21:1")).toBe("pending");
  });

  it("applies the per-IP limit before the rate limit and capacity", async () => {
    const b = await startManager({ limits: { maxPerIp: 1, maxPendingInbound: 4, inboundRateBurst: 100 } });
    const port = Number(b.addresses[0]!.split(":")[1]);
    await rawConnect(port, "127.0.0.30");
    await nextEventCount(b, () => b.counts.pendingInbound === 1);
    const refused = nextEvent(b, "inbound:refused");
    const second = await rawConnect(port, "127.0.0.30");
    const event = await refused;
    expect(event.reason).toBe("per_ip");
    expect(event.error.code).toBe(ErrorCode.CONNECTION_LIMIT);
    await closedByPeer(second);
    // Another IP is still welcome.
    await rawConnect(port, "127.0.0.31");
    await nextEventCount(b, () => b.counts.pendingInbound === 2);
  });

  it("refuses a peer beyond maxInbound with reason inbound_full, and the dialer fails", async () => {
    const hub = await startManager({ limits: { maxInbound: 2, maxPendingInbound: 2, maxPerIp: 1, maxConnections: 4, lowWatermark: 2, highWatermark: 2 } });
    const spokes = await Promise.all([0, 1, 2].map(() => startManager()));
    await spokes[0]!.dial(hub.addresses[0]!, { localAddress: "127.0.1.51" });
    await spokes[1]!.dial(hub.addresses[0]!, { localAddress: "127.0.2.52" });
    const refused = nextEvent(hub, "inbound:refused");
    const third = spokes[2]!.dial(hub.addresses[0]!, { localAddress: "127.0.3.53" }).catch((e: unknown) => e);
    expect((await refused).reason).toBe("inbound_full");
    expect(await third).toBeInstanceOf(PeerlinkError);
    expect(hub.connections()).toHaveLength(2);
    expect(hub.connectionLimitsReached("127.0.4.54:9")).toBe("inbound_full");
    expect(hub.decisions({ kind: "refused" }).map((e) => e.code)).toContain("inbound_full");
  });

  it("rate-limits new connections per IP with a token bucket", async () => {
    const b = await startManager({ limits: { inboundRateBurst: 2, inboundRatePerSecond: 0.01, maxPerIp: 8, maxPendingInbound: 8 } });
    const port = Number(b.addresses[0]!.split(":")[1]);
    await rawConnect(port, "127.0.0.40");
    await rawConnect(port, "127.0.0.40");
    const refused = nextEvent(b, "inbound:refused");
    await rawConnect(port, "127.0.0.40");
    const event = await refused;
    expect(event.reason).toBe("rate_limited");
    expect(event.error.code).toBe(ErrorCode.RATE_LIMITED);
  });

  it("drops a pending inbound connection that never completes the handshake at the timeout", async () => {
    const b = await startManager({ limits: { handshakeTimeoutMs: 600 } });
    const failed = nextEvent(b, "handshake:failed");
    const socket = await rawConnect(Number(b.addresses[0]!.split(":")[1]));
    const started = Date.now();
    expect((await failed).error.code).toBe(ErrorCode.HANDSHAKE_TIMEOUT);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(540);
    expect(elapsed).toBeLessThan(5_000); // the 600 ms timeout, late on a busy machine; not the 10 s default
    await closedByPeer(socket);
    await b.settled();
    expect(b.counts.pendingInbound).toBe(0);
  });
});

describe("simultaneous dial", () => {
  it("leaves exactly one connection on both sides, the same one, 50 times in a row", async () => {
    for (let round = 0; round < 50; round++) {
      const a = await startManager();
      const b = await startManager();
      const [ca, cb] = await Promise.all([
        a.dial({ peerId: b.peerId, addresses: b.addresses }),
        b.dial({ peerId: a.peerId, addresses: a.addresses }),
      ]);
      await Promise.all([a.settled(), b.settled()]);
      // Wait until each side holds exactly one connection (the loser's goodbye may still be in flight).
      await nextEventCount(a, () => a.connections().length === 1 && b.connections().length === 1);
      const keptA = a.connections()[0]!;
      const keptB = b.connections()[0]!;
      expect(keptA.state).toBe("open");
      expect(keptB.state).toBe("open");
      expect(keptA.direction).not.toBe(keptB.direction);
      const smallerIsA = Buffer.compare(Buffer.from(a.peerId.bytes), Buffer.from(b.peerId.bytes)) < 0;
      expect(keptA.direction).toBe(smallerIsA ? "outbound" : "inbound");
      expect([ca, cb].every((c) => c.remotePeer !== undefined)).toBe(true);
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 60_000);
});

describe("target connection counts", () => {
  it("trims above the high watermark to the low one, keeping protected peers", async () => {
    const hub = await startManager({ limits: { lowWatermark: 2, highWatermark: 3, trimGracePeriodMs: 0, maxInbound: 8, maxConnections: 8, maxPerIp: 8 } });
    const spokes = await Promise.all([0, 1, 2, 3].map(() => startManager()));
    hub.protect(spokes[0]!.peerId);
    const trimmed: string[] = [];
    hub.on("connection:close", (e) => trimmed.push(`${e.peer}:${e.reason}`));
    for (const spoke of spokes) await spoke.dial({ peerId: hub.peerId, addresses: hub.addresses });
    await nextEventCount(hub, () => hub.connections().length === 2);
    expect(trimmed).toHaveLength(2);
    expect(trimmed.every((t) => t.endsWith(":network_restructure"))).toBe(true);
    expect(hub.getConnection(spokes[0]!.peerId)).toBeDefined();
    expect(hub.decisions({ kind: "trimmed" })).toHaveLength(2);
  });

  it("trims connections spared for their grace period once it ends, with no new connection to trigger it", async () => {
    const grace = 300;
    const hub = await startManager({ limits: { lowWatermark: 1, highWatermark: 2, trimGracePeriodMs: grace, maxInbound: 3, maxConnections: 3, maxPerIp: 3 } });
    // Spokes without reconnect: a trimmed spoke redialing would start the count over.
    const spokes = await Promise.all([0, 1, 2].map(() => startManager({ reconnect: false })));
    for (const spoke of spokes) await spoke.dial({ peerId: hub.peerId, addresses: hub.addresses });
    expect(hub.decisions({ kind: "trimmed" })).toHaveLength(0); // all three were young
    await nextEventCount(hub, () => hub.connections().length === 1);
    expect(hub.decisions({ kind: "trimmed" })).toHaveLength(2);
  });
});

describe("configuration", () => {
  it("rejects contradictions at construction with INVALID_ARGUMENT", () => {
    expect(() => new ConnectionManager({ limits: { maxPendingInbound: 50, maxInbound: 10 } })).toThrowError(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    expect(() => new ConnectionManager({ limits: { maxPerIp: 20, maxInbound: 10 } })).toThrow(/maxPerIp/);
    expect(() => new ConnectionManager({ protocols: [{ name: "/a" }, { name: "/a" }] })).toThrow(/twice/);
  });
});

describe("stop()", () => {
  it("gives every caller the same promise: a second stop() resolves only once the node has stopped", async () => {
    const a = await startManager();
    const b = await startManager();
    await a.dial({ peerId: b.peerId, addresses: b.addresses });
    const first = a.stop();
    const second = a.stop();
    expect(second).toBe(first);
    await second;
    expect(a.connections()).toHaveLength(0);
    expect(a.counts.total).toBe(0);
  });

  it("says goodbye with SHUTDOWN to every peer and leaves no connection", async () => {
    const a = await startManager();
    const peers = await Promise.all([0, 1, 2].map(() => startManager()));
    for (const p of peers) await a.dial({ peerId: p.peerId, addresses: p.addresses });
    const seen = peers.map((p) => nextEvent(p, "connection:close"));
    await a.stop();
    for (const event of await Promise.all(seen)) {
      expect(event.reason).toBe("shutdown");
      expect(event.initiator).toBe("remote");
    }
    expect(a.socketCount).toBe(0);
    await rejectsWithCode(a.dial(peers[0]!.addresses[0]!), ErrorCode.STOPPED);
  });
});

/** Polls `predicate` on every event loop turn until true (bounded), without fixed sleeps. */
async function nextEventCount(_manager: ConnectionManager, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error("condition not reached in time");
    await new Promise((r) => setImmediate(r));
  }
}
