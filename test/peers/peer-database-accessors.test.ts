// The peer database's in-place readers agree with the copied record of get().
import { describe, expect, it } from "vitest";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";

describe("in-place readers", () => {
  it("hasProvenAddress is true only for an address a dial succeeded at", () => {
    const d = new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0 });
    d.addAddress("a", "10.0.0.1:4001", 1);
    d.addAddress("a", "10.0.0.2:4001", 1);
    expect(d.hasProvenAddress("a", "10.0.0.1:4001")).toBe(false);
    d.recordDialSuccess("a", "10.0.0.1:4001", 5);
    expect(d.hasProvenAddress("a", "10.0.0.1:4001")).toBe(true);
    expect(d.hasProvenAddress("a", "10.0.0.2:4001")).toBe(false);
    expect(d.hasProvenAddress("a", "10.0.0.9:4001")).toBe(false);
    expect(d.hasProvenAddress("b", "10.0.0.1:4001")).toBe(false);
  });

  it("lastAddressFailure reads the time of the last failed dial at the address", () => {
    const d = new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0 });
    d.addAddress("a", "10.0.0.1:4001", 1);
    expect(d.lastAddressFailure("a", "10.0.0.1:4001")).toBeUndefined();
    d.recordDialFailure("a", "10.0.0.1:4001", 7);
    d.recordDialFailure("a", "10.0.0.1:4001", 9);
    expect(d.lastAddressFailure("a", "10.0.0.1:4001")).toBe(9);
    expect(d.lastAddressFailure("a", "10.0.0.1:4001")).toBe(d.get("a")?.addresses[0]?.lastFailure);
    expect(d.lastAddressFailure("nobody", "10.0.0.1:4001")).toBeUndefined();
  });
});
