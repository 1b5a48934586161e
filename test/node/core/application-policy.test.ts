/**
 * The application's policy in the node core, on a fake clock: the gater's decisions at arrival, adoption
 * and dial time (hooks that throw or answer wrongly deny), the allow-list's exemptions (never from bans),
 * and tags ordering trimming.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ErrorCode } from "../../../src/errors.js";
import { Identity } from "../../../src/identity/identity.js";
import type { ConnectionReservation } from "../../../src/manager/connection-limits.js";
import { resolveLimits, type ConnectionLimitsOptions } from "../../../src/manager/config.js";
import { compareForTrim } from "../../../src/manager/trim.js";
import { NodeCore, type KeptConnection } from "../../../src/node/core/node-core.js";
import { AllowList } from "../../../src/node/policy/allow-list.js";
import { isPendingGate, runGate, type ConnectionGater, type GateVerdict } from "../../../src/node/policy/gater.js";
import { inReplacementOrder, pickReplacement } from "../../../src/maintenance/replacement.js";
import { MemoryPeerStore } from "../../../src/peers/peer-store.js";
import { PeerDatabase } from "../../../src/peers/peer-database.js";
import { DisconnectReason } from "../../../src/reasons.js";

const LOCAL = new Uint8Array(32).fill(1);
const A = Identity.generate().peerId.toString();
const B = Identity.generate().peerId.toString();
const C = Identity.generate().peerId.toString();

interface Kept extends KeptConnection {
  open: boolean;
}

function setup(options: { limits?: ConnectionLimitsOptions; gater?: ConnectionGater; allow?: ConstructorParameters<typeof AllowList>[0] } = {}) {
  const peers = new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0 });
  const core = new NodeCore<Kept>({
    limits: resolveLimits({ inboundRateBurst: 1000, inboundRatePerSecond: 1000, ...options.limits }),
    peers,
    localId: LOCAL,
    maxPendingPerIp: 2,
    maxPendingPerSubnet: 4,
    firstFlightTimeoutMs: 3_000,
    capacityRetryAfterMs: 30_000,
    allowList: new AllowList(options.allow ?? {}),
    gater: options.gater,
  });
  core.start();
  return { core, peers };
}

function kept(peer: string, reservation: ConnectionReservation, remoteAddress = "10.0.0.9:4000", openedAt = 0, direction: "inbound" | "outbound" = "inbound"): Kept {
  return {
    peer,
    peerBytes: new Uint8Array(32).fill(2),
    direction,
    remoteAddress,
    openedAt,
    reservation,
    open: true,
    get isOpen() {
      return this.open;
    },
    healthScore: undefined,
  };
}

/** Admits an inbound socket and adopts it as `peer`. */
function connect(core: NodeCore<Kept>, id: number, peer: string, ip: string, now = 0): Kept {
  const d = core.arrive(id, ip, now);
  if (!d.ok) throw new Error(`refused: ${d.refusal.reason}`);
  core.settle(id, false);
  const k = kept(peer, d.reservation, `${ip}:4000`, now);
  const verdict = core.adopt(k, now);
  if (verdict.kind !== "keep") throw new Error(`not kept: ${verdict.kind}`);
  return k;
}

