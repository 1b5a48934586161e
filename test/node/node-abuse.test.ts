/**
 * The node layer under abuse, over real sockets on 127.0.0.0/8: every resource a remote peer can make the
 * node hold (a pending slot, a socket, a reservation) is bounded in time and released on every path, and
 * the admission machinery (first-flight deadline, arrival dating, eviction) never turns against honest peers.
 *
 * The only wall-clock bounds here are the deadlines under test; "nothing more happens" is proven with
 * `manager.counts`, `manager.socketCount` and events, never by sleeping.
 */
import net from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openConnection } from "../../src/connection/index.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import { dialChannel } from "../../src/transport/dial.js";
import { TlsSessionCache } from "../../src/transport/session-cache.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import type { SecureChannel } from "../../src/transport/types.js";
import { cleanup, nextEvent, startManager } from "../manager/fixtures.js";

/** Host names whose resolution waits for `gate` (the dialer's lookup), to stop a node while a dial resolves one. */
const slowDns = vi.hoisted(() => ({ name: "slow-dns.peerlink.test", gate: undefined as Promise<void> | undefined, asked: (): void => undefined }));

vi.mock("node:dns/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:dns/promises")>();
  const lookup = async (host: string, ...rest: unknown[]): Promise<unknown> => {
    if (host !== slowDns.name || slowDns.gate === undefined) return (real.lookup as (...a: unknown[]) => Promise<unknown>)(host, ...rest);
    slowDns.asked();
    await slowDns.gate;
    return { address: "127.0.0.1", family: 4 };
  };
  return { ...real, lookup, default: { ...real, lookup } };
});

const clientSockets = new Set<net.Socket>();

afterEach(async () => {
  for (const socket of clientSockets) socket.destroy();
  clientSockets.clear();
  await cleanup();
});

const ZERO_COUNTS = { pendingInbound: 0, pendingOutbound: 0, openInbound: 0, openOutbound: 0, total: 0, ips: 0, subnets: 0 };

function portOf(node: ConnectionManager): number {
  return Number(node.addresses[0]!.split(":").pop());
}

/** Blocks this process's event loop (the node's and the client's) for `ms`, as a CPU-bound task or a GC pause would. */
function blockEventLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Busy on purpose.
  }
}

/** Waits (bounded) until `condition` holds: for something that must happen, never to prove that nothing does. */
async function until(condition: () => boolean, what: string, rounds = 500): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A raw TCP client from `localAddress`; resolves once connected. */
function rawClient(port: number, localAddress = "127.0.0.1", onConnect?: (socket: net.Socket) => void): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress });
    clientSockets.add(socket);
    socket.on("error", () => undefined);
    socket.resume();
    socket.once("connect", () => {
      onConnect?.(socket);
      resolve(socket);
    });
    socket.once("close", () => reject(new Error(`${localAddress}: closed before connecting`)));
  });
}

/** The node's `handshake:failed` report for the client socket whose local port is `port`. */
function failureOf(node: ConnectionManager, port: number): Promise<PeerlinkError> {
  return nextEvent(node, "handshake:failed", (e) => e.address.endsWith(`:${port}`), 20_000).then((e) => e.error);
}

/**
 * A peer that completes TLS 1.3 from `localAddress` and then sends no Hello (a slow peer, or one that is
 * still computing). Resolves once the node's side of TLS is done too: the node's session tickets, which it
 * sends only after it has processed the client's Finished, have arrived.
 */
async function securedPeer(port: number, localAddress: string): Promise<SecureChannel> {
  const sessionCache = new TlsSessionCache();
  let ticketed!: () => void;
  const ticket = new Promise<void>((resolve) => (ticketed = resolve));
  const add = sessionCache.add.bind(sessionCache);
  sessionCache.add = (...args: Parameters<TlsSessionCache["add"]>) => {
    ticketed();
    add(...args);
  };
  const tls = await resolveTls(Identity.generate(), { sessionCache });
  const channel = await dialChannel({ host: "127.0.0.1", port, tls, localAddress, deadline: Date.now() + 20_000 });
  clientSockets.add(channel.socket);
  channel.socket.on("error", () => undefined);
  await ticket;
  return channel;
}

