// PeerDatabase.update: upsert without handing back a copy; upsert's copy stays independent of the record.
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";
import { throwsWithCode } from "../helpers/error-code.js";

const db = (): PeerDatabase => new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0 });

describe("PeerDatabase.update", () => {
  it("creates the peer and applies the fields exactly as upsert does", () => {
    const a = db();
    const b = db();
    const fields = { lastSeen: 50, addresses: ["127.0.0.1:4001", "[::1]:4002"], capabilities: ["x", "y"] };
    expect(a.update("p", fields, 10)).toBeUndefined();
    b.upsert("p", fields, 10);
    expect(a.get("p")).toEqual(b.get("p"));
    expect(a.resolvePeerId("[::1]:4002")).toBe("p");
    a.update("p", { capabilities: ["z"], lastSeen: 60 }, 20);
    expect(a.get("p")).toMatchObject({ capabilities: ["z"], lastSeen: 60 });
  });

  it("validates like upsert (INVALID_ARGUMENT, nothing applied)", () => {
    const a = db();
    throwsWithCode(() => a.update("p", { addresses: ["not an address"] }, 10), ErrorCode.INVALID_ARGUMENT);
    expect(a.get("p")?.addresses ?? []).toEqual([]);
  });

  it("leaves upsert's returned copy independent of the record", () => {
    const a = db();
    const copy = a.upsert("p", { capabilities: ["x"], addresses: ["127.0.0.1:1"] }, 10);
    a.update("p", { capabilities: ["changed"], addresses: ["127.0.0.1:2"] }, 20);
    expect(copy.capabilities).toEqual(["x"]);
    expect(copy.addresses.map((x) => x.address)).toEqual(["127.0.0.1:1"]);
  });
});

describe("new records", () => {
  it("start empty and each get a history, capabilities and backoff of its own, in copies that can be changed", () => {
    const d = db();
    d.update("a", { capabilities: [] }, 1);
    d.update("b", { capabilities: [] }, 1);
    d.recordDisconnection("a", { reason: "normal", direction: "inbound", initiator: "remote", at: 5 });
    d.setCapabilities("a", ["x"]);
    d.setBackoff("a", { attempt: 2, nextAttemptAt: 9 });
    expect(d.get("a")).toMatchObject({ capabilities: ["x"], backoff: { attempt: 2, nextAttemptAt: 9 } });
    expect(d.get("a")?.disconnections.map((x) => x.at)).toEqual([5]);
    expect(d.get("b")).toMatchObject({ disconnections: [], capabilities: [], backoff: { attempt: 0 } });
    const copy = d.get("b")!;
    copy.disconnections.push({ at: 1, reason: "normal", direction: "inbound", initiator: "local" });
    copy.capabilities.push("y");
    copy.backoff.attempt = 3;
    expect(d.get("b")).toMatchObject({ disconnections: [], capabilities: [], backoff: { attempt: 0 } });
    d.setCapabilities("a", []);
    expect(d.get("a")?.capabilities).toEqual([]);
    d.recordDisconnection("b", { reason: "normal", direction: "outbound", initiator: "local", at: 7 });
    expect(d.get("a")?.disconnections.map((x) => x.at)).toEqual([5]);
    expect(d.get("b")?.disconnections.map((x) => x.at)).toEqual([7]);
  });
});