let warnings: string[];
beforeEach(() => {
  warnings = [];
  vi.spyOn(process, "emitWarning").mockImplementation((w: string | Error) => {
    warnings.push(String(w));
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** A gate's verdict when the hook answered at once (fails the test on a Promise). */
function verdictNow(...args: Parameters<typeof runGate>): GateVerdict {
  const outcome = runGate(...args);
  if (isPendingGate(outcome)) throw new Error("expected an answer at once");
  return outcome;
}

describe("the gater in the node core", () => {
  it("denies an inbound address at arrival with a gated refusal naming the address and the reason; others pass", () => {
    const seen: [string, number][] = [];
    const { core } = setup({
      gater: {
        denyInboundAddress: (ip, port) => {
          seen.push([ip, port]);
          return ip === "10.6.6.6" ? { reason: "known scanner" } : false;
        },
      },
    });
    const denied = core.arrive(1, "::ffff:10.6.6.6", 0, 0, 5555);
    expect(denied).toMatchObject({ ok: false, refusal: { reason: "gated", direction: "inbound", key: "ip:10.6.6.6", detail: "known scanner" } });
    expect(core.arrive(2, "10.6.6.7", 0).ok).toBe(true);
    expect(seen[0]).toEqual(["10.6.6.6", 5555]); // normalised, with the port
    expect(core.pendingInbound()).toBe(1); // the denied socket holds no slot
  });

  it("checks bans before the gater, so a banned address is reported banned", () => {
    const gater = { denyInboundAddress: vi.fn(() => true) };
    const { core, peers } = setup({ gater });
    peers.ban({ ip: "10.6.6.6" }, 0, { reason: "x" });
    expect(core.arrive(1, "10.6.6.6", 0)).toMatchObject({ ok: false, refusal: { reason: "banned" } });
    expect(gater.denyInboundAddress).not.toHaveBeenCalled();
  });

  it("treats a hook that throws or returns an unknown value as a denial with a warning, never a throw", () => {
    const { core } = setup({
      gater: {
        denyInboundAddress: (ip) => {
          if (ip === "10.0.0.1") throw new Error("database down");
          if (ip === "10.0.0.3") return 42 as never;
          return undefined;
        },
      },
    });
    for (const ip of ["10.0.0.1", "10.0.0.3"]) {
      const d = core.arrive(Number(ip.slice(-1)), ip, 0);
      expect(d.ok, ip).toBe(false);
      expect(!d.ok && d.refusal.reason).toBe("gated");
      expect(!d.ok && d.refusal.detail).toMatch(/gater denyInboundAddress failed/);
    }
    expect(warnings.filter((w) => w.includes("denyInboundAddress"))).toHaveLength(2);
    expect(warnings[0]).toContain("database down");
    expect(core.arrive(4, "10.0.0.4", 0).ok).toBe(true);
  });

  it("admits a socket whose gater answers with a Promise under the usual bounds, the verdict to await before TLS", async () => {
    const { core } = setup({
      limits: { maxPerIp: 1, maxPerSubnet: 10 },
      gater: {
        denyInboundAddress: async (ip) => {
          await Promise.resolve();
          if (ip === "10.0.0.2") throw new Error("lookup failed");
          return ip === "10.0.0.1" ? { reason: "async no" } : false;
        },
      },
    });
    const denied = core.arrive(1, "10.0.0.1", 0);
    const failing = core.arrive(2, "10.0.0.2", 0);
    const allowed = core.arrive(3, "10.0.0.3", 0);
    if (!denied.ok || !failing.ok || !allowed.ok) throw new Error("refused before the answer");
    expect(core.arrive(4, "10.0.0.1", 0)).toMatchObject({ ok: false, refusal: { reason: "per_ip" } }); // bounds still apply
    expect(await denied.gate).toMatchObject({ allowed: false, reason: "async no" });
    expect(await failing.gate).toMatchObject({ allowed: false, reason: expect.stringContaining("rejected: Error: lookup failed") });
    expect(await allowed.gate).toEqual({ allowed: true });
    // A peer gate answering later without being awaited denies rather than admits.
    const { core: c2 } = setup({ gater: { denyPeer: () => Promise.resolve(false) } });
    const d = c2.arrive(1, "10.0.1.1", 0);
    if (!d.ok) throw new Error("refused");
    expect(c2.adopt(kept(A, d.reservation, "10.0.1.1:1"), 0)).toMatchObject({ kind: "refuse", code: ErrorCode.GATED, detail: expect.stringContaining("not awaited") });
    const e = c2.arrive(2, "10.0.1.2", 0);
    if (!e.ok) throw new Error("refused");
    const k = kept(B, e.reservation, "10.0.1.2:1");
    const verdict = await c2.gatePeer(k);
    expect(c2.adopt(k, 0, verdict).kind).toBe("keep");
  });

  it("refuses a handshaken peer the gater denies, with its goodbye reason and public text, before duplicates and capacity", () => {
    const { core } = setup({
      limits: { maxInbound: 1, maxConnections: 1, lowWatermark: 1, highWatermark: 1 },
      gater: { denyPeer: (peer, info) => (peer === B ? { reason: `local note ${info.direction}`, publicReason: "not welcome", goodbye: "resource_constraint" } : peer === C) },
    });
    connect(core, 1, A, "10.0.0.1");
    const d = core.arrive(2, "10.0.1.1", 0);
    if (!d.ok) throw new Error("refused");
    const verdict = core.adopt(kept(B, d.reservation, "10.0.1.1:1"), 0);
    expect(verdict).toMatchObject({
      kind: "refuse",
      code: ErrorCode.GATED,
      reason: DisconnectReason.RESOURCE_CONSTRAINT,
      goodbyeDetail: "not welcome",
      refusal: { reason: "gated", detail: "local note inbound" },
    });
    expect(verdict.kind === "refuse" && verdict.detail).toContain("local note inbound");
    // `true` denies with the defaults: peer_banned, no public text.
    const e = core.arrive(3, "10.0.2.1", 0);
    if (!e.ok) throw new Error("refused");
    expect(core.adopt(kept(C, e.reservation, "10.0.2.1:1"), 0)).toMatchObject({ kind: "refuse", reason: DisconnectReason.PEER_BANNED, goodbyeDetail: undefined });
  });

  it("gates dials by peer and by address, and reports the arguments it was given", () => {
    const calls: unknown[] = [];
    const { core } = setup({
      gater: {
        denyDialPeer: (peer) => peer === B,
        denyDialAddress: (address, peer) => {
          calls.push([address, peer]);
          return address.startsWith("10.9.") ? { reason: "no 10.9/16" } : undefined;
        },
      },
    });
    expect(core.gateDialPeer(A)).toEqual({ allowed: true });
    expect(core.gateDialPeer(B)).toMatchObject({ allowed: false, reason: "denied by the gater", goodbye: DisconnectReason.PEER_BANNED });
    expect(core.gateDialAddress("10.9.0.1:4001", A)).toMatchObject({ allowed: false, reason: "no 10.9/16" });
    expect(core.gateDialAddress("10.8.0.1:4001", undefined)).toEqual({ allowed: true });
    expect(calls).toEqual([["10.9.0.1:4001", A], ["10.8.0.1:4001", undefined]]);
  });

  it("normalises answers: no gater or no hook allows; reasons are cut to 200 characters; a bad goodbye reason denies", () => {
    expect(runGate(undefined, "denyPeer", A)).toEqual({ allowed: true });
    expect(runGate({}, "denyPeer", A)).toEqual({ allowed: true });
    const long = verdictNow({ denyPeer: () => ({ reason: "x".repeat(5000), publicReason: "y".repeat(5000) }) }, "denyPeer", A);
    expect(long.allowed === false && [long.reason.length, long.publicReason?.length]).toEqual([200, 200]);
    const bad = verdictNow({ denyPeer: () => ({ goodbye: "protocol_violation" as never }) }, "denyPeer", A);
    expect(bad.allowed === false && bad.error).toBeInstanceOf(TypeError);
  });
});

describe("the allow-list in the node core", () => {
  it("exempts a listed address from the pending per-IP bound and the rate limit, never from bans", () => {
    const { core, peers } = setup({ limits: { inboundRateBurst: 1, inboundRatePerSecond: 0.001 }, allow: { addresses: ["10.7.0.0/16"] } });
    for (let i = 1; i <= 5; i++) expect(core.arrive(i, "10.7.1.1", 0).ok, `listed #${i}`).toBe(true);
    expect(core.arrive(10, "10.8.1.1", 0).ok).toBe(true);
    expect(core.arrive(11, "10.8.1.1", 0)).toMatchObject({ ok: false, refusal: { reason: "rate_limited" } });
    peers.ban({ subnet: "10.7.1.0/24" }, 0, { reason: "still judged" });
    expect(core.arrive(12, "10.7.1.1", 0)).toMatchObject({ ok: false, refusal: { reason: "banned" } });
  });

  it("does not count a listed address in its IP's or subnet's totals, so its neighbours keep their share", () => {
    const { core } = setup({ limits: { maxPerIp: 1, maxPerSubnet: 2 }, allow: { addresses: ["10.7.0.1"] } });
    const listed = [1, 2, 3, 4, 5].map((id) => core.arrive(id, "10.7.0.1", 0));
    expect(listed.every((d) => d.ok)).toBe(true);
    expect(core.limiter.countForIp("10.7.0.1")).toBe(0);
    expect(core.limiter.countForSubnet("10.7.0.9")).toBe(0);
    expect(core.arrive(10, "10.7.0.2", 0).ok).toBe(true);
    expect(core.arrive(11, "10.7.0.3", 0).ok).toBe(true);
    expect(core.arrive(12, "10.7.0.4", 0)).toMatchObject({ ok: false, refusal: { reason: "per_subnet", current: 2 } });
    // Releasing listed slots leaves the others' counts alone (no underflow, no stray decrement).
    for (const d of listed) if (d.ok) d.reservation.release();
    for (const id of [1, 2, 3, 4, 5]) core.settle(id, true);
    expect(core.limiter.countForSubnet("10.7.0.9")).toBe(2);
    expect(core.limiter.counts().pendingInbound).toBe(2);
  });

  it("never evicts a listed pending socket to make room for a flood", () => {
    const { core } = setup({ limits: { maxPendingInbound: 3, maxPerIp: 50, maxPerSubnet: 50 }, allow: { addresses: ["10.7.0.1"] } });
    for (let i = 1; i <= 3; i++) expect(core.arrive(i, "10.7.0.1", 0).ok).toBe(true); // listed: one IP holds the whole pool
    const evicted: number[] = [];
    for (let i = 0; i < 20; i++) {
      const d = core.arrive(100 + i, `10.9.${i}.1`, 10_000 + i); // silent listed sockets would be "stale" by now
      if (!d.ok) throw new Error(d.refusal.reason);
      if (d.evicted !== undefined) evicted.push(d.evicted.id);
    }
    expect(evicted.every((id) => id >= 100)).toBe(true);
    expect(evicted).toHaveLength(19); // each newcomer evicts the previous one, never a listed socket
    expect(core.pendingInbound()).toBe(4); // one over the bound, never more
  });

  it("exempts listed peers and addresses from capacity at adoption and at dial time", () => {
    const { core } = setup({ limits: { maxInbound: 1, maxOutbound: 1, maxConnections: 10, lowWatermark: 10, highWatermark: 10 }, allow: { peers: [B], addresses: ["10.7.0.5"] } });
    connect(core, 1, A, "10.0.0.1");
    const d = core.arrive(2, "10.0.1.1", 0);
    if (!d.ok) throw new Error("refused");
    // Peer ids are known only after the handshake: with listed peers the pre-handshake capacity check waits.
    expect(core.inboundCapacity("10.0.1.1")).toBeUndefined();
    expect(core.adopt(kept(C, d.reservation, "10.0.1.1:1"), 0)).toMatchObject({ kind: "refuse", code: ErrorCode.CONNECTION_LIMIT });
    connect(core, 3, B, "10.0.2.1");
    connect(core, 4, C, "10.7.0.5");
    expect(core.keptConnections()).toHaveLength(3);
    const out = core.reserveDial("10.0.3.1");
    expect(out.ok).toBe(true);
    expect(core.reserveDial("10.0.3.2")).toMatchObject({ ok: false, refusal: { direction: "outbound" } }); // pending or outbound bound
    expect(core.reserveDial("10.0.3.3", B).ok).toBe(true);
    expect(core.reserveDial("10.7.0.5").ok).toBe(true);
  });

  it("keeps the capacity check before the handshake when only addresses are listed", () => {
    const { core } = setup({ limits: { maxInbound: 1, maxConnections: 1, lowWatermark: 1, highWatermark: 1 }, allow: { addresses: ["10.7.0.5"] } });
    connect(core, 1, A, "10.0.0.1");
    expect(core.inboundCapacity("10.0.1.1")).toMatchObject({ reason: "inbound_full" });
    expect(core.inboundCapacity("10.7.0.5")).toBeUndefined();
  });

  it("never trims an allow-listed connection", () => {
    const { core } = setup({ limits: { lowWatermark: 1, highWatermark: 1, trimGracePeriodMs: 0 }, allow: { peers: [A] } });
    connect(core, 1, A, "10.0.0.1", 0);
    connect(core, 2, B, "10.0.0.2", 1);
    connect(core, 3, C, "10.0.0.3", 2);
    expect(core.trim(10).map((k) => k.peer).sort()).toEqual([B, C].sort());
  });
});

describe("tags ordering trimming and replacement", () => {
  it("trims the lowest tag sum first, before health and age", () => {
    const { core, peers } = setup({ limits: { lowWatermark: 2, highWatermark: 2, trimGracePeriodMs: 0 } });
    connect(core, 1, A, "10.0.0.1", 0); // oldest: trimmed last without tags
    connect(core, 2, B, "10.0.0.2", 1);
    connect(core, 3, C, "10.0.0.3", 2);
    expect(core.trim(10).map((k) => k.peer)).toEqual([C]); // untagged: the newest goes
    peers.tags.tag(B, "useful", { value: 10 }, 10);
    peers.tags.tag(C, "useful", { value: 5 }, 10);
    peers.tags.tag(C, "relay", { value: 6 }, 10);
    expect(core.trim(10).map((k) => k.peer)).toEqual([A]); // 0 < 10 < 11
    // A tag that expires stops counting: B's 10 is gone at 1010, so B (0) goes before A (0, older).
    peers.tags.tag(B, "useful", { value: 10, ttlMs: 1000 }, 10);
    peers.tags.tag(A, "useful", { value: 1 }, 10);
    expect(core.trim(1009).map((k) => k.peer)).toEqual([A]);
    expect(core.trim(1010).map((k) => k.peer)).toEqual([B]);
  });

  it("compares tag values before health", () => {
    const base = { direction: "inbound" as const, openedAt: 0 };
    expect(compareForTrim({ ...base, id: "a", healthScore: 0.9, tagValue: 0 }, { ...base, id: "b", healthScore: 0.1, tagValue: 1 })).toBeLessThan(0);
    expect(compareForTrim({ ...base, id: "a", healthScore: 0.9, tagValue: NaN }, { ...base, id: "b", healthScore: 0.1 })).toBeGreaterThan(0);
  });

  it("skips replacement candidates the gater would refuse to dial", () => {
    const { peers } = setup();
    for (const [peer, port] of [[A, 1], [B, 2]] as const) peers.upsert(peer, { addresses: [`10.0.0.${port}:4000`], lastSeen: 100 - port }, 0);
    expect(pickReplacement(peers, 0, new Set())?.peerId).toBe(A);
    expect(pickReplacement(peers, 0, new Set(), (p) => p !== A)?.peerId).toBe(B);
    expect(pickReplacement(peers, 0, new Set(), () => false)).toBeUndefined();
  });

  it("replaces the lowest-tagged degraded connection first, other actions first and in order", () => {
    const value: Record<string, number> = { a: 5, b: -1, c: 5, d: 0 };
    const actions = [
      { type: "replace", peer: "a" },
      { type: "ping", peer: "x" },
      { type: "replace", peer: "b" },
      { type: "replace", peer: "c" },
      { type: "warn", peer: "y" },
      { type: "replace", peer: "d" },
    ];
    const ordered = inReplacementOrder(actions, (a) => value[a.peer]!);
    expect(ordered.map((a) => `${a.type}:${a.peer}`)).toEqual(["ping:x", "warn:y", "replace:b", "replace:d", "replace:a", "replace:c"]);
  });
});
