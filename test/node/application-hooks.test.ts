/**
 * The application's hooks over real sockets (127.0.0.0/8, real TLS): the connection gater at each of its
 * points, the allow-list's exemptions from limits, the rate limit and trimming, tags ordering trimming,
 * and handlers per protocol beside the `message` event.
 */
import net from "node:net";
import { afterEach, describe, expect, it, onTestFinished, vi } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import { GATER_TIMEOUT_MS } from "../../src/node/policy/gater.js";
import { DisconnectReason } from "../../src/reasons.js";
import { cleanup, nextEvent, startManager } from "../manager/fixtures.js";

const servers = new Set<net.Server>();
afterEach(async () => {
  await cleanup();
  for (const s of servers) s.close();
  servers.clear();
});

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const realSetTimeout = globalThis.setTimeout;
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** The result of `promise`: its value, or the error it rejected with. */
function settle<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

function errorOf(result: { value: unknown } | { error: unknown }): PeerlinkError {
  if (!("error" in result)) throw new Error("expected a rejection, got a connection");
  expect(result.error).toBeInstanceOf(PeerlinkError);
  return result.error as PeerlinkError;
}

/** Collects process warnings of `name` while the test runs. */
function warningsOf(name: string): string[] {
  const seen: string[] = [];
  const listener = (warning: Error): void => {
    if (warning.name === name) seen.push(warning.message);
  };
  process.on("warning", listener);
  onTestFinished(() => void process.off("warning", listener));
  return seen;
}

/** A TCP server that records the remote port of every connection it accepts, in order. */
async function recordingServer(): Promise<{ port: number; arrivals: number[]; next: () => Promise<number> }> {
  const arrivals: number[] = [];
  const waiters: ((port: number) => void)[] = [];
  const server = net.createServer((socket) => {
    arrivals.push(socket.remotePort ?? 0);
    socket.on("error", () => undefined);
    socket.destroy();
    waiters.shift()?.(socket.remotePort ?? 0);
  });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, arrivals, next: () => new Promise((resolve) => waiters.push(resolve)) };
}

/** Dials `node` from a fresh dialer at `localAddress`; settles with the connection or the error. */
async function dialFrom(node: ConnectionManager, localAddress: string, options: Parameters<typeof startManager>[0] = {}) {
  const dialer = await startManager({ listen: [], reconnect: false, ...options });
  return { dialer, result: await settle(dialer.dial(node.addresses[0]!, { localAddress })) };
}

