/**
 * Acceptance: one test per disconnect reason. The remote node closes the
 * connection with that reason; the local node must see the right Goodbye
 * (decoded from the wire) and redial at the time the reason's strategy says,
 * measured from the close to the `reconnect:attempt` event. Backoff bases are
 * small and the jitter source is injected (0.5), so every delay is exact.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import type { BackoffConfig, ReconnectPolicyOptions } from "../../src/reconnect/policy.js";
import type { ReconnectOptions } from "../../src/reconnect/reconnect-service.js";
import { DisconnectReason } from "../../src/reasons.js";
import { cleanup, nextEvent, onEvent, startNode, startReconnectingNode, type ReconnectingNode } from "./fixtures.js";

afterEach(cleanup);

const full = (baseMs: number, minMs = 0): BackoffConfig => ({ baseMs, factor: 2, maxMs: baseMs * 8, minMs, jitter: "full" });

/** Small backoffs so a test takes well under a second; with random = 0.5 each first delay is base / 2 (or the floor). */
const POLICY: ReconnectPolicyOptions = {
  strategies: {
    shutdown: { kind: "backoff", backoff: full(200) }, // 100 ms
    timeout: { kind: "backoff", backoff: full(160) }, // 80 ms
    protocol_violation: { kind: "backoff", backoff: full(400, 250) }, // 200 ms, raised to the 250 ms floor
    rate_limited: { kind: "backoff", backoff: full(100) }, // 50 ms, below the peer's retry-after
    authentication_failed: { kind: "backoff", backoff: full(300) }, // 150 ms
    resource_constraint: { kind: "after_resources", maxWaitMs: 20_000 },
  },
  remoteResourceConstraint: { kind: "backoff", backoff: full(240) }, // 120 ms
};

/**
 * Timers fire on whole milliseconds and the clock is read at slightly different moments. There is no
 * upper bound on lateness here (this machine's cores are shared): the exact firing time is checked with
 * fake timers in reconnect-service.test.ts; here, the delay the service planned and "never early".
 */
const EARLY_MS = 2;

async function connectedPair(
  reconnect: ReconnectOptions = { policy: POLICY, random: () => 0.5 },
): Promise<{ local: ReconnectingNode; remote: ConnectionManager }> {
  const local = await startReconnectingNode(reconnect);
  const remote = await startNode();
  const opened = nextEvent(remote, "connection:open");
  await local.manager.dial({ peerId: remote.peerId, addresses: remote.addresses });
  await opened;
  return { local, remote };
}

/**
 * The remote closes with `reason` (and `retryAfterMs`); returns the local close event and the first
 * reconnect event after it.
 */
async function remoteCloses(
  pair: { local: ReconnectingNode; remote: ConnectionManager },
  reason: DisconnectReason,
  retryAfterMs?: number,
) {
  const { local, remote } = pair;
  const conn = remote.getConnection(local.manager.peerId);
  if (conn === undefined) throw new Error("remote has no connection to the local node");
  const closed = nextEvent(local.manager, "connection:close");
  const scheduled = nextEvent(local.manager, "reconnect:scheduled");
  const attempt = nextEvent(local.manager, "reconnect:attempt");
  await conn.close(reason, retryAfterMs === undefined ? {} : { retryAfterMs });
  const close = await closed;
  return { close, scheduled, attempt };
}

function expectRemoteGoodbye(close: Awaited<ReturnType<typeof remoteCloses>>["close"], reason: DisconnectReason, retryAfterMs = 0): void {
  expect(close.event.reason).toBe(reason);
  expect(close.event.initiator).toBe("remote");
  expect(close.event.connection.remoteGoodbye).toEqual({ reason, detail: "", retryAfterMs });
}

