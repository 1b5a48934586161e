import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../src/errors.js";
import type { ConnectionReservation } from "../../../src/manager/connection-limits.js";
import { resolveLimits, type ConnectionLimitsOptions } from "../../../src/manager/config.js";
import { NodeCore, type KeptConnection } from "../../../src/node/core/node-core.js";
import { PendingStage } from "../../../src/node/core/pending-pool.js";
import { MemoryPeerStore } from "../../../src/peers/peer-store.js";
import { PeerDatabase } from "../../../src/peers/peer-database.js";
import { DisconnectReason } from "../../../src/reasons.js";

const LOCAL = new Uint8Array(32).fill(1);

function core(limits: ConnectionLimitsOptions = {}, extra: Partial<{ maxPendingPerIp: number; maxPendingPerSubnet: number; firstFlightTimeoutMs: number }> = {}) {
  const peers = new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0 });
  const c = new NodeCore<Kept>({
    limits: resolveLimits({ inboundRateBurst: 1000, inboundRatePerSecond: 1000, ...limits }),
    peers,
    localId: LOCAL,
    maxPendingPerIp: extra.maxPendingPerIp ?? 4,
    maxPendingPerSubnet: extra.maxPendingPerSubnet ?? 8,
    firstFlightTimeoutMs: extra.firstFlightTimeoutMs ?? 3_000,
    capacityRetryAfterMs: 30_000,
  });
  c.start();
  return { core: c, peers };
}

interface Kept extends KeptConnection {
  open: boolean;
}

function kept(peer: string, direction: "inbound" | "outbound", reservation: ConnectionReservation, openedAt = 0, byte = 2): Kept {
  return {
    peer,
    peerBytes: new Uint8Array(32).fill(byte),
    direction,
    remoteAddress: "10.0.0.9:4000",
    openedAt,
    reservation,
    open: true,
    get isOpen() {
      return this.open;
    },
    healthScore: undefined,
  };
}

function admit(c: NodeCore<Kept>, id: number, ip: string, now = 0): ConnectionReservation {
  const d = c.arrive(id, ip, now);
  if (!d.ok) throw new Error(`refused: ${d.refusal.reason}`);
  return d.reservation;
}

describe("the node core admitting inbound sockets", () => {
  it("refuses a source over its pending bound before the global pool is full", () => {
    const { core: c } = core({ maxPendingInbound: 32, maxPerIp: 50, maxPerSubnet: 50 }, { maxPendingPerIp: 2 });
    admit(c, 1, "10.1.1.1");
    admit(c, 2, "10.1.1.1");
    const third = c.arrive(3, "10.1.1.1", 0);
    expect(third).toMatchObject({ ok: false, refusal: { reason: "pending", option: "maxPendingPerIp", limit: 2, current: 2, key: "ip:10.1.1.1" } });
    expect(c.pendingInbound("10.1.1.1")).toBe(2);
  });

  it("bounds pending sockets per subnet, whatever the IPs in it", () => {
    const { core: c } = core({ maxPendingInbound: 32, maxPerIp: 50, maxPerSubnet: 50 }, { maxPendingPerIp: 4, maxPendingPerSubnet: 3 });
    for (let i = 1; i <= 3; i++) admit(c, i, `10.2.2.${i}`);
    expect(c.arrive(9, "10.2.2.77", 0)).toMatchObject({ ok: false, refusal: { reason: "pending", option: "maxPendingPerSubnet" } });
    expect(c.arrive(10, "10.3.3.3", 0).ok).toBe(true);
  });

  it("admits a newcomer to a full pool by evicting the least progressed socket of the most represented source", () => {
    const { core: c } = core({ maxPendingInbound: 4, maxPerIp: 50, maxPerSubnet: 50 }, { maxPendingPerIp: 4 });
    admit(c, 1, "10.9.0.1", 0); // the flooding subnet: three silent sockets
    admit(c, 2, "10.9.0.1", 1);
    admit(c, 3, "10.9.0.2", 2);
    admit(c, 4, "10.7.0.1", 3); // another source, handshaking
    c.progress(4, PendingStage.FIRST_FLIGHT);
    c.progress(2, PendingStage.SECURED);
    const d = c.arrive(5, "10.8.0.1", 10);
    expect(d.ok).toBe(true);
    // From subnet 10.9.0.0/24 (3 entries), IP 10.9.0.1 (2), the least progressed of those: id 1.
    expect(d.ok && d.evicted?.id).toBe(1);
    expect(c.pendingInbound()).toBe(4);
    expect(c.limiter.counts().pendingInbound).toBe(4);
  });

  it("closes a socket that sent nothing at the first-flight deadline, counted from its arrival", () => {
    const { core: c } = core({ handshakeTimeoutMs: 10_000 }, { firstFlightTimeoutMs: 500 });
    admit(c, 1, "10.1.0.1", 1_000);
    expect(c.nextDeadline()).toBe(1_500);
    expect(c.onTimeout(1_499).expired).toEqual([]);
    expect(c.onTimeout(1_500).expired).toEqual([{ id: 1, expiry: "first_flight" }]);
    expect(c.limiter.counts().pendingInbound).toBe(0);
    expect(c.nextDeadline()).toBeUndefined();
  });

  it("gives a socket that sent its first flight the handshake deadline from its arrival, not from its progress", () => {
    const { core: c } = core({ handshakeTimeoutMs: 10_000 }, { firstFlightTimeoutMs: 500 });
    admit(c, 1, "10.1.0.1", 1_000);
    c.progress(1, PendingStage.FIRST_FLIGHT);
    expect(c.nextDeadline()).toBe(11_000);
    expect(c.onTimeout(10_999).expired).toEqual([]);
    expect(c.onTimeout(11_000).expired).toEqual([{ id: 1, expiry: "handshake" }]);
  });

  it("refuses an IP under ban before any pending slot is taken", () => {
    const { core: c, peers } = core();
    peers.ban({ ip: "10.5.5.5" }, 0, { reason: "abuse", durationMs: 1_000 });
    expect(c.arrive(1, "10.5.5.5", 10)).toMatchObject({ ok: false, refusal: { reason: "banned" } });
    expect(c.pendingInbound()).toBe(0);
    expect(c.nextDeadline()).toBe(1_000);
    expect(c.onTimeout(1_000).unbanned.map((e) => e.key)).toEqual(["ip:10.5.5.5"]);
    expect(c.arrive(2, "10.5.5.5", 1_001).ok).toBe(true);
  });
});

