/**
 * Acceptance: on every disconnect path — graceful close from either side,
 * abort, a transport error (RST), a failed handshake, a refused inbound
 * connection — everything a connection held is released exactly once: both
 * managers' counters (`counts`, `socketCount`) return exactly to zero.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import { cleanup, nextEvent, startNode, startReconnectingNode } from "./fixtures.js";
import { startResetRelay } from "./reset-relay.js";

afterEach(cleanup);

const ZERO = { pendingInbound: 0, pendingOutbound: 0, openInbound: 0, openOutbound: 0, total: 0, ips: 0, subnets: 0 };

function expectReleased(...managers: ConnectionManager[]): void {
  for (const m of managers) {
    expect(m.counts).toEqual(ZERO);
    expect(m.socketCount).toBe(0);
    expect(m.connections()).toEqual([]);
  }
}

/** `dialer` (with the reconnect service, which must not redial here) connected to `listener`, both sides open. */
async function pair(tls: boolean): Promise<{ dialer: ConnectionManager; listener: ConnectionManager }> {
  // normal → never: these tests are about release, a redial would open new connections.
  const never = { kind: "never" } as const;
  const { manager: dialer } = await startReconnectingNode(
    { policy: { strategies: { normal: never, timeout: never, network_restructure: never } } },
    { tls },
  );
  const listener = await startNode({ tls });
  const opened = nextEvent(listener, "connection:open");
  await dialer.dial({ peerId: listener.peerId, addresses: listener.addresses });
  await opened;
  expect(dialer.counts).toMatchObject({ openOutbound: 1, total: 1 });
  expect(listener.counts).toMatchObject({ openInbound: 1, total: 1 });
  return { dialer, listener };
}

/** Resolves once both managers reported the close of their side. */
function bothClosed(a: ConnectionManager, b: ConnectionManager) {
  return Promise.all([nextEvent(a, "connection:close"), nextEvent(b, "connection:close")]);
}

describe("every disconnect path returns the manager counters to zero", () => {
  for (const tls of [false, true]) {
    const mode = tls ? "TLS" : "plain TCP";

    it(`a graceful close by the dialer (${mode})`, async () => {
      const { dialer, listener } = await pair(tls);
      const closed = bothClosed(dialer, listener);
      await dialer.connections()[0]!.close("normal");
      const [d, l] = await closed;
      expect([d.event.initiator, l.event.initiator]).toEqual(["local", "remote"]);
      expectReleased(dialer, listener);
    });

    it(`a graceful close by the listener (${mode})`, async () => {
      const { dialer, listener } = await pair(tls);
      const closed = bothClosed(dialer, listener);
      await listener.connections()[0]!.close("network_restructure");
      const [d] = await closed;
      expect(d.event).toMatchObject({ reason: "network_restructure", initiator: "remote" });
      expectReleased(dialer, listener);
    });

    it(`an abort without goodbye (${mode})`, async () => {
      const { dialer, listener } = await pair(tls);
      const closed = bothClosed(dialer, listener);
      dialer.connections()[0]!.abort();
      const [d, l] = await closed;
      expect(d.event.initiator).toBe("local");
      expect(l.event.connection.remoteGoodbye).toBeUndefined();
      expectReleased(dialer, listener);
    });

    it(`a transport error (connection reset) (${mode})`, async () => {
      const never = { kind: "never" } as const;
      const { manager: dialer } = await startReconnectingNode({ policy: { strategies: { normal: never } } }, { tls });
      const listener = await startNode({ tls });
      const relay = await startResetRelay(Number(listener.addresses[0]!.split(":")[1]));
      try {
        const opened = nextEvent(listener, "connection:open");
        await dialer.dial({ peerId: listener.peerId, addresses: [relay.address] });
        await opened;
        const closed = bothClosed(dialer, listener);
        relay.resetAll();
        const [d] = await closed;
        expect(d.event.initiator).toBe("remote");
        expect(d.event.error?.message).toMatch(/ECONNRESET|reset/i);
        expectReleased(dialer, listener);
      } finally {
        await relay.close();
      }
    });
  }

  it("a dial whose handshake times out", async () => {
    const dialer = await startNode({ limits: { handshakeTimeoutMs: 200 } });
    const silent = net.createServer((s) => s.on("error", () => {}));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const { port } = silent.address() as net.AddressInfo;
      await expect(dialer.dial(`127.0.0.1:${port}`)).rejects.toMatchObject({ code: "HANDSHAKE_TIMEOUT" });
      await dialer.settled();
      expectReleased(dialer);
    } finally {
      silent.close();
    }
  });

  it("an inbound connection that never completes its handshake, and one refused by a limit", async () => {
    const listener = await startNode({ limits: { handshakeTimeoutMs: 200, maxPerIp: 1, maxPerSubnet: 1 } });
    const [host, port] = listener.addresses[0]!.split(":");
    const silent = net.connect({ host: host!, port: Number(port) });
    silent.on("error", () => {});
    await new Promise<void>((r) => silent.once("connect", () => r()));
    const refused = nextEvent(listener, "inbound:refused");
    const failed = nextEvent(listener, "handshake:failed");
    const second = net.connect({ host: host!, port: Number(port) });
    second.on("error", () => {});
    expect((await refused).event.reason).toBe("per_ip");
    expect((await failed).event.error.code).toBe("HANDSHAKE_TIMEOUT");
    await listener.settled();
    expectReleased(listener);
    silent.destroy();
    second.destroy();
  });

  it("a manager stop with open connections in both directions", async () => {
    const { dialer, listener } = await pair(false);
    const inbound = nextEvent(dialer, "connection:open");
    const third = await startNode();
    await third.dial({ peerId: dialer.peerId, addresses: dialer.addresses });
    await inbound;
    const listenerClosed = nextEvent(listener, "connection:close");
    await dialer.stop({ timeoutMs: 1000 });
    expect((await listenerClosed).event).toMatchObject({ reason: "shutdown", initiator: "remote" });
    expectReleased(dialer, listener);
  });
});
