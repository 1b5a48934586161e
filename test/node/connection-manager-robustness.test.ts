/**
 * Regression tests for defects found in review: a remote peer must not be able to crash a node, poison the
 * address book, or leave the manager's view of its connections inconsistent.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openConnection } from "../../src/connection/open-connection.js";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { ConnectionManager } from "../../src/node/connection-manager.js";
import { dialChannel } from "../../src/transport/dial.js";
import { closedPort } from "../helpers/closed-port.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { withTempDir } from "../helpers/temp-dir.js";
import { cleanup, nextEvent, startManager } from "../manager/fixtures.js";

afterEach(cleanup);

/** Connects to `manager` as `identity` over plain TCP, advertising `listenAddrs` in the Hello. */
async function connectAs(manager: ConnectionManager, identity: Identity, listenAddrs: string[]) {
  const [host, port] = manager.addresses[0]!.split(":");
  const deadline = Date.now() + 5_000;
  const channel = await dialChannel({ host: host!, port: Number(port), deadline });
  return openConnection(channel, { identity, listenAddrs, protocols: [{ name: "/test", versions: [1], alias: 1 }] }, { deadline });
}

describe("a listening manager", () => {
  it("survives a banned peer completing its handshake: the connection is refused, the process keeps running", async () => {
    const hub = await startManager({ tls: false });
    const mallory = Identity.generate();
    hub.ban({ peerId: mallory.peerId.toString() });
    const failures: unknown[] = [];
    hub.on("handshake:failed", (e) => failures.push(e));
    const refused = nextEvent(hub, "inbound:refused");
    const conn = await connectAs(hub, mallory, []).catch(() => undefined);
    const event = await refused;
    expect(event.reason).toBe("banned");
    expect(event.error.code).toBe(ErrorCode.PEER_BANNED);
    expect(event.peer).toBe(mallory.peerId.toString());
    expect(hub.decisions({ kind: "refused", peerId: mallory.peerId.toString() }).map((e) => e.code)).toEqual([ErrorCode.PEER_BANNED]);
    if (conn) expect((await conn.closed).reason).toBe("peer_banned");
    await hub.settled();
    expect(hub.connections()).toHaveLength(0);
    expect(hub.counts.total).toBe(0);
    expect(failures).toEqual([]);
  });

  it("adopts a peer that advertises malformed listen addresses, and does not record them", async () => {
    const hub = await startManager({ tls: false });
    const peer = Identity.generate();
    const opened = nextEvent(hub, "connection:open");
    const conn = await connectAs(hub, peer, ["a_b:1", "example.com.:1", "0.0.0.0:9", "127.0.0.1:4999", "224.0.0.1:7", "10.0.0.5:6379"]);
    expect((await opened).connection.remotePeer.equals(peer.peerId)).toBe(true);
    expect(hub.getConnection(peer.peerId)?.state).toBe("open");
    expect(hub.maintenance?.size).toBe(1);
    // The malformed and unroutable (multicast) ones are dropped; 0.0.0.0:9 is recorded under the IP the
    // peer connected from; a peer on loopback may advertise a private address (address-scope.test.ts has
    // the rule for peers elsewhere).
    expect(hub.peers.addressesOf(peer.peerId.toString()).sort()).toEqual(["10.0.0.5:6379", "127.0.0.1:4999", "127.0.0.1:9"]);
    await conn.close();
  });

  it("records a peer listening on 0.0.0.0 under the IP it connected from", async () => {
    const hub = await startManager({ tls: false });
    const peer = Identity.generate();
    const opened = nextEvent(hub, "connection:open");
    const conn = await connectAs(hub, peer, ["0.0.0.0:4777", "[::]:4778"]);
    await opened;
    expect(hub.peers.addressesOf(peer.peerId.toString()).sort()).toEqual(["127.0.0.1:4777", "127.0.0.1:4778"]);
    await conn.close();
  });

  it("announces peer:unbanned for a ban evicted from a full ban list", async () => {
    const hub = await startManager({ tls: false, limits: { banListMaxSize: 2 } });
    const lifted: string[] = [];
    hub.on("peer:unbanned", ({ entry }) => lifted.push(entry.value));
    hub.ban({ ip: "10.0.0.1" }, { durationMs: 1_000 });
    hub.ban({ ip: "10.0.0.2" }, { durationMs: 60_000 });
    hub.ban({ ip: "10.0.0.3" }, { durationMs: 60_000 });
    expect(lifted).toEqual(["10.0.0.1"]);
    expect(hub.isBanned({ ip: "10.0.0.1" })).toBe(false);
    expect(hub.decisions({ kind: "unbanned" }).map((e) => e.code)).toEqual(["evicted"]);
    expect(hub.decisions({ kind: "unbanned" })[0]?.address).toBe("10.0.0.1");
  });

  it("refuses an address dial that reaches a banned peer: dial:refused, not handshake:failed, and no dial success recorded", async () => {
    const a = await startManager({ tls: false });
    const b = await startManager({ tls: false });
    a.ban(b.peerId, { durationMs: 60_000 });
    const failures: unknown[] = [];
    a.on("handshake:failed", (e) => failures.push(e));
    const refused = nextEvent(a, "dial:refused");
    const address = b.addresses[0]!;
    await rejectsWithCode(a.dial(address), ErrorCode.PEER_BANNED);
    const event = await refused;
    expect(event.target).toBe(address);
    expect(event.error.code).toBe(ErrorCode.PEER_BANNED);
    expect(a.decisions({ kind: "refused", peerId: b.peerId.toString() })).toEqual([
      expect.objectContaining({ code: ErrorCode.PEER_BANNED, address: expect.stringMatching(/^127\.0\.0\.1:/) }),
    ]);
    const record = a.peers.get(b.peerId.toString());
    expect(record?.addresses.find((x) => x.address === address)?.lastSuccess).toBeUndefined();
    await a.settled();
    expect(failures).toEqual([]);
    expect(a.connections()).toHaveLength(0);
  });

  it("gives the built-in maintenance the manager's engine unless maintenance sets its own", async () => {
    const identity = Identity.generate();
    expect(new ConnectionManager({ identity }).maintenance?.engine).toBe("wasm");
    expect(new ConnectionManager({ identity, engine: "js" }).maintenance?.engine).toBe("js");
    expect(new ConnectionManager({ identity, engine: "js", maintenance: { engine: "wasm" } }).maintenance?.engine).toBe("wasm");
  });

  it("names the target in every ban and unban journal entry: peer id for a peer, IP for an IP", async () => {
    const hub = await startManager({ tls: false });
    const peer = Identity.generate().peerId;
    hub.ban(peer, { durationMs: 60_000 });
    hub.ban({ ip: "10.0.0.9" }, { durationMs: 60_000 });
    hub.ban({ subnet: "10.1.0.0/16" }, { durationMs: 60_000 });
    hub.unban(peer);
    hub.unban({ ip: "10.0.0.9" });
    hub.unban({ subnet: "10.1.0.0/16" });
    const subjects = (kind: "banned" | "unbanned") =>
      hub.decisions({ kind }).map((e) => [e.peerId, e.address, e.detail.split(" ")[0]]);
    const expected = [
      [peer.toString(), undefined, `peer:${peer.toString()}`],
      [undefined, "10.0.0.9", "ip:10.0.0.9"],
      [undefined, undefined, "subnet:10.1.0.0/16"],
    ];
    expect(subjects("banned")).toEqual(expected);
    expect(subjects("unbanned")).toEqual(expected);
    expect(hub.decisions({ peerId: peer.toString() }).map((e) => e.kind)).toEqual(["banned", "unbanned"]);
  });

  it("does not let a peer claim an address a dial proved to belong to another peer", async () => {
    const hub = await startManager({ tls: false });
    const victim = await startManager({ tls: false });
    const victimAddress = victim.addresses[0]!;
    const first = await hub.dial(victimAddress);
    expect(first.remotePeer.equals(victim.peerId)).toBe(true);
    const mallory = Identity.generate();
    const opened = nextEvent(hub, "connection:open", (e) => e.connection.remotePeer.equals(mallory.peerId));
    const malloryConn = await connectAs(hub, mallory, [victimAddress]);
    await opened;
    expect(hub.peers.resolvePeerId(victimAddress)).toBe(victim.peerId.toString());
    // A dial to the victim's address still returns the victim's connection, not Mallory's.
    expect((await hub.dial(victimAddress)).remotePeer.equals(victim.peerId)).toBe(true);
    await malloryConn.close();
  });
});