describe("the connection gater", () => {
  it("resets an inbound socket whose address it denies, before TLS, and reports and journals it as gated", async () => {
    const asked: string[] = [];
    const node = await startManager({ gater: { denyInboundAddress: (ip) => (asked.push(ip), ip === "127.61.0.2" ? { reason: "scanner range" } : false) } });
    const refused = nextEvent(node, "inbound:refused");
    const denied = await dialFrom(node, "127.61.0.2");
    const err = errorOf(denied.result);
    // The socket was reset: the dialer saw no Goodbye, only a transport failure.
    expect([ErrorCode.CONNECT_FAILED, ErrorCode.TLS_FAILED, ErrorCode.CONNECTION_CLOSED], err.message).toContain(err.code);
    const event = await refused;
    expect(event).toMatchObject({ reason: "gated", error: { code: ErrorCode.GATED } });
    expect(event.peer).toBeUndefined(); // refused before any handshake
    const journal = node.decisions({ kind: "refused", address: "127.61.0.2" });
    expect(journal).toHaveLength(1);
    expect(journal[0]).toMatchObject({ code: "gated" });
    expect(journal[0]!.detail).toContain("scanner range");

    const allowed = await dialFrom(node, "127.61.0.3");
    expect("value" in allowed.result).toBe(true);
    expect(asked).toEqual(["127.61.0.2", "127.61.0.3"]);
    expect(node.connections()).toHaveLength(1);
  });

  it("closes a handshaken peer it denies with a Goodbye carrying only the public reason; nothing reaches the application", async () => {
    const messages: string[] = [];
    let deny = "";
    const node = await startManager({ gater: { denyPeer: (peer) => (peer === deny ? { reason: "private note", publicReason: "not on the guest list" } : undefined) } });
    node.on("message", (m) => messages.push(text(m.data)));
    const dialer = await startManager({ listen: [], reconnect: false });
    deny = dialer.peerId.toString();
    const refused = nextEvent(node, "inbound:refused", (e) => e.peer === deny);
    const result = await settle(dialer.dial(node.addresses[0]!, { localAddress: "127.62.0.1", earlyMessages: [{ protocol: "/test", data: bytes("0-rtt") }] }));
    const event = await refused;
    expect(event).toMatchObject({ reason: "gated", error: { code: ErrorCode.GATED } });
    // The dialer learns it on the dial or on the connection's close (its handshake may finish first).
    if ("value" in result) {
      const closed = await result.value.closed;
      expect(closed.reason).toBe(DisconnectReason.PEER_BANNED);
      expect(result.value.remoteGoodbye?.detail).toBe("not on the guest list");
    } else {
      const err = errorOf(result);
      expect(err.code).toBe(ErrorCode.PEER_BANNED);
      expect(err.message).toContain("not on the guest list");
      expect(err.message).not.toContain("private note");
    }
    await node.settled();
    expect(node.connections()).toHaveLength(0);
    expect(messages).toEqual([]);
    const journal = node.decisions({ kind: "refused", peerId: deny });
    expect(journal.map((e) => e.code)).toEqual(["gated"]);
    expect(journal[0]!.detail).toContain("private note");
  });

  it("rejects a dial to a denied peer with GATED before any socket, and journals and reports it", async () => {
    const target = await startManager();
    const dialer = await startManager({ listen: [], reconnect: false, gater: { denyDialPeer: (peer) => peer === target.peerId.toString() } });
    const refused = nextEvent(dialer, "dial:refused");
    const err = errorOf(await settle(dialer.dial({ peerId: target.peerId, addresses: target.addresses })));
    expect(err.code).toBe(ErrorCode.GATED);
    expect((await refused).error.code).toBe(ErrorCode.GATED);
    expect(dialer.decisions({ kind: "refused", peerId: target.peerId.toString() }).map((e) => e.code)).toEqual([ErrorCode.GATED]);
    expect(dialer.counts.pendingOutbound).toBe(0);
    expect(target.connections()).toHaveLength(0);
  });

  it("skips the addresses it denies and dials the others; with every address denied the dial rejects with GATED", async () => {
    const decoy = await recordingServer();
    const target = await startManager();
    const decoyAddress = `127.0.0.1:${decoy.port}`;
    const dialer = await startManager({ listen: [], reconnect: false, gater: { denyDialAddress: (address) => address === decoyAddress } });
    const connection = await dialer.dial({ peerId: target.peerId, addresses: [decoyAddress, ...target.addresses] });
    expect(connection.state).toBe("open");
    // Had the dial tried the decoy, that connection would have reached it before this probe.
    const probe = net.connect({ port: decoy.port, host: "127.0.0.1" });
    probe.on("error", () => undefined);
    const first = await decoy.next();
    probe.destroy();
    expect(decoy.arrivals).toEqual([first]);

    const err = errorOf(await settle(dialer.dial(decoyAddress)));
    expect(err.code).toBe(ErrorCode.GATED);
    expect(err.message).toContain(decoyAddress);
  });

  it("closes an outbound connection to a peer it denies after the handshake; the dial rejects with GATED", async () => {
    const target = await startManager();
    const dialer = await startManager({ listen: [], reconnect: false, gater: { denyPeer: (_peer, info) => info.direction === "outbound" } });
    const refused = nextEvent(dialer, "dial:refused");
    const err = errorOf(await settle(dialer.dial(target.addresses[0]!)));
    expect(err.code).toBe(ErrorCode.GATED);
    expect((await refused).error.code).toBe(ErrorCode.GATED);
    expect(dialer.connections()).toHaveLength(0);
    await target.settled();
    await vi.waitFor(() => expect(target.connections()).toHaveLength(0));
  });

  it("awaits hooks that answer with a Promise: an inbound address, a handshaken peer, a dial", async () => {
    const later = <T>(value: T): Promise<T> => new Promise((resolve) => setImmediate(() => resolve(value)));
    let deniedPeer = "";
    const node = await startManager({
      gater: {
        denyInboundAddress: (ip) => later(ip === "127.68.0.2" ? { reason: "async address" } : false),
        denyPeer: (peer) => later(peer === deniedPeer ? { reason: "async peer", publicReason: "later: no" } : undefined),
      },
    });
    const byAddress = nextEvent(node, "inbound:refused");
    expect("error" in (await dialFrom(node, "127.68.0.2")).result).toBe(true);
    expect(await byAddress).toMatchObject({ reason: "gated", error: { code: ErrorCode.GATED } });
    expect(node.decisions({ kind: "refused", address: "127.68.0.2" })[0]?.detail).toContain("async address");

    const denied = await startManager({ listen: [], reconnect: false });
    deniedPeer = denied.peerId.toString();
    const byPeer = nextEvent(node, "inbound:refused", (e) => e.peer === deniedPeer);
    const result = await settle(denied.dial(node.addresses[0]!, { localAddress: "127.68.0.3" }));
    expect(await byPeer).toMatchObject({ reason: "gated" });
    if ("value" in result) expect((await result.value.closed).reason).toBe(DisconnectReason.PEER_BANNED);
    else expect(errorOf(result).message).toContain("later: no");

    const welcome = await dialFrom(node, "127.68.0.4");
    expect("value" in welcome.result).toBe(true);
    await node.settled();
    expect(node.connections().map((c) => c.remotePeer.toString())).toEqual([welcome.dialer.peerId.toString()]);

    const dialer = await startManager({
      listen: [],
      reconnect: false,
      gater: { denyDialPeer: (peer) => later(peer === node.peerId.toString()), denyDialAddress: (address) => later(address.endsWith(":1")) },
    });
    expect(errorOf(await settle(dialer.dial({ peerId: node.peerId, addresses: node.addresses }))).code).toBe(ErrorCode.GATED);
    const other = await startManager();
    const connection = await dialer.dial({ peerId: other.peerId, addresses: ["127.0.0.1:1", ...other.addresses] });
    expect(connection.state).toBe("open");
    expect(dialer.counts.pendingOutbound).toBe(0);
  });

  it("stops cleanly while a connection waits for the gater's answer: nothing left open", async () => {
    let asked!: () => void;
    const waiting = new Promise<void>((resolve) => (asked = resolve));
    const node = await startManager({ gater: { denyPeer: () => (asked(), new Promise<boolean>(() => undefined)) } });
    const dialer = await startManager({ listen: [], reconnect: false });
    // The wait's bound is a GATER_TIMEOUT_MS timer: stop() must end the wait (clear it), not leave it running.
    const timers: unknown[] = [];
    const setTimer = vi.spyOn(globalThis, "setTimeout");
    const clearTimer = vi.spyOn(globalThis, "clearTimeout");
    setTimer.mockImplementation(((fn: () => void, ms?: number) => {
      const handle = realSetTimeout(fn, ms);
      if (ms === GATER_TIMEOUT_MS) timers.push(handle);
      return handle;
    }) as typeof setTimeout);
    onTestFinished(() => {
      setTimer.mockRestore();
      clearTimer.mockRestore();
    });
    const dial = settle(dialer.dial(node.addresses[0]!, { localAddress: "127.69.0.1" }));
    await waiting;
    expect(node.connections()).toHaveLength(0); // unseen while the answer is awaited
    expect(timers).toHaveLength(1);
    await node.stop();
    expect(clearTimer).toHaveBeenCalledWith(timers[0]);
    expect(node.socketCount).toBe(0);
    const result = await dial;
    if ("value" in result) await result.value.closed;
    expect(dialer.connections()).toHaveLength(0);
  });

  it("denies, warns and keeps running when a hook throws", async () => {
    const warnings = warningsOf("PeerlinkGaterWarning");
    const node = await startManager({
      gater: {
        denyInboundAddress: (ip) => {
          if (ip === "127.63.0.2") throw new Error("lookup failed");
          return false;
        },
      },
    });
    const refused = nextEvent(node, "inbound:refused");
    expect("error" in (await dialFrom(node, "127.63.0.2")).result).toBe(true);
    expect((await refused).reason).toBe("gated");
    await vi.waitFor(() => expect(warnings.some((w) => w.includes("lookup failed"))).toBe(true));
    expect(node.decisions({ kind: "refused", address: "127.63.0.2" })[0]?.detail).toContain("lookup failed");
    expect("value" in (await dialFrom(node, "127.63.0.3")).result).toBe(true);
  });
});

