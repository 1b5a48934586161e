// A dial answered at an address by another identity than the one expected, over real sockets: the address goes
// to the identity that proved its key there (recorded as one that put itself here, in the address's network
// group), and the peer that is back at the address takes it again by connecting from that IP.
import { afterEach, describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/identity.js";
import { cleanup, nextEvent, startManager } from "../manager/fixtures.js";

afterEach(cleanup);

describe("an address where another identity answered", () => {
  it("is recorded under the identity that answered, in the address's group, and leaves the one expected", async () => {
    const old = await startManager({ listen: ["127.36.1.1:0"] });
    const address = old.addresses[0]!;
    const oldId = old.peerId.toString();
    await old.stop();
    const renewed = await startManager({ listen: [address] });
    const node = await startManager({ listen: ["127.36.2.1:0"] });
    // The application's own record of the old identity: the identity that answered gets no share of its standing.
    node.peers.upsert(oldId, { addresses: [address] }, Date.now());

    await expect(node.dial({ peerId: old.peerId, addresses: [address] })).rejects.toMatchObject({ code: "IDENTITY_MISMATCH" });
    const renewedId = renewed.peerId.toString();
    expect(node.peers.resolvePeerId(address)).toBe(renewedId);
    expect(node.peers.addressesOf(oldId)).toEqual([]);
    expect(node.peers.originOf(renewedId)).toEqual({ kind: "inbound", group: "127.36.0.0/16" });
    // Not reached there: a claim, not a proven address.
    expect(node.peers.hasProvenAddress(renewedId, address)).toBe(false);
  });

  it("goes back to the peer that proves its key from that IP, as long as the other one was never reached nor connected", async () => {
    const identity = Identity.generate();
    const first = await startManager({ identity, listen: ["127.36.3.1:0"] });
    const address = first.addresses[0]!;
    await first.stop();
    // Another host holds the IP and port for a while, and answers one dial there.
    const squatter = await startManager({ listen: [address] });
    const node = await startManager({ listen: ["127.36.4.1:0"] });
    node.peers.upsert(identity.peerId.toString(), { addresses: [address] }, Date.now());
    await expect(node.dial({ peerId: identity.peerId, addresses: [address] })).rejects.toMatchObject({ code: "IDENTITY_MISMATCH" });
    expect(node.peers.resolvePeerId(address)).toBe(squatter.peerId.toString());
    await squatter.stop();

    // The peer is back at its address and connects from that IP: its Hello lists the address.
    const back = await startManager({ identity, listen: [address] });
    const opened = nextEvent(node, "connection:open", ({ connection }) => connection.remotePeer.equals(identity.peerId));
    await back.dial({ peerId: node.peerId, addresses: node.addresses }, { localAddress: "127.36.3.1" });
    await opened;
    expect(node.peers.resolvePeerId(address)).toBe(identity.peerId.toString());
    expect(node.peers.addressesOf(squatter.peerId.toString())).toEqual([]);
  });

  it("stays with the identity a dial reached there: another identity's Hello from that IP does not take it", async () => {
    const first = await startManager({ listen: ["127.36.5.1:0"] });
    const address = first.addresses[0]!;
    const node = await startManager({ listen: ["127.36.6.1:0"] });
    await node.dial({ peerId: first.peerId, addresses: [address] });
    expect(node.peers.hasProvenAddress(first.peerId.toString(), address)).toBe(true);
    await first.stop();

    // Another identity listens at the address now and connects from that IP: its Hello lists the address.
    const other = await startManager({ listen: [address] });
    const opened = nextEvent(node, "connection:open", ({ connection }) => connection.remotePeer.equals(other.peerId));
    await other.dial({ peerId: node.peerId, addresses: node.addresses }, { localAddress: "127.36.5.1" });
    await opened;
    expect(node.peers.resolvePeerId(address)).toBe(first.peerId.toString());
  });
});
