/**
 * Refusals for capacity say why (issue 11, defect 10): a full node finishes the handshake and sends Goodbye
 * RESOURCE_CONSTRAINT with a retry-after, so the dialer can tell "full, come back later" from a network
 * fault instead of seeing a bare reset (CONNECT_FAILED, ECONNRESET).
 */
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { DisconnectReason } from "../../src/reasons.js";
import { cleanup, nextEvent, startManager } from "../manager/fixtures.js";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Identity } from "../../src/identity/identity.js";
import { resolveTls } from "../../src/transport/tls-config.js";

afterEach(cleanup);

/** The peer's Goodbye as a failed handshake carries it (`cause`, the shape of `Connection.remoteGoodbye`). */
interface GoodbyeCause {
  readonly reason?: unknown;
  readonly retryAfterMs?: unknown;
}

describe("a node at its inbound capacity", () => {
  it("refuses a new peer with Goodbye resource_constraint and a retry-after, not a reset", async () => {
    const node = await startManager({ limits: { maxInbound: 1 } });
    // The one inbound slot is taken by a peer from another subnet (maxInbound 1 shrinks the per-IP and
    // per-subnet bounds to 1, and those are abuse-class refusals, answered with a reset).
    const holder = await startManager({ listen: [], reconnect: false });
    const held = nextEvent(node, "connection:open");
    await holder.dial(node.addresses[0]!, { localAddress: "127.13.1.1" });
    await held;

    const refused = nextEvent(node, "inbound:refused");
    const newcomer = await startManager({ listen: [], reconnect: false });
    const error = await newcomer.dial(node.addresses[0]!, { localAddress: "127.13.2.1" }).then(
      (connection) => new Error(`the dial opened a connection (${connection.state}) to a full node`),
      (e: unknown) => e,
    );

    expect(error, String(error)).toBeInstanceOf(PeerlinkError);
    const err = error as PeerlinkError;
    expect(err.code, err.message).toBe(ErrorCode.CONNECTION_LIMIT);
    expect(err.initiator, err.message).toBe("remote");
    const cause = err.cause as GoodbyeCause | undefined;
    expect(cause?.reason, err.message).toBe(DisconnectReason.RESOURCE_CONSTRAINT);
    expect(cause?.retryAfterMs, err.message).toBeTypeOf("number");
    expect(cause?.retryAfterMs as number).toBeGreaterThan(0);

    // The node says which limit refused it, and keeps the connection it had.
    expect((await refused).reason).toBe("inbound_full");
    expect(node.connections()).toHaveLength(1);
    expect(node.getConnection(holder.peerId)?.state).toBe("open");
  });
});

describe("a node at capacity under a flood of refused dialers that never close", () => {
  it("holds at most maxPendingInbound refused sockets waiting for their close", async () => {
    const MAX_PENDING = 1;
    const DIALERS = 8;
    const node = await startManager({
      limits: { maxInbound: 1, maxPendingInbound: MAX_PENDING, maxPendingPerIp: 1, maxPendingPerSubnet: 1, inboundRateBurst: 100, inboundRatePerSecond: 100 },
    });
    const holder = await startManager({ listen: [], reconnect: false });
    const held = nextEvent(node, "connection:open");
    await holder.dial(node.addresses[0]!, { localAddress: "127.14.1.1" });
    await held;
    const [host, port] = [node.addresses[0]!.split(":")[0]!, Number(node.addresses[0]!.split(":")[1])];
    const tls = await resolveTls(Identity.generate());
    const sockets: Socket[] = [];
    try {
      // Each dialer finishes TLS, reads the Goodbye and then keeps its socket open (never closes).
      for (let i = 0; i < DIALERS; i++) {
        // A client that ignores the node's FIN (allowHalfOpen): Node's own TLS client would close at once.
        const raw = netConnect({ host, port, localAddress: `127.14.${i + 2}.1`, allowHalfOpen: true });
        const socket = tlsConnect({
          socket: raw,
          secureContext: tls.secureContext,
          ALPNProtocols: ["peerlink/1"],
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
        });
        sockets.push(socket, raw);
        socket.on("error", () => undefined);
        raw.on("error", () => undefined);
        await new Promise<void>((resolve) => socket.once("data", () => resolve()));
      }
      // Every dialer got its Goodbye; the node holds the kept connection and at most MAX_PENDING lingering sockets.
      expect(node.socketCount).toBeLessThanOrEqual(1 + MAX_PENDING);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});