describe("the first-flight deadline", () => {
  it("drops a silent socket on a plain-TCP node at the first-flight deadline, not at the handshake deadline", async () => {
    // On plain TCP there is no TLS to wait for: the first flight is the Hello itself. A socket that sends
    // nothing must not count as handshaking merely because there was no TLS to do.
    const node = await startManager({ tls: false, limits: { handshakeTimeoutMs: 6_000, firstFlightTimeoutMs: 300 } });
    const started = performance.now();
    const socket = await rawClient(portOf(node));
    const error = await failureOf(node, socket.localPort!);
    const lifetime = performance.now() - started;
    console.log(`plain-TCP silent socket dropped after ${lifetime.toFixed(0)} ms (first flight 300, handshake 6000): ${error.message}`);

    expect(error.code).toBe(ErrorCode.HANDSHAKE_TIMEOUT);
    expect(error.message).toMatch(/nothing received within 300 ms/);
    expect(lifetime).toBeLessThan(6_000);
  });

  it("reads a first flight that arrived while the node was stalled before judging it (an honest peer is kept)", async () => {
    // The peer's first bytes reach the node's kernel right after its connect; the node's loop is then
    // stalled for longer than the first-flight deadline. Its arrival is rightly dated back to before the
    // stall, but its first flight, already received, must not be taken for silence because the node had
    // not read it yet when the deadline was checked.
    const node = await startManager({ limits: { handshakeTimeoutMs: 3_000, firstFlightTimeoutMs: 500 } });
    const started = performance.now();
    const socket = await rawClient(portOf(node), "127.0.0.1", (s) => {
      s.write(Buffer.from([0x16])); // the first byte of a TLS ClientHello record: the TLS server waits for more
      blockEventLoop(1_000);
    });
    const error = await failureOf(node, socket.localPort!);
    const lifetime = performance.now() - started;
    console.log(`peer whose first flight arrived during a 1000 ms stall: dropped after ${lifetime.toFixed(0)} ms: ${error.message}`);

    expect(error.message).not.toMatch(/nothing received/);
    expect(error.code).toBe(ErrorCode.HANDSHAKE_TIMEOUT);
    expect(lifetime).toBeGreaterThanOrEqual(2_900);
  });
});

describe("socket arrival dating", () => {
  it("does not mistake a forward step of the node's clock for a stalled loop (an honest dial still opens)", async () => {
    // A wall clock can step (NTP, a VM resumed); a test clock jumps on purpose. Neither is time the socket
    // spent waiting, so neither may shorten its deadlines.
    let offsetMs = 0;
    const node = await startManager({ clock: () => Date.now() + offsetMs });
    const dialer = await startManager({ listen: [], reconnect: false });
    offsetMs += 60_000;
    const result = await dialer.dial(node.addresses[0]!).then(
      (connection) => connection.state,
      (error: unknown) => PeerlinkError.from(error).message,
    );
    expect(result).toBe("open");
  });
});