const scheduledCases: Array<{ reason: DisconnectReason; delayMs: number; retryAfterMs?: number; why: string }> = [
  { reason: "normal", delayMs: 0, why: "immediately" },
  { reason: "network_restructure", delayMs: 0, why: "immediately" },
  { reason: "shutdown", delayMs: 100, why: "after the shutdown backoff" },
  { reason: "timeout", delayMs: 80, why: "after the timeout backoff" },
  { reason: "protocol_violation", delayMs: 250, why: "after the violation backoff, not before its floor" },
  { reason: "resource_constraint", delayMs: 120, why: "after the backoff for a full peer (our resources do not matter)" },
  { reason: "rate_limited", delayMs: 300, retryAfterMs: 300, why: "not before the peer's retry-after" },
  { reason: "authentication_failed", delayMs: 150, why: "after the authentication backoff" },
  // A duplicate's close normally leaves the kept connection; with none left the peer is simply lost.
  { reason: "already_connected", delayMs: 0, why: "immediately when no other connection to the peer is left, like normal" },
];

describe("a wanted peer that closes the connection with a goodbye", () => {
  for (const c of scheduledCases) {
    it(`closing with ${c.reason} is redialed ${c.why} (${c.delayMs} ms)`, async () => {
      const pair = await connectedPair();
      const { close, scheduled, attempt } = await remoteCloses(pair, c.reason, c.retryAfterMs);
      expectRemoteGoodbye(close, c.reason, c.retryAfterMs);

      const s = (await scheduled).event;
      expect(s).toMatchObject({ peer: pair.remote.peerId.toString(), reason: c.reason, delayMs: c.delayMs, attempt: 0 });
      const a = await attempt;
      expect(a.event.peer).toBe(pair.remote.peerId.toString());
      expect(a.event.addresses).toEqual(pair.remote.addresses);
      // Not before the service's own due time (its clock, not when this test's close listener ran).
      expect(a.at).toBeGreaterThanOrEqual((s.at as number) - EARLY_MS);

      // The redial reaches the peer and the backoff is reset.
      await nextEvent(pair.local.manager, "connection:open", (e) => e.connection.remotePeer.equals(pair.remote.peerId));
      expect(pair.local.manager.getConnection(pair.remote.peerId)?.direction).toBe("outbound");
      expect(pair.local.reconnect.status(pair.remote.peerId.toString())).toMatchObject({ connected: true, attempt: 0, dueAt: undefined });
    });
  }

  it("closing with timeout without an injected jitter source is redialed within [0, base]", async () => {
    const pair = await connectedPair({ policy: POLICY });
    const { scheduled, attempt } = await remoteCloses(pair, "timeout");
    const s = (await scheduled).event;
    expect(s.delayMs).toBeGreaterThanOrEqual(0);
    expect(s.delayMs).toBeLessThanOrEqual(160);
    const at = (await attempt).at;
    expect(at).toBeGreaterThanOrEqual((s.at as number) - EARLY_MS);
  });
});

describe("a wanted peer the local node drops for lack of resources", () => {
  it("is redialed when a slot is freed, not before and not by polling", async () => {
    const local = await startReconnectingNode({ policy: POLICY, random: () => 0.5 });
    const remote = await startNode();
    const other = await startNode();
    await local.manager.dial({ peerId: remote.peerId, addresses: remote.addresses });
    // `other` dials in: an inbound peer, not wanted, whose close later frees a slot.
    const inbound = nextEvent(local.manager, "connection:open", (e) => e.connection.remotePeer.equals(other.peerId));
    await other.dial({ peerId: local.manager.peerId, addresses: local.manager.addresses });
    await inbound;

    const attempts: number[] = [];
    onEvent(local.manager, "reconnect:attempt", () => attempts.push(Date.now()));
    const scheduled = nextEvent(local.manager, "reconnect:scheduled");
    const sent = nextEvent(remote, "connection:close");
    await local.manager.getConnection(remote.peerId)?.close("resource_constraint");
    const s = (await scheduled).event;
    expect(s).toMatchObject({ reason: "resource_constraint", waitingForResources: true, delayMs: 20_000 });
    // The goodbye that went out says resource_constraint.
    expect((await sent).event.connection.remoteGoodbye?.reason).toBe("resource_constraint");
    // Freeing the slot of the close itself did not release the peer: it waits, with no attempt yet.
    expect(local.reconnect.status(remote.peerId.toString())).toMatchObject({ waitingForResources: true, dialing: false });
    expect(attempts).toEqual([]);

    const freed = nextEvent(local.manager, "reconnect:scheduled", (e) => e.reason === "resources_available");
    const attempt = nextEvent(local.manager, "reconnect:attempt");
    const slotFreedAt = Date.now();
    await local.manager.getConnection(other.peerId)?.close("normal");
    // Released by the freed slot (due at once), not by the 20 s fallback.
    expect((await freed).event).toMatchObject({ peer: remote.peerId.toString(), waitingForResources: false, delayMs: 0 });
    const a = await attempt;
    expect(a.at).toBeGreaterThanOrEqual(slotFreedAt);
    expect(attempts).toHaveLength(1);
    await nextEvent(local.manager, "connection:open", (e) => e.connection.remotePeer.equals(remote.peerId));
  });
});

