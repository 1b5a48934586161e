/**
 * Failed redials over real loopback sockets: the peer's Goodbye during the
 * handshake reaches the reconnect service with its reason and retry-after, a
 * peer we can never speak to is abandoned, this node's own outbound limit
 * makes a wanted peer wait for a slot. (A wanted peer dropped as a duplicate
 * with nothing kept is in reconnect-reasons.test.ts.) Assertions are on
 * scheduled delays and events, never on elapsed time.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, type PeerlinkError } from "../../src/errors.js";
import { encodeGoodbye } from "../../src/handshake/handshake.js";
import { Identity } from "../../src/identity/identity.js";
import type { ReconnectScheduledEvent } from "../../src/reconnect/reconnect-service.js";
import { cleanup, nextEvent, onEvent, startNode, startReconnectingNode } from "./fixtures.js";

const servers = new Set<net.Server>();
const sockets = new Set<net.Socket>();
afterEach(async () => {
  await cleanup();
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  servers.clear();
});

/** A listener that answers every connection with Goodbye{reason, retry_after_ms} and closes. Counts connections. */
async function goodbyeServer(reason: "rate_limited" | "incompatible_version" | "self_connection" | "peer_banned" | "resource_constraint", retryAfterMs: number): Promise<{ address: string; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.end(Buffer.from(encodeGoodbye(reason, "slow down", retryAfterMs)));
  });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return { address: `127.0.0.1:${port}`, accepted: () => accepted };
}

/** A dial-failure backoff of one hour: a redial that took it would not come within any test's time. */
const HOUR_BACKOFF = { baseMs: 3_600_000, factor: 1, maxMs: 3_600_000, minMs: 3_600_000, jitter: "none" } as const;

describe("a redial refused with Goodbye{rate_limited, retry_after 60 s}", () => {
  it("carries the reason and retry-after on the error, and is not dialed again before 60 s", async () => {
    const peer = await goodbyeServer("rate_limited", 60_000);
    const { manager, reconnect } = await startReconnectingNode({ random: () => 0.5 }, { listen: [] });
    const failed = nextEvent(manager, "handshake:failed");
    const scheduled = nextEvent(manager, "reconnect:scheduled", (e) => e.reason === "dial_failed");
    const id = Identity.generate().peerId.toString();
    reconnect.want(id, [peer.address]);

    const error: PeerlinkError = (await failed).event.error;
    expect(error).toMatchObject({ code: ErrorCode.RATE_LIMITED, initiator: "remote" });
    expect(error.cause).toEqual({ reason: "rate_limited", detail: "slow down", retryAfterMs: 60_000 });
    const next = (await scheduled).event;
    expect(next.delayMs).toBeGreaterThanOrEqual(60_000);
    expect(next.attempt).toBe(1);
    expect(reconnect.status(id).dueAt).toBe(next.at);
    expect(peer.accepted()).toBe(1);
  });
});

describe("a redial of a peer that requires a capability we lack", () => {
  it("is abandoned after the first refusal (incompatible_version), with nothing planned", async () => {
    const remote = await startNode({ capabilities: [{ name: "x", required: true }] });
    const { manager, reconnect } = await startReconnectingNode(
      { random: () => 0.5, policy: { dialFailureBackoff: { baseMs: 100, factor: 1, maxMs: 100, minMs: 100, jitter: "none" } } },
      { listen: [] },
    );
    let attempts = 0;
    onEvent(manager, "reconnect:attempt", () => attempts++);
    const abandoned = nextEvent(manager, "reconnect:abandoned");
    const id = remote.peerId.toString();
    reconnect.want(id, remote.addresses);
    expect((await abandoned).event).toEqual({ peer: id, reason: "incompatible_version" });
    expect(attempts).toBe(1);
    expect(reconnect.status(id)).toMatchObject({ wanted: true, dueAt: undefined, dialing: false });
    expect(reconnect.nextWakeAt).toBeUndefined();
  });
});

describe("a redial refused by this node's own outbound limit", () => {
  it("waits for a free slot without counting an attempt, and dials as soon as a connection closes", async () => {
    const b = await startNode();
    const c = await startNode();
    const { manager, reconnect } = await startReconnectingNode(
      { random: () => 0.5, policy: { dialFailureBackoff: HOUR_BACKOFF } },
      { listen: [], limits: { maxOutbound: 1, maxPendingOutbound: 1 } },
    );
    const toB = await manager.dial(b.addresses[0]!);
    const refused = nextEvent(manager, "dial:refused");
    const waiting = nextEvent(manager, "reconnect:scheduled", (e) => e.reason === "dial_failed");
    const cId = c.peerId.toString();
    reconnect.want(cId, c.addresses);
    expect((await refused).event.error.code).toBe(ErrorCode.CONNECTION_LIMIT);
    const planned: ReconnectScheduledEvent = (await waiting).event;
    expect(planned).toMatchObject({ peer: cId, attempt: 0, waitingForResources: true });

    const openedC = nextEvent(manager, "connection:open", (e) => e.connection.remotePeer.toString() === cId);
    await toB.close("normal");
    await openedC;
    expect(reconnect.status(cId)).toMatchObject({ connected: true, attempt: 0 });
  });
});