describe("the node core adopting handshaken connections", () => {
  it("refuses a banned peer id with PEER_BANNED and sends only the public text", () => {
    const { core: c, peers } = core();
    peers.ban({ peerId: "peer-a" }, 0, { reason: "private: spam from our logs", publicReason: "spam" });
    const r = admit(c, 1, "10.0.0.9");
    c.settle(1, false);
    const verdict = c.adopt(kept("peer-a", "inbound", r), 5);
    expect(verdict).toMatchObject({ kind: "refuse", reason: DisconnectReason.PEER_BANNED, code: ErrorCode.PEER_BANNED, goodbyeDetail: "spam" });
    expect(c.kept("peer-a")).toBeUndefined();
    expect(r.state).toBe("pending");
  });

  it("refuses for capacity with RESOURCE_CONSTRAINT and a retry-after once maxInbound connections are open", () => {
    const { core: c } = core({ maxInbound: 1, maxConnections: 10, lowWatermark: 1, highWatermark: 1 });
    const a = admit(c, 1, "10.0.0.1");
    c.settle(1, false);
    expect(c.adopt(kept("a", "inbound", a), 0)).toEqual({ kind: "keep", close: undefined });
    const b = admit(c, 2, "10.0.1.2");
    c.settle(2, false);
    expect(c.adopt(kept("b", "inbound", b), 0)).toMatchObject({
      kind: "refuse",
      reason: DisconnectReason.RESOURCE_CONSTRAINT,
      code: ErrorCode.CONNECTION_LIMIT,
      retryAfterMs: 30_000,
      refusal: { reason: "inbound_full" },
    });
  });

  it("keeps the newer of two duplicates in one direction and frees the older one's slot on close", () => {
    const { core: c } = core();
    const r1 = c.reserveDial("10.0.0.9");
    const r2 = c.reserveDial("10.0.0.9");
    if (!r1.ok || !r2.ok) throw new Error("refused");
    const first = kept("p", "outbound", r1.reservation);
    const second = kept("p", "outbound", r2.reservation);
    expect(c.adopt(first, 0).kind).toBe("keep");
    expect(c.adopt(second, 1)).toEqual({ kind: "keep", close: first });
    expect(c.kept("p")).toBe(second);
    expect(c.closed(first)).toBe(false);
    expect(c.limiter.counts()).toMatchObject({ openOutbound: 1, pendingOutbound: 0 });
  });

  it("adopts nothing once stopped", () => {
    const { core: c } = core();
    const r = c.reserveDial(undefined);
    if (!r.ok) throw new Error("refused");
    c.stop();
    expect(c.adopt(kept("p", "outbound", r.reservation), 0)).toMatchObject({ kind: "refuse", code: ErrorCode.STOPPED });
  });
});

describe("the node core trimming", () => {
  it("trims above the high watermark, spares protected peers, and rechecks when young connections come of age", () => {
    const { core: c, peers } = core({ lowWatermark: 1, highWatermark: 2, maxConnections: 10, trimGracePeriodMs: 1_000 });
    const all: Kept[] = [];
    for (const [i, at] of [0, 0, 900].entries()) {
      const r = c.reserveDial(undefined);
      if (!r.ok) throw new Error("refused");
      const k = kept(`p${i}`, "outbound", r.reservation, at, 2 + i);
      all.push(k);
      c.adopt(k, at);
    }
    peers.setProtected("p0", true, 0);
    // At 1000: p1 is of age and unprotected; p2 is young (until 1900); p0 is protected.
    const victims = c.trim(1_000);
    expect(victims.map((v) => v.peer)).toEqual(["p1"]);
    all[1]!.open = false;
    c.closed(all[1]!);
    expect(c.nextDeadline()).toBe(1_901);
    expect(c.onTimeout(1_901).trim.map((v) => v.peer)).toEqual(["p2"]);
  });
});