describe("the allow-list", () => {
  it("admits listed addresses and peers past maxInbound, while others are refused for capacity", async () => {
    const listedPeer = await startManager({ listen: [], reconnect: false });
    const node = await startManager({
      limits: { maxInbound: 1 },
      allowList: { addresses: ["127.64.9.0/24"], peers: [listedPeer.peerId.toString()] },
    });
    expect("value" in (await dialFrom(node, "127.64.1.1")).result).toBe(true); // takes the one slot
    const refused = nextEvent(node, "inbound:refused");
    const newcomer = await dialFrom(node, "127.64.2.1");
    expect((await refused).reason).toBe("inbound_full");
    if ("value" in newcomer.result) expect((await newcomer.result.value.closed).reason).toBe(DisconnectReason.RESOURCE_CONSTRAINT);
    else expect(errorOf(newcomer.result).code).toBe(ErrorCode.CONNECTION_LIMIT);

    expect("value" in (await dialFrom(node, "127.64.9.1")).result).toBe(true);
    const byId = await settle(listedPeer.dial(node.addresses[0]!, { localAddress: "127.64.3.1" }));
    expect("value" in byId).toBe(true);
    await node.settled();
    expect(node.connections()).toHaveLength(3);
    expect(node.counts.openInbound).toBe(3);
    expect(node.connectionLimitsReached("127.64.2.1:5000")).toBe("inbound_full");
    expect(node.connectionLimitsReached("127.64.9.7:5000")).toBeUndefined();
  });

  it("dials a listed peer past maxOutbound, while other dials are refused for it", async () => {
    const targets = [await startManager(), await startManager(), await startManager()];
    const [first, other, listed] = targets as [ConnectionManager, ConnectionManager, ConnectionManager];
    const dialer = await startManager({ listen: [], reconnect: false, limits: { maxOutbound: 1 }, allowList: { peers: [listed.peerId.toString()] } });
    await dialer.dial({ peerId: first.peerId, addresses: first.addresses });
    const refused = errorOf(await settle(dialer.dial({ peerId: other.peerId, addresses: other.addresses })));
    expect(refused.code).toBe(ErrorCode.CONNECTION_LIMIT);
    const connection = await dialer.dial({ peerId: listed.peerId, addresses: listed.addresses });
    expect(connection.state).toBe("open");
    expect(dialer.counts.openOutbound).toBe(2);
  });

  it("exempts a listed address from the inbound rate limit and the per-IP bound", async () => {
    const node = await startManager({ limits: { inboundRateBurst: 1, inboundRatePerSecond: 0.01, maxPerIp: 1 }, allowList: { addresses: ["127.65.9.9"] } });
    const refused = nextEvent(node, "inbound:refused");
    const a = await startManager({ listen: [], reconnect: false });
    await a.dial(node.addresses[0]!, { localAddress: "127.65.1.1" });
    const b = await startManager({ listen: [], reconnect: false });
    expect("error" in (await settle(b.dial(node.addresses[0]!, { localAddress: "127.65.1.1" })))).toBe(true);
    expect(["rate_limited", "per_ip"]).toContain((await refused).reason);
    for (let i = 0; i < 3; i++) {
      const listed = await startManager({ listen: [], reconnect: false });
      const connection = await listed.dial(node.addresses[0]!, { localAddress: "127.65.9.9" });
      expect(connection.state, `listed dial ${i}`).toBe("open");
    }
    await node.settled();
    expect(node.connections()).toHaveLength(4);
  });

  it("never trims an allow-listed peer, whatever its tags", async () => {
    const first = await startManager({ listen: [], reconnect: false });
    const node = await startManager({
      limits: { lowWatermark: 1, highWatermark: 1, trimGracePeriodMs: 0 },
      allowList: { peers: [first.peerId.toString()] },
    });
    await first.dial(node.addresses[0]!, { localAddress: "127.66.0.1" });
    node.tagPeer(first.peerId, "unwanted", { value: -100 });
    const trimmed = nextEvent(node, "connection:close");
    const second = await startManager({ listen: [], reconnect: false });
    await settle(second.dial(node.addresses[0]!, { localAddress: "127.66.0.2" }));
    const closed = await trimmed;
    expect(closed.peer).toBe(second.peerId.toString());
    expect(closed.reason).toBe(DisconnectReason.NETWORK_RESTRUCTURE);
    expect(node.connections().map((c) => c.remotePeer.toString())).toEqual([first.peerId.toString()]);
  });
});