describe("a redial where another identity answers at one address while the peer's own address is refused", () => {
  it("drops the address where the other identity answered and keeps the peer's own", async () => {
    // The peer is down at its own address; another node answers at an address listed for it (stale, or given
    // by a hostile peer). Raced at once, the own address is refused first, then the other node proves its key.
    const absent = await startNode();
    const own = absent.addresses[0]!;
    const id = absent.peerId.toString();
    await absent.stop();
    const other = await startNode();
    const foreign = other.addresses[0]!;
    const { manager, reconnect } = await startReconnectingNode(
      { random: () => 0.5, policy: { dialFailureBackoff: HOUR_BACKOFF } },
      { listen: [], dialing: { staggerMs: 0 } },
    );
    const mismatch = nextEvent(manager, "handshake:failed", (e) => e.error.code === ErrorCode.IDENTITY_MISMATCH);
    const scheduled = nextEvent(manager, "reconnect:scheduled", (e) => e.reason === "dial_failed");
    reconnect.want(id, [foreign, own]);
    await mismatch;
    await scheduled;
    expect(manager.peers.addressesOf(id)).toEqual([own]);
  });
});

describe("a node that refuses in place of its Hello at an address listed for a peer (planted by a third peer, say)", () => {
  it("does not end the address race: the peer's own address is dialed and answers", async () => {
    const planted = await goodbyeServer("incompatible_version", 0);
    const peer = await startNode();
    const { manager } = await startReconnectingNode({ random: () => 0.5 }, { listen: [] });
    const connection = await manager.dial({ peerId: peer.peerId, addresses: [planted.address, peer.addresses[0]!] });
    expect(connection.remotePeer.toString()).toBe(peer.peerId.toString());
    expect(planted.accepted()).toBe(1);
  });

  it.each(["self_connection", "peer_banned"] as const)("does not get the peer abandoned with a Goodbye{%s} either", async (reason) => {
    const planted = await goodbyeServer(reason, 0);
    const { manager, reconnect } = await startReconnectingNode({ random: () => 0.5, policy: { dialFailureBackoff: HOUR_BACKOFF } }, { listen: [] });
    let abandoned = 0;
    onEvent(manager, "reconnect:abandoned", () => abandoned++);
    const scheduled = nextEvent(manager, "reconnect:scheduled", (e) => e.reason === "dial_failed");
    const id = Identity.generate().peerId.toString();
    reconnect.want(id, [planted.address]);
    expect((await scheduled).event).toMatchObject({ peer: id, attempt: 1, delayMs: 3_600_000 });
    expect(abandoned).toBe(0);
  });

  it("holds that address for a capacity refusal's retry-after, 10 min at most (a direct dial is refused meanwhile)", async () => {
    const planted = await goodbyeServer("resource_constraint", 86_400_000);
    const { manager } = await startReconnectingNode({ random: () => 0.5 }, { listen: [] });
    const before = Date.now();
    const first = await manager.dial(planted.address).then(
      () => undefined,
      (e: PeerlinkError) => e,
    );
    // The hold was set before the dial was refused: it ends 10 min after a moment between these two readings.
    const after = Date.now();
    expect(first?.code).toBe(ErrorCode.CONNECTION_LIMIT);
    const again = await manager.dial(planted.address).then(
      () => undefined,
      (e: PeerlinkError) => e,
    );
    expect(again?.code).toBe(ErrorCode.DIAL_BACKOFF);
    const retryAt = (again?.cause as { retryAt?: number } | undefined)?.retryAt ?? 0;
    expect(retryAt).toBeGreaterThanOrEqual(before + 600_000);
    expect(retryAt).toBeLessThanOrEqual(after + 600_000);
    expect(planted.accepted()).toBe(1);
  });

  it("does not get the peer abandoned: its 'never' is not the peer's, the redial takes the ordinary backoff", async () => {
    const planted = await goodbyeServer("incompatible_version", 0);
    const { manager, reconnect } = await startReconnectingNode({ random: () => 0.5, policy: { dialFailureBackoff: HOUR_BACKOFF } }, { listen: [] });
    let abandoned = 0;
    onEvent(manager, "reconnect:abandoned", () => abandoned++);
    const failed = nextEvent(manager, "handshake:failed");
    const scheduled = nextEvent(manager, "reconnect:scheduled", (e) => e.reason === "dial_failed");
    const id = Identity.generate().peerId.toString();
    reconnect.want(id, [planted.address]);
    expect((await failed).event.error.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
    expect((await scheduled).event).toMatchObject({ peer: id, attempt: 1, delayMs: 3_600_000 });
    expect(abandoned).toBe(0);
    expect(reconnect.status(id)).toMatchObject({ wanted: true });
  });
});