describe("a wanted peer that closes with a reason meaning never", () => {
  const neverReasons: DisconnectReason[] = ["peer_banned", "incompatible_version", "self_connection"];
  for (const reason of neverReasons) {
    it(`closing with ${reason} is never redialed, even a day later`, async () => {
      let offset = 0;
      const clock = () => Date.now() + offset;
      const local = await startReconnectingNode({ policy: POLICY, random: () => 0.5 }, { clock });
      const remote = await startNode();
      const other = await startNode();
      await local.manager.dial({ peerId: remote.peerId, addresses: remote.addresses });
      const inbound = nextEvent(local.manager, "connection:open", (e) => e.connection.remotePeer.equals(other.peerId));
      await other.dial({ peerId: local.manager.peerId, addresses: local.manager.addresses });
      await inbound;

      const events: string[] = [];
      onEvent(local.manager, "reconnect:scheduled", (e) => events.push(`scheduled ${e.peer}`));
      onEvent(local.manager, "reconnect:attempt", (e) => events.push(`attempt ${e.peer}`));
      const abandoned = nextEvent(local.manager, "reconnect:abandoned");
      const { close } = await remoteCloses({ local, remote }, reason);
      expect(close.event.reason).toBe(reason);
      expect(close.event.initiator).toBe("remote");
      expect(close.event.connection.remoteGoodbye?.reason).toBe(reason);
      expect((await abandoned).event).toEqual({ peer: remote.peerId.toString(), reason });

      // A day later, with activity that re-arms the service (a slot freed): still nothing planned, no timer.
      offset = 24 * 60 * 60_000;
      const otherClosed = nextEvent(local.manager, "connection:close", (e) => e.peer === other.peerId.toString());
      await other.getConnection(local.manager.peerId)?.close("normal");
      await otherClosed;
      expect(local.reconnect.status(remote.peerId.toString())).toMatchObject({ wanted: true, dueAt: undefined, dialing: false });
      expect(local.reconnect.nextWakeAt).toBeUndefined();
      expect(events).toEqual([]);
      expect(local.manager.getConnection(remote.peerId)).toBeUndefined();
    });
  }

});

describe("a peer that only connected to us", () => {
  it("is not redialed when it leaves, unless wanted explicitly", async () => {
    const local = await startReconnectingNode({ policy: POLICY, random: () => 0.5 });
    const remote = await startNode();
    const opened = nextEvent(local.manager, "connection:open");
    await remote.dial({ peerId: local.manager.peerId, addresses: local.manager.addresses });
    await opened;
    const planned: string[] = [];
    onEvent(local.manager, "reconnect:scheduled", (e) => planned.push(e.peer));
    const closed = nextEvent(local.manager, "connection:close");
    await remote.getConnection(local.manager.peerId)?.close("normal");
    await closed;
    expect(local.reconnect.status(remote.peerId.toString())).toMatchObject({ wanted: false, dueAt: undefined });
    expect(local.reconnect.nextWakeAt).toBeUndefined();
    expect(planned).toEqual([]);

    // want() dials it at once and keeps redialing it.
    const attempt = nextEvent(local.manager, "reconnect:attempt");
    local.reconnect.want(remote.peerId.toString(), remote.addresses);
    expect((await attempt).event.addresses).toEqual(remote.addresses);
    await nextEvent(local.manager, "connection:open", (e) => e.connection.direction === "outbound");
    expect(local.reconnect.status(remote.peerId.toString())).toMatchObject({ wanted: true, explicit: true, connected: true });
  });
});
