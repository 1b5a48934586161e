/**
 * The target mesh over real sockets (mutual TLS, 127.x addresses): a mesh grows from one unpinned bootstrap
 * address through peer exchange, address-fetch connections to the bootstrap are closed once used, banned peers
 * are never dialed, a peer without the capability never gets a PeerAddresses frame, a flood of frames is used at
 * most once per interval and bounded per frame, reports from 40 subnets never push out the peers the application
 * recorded, reports add addresses only to peers reports put there, and a record evicted while connected is not
 * made again without its origin.
 */
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { PEER_EXCHANGE_CAPABILITY } from "../../src/mesh/defaults.js";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import { Identity } from "../../src/identity/identity.js";
import { cleanup, nextEvent, startManager } from "../manager/fixtures.js";

afterEach(cleanup);

/** Resolves once `check()` holds, re-checked on every connection opened or closed by one of `nodes`. */
function until(nodes: readonly ConnectionManager[], check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const offs: (() => void)[] = [];
    const test = (): void => {
      if (!check()) return;
      for (const off of offs) off();
      resolve();
    };
    for (const n of nodes) offs.push(n.on("connection:open", test), n.on("connection:close", test));
    test();
  });
}

const outbound = (m: ConnectionManager): number => m.connections().filter((c) => c.direction === "outbound").length;