describe("weighted tags", () => {
  it("order trimming: the lowest sum is closed first, and a tag that expired on the node's clock no longer counts", async () => {
    let now = 1_000_000;
    const node = await startManager({ clock: () => now, maintenance: false, limits: { lowWatermark: 2, highWatermark: 2, trimGracePeriodMs: 0 } });
    const peers: ConnectionManager[] = [];
    for (let i = 0; i < 2; i++) {
      const peer = await startManager({ listen: [], reconnect: false });
      await peer.dial(node.addresses[0]!, { localAddress: `127.67.0.${i + 1}` });
      peers.push(peer);
    }
    const [oldest, second] = peers as [ConnectionManager, ConnectionManager];
    node.tagPeer(oldest.peerId, "relay", { value: 50, ttlMs: 60_000 });
    node.tagPeer(second.peerId, "useful", { value: 20 });
    node.tagPeer(second.peerId, "fading", { value: 40, decay: { intervalMs: 10_000, by: 10 } });
    expect(node.peerTags(second.peerId).map((t) => [t.name, t.value])).toEqual([["useful", 20], ["fading", 40]]);
    // A newcomer (0) is the lowest: it is trimmed, not the newest-first default's victim by age alone.
    const third = await startManager({ listen: [], reconnect: false });
    let trimmed = nextEvent(node, "connection:close");
    await settle(third.dial(node.addresses[0]!, { localAddress: "127.67.0.3" }));
    expect((await trimmed).peer).toBe(third.peerId.toString());
    await node.settled();
    // 30 s later: second's fading tag is down to 10 (sum 30), oldest still 50. A newcomer tagged 35 arrives.
    now += 30_000;
    expect(node.peerTags(second.peerId).find((t) => t.name === "fading")?.value).toBe(10);
    const fourth = await startManager({ listen: [], reconnect: false });
    node.tagPeer(fourth.peerId, "wanted", { value: 35 });
    trimmed = nextEvent(node, "connection:close");
    await settle(fourth.dial(node.addresses[0]!, { localAddress: "127.67.0.4" }));
    expect((await trimmed).peer).toBe(second.peerId.toString());
    await node.settled();
    // 60 s after tagging, oldest's relay tag expired (sum 0): it goes next.
    now += 31_000;
    const fifth = await startManager({ listen: [], reconnect: false });
    node.tagPeer(fifth.peerId, "wanted", { value: 1 });
    trimmed = nextEvent(node, "connection:close");
    await settle(fifth.dial(node.addresses[0]!, { localAddress: "127.67.0.5" }));
    expect((await trimmed).peer).toBe(oldest.peerId.toString());
    expect(node.untagPeer(fifth.peerId, "wanted")).toBe(true);
    expect(node.untagPeer(fifth.peerId, "wanted")).toBe(false);
  });
});