describe("eviction from a full pending pool", () => {
  it("evicts a socket that stayed silent before a peer in the handshake, even when such peers share a subnet", async () => {
    // The node's clock is moved on instead of waiting: the silent sockets' silence is what is under test.
    let offsetMs = 0;
    const node = await startManager({
      clock: () => Date.now() + offsetMs,
      limits: { maxPendingInbound: 4, maxPendingPerIp: 1, maxPendingPerSubnet: 2, firstFlightTimeoutMs: 3_000 },
    });
    const port = portOf(node);
    // Two honest peers behind one /24 (a NAT, a campus), in the peerlink handshake: TLS done, Hello pending.
    await securedPeer(port, "127.40.0.1");
    await securedPeer(port, "127.40.0.2");
    // Silent sockets from two other subnets fill the pool, and stay silent for more than half the
    // first-flight time (an honest dialer's first flight follows its connect at once).
    await rawClient(port, "127.41.0.1");
    await rawClient(port, "127.42.0.1");
    await until(() => node.pendingInbound() === 4, "a full pending pool");
    offsetMs += 2_000;

    const evicted = nextEvent(node, "inbound:evicted");
    await rawClient(port, "127.43.0.1");
    const { address } = await evicted;
    console.log(`evicted ${address}; pending from 127.40.0.0/24: ${node.pendingInbound("127.40.0.1") + node.pendingInbound("127.40.0.2")}`);

    expect(address).toMatch(/^127\.4[12]\.0\.1:/);
    expect(node.pendingInbound("127.40.0.1")).toBe(1);
    expect(node.pendingInbound("127.40.0.2")).toBe(1);
  });

  it("keeps a newcomer in its first round trip when a concentrated flood races back in", async () => {
    // Attackers keep the pool full of sockets that finished TLS (cheap: one handshake a second holds ten
    // slots) and redial the moment one is evicted. The honest newcomer has not finished TLS yet when the
    // attacker is back: the flood's own subnets must pay, not the newcomer.
    const node = await startManager({ limits: { maxPendingInbound: 4, maxPendingPerIp: 2, maxPendingPerSubnet: 2 } });
    const port = portOf(node);
    for (const ip of ["127.50.0.1", "127.50.0.1", "127.51.0.1", "127.51.0.1"]) await securedPeer(port, ip);
    await until(() => node.pendingInbound() === 4, "a pool full of TLS-finished sockets");

    const first = nextEvent(node, "inbound:evicted");
    const newcomer = await rawClient(port, "127.52.0.1");
    expect((await first).address).toMatch(/^127\.5[01]\.0\.1:/);
    const again = nextEvent(node, "inbound:evicted");
    await rawClient(port, "127.50.0.1");
    const { address } = await again;

    expect(address).not.toBe(`127.52.0.1:${newcomer.localPort}`);
    expect(node.pendingInbound("127.52.0.1")).toBe(1);
  });
});

describe("a connection refused after its handshake", () => {
  it("is counted while it closes, and stop() ends it: nothing is left when stop() resolves", async () => {
    // The node refuses a banned peer id once it is authenticated (Goodbye PEER_BANNED), then waits up to
    // gracefulShutdownTimeoutMs for the peer to close. A peer that ignores the Goodbye keeps that socket
    // open: the node must know it holds it, and stop() must not leave it (and its slot) behind.
    const node = await startManager({ gracefulShutdownTimeoutMs: 5_000 });
    const identity = Identity.generate();
    node.ban({ peerId: identity.peerId.toString() });
    const channel = await dialChannel({ host: "127.0.0.1", port: portOf(node), tls: await resolveTls(identity), deadline: Date.now() + 20_000 });
    clientSockets.add(channel.socket);
    channel.socket.on("error", () => undefined);
    const refused = nextEvent(node, "inbound:refused");
    // The client completes its side of the handshake, then stops reading: the Goodbye is never answered.
    await openConnection(
      channel,
      { identity, protocols: [{ name: "/test", versions: [1], alias: 1 }] },
      { deadline: Date.now() + 20_000, onConnection: (c) => c.on("open", () => channel.socket.pause()) },
    ).catch(() => undefined);
    expect((await refused).reason).toBe("banned");

    expect(node.counts.pendingInbound).toBe(1);
    expect(node.socketCount).toBe(1);
    await node.stop();
    expect(node.counts).toEqual(ZERO_COUNTS);
    expect(node.socketCount).toBe(0);
  });
});

describe("stop() and dials in flight", () => {
  it("cancels a dial still resolving its host name, and no service hears of it after it stopped", async () => {
    let answer!: () => void;
    slowDns.gate = new Promise((resolve) => (answer = resolve));
    const asked = new Promise<void>((resolve) => (slowDns.asked = resolve));
    const afterStop: string[] = [];
    let serviceStopped = false;
    const node = await startManager({
      services: [
        () => ({
          onDialFailed: () => void (serviceStopped && afterStop.push("onDialFailed")),
          onSlotFreed: () => void (serviceStopped && afterStop.push("onSlotFreed")),
          stop: () => {
            serviceStopped = true;
          },
        }),
      ],
    });
    const dial = node.dial(`${slowDns.name}:4001`).then(
      () => "opened",
      (error: unknown) => PeerlinkError.from(error).code,
    );
    await asked;
    await node.stop();
    const atStop = await Promise.race([dial, Promise.resolve("still pending")]);
    answer(); // the name resolves after all: nothing may come of it
    const outcome = await dial;
    slowDns.gate = undefined;

    expect(atStop).toBe(ErrorCode.ABORTED);
    expect(outcome).toBe(ErrorCode.ABORTED);
    expect(afterStop).toEqual([]);
  });
});
