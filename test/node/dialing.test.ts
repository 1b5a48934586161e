import net from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, type PeerlinkError } from "../../src/errors.js";
import type { ManagerHost, ManagerService } from "../../src/manager/services.js";
import { closedPort } from "../helpers/closed-port.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { reportFigures } from "../helpers/reliability.js";
import { nextEvent, onEvent, startNode, stopNodes } from "../maintenance/fixtures/nodes.js";

const servers = new Set<net.Server>();
const sockets = new Set<net.Socket>();

afterEach(async () => {
  await stopNodes();
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all([...servers].map((s) => new Promise((r) => s.close(r))));
  servers.clear();
});

/** A TCP server on 127.0.0.1 that accepts and never answers (a black hole after connect); records its sockets. */
async function silentServer(): Promise<{ address: string; accepted: { socket: net.Socket; at: number }[]; closed: Promise<void> }> {
  const accepted: { socket: net.Socket; at: number }[] = [];
  let onClosed!: () => void;
  const closed = new Promise<void>((r) => (onClosed = r));
  const server = net.createServer((socket) => {
    accepted.push({ socket, at: performance.now() });
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", onClosed);
    socket.resume(); // read (and drop) what arrives, so the peer's close is seen
  });
  servers.add(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, accepted, closed };
}