describe("dialing a plain address", () => {
  it("reaches whoever is there, even when another peer advertised that address first", async () => {
    const hub = await startManager({ tls: false });
    const honest = await startManager({ tls: false });
    const honestAddress = honest.addresses[0]!;
    const mallory = Identity.generate();
    const opened = nextEvent(hub, "connection:open", (e) => e.connection.remotePeer.equals(mallory.peerId));
    const malloryConn = await connectAs(hub, mallory, [honestAddress]);
    await opened;
    // Mallory's claim is recorded (nobody held the address), but it pins nothing.
    expect(hub.peers.resolvePeerId(honestAddress)).toBe(mallory.peerId.toString());
    const conn = await hub.dial(honestAddress);
    expect(conn.remotePeer.equals(honest.peerId)).toBe(true);
    // The dial proved the address: it moved to the honest peer.
    expect(hub.peers.resolvePeerId(honestAddress)).toBe(honest.peerId.toString());
    expect(hub.peers.addressesOf(mallory.peerId.toString())).not.toContain(honestAddress);
    await malloryConn.close();
  });

  it("does not let one peer's Hello take an address another peer advertised", async () => {
    const hub = await startManager({ tls: false });
    const first = Identity.generate();
    const second = Identity.generate();
    const opened = nextEvent(hub, "connection:open", (e) => e.connection.remotePeer.equals(first.peerId));
    const a = await connectAs(hub, first, ["127.0.0.1:4011"]);
    await opened;
    const openedSecond = nextEvent(hub, "connection:open", (e) => e.connection.remotePeer.equals(second.peerId));
    const b = await connectAs(hub, second, ["127.0.0.1:4011", "127.0.0.1:4012"]);
    await openedSecond;
    expect(hub.peers.resolvePeerId("127.0.0.1:4011")).toBe(first.peerId.toString());
    expect(hub.peers.addressesOf(second.peerId.toString())).toEqual(["127.0.0.1:4012"]);
    await a.close();
    await b.close();
  });

  it("follows a peer that moved away: the new peer at the address is reached and takes it over", async () => {
    // No reconnect service: its redial of the old peer (pinned to the old identity) would race this dial.
    const hub = await startManager({ tls: false, reconnect: false });
    // A port below the ephemeral range: no port-0 listener of a parallel test takes it while it is free.
    const old = await startManager({ tls: false, listen: [`127.0.0.1:${await closedPort()}`] });
    const address = old.addresses[0]!;
    expect((await hub.dial(address)).remotePeer.equals(old.peerId)).toBe(true);
    await old.stop();
    await hub.settled();
    const successor = await startManager({ tls: false, listen: [address] });
    const conn = await hub.dial(address);
    expect(conn.remotePeer.equals(successor.peerId)).toBe(true);
    expect(hub.peers.resolvePeerId(address)).toBe(successor.peerId.toString());
    expect(hub.peers.addressesOf(old.peerId.toString())).not.toContain(address);
  });
});