describe("target mesh over real sockets", () => {
  it("grows from one bootstrap address to every node holding its target, through peer exchange", { timeout: 120_000 }, async () => {
    const boot = await startManager({ listen: ["127.30.0.1:0"], mesh: { targetOutbound: 2, diversity: { ipv4Prefix: 24 } } });
    const bootstrap = boot.addresses;
    const nodes: ConnectionManager[] = [];
    const learned: string[] = [];
    const fetchClosed: string[] = [];
    for (let i = 1; i <= 6; i++) {
      const ip = `127.30.${i}.1`;
      const node = await startManager({
        listen: [`${ip}:0`],
        mesh: { targetOutbound: 2, bootstrap, localAddress: ip, diversity: { ipv4Prefix: 24 } },
        reconnect: { localAddress: ip },
      });
      node.on("mesh:learned", ({ from }) => learned.push(from));
      nodes.push(node);
    }
    const all = [boot, ...nodes];
    // A node every other node dialed has no one left to dial out to: it holds all the peers there are instead.
    await until(all, () => nodes.every((n) => outbound(n) >= 2 || n.connections().length === all.length - 1));
    // Only the bootstrap address was configured: every other peer came from a PeerAddresses frame.
    expect(learned.length).toBeGreaterThan(0);
    for (const n of nodes) {
      for (const c of n.connections().filter((c) => c.direction === "outbound")) {
        // Diversity at /24: each node here has its own /24, so no two outbound peers share one.
        expect(c.capabilities.map((x) => x.name)).toContain(PEER_EXCHANGE_CAPABILITY);
      }
      const groups = n.connections().filter((c) => c.direction === "outbound").map((c) => c.remoteAddress.split(".").slice(0, 3).join("."));
      expect(new Set(groups).size).toBe(groups.length);
      const closes = n.decisions({ kind: "closed" }).filter((e) => e.detail?.includes("address fetch"));
      fetchClosed.push(...closes.map((e) => e.peerId ?? ""));
    }
    // Six nodes with a target of two each need more than the bootstrap: some address fetches were closed.
    expect(fetchClosed.length).toBeGreaterThan(0);
    expect(new Set(fetchClosed)).toEqual(new Set([boot.peerId.toString()]));
  });

  it("never dials a banned peer of the database", async () => {
    const banned = await startManager({ listen: ["127.31.1.1:0"] });
    const good = await startManager({ listen: ["127.31.2.1:0"] });
    const node = await startManager({ listen: ["127.31.3.1:0"], mesh: { targetOutbound: 2, diversity: false } });
    const dialed: (string | undefined)[] = [];
    node.on("mesh:dial", ({ peer }) => dialed.push(peer));
    node.ban(banned.peerId, { reason: "test" });
    const now = Date.now();
    node.peers.upsert(banned.peerId.toString(), { addresses: banned.addresses, healthy: true }, now);
    node.peers.upsert(good.peerId.toString(), { addresses: good.addresses }, now);
    // Below target with nothing to dial, the mesh looks again every checkIntervalMs (1 s) and finds them.
    await nextEvent(node, "connection:open", ({ connection }) => connection.remotePeer.equals(good.peerId));
    expect(dialed).toContain(good.peerId.toString());
    expect(dialed).not.toContain(banned.peerId.toString());
    expect(banned.connections()).toHaveLength(0);
    // Still below target (the banned peer is all that is left): a timer is armed, and stop releases it.
    expect(node.mesh!.nextWakeAt).toBeDefined();
    await node.stop();
    expect(node.mesh!.nextWakeAt).toBeUndefined();
    expect(node.mesh!.status().dialing).toBe(0);
  });

  it("takes an address where another identity answered for that identity, dials it there, and is not given it back by peer exchange", async () => {
    // A node restarted at its address with a new key: the old identity stays in the database with that address,
    // and the connected peers that still hold it there keep naming it in their lists.
    const old = await startManager({ listen: ["127.34.2.1:0"] });
    const address = old.addresses[0]!;
    const oldId = old.peerId.toString();
    await old.stop();
    const renewed = await startManager({ listen: [address] });
    const renewedId = renewed.peerId.toString();

    const node = await startManager({ listen: ["127.34.1.1:0"], mesh: { targetOutbound: 1, diversity: false } });
    const mismatch = nextEvent(node, "handshake:failed", ({ error }) => error.code === "IDENTITY_MISMATCH");
    const reached = nextEvent(node, "connection:open", ({ connection }) => connection.remotePeer.equals(renewed.peerId), 20_000);
    node.peers.upsert(oldId, { addresses: [address], origin: { kind: "exchange", group: "127.99.0.0/16" } }, Date.now());
    await mismatch;
    // The identity that proved its key at the address owns it now, as an identity that put itself here would.
    expect(node.peers.resolvePeerId(address)).toBe(renewedId);
    expect(node.peers.originOf(renewedId)).toEqual({ kind: "inbound", group: "127.34.0.0/16" });
    expect(node.peers.addressesOf(oldId)).toEqual([]);
    // The mesh dials it there, with no peer exchange needed.
    const { connection } = await reached;
    expect(connection.direction).toBe("outbound");
    expect(connection.remoteAddress).toBe(address);

    // A peer that still holds the old identity at the address names it in its list: not taken back.
    const helper = await startManager({ listen: ["127.34.3.1:0"], mesh: { targetOutbound: 0 } });
    helper.peers.upsert(oldId, { addresses: [address] }, Date.now());
    const list = new Promise<void>((resolve) => {
      node.on("connection:open", ({ connection: c }) => {
        if (!c.remotePeer.equals(helper.peerId)) return;
        // Registered after the mesh's own listener (it attaches at open): runs once the mesh has used the frame.
        c.on("control", (frame) => {
          if (frame.kind.case === "peerAddresses" && frame.kind.value.peers.some((p) => p.addrs.includes(address))) resolve();
        });
      });
    });
    await helper.dial({ peerId: node.peerId, addresses: node.addresses });
    await list;
    expect(node.peers.resolvePeerId(address)).toBe(renewedId);
    expect(node.peers.addressesOf(oldId)).toEqual([]);
  });

  it("forgets the address where another identity answered, not another address of the peer that failed in the same race", async () => {
    // The peer is down at its own address; another node answers at an address listed for it (stale, or given
    // by a hostile peer). Raced at once, the own address is refused first, then the other node proves its key.
    const absent = await startManager({ listen: ["127.34.5.1:0"] });
    const own = absent.addresses[0]!;
    const absentId = absent.peerId.toString();
    await absent.stop();
    const other = await startManager({ listen: ["127.34.6.1:0"] });
    const foreign = other.addresses[0]!;

    const node = await startManager({ listen: ["127.34.4.1:0"], dialing: { staggerMs: 0 }, mesh: { targetOutbound: 1, diversity: false } });
    const mismatch = nextEvent(node, "handshake:failed", ({ error }) => error.code === "IDENTITY_MISMATCH");
    node.peers.upsert(absentId, { addresses: [foreign, own] }, Date.now());
    await mismatch;
    await vi.waitFor(() => expect(node.peers.addressesOf(absentId)).not.toContain(foreign), { timeout: 10_000, interval: 20 });
    expect(node.peers.addressesOf(absentId)).toContain(own);
    expect(node.peers.resolvePeerId(foreign)).toBe(other.peerId.toString());
  });

  it("sends no PeerAddresses to a peer without the capability, and lists the capability only with the mesh", async () => {
    const plain = await startManager({ listen: ["127.32.1.1:0"] });
    const meshed = await startManager({ listen: ["127.32.2.1:0"], mesh: true });
    const frames: string[] = [];
    plain.on("connection:open", ({ connection }) => connection.on("control", (f) => frames.push(String(f.kind.case))));
    const conn = await meshed.dial({ peerId: plain.peerId, addresses: plain.addresses });
    expect(conn.capabilities).toEqual([]);
    expect(plain.options.capabilities).toEqual([]);
    expect(meshed.options.capabilities.map((c) => c.name)).toEqual([PEER_EXCHANGE_CAPABILITY]);
    // A message after the open: anything the mesh sent at open has arrived before it.
    const got = nextEvent(plain, "message");
    await conn.send("/test", new TextEncoder().encode("after"));
    await got;
    expect(frames).toEqual([]);
  });

  it("uses at most one flooded PeerAddresses frame per interval, and at most 32 peers of it", async () => {
    const meshed = await startManager({ listen: ["127.33.1.1:0"], mesh: { targetOutbound: 0 } });
    const sender = await startManager({ listen: ["127.33.2.1:0"], capabilities: [{ name: PEER_EXCHANGE_CAPABILITY }] });
    let learnedEvents = 0;
    meshed.on("mesh:learned", () => learnedEvents++);
    const conn = await sender.dial({ peerId: meshed.peerId, addresses: meshed.addresses });
    // 64 peers of 10 addresses: the most a frame may carry without being ignored whole (PROTOCOL.md §1).
    const peers = Array.from({ length: 64 }, (_, i) => ({
      peerId: Identity.generate().peerId.bytes,
      addrs: Array.from({ length: 10 }, (_, k) => `127.34.${i}.${k + 1}:4000`),
    }));
    for (let i = 0; i < 50; i++) {
      conn.sendControl(create(FrameSchema, { kind: { case: "peerAddresses", value: { peers: peers.slice(i % 2, 64), request: false } } }));
    }
    const got = nextEvent(meshed, "message");
    await conn.send("/test", new TextEncoder().encode("after the flood"));
    await got;
    expect(learnedEvents).toBe(1);
    const recorded = meshed.peers.peerIds().filter((p) => p !== sender.peerId.toString());
    expect(recorded).toHaveLength(32);
    for (const p of recorded) expect(meshed.peers.addressesOf(p).length).toBeLessThanOrEqual(4);
    expect(conn.state).toBe("open");
  });

  it("keeps the peers the application recorded and a share for an honest reporter under a PeerAddresses flood from 40 subnets", { timeout: 60_000 }, async () => {
    const meshed = await startManager({ listen: ["127.36.0.1:0"], mesh: { targetOutbound: 0 } });
    // 300 peers the application recorded (never dialed: the first the database's own eviction would take).
    const recorded = Array.from({ length: 300 }, (_, i) => Identity.generate().peerId.toString());
    recorded.forEach((p, i) => meshed.peers.upsert(p, { addresses: [`127.37.${i >> 8}.${(i & 255) + 1}:4000`] }, Date.now()));
    /** One connection from `localAddress` (its own /16) sending one frame of 32 fresh peers, used before its next message. */
    const senders: string[] = [];
    const report = async (localAddress: string, tag: number): Promise<string[]> => {
      const sender = await startManager({ listen: [`${localAddress}:0`], capabilities: [{ name: PEER_EXCHANGE_CAPABILITY }] });
      senders.push(sender.peerId.toString());
      const conn = await sender.dial({ peerId: meshed.peerId, addresses: meshed.addresses }, { localAddress });
      const ids = Array.from({ length: 32 }, () => Identity.generate().peerId);
      const peers = ids.map((id, i) => ({ peerId: id.bytes, addrs: [`127.38.${tag}.${i + 1}:4000`] }));
      conn.sendControl(create(FrameSchema, { kind: { case: "peerAddresses", value: { peers, request: false } } }));
      const got = nextEvent(meshed, "message");
      await conn.send("/test", new TextEncoder().encode("after the frame"));
      await got;
      return ids.map((id) => id.toString());
    };
    const honest = await report("127.39.0.1", 0);
    expect(honest.filter((p) => meshed.peers.has(p))).toHaveLength(32);
    // The identity that connected is recorded with its origin too.
    expect(meshed.peers.get(senders[0]!)?.origin).toEqual({ kind: "inbound", group: "127.39.0.0/16" });
    for (let g = 0; g < 40; g++) await report(`127.${40 + g}.0.1`, g + 1);
    // 1,280 + 32 learned peers and 41 connected identities against a database of 1,000: they never take a
    // recorded peer's place, and the 41 reporting /16s share the other 700 places (about 17 each).
    expect(recorded.filter((p) => !meshed.peers.has(p))).toEqual([]);
    expect(meshed.peers.size).toBe(1000);
    expect(honest.filter((p) => meshed.peers.has(p)).length).toBeGreaterThanOrEqual(10);
    expect(meshed.peers.get(honest.find((p) => meshed.peers.has(p))!)?.origin).toEqual({ kind: "exchange", group: "127.39.0.0/16" });
  });

  it("adds reported addresses only to peers that reports put in the database", async () => {
    const meshed = await startManager({ listen: ["127.36.5.1:0"], mesh: { targetOutbound: 0 } });
    const sender = await startManager({ listen: ["127.36.6.1:0"], capabilities: [{ name: PEER_EXCHANGE_CAPABILITY }] });
    const recorded = Identity.generate().peerId;
    meshed.peers.update(recorded.toString(), { addresses: ["127.37.9.9:4000"] }, Date.now());
    const learned = Identity.generate().peerId;
    const conn = await sender.dial({ peerId: meshed.peerId, addresses: meshed.addresses });
    const frame = (addrs: (i: number) => string[], request: boolean) =>
      create(FrameSchema, { kind: { case: "peerAddresses", value: { peers: [recorded, learned].map((id, i) => ({ peerId: id.bytes, addrs: addrs(i) })), request } } });
    conn.sendControl(frame((i) => [`127.38.${i}.1:4000`], false));
    const got = nextEvent(meshed, "message");
    await conn.send("/test", new TextEncoder().encode("after the report"));
    await got;
    expect(meshed.peers.addressesOf(recorded.toString())).toEqual(["127.37.9.9:4000"]);
    expect(meshed.peers.addressesOf(learned.toString())).toEqual(["127.38.1.1:4000"]);
  });

  it("does not make again, without its origin, the record of a connected peer evicted meanwhile", async () => {
    const listener = await startManager({ listen: ["127.36.3.1:0"] });
    const peer = await startManager({ listen: ["127.36.4.1:0"] });
    const conn = await peer.dial({ peerId: listener.peerId, addresses: listener.addresses }, { localAddress: "127.36.4.1" });
    const id = peer.peerId.toString();
    expect(listener.peers.get(id)?.origin).toEqual({ kind: "inbound", group: "127.36.0.0/16" });
    // Evicted while connected (a flood of newcomers from its group would do it), then the connection ends.
    listener.peers.delete(id);
    const closed = nextEvent(listener, "connection:close");
    await conn.close();
    await closed;
    expect(listener.peers.has(id)).toBe(false);
  });

  it("ignores whole a PeerAddresses frame over its bounds (65 peers), and keeps the connection", async () => {
    const meshed = await startManager({ listen: ["127.33.3.1:0"], mesh: { targetOutbound: 0 } });
    const sender = await startManager({ listen: ["127.33.4.1:0"], capabilities: [{ name: PEER_EXCHANGE_CAPABILITY }] });
    let learnedEvents = 0;
    meshed.on("mesh:learned", () => learnedEvents++);
    const conn = await sender.dial({ peerId: meshed.peerId, addresses: meshed.addresses });
    const peers = Array.from({ length: 65 }, (_, i) => ({ peerId: Identity.generate().peerId.bytes, addrs: [`127.35.${i}.1:4000`] }));
    conn.sendControl(create(FrameSchema, { kind: { case: "peerAddresses", value: { peers, request: true } } }));
    const got = nextEvent(meshed, "message");
    await conn.send("/test", new TextEncoder().encode("after the frame"));
    await got;
    expect(learnedEvents).toBe(0);
    expect(meshed.peers.peerIds().filter((p) => p !== sender.peerId.toString())).toEqual([]);
    expect(conn.state).toBe("open");
  });
});