describe("handlers per protocol", () => {
  const protocols = [{ name: "/a" }, { name: "/b" }, { name: "/c" }];

  it("runs each protocol's handler with the bytes and the connection, beside the message event; failures are reported and isolated", async () => {
    const node = await startManager({ protocols });
    const got: string[] = [];
    let via: Connection | undefined;
    node.handle("/a", (data, connection) => {
      got.push(`a:${text(data)}`);
      via = connection;
    });
    node.handle("/b", (data) => {
      throw new Error(`b cannot take ${text(data)}`);
    });
    node.handle("/c", async (data) => {
      await Promise.resolve();
      throw new PeerlinkError(ErrorCode.PROTOCOL_VIOLATION, `c rejects ${text(data)}`);
    });
    const failures: string[] = [];
    node.on("handler:failed", (e) => failures.push(`${e.protocol} ${e.peer === dialer.peerId.toString()} ${e.error.code} ${e.error.rawMessage}`));
    const events: string[] = [];
    node.on("message", (m) => events.push(`${m.protocol}:${text(m.data)}`));

    const dialer = await startManager({ listen: [], reconnect: false, protocols });
    const connection = await dialer.dial(node.addresses[0]!);
    await connection.send("/a", bytes("1"));
    await connection.send("/b", bytes("2"));
    await connection.send("/c", bytes("3"));
    await connection.send("/a", bytes("4"));
    await vi.waitFor(() => expect(events).toHaveLength(4));
    await vi.waitFor(() => expect(failures).toHaveLength(2));
    expect(events).toEqual(["/a:1", "/b:2", "/c:3", "/a:4"]);
    expect(got).toEqual(["a:1", "a:4"]);
    expect(via?.remotePeer.toString()).toBe(dialer.peerId.toString());
    expect(failures).toEqual([`/b true INTERNAL b cannot take 2`, `/c true PROTOCOL_VIOLATION c rejects 3`]);
    expect(node.getConnection(dialer.peerId)?.state).toBe("open");

    // After unhandle, the message event still fires and the handler is not called (it runs first when set).
    expect(node.unhandle("/a")).toBe(true);
    expect(node.unhandle("/a")).toBe(false);
    await connection.send("/a", bytes("5"));
    await vi.waitFor(() => expect(events).toHaveLength(5));
    expect(got).toEqual(["a:1", "a:4"]);
  });

  it("warns when a handler fails and nobody listens for handler:failed", async () => {
    const warnings = warningsOf("PeerlinkHandlerWarning");
    const node = await startManager({ protocols });
    node.handle("/a", () => {
      throw new Error("unheard failure");
    });
    const dialer = await startManager({ listen: [], reconnect: false, protocols });
    const connection = await dialer.dial(node.addresses[0]!);
    await connection.send("/a", bytes("x"));
    await vi.waitFor(() => expect(warnings.some((w) => w.includes("unheard failure"))).toBe(true));
  });

  it("refuses a handler for a protocol the node does not speak, a second handler, and a non-function", async () => {
    const node = await startManager({ protocols });
    const code = (fn: () => void): string | undefined => {
      try {
        fn();
      } catch (e) {
        return (e as PeerlinkError).code;
      }
      return undefined;
    };
    expect(code(() => node.handle("/unknown", () => undefined))).toBe(ErrorCode.INVALID_ARGUMENT);
    node.handle("/a", () => undefined);
    expect(code(() => node.handle("/a", () => undefined))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => node.handle("/b", "nope" as never))).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});