describe("duplicate connections", () => {
  it("announce connection:close for a connection replaced by a newer one in the same direction", async () => {
    const a = await startManager({ tls: false });
    const b = await startManager({ tls: false });
    const first = await a.dial({ peerId: b.peerId, addresses: b.addresses });
    const closedAtA = nextEvent(a, "connection:close");
    const second = await a.dial({ peerId: b.peerId, addresses: b.addresses }, { force: true });
    const closed = await closedAtA;
    expect(closed.connection).toBe(first);
    expect(closed.reason).toBe("already_connected");
    expect(second).not.toBe(first);
    expect(a.getConnection(b.peerId)).toBe(second);
    await a.settled();
    expect(a.maintenance?.size).toBe(1);
  });

  it("never make dial() reject while a connection to the peer survives (simultaneous dial, plain TCP, 20 rounds)", async () => {
    for (let round = 0; round < 20; round++) {
      const a = await startManager({ tls: false, reconnect: false });
      const b = await startManager({ tls: false, reconnect: false });
      const results = await Promise.allSettled([
        a.dial({ peerId: b.peerId, addresses: b.addresses }),
        b.dial({ peerId: a.peerId, addresses: a.addresses }),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 60_000);
});

describe("lifecycle", () => {
  it("stop() during start() leaves nothing listening and start() rejects with STOPPED", async () => {
    const node = new ConnectionManager({ listen: ["127.0.0.1:0"], tls: true });
    const starting = node.start();
    await node.stop();
    await rejectsWithCode(starting, ErrorCode.STOPPED);
    expect(node.addresses).toEqual([]);
  });

  it("remembers ban offences across a restart, so escalation continues", async () => {
    await withTempDir("peerlink-bans-", async (dir) => {
      const store = join(dir, "peers.json");
      const target = Identity.generate().peerId;
      const first = new ConnectionManager({ peerStore: store, listen: [] });
      await first.start();
      for (const duration of [10, 10]) first.ban(target, { durationMs: duration, reason: "spam" });
      expect(first.ban(target, { reason: "spam" }).offences).toBe(3);
      await first.stop();
      const second = new ConnectionManager({ peerStore: store, listen: [] });
      await second.start();
      expect(second.isBanned({ peerId: target })).toBe(true);
      expect(second.ban(target, { reason: "again" }).offences).toBe(4);
      await second.stop();
    });
  });
});