/** A TCP forwarder on 127.0.0.1 to `port`, recording when it accepted each connection. */
async function forwarder(port: number, host = "127.0.0.1"): Promise<{ address: string; acceptedAt: number[] }> {
  const acceptedAt: number[] = [];
  const server = net.createServer((socket) => {
    acceptedAt.push(performance.now());
    const upstream = net.connect(port, "127.0.0.1");
    sockets.add(socket).add(upstream);
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  servers.add(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  const port_ = (server.address() as net.AddressInfo).port;
  return { address: host.includes(":") ? `[${host}]:${port_}` : `${host}:${port_}`, acceptedAt };
}

const portOf = (address: string) => Number(address.split(":").pop());

/**
 * A timer of `ms` armed now, resolving with when it fired. Armed just before a dial, it fires no later than the
 * dial's stagger timer of the same delay: Node dates both from the event loop's cached time, which can be older
 * than the real time (a busy or descheduled process), so the stagger may fire earlier than `ms` after the dial
 * by the real clock, but never before this timer. Timing the next attempt against it holds on a busy machine.
 */
function staggerMark(ms: number): Promise<number> {
  return new Promise((resolve) => setTimeout(() => resolve(performance.now()), ms));
}

describe("racing a peer's addresses (real sockets)", () => {
  it("lets the live address win after the stagger when the first one is a black hole, and closes the dead socket", async () => {
    const b = await startNode({ maintenance: false });
    const a = await startNode({ maintenance: false, manager: { dialing: { staggerMs: 250 } } });
    const dead = await silentServer();
    const live = await forwarder(portOf(b.manager.addresses[0]!));
    const failures: unknown[] = [];
    onEvent(a.manager, "handshake:failed", (e) => failures.push(e));

    const stagger = staggerMark(250);
    const connection = await a.manager.dial({ peerId: b.manager.peerId, addresses: [dead.address, live.address] });
    expect(connection.remotePeer.equals(b.manager.peerId)).toBe(true);
    expect(connection.state).toBe("open");
    // The dead address was tried first and the live one only once the stagger had passed (seen from this
    // process's accept callbacks, which may run late: the exact schedule is in dial-race.test.ts).
    expect(dead.accepted).toHaveLength(1);
    expect(live.acceptedAt).toHaveLength(1);
    expect(live.acceptedAt[0]!).toBeGreaterThanOrEqual(await stagger);
    reportFigures({ staggerMs: 250, liveAttemptAfterMs: Math.round(live.acceptedAt[0]! - dead.accepted[0]!.at) });
    // The losing attempt was aborted: its socket is closed (no leak), and it is neither a failure nor backed off.
    await dead.closed;
    expect(failures).toEqual([]);
    expect(a.manager.peers.dialBackoff.check(dead.address, a.manager.options.clock())).toBeUndefined();
    expect(a.manager.connections()).toEqual([connection]);
  });

  it("interleaves IPv6 and IPv4: the IPv6 address starts second, ahead of the second IPv4 one, and wins", async () => {
    const b = await startNode({ maintenance: false });
    const a = await startNode({ maintenance: false, manager: { dialing: { staggerMs: 250 } } });
    const dead1 = await silentServer();
    const dead2 = await silentServer();
    const v6 = await forwarder(portOf(b.manager.addresses[0]!), "::1");
    const stagger = staggerMark(250);
    const connection = await a.manager.dial({ peerId: b.manager.peerId, addresses: [dead1.address, dead2.address, v6.address] });
    expect(connection.remotePeer.equals(b.manager.peerId)).toBe(true);
    expect(dead1.accepted).toHaveLength(1);
    expect(v6.acceptedAt).toHaveLength(1);
    // Given third, tried second: before the second IPv4 address (started later, or never once it won).
    expect(v6.acceptedAt[0]!).toBeLessThan(dead2.accepted[0]?.at ?? Number.POSITIVE_INFINITY);
    expect(v6.acceptedAt[0]!).toBeGreaterThanOrEqual(await stagger);
    await dead1.closed;
  });

  it("moves on at once from an address that refuses, and fails with the last error when every address fails", async () => {
    const a = await startNode({ maintenance: false, manager: { dialing: { staggerMs: 60_000, backoff: false } } });
    const b = await startNode({ maintenance: false });
    const refused = `127.0.0.1:${await closedPort()}`;
    // A stagger of a minute: only the refusal can have started the second attempt before the test timeout.
    const connection = await a.manager.dial({ peerId: b.manager.peerId, addresses: [refused, b.manager.addresses[0]!] });
    expect(connection.remotePeer.equals(b.manager.peerId)).toBe(true);

    const other = `127.0.0.1:${await closedPort()}`;
    const error = await rejectsWithCode(a.manager.dial({ peerId: b.manager.peerId, addresses: [refused, other] }, { force: true }), ErrorCode.CONNECT_FAILED);
    expect(error.rawMessage).toMatch(/ECONNREFUSED|refused|connect/i);
  });
});

describe("the per-address backoff of direct dials (real sockets)", () => {
  it("refuses a dial of an address that just failed at once with DIAL_BACKOFF and when to retry; clearDialBackoff lifts it", async () => {
    const a = await startNode({ maintenance: false });
    const port = await closedPort();
    const address = `127.0.0.1:${port}`;
    await rejectsWithCode(a.manager.dial(address), ErrorCode.CONNECT_FAILED);

    // Something listens there now, and counts every connection it gets.
    const b = await startNode({ maintenance: false, manager: { listen: [address] } });
    const opened: unknown[] = [];
    onEvent(b.manager, "connection:open", (e) => opened.push(e));
    const refusedEvent = nextEvent(a.manager, "dial:refused");
    const error = await rejectsWithCode(a.manager.dial(address), ErrorCode.DIAL_BACKOFF);
    const cause = error.cause as { address: string; failures: number; retryAt: number; retryAfterMs: number };
    expect(cause).toMatchObject({ address, failures: 1 });
    expect(cause.retryAfterMs).toBeGreaterThan(0);
    expect(cause.retryAfterMs).toBeLessThanOrEqual(1_000);
    expect((await refusedEvent).error).toBe(error);

    expect(a.manager.clearDialBackoff(`127.0.0.1:${port}`)).toBe(1);
    const connection = await a.manager.dial(address);
    expect(connection.remotePeer.equals(b.manager.peerId)).toBe(true);
    // The refused dial opened no socket: the only connection B ever saw is this one.
    await new Promise((r) => setImmediate(r));
    expect(opened).toHaveLength(1);
    // A success forgets the address's failures.
    expect(a.manager.peers.dialBackoff.check(address, a.manager.options.clock())).toBeUndefined();
  });

  it("does not refuse the services' dials (they have backoffs of their own), which still feed it", async () => {
    let host!: ManagerHost;
    const capture = (h: ManagerHost): ManagerService => {
      host = h;
      return {};
    };
    const a = await startNode({ maintenance: false, manager: { services: [capture] } });
    const address = `127.0.0.1:${await closedPort()}`;
    await rejectsWithCode(host.dial(address), ErrorCode.CONNECT_FAILED);
    await rejectsWithCode(host.dial(address), ErrorCode.CONNECT_FAILED);
    expect(a.manager.peers.dialBackoff.check(address, a.manager.options.clock())?.failures).toBe(2);
    await rejectsWithCode(a.manager.dial(address), ErrorCode.DIAL_BACKOFF);
  });

  it("waits exactly its window on the manager's clock, doubling with each failure (fake clock)", async () => {
    let now = 1_000_000;
    const a = await startNode({ maintenance: false, manager: { clock: () => now, reconnect: false, dialing: { backoff: { initialMs: 1_000, maxMs: 3_000 } } } });
    const address = `127.0.0.1:${await closedPort()}`;
    const retryAfter = async (): Promise<number> => ((await rejectsWithCode(a.manager.dial(address), ErrorCode.DIAL_BACKOFF)).cause as { retryAfterMs: number }).retryAfterMs;

    await rejectsWithCode(a.manager.dial(address), ErrorCode.CONNECT_FAILED);
    expect(await retryAfter()).toBe(1_000);
    now += 999;
    expect(await retryAfter()).toBe(1);
    now += 1;
    await rejectsWithCode(a.manager.dial(address), ErrorCode.CONNECT_FAILED); // tried again: failure 2
    expect(await retryAfter()).toBe(2_000);
    now += 2_000;
    await rejectsWithCode(a.manager.dial(address), ErrorCode.CONNECT_FAILED); // failure 3: capped
    expect(await retryAfter()).toBe(3_000);
    a.manager.clearDialBackoff();
    await rejectsWithCode(a.manager.dial(address), ErrorCode.CONNECT_FAILED);
  });

  it("is off with dialing.backoff false, and its options are validated with the others", async () => {
    const a = await startNode({ maintenance: false, manager: { dialing: { backoff: false } } });
    const address = `127.0.0.1:${await closedPort()}`;
    await rejectsWithCode(a.manager.dial(address), ErrorCode.CONNECT_FAILED);
    await rejectsWithCode(a.manager.dial(address), ErrorCode.CONNECT_FAILED);
    const { checkManagerOptions } = await import("../../src/manager/manager-options.js");
    const problems = checkManagerOptions({ dialing: { staggerMs: -1, backoff: { initialMs: 10, maxMs: 1, bogus: 1 }, nope: true } });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/dialing\.staggerMs/),
        expect.stringMatching(/unknown option dialing\.nope/),
        expect.stringMatching(/unknown option dialing\.backoff\.bogus/),
        expect.stringMatching(/dialing\.backoff.*maxMs/),
      ]),
    );
  });
});

export type { PeerlinkError };
