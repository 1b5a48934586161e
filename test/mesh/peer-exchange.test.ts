/**
 * Peer exchange, sans-IO: what this node sends (bounded, never the receiver), what it keeps of a received
 * frame (32 peers, 4 addresses each, well-formed ids, addresses the sender may advertise, no address moved from
 * the peer that owns it), and the per-connection gate (one frame used per 10 s, the answer to a request always).
 */
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { PeerAddressesSchema } from "../../generated/peerlink/v1/peer_exchange_pb.js";
import { Identity } from "../../src/identity/identity.js";
import { buildPeerAddresses, ExchangeGate, readPeerAddresses } from "../../src/mesh/peer-exchange.js";

const ids = Array.from({ length: 40 }, () => Identity.generate().peerId);

describe("buildPeerAddresses", () => {
  it("sends connected peers first, at most maxPeers, never the receiver, at most 4 addresses each", () => {
    const connected = ids.slice(0, 3).map((id, i) => ({ peerId: id.toString(), addresses: Array.from({ length: 6 }, (_, k) => `10.0.${i}.${k}:1`) }));
    const others = ids.slice(3, 20).map((id) => ({ peerId: id.toString(), addresses: ["10.9.9.9:1"] }));
    const frame = buildPeerAddresses({ connected, others }, ids[1]!.toString(), 5, true, () => 0.3);
    expect(frame.kind.case).toBe("peerAddresses");
    const value = frame.kind.value as { peers: { peerId: Uint8Array; addrs: string[] }[]; request: boolean };
    expect(value.request).toBe(true);
    expect(value.peers).toHaveLength(5);
    const sent = value.peers.map((p) => Buffer.from(p.peerId).toString("hex"));
    const hex = (i: number): string => Buffer.from(ids[i]!.bytes).toString("hex");
    expect(sent.slice(0, 2).sort()).toEqual([hex(0), hex(2)].sort());
    expect(sent).not.toContain(hex(1));
    for (const p of value.peers) expect(p.addrs.length).toBeLessThanOrEqual(4);
  });
});

describe("readPeerAddresses", () => {
  const self = ids[0]!.toString();
  const sender = ids[1]!.toString();

  it("reads at most 32 peers and 4 addresses of each, skipping bad ids, this node and the sender", () => {
    const peers = [
      { peerId: new Uint8Array(5), addrs: ["127.0.0.1:1"] },
      { peerId: ids[0]!.bytes, addrs: ["127.0.0.1:2"] },
      { peerId: ids[1]!.bytes, addrs: ["127.0.0.1:3"] },
      ...ids.slice(2).map((id, i) => ({ peerId: id.bytes, addrs: Array.from({ length: 9 }, (_, k) => `127.1.${i}.${k}:4000`) })),
    ];
    const read = readPeerAddresses(create(PeerAddressesSchema, { peers }), { self, sender, senderAddress: "127.0.0.1", ownerOf: () => undefined });
    // 32 entries are read; three of them are skipped.
    expect(read).toHaveLength(29);
    expect(read.map((p) => p.peerId)).not.toContain(self);
    expect(read.map((p) => p.peerId)).not.toContain(sender);
    for (const p of read) expect(p.addresses).toHaveLength(4);
  });

  it("keeps only the addresses the sender may advertise, and none that another known peer owns", () => {
    const message = create(PeerAddressesSchema, {
      peers: [
        { peerId: ids[5]!.bytes, addrs: ["127.0.0.1:22", "10.0.0.5:6379", "203.0.113.7:4001", "not an address", "198.51.100.1:4001"] },
        { peerId: ids[6]!.bytes, addrs: ["203.0.113.9:4001"] },
      ],
    });
    const owners: Record<string, string> = { "198.51.100.1:4001": ids[7]!.toString() };
    const read = readPeerAddresses(message, { self, sender, senderAddress: "192.0.2.10", ownerOf: (a) => owners[a] });
    // A public sender cannot plant loopback or private addresses, and cannot move an address owned by another peer.
    expect(read).toEqual([
      { peerId: ids[5]!.toString(), addresses: ["203.0.113.7:4001"] },
      { peerId: ids[6]!.toString(), addresses: ["203.0.113.9:4001"] },
    ]);
  });
});

describe("ExchangeGate", () => {
  it("uses one frame per 10 s, answers one request per 10 s, and always uses the answer to its own request", () => {
    const gate = new ExchangeGate();
    expect(gate.receive(false, 0)).toEqual({ use: true, answer: false });
    expect(gate.receive(true, 5_000)).toEqual({ use: false, answer: true });
    expect(gate.receive(true, 9_999)).toEqual({ use: false, answer: false });
    expect(gate.receive(false, 10_000)).toEqual({ use: true, answer: false });
    expect(gate.mayRequest(11_000)).toBe(true);
    expect(gate.mayRequest(12_000)).toBe(false);
    expect(gate.receive(false, 12_000)).toEqual({ use: true, answer: false });
    expect(gate.receive(false, 12_001)).toEqual({ use: false, answer: false });
    expect(gate.mayRequest(21_000)).toBe(true);
  });
});
