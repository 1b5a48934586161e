import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { createPeerRecord, isHostPort, parsePeerRecord, type PeerRecord } from "../../src/peers/peer-record.js";
import { throwsWithCode } from "../helpers/error-code.js";

function fullRecord(): PeerRecord {
  return {
    peerId: "peer-a",
    addresses: [{ address: "10.0.0.1:4001", failures: 1, lastSuccess: 5, lastFailure: 6 }],
    addedAt: 1,
    lastSeen: 6,
    disconnections: [{ at: 6, reason: "rate_limited", direction: "inbound", initiator: "remote", retryAfterMs: 100 }],
    backoff: { attempt: 2, nextAttemptAt: 90 },
    protected: true,
    capabilities: ["peerlink/ping/1"],
    healthy: false,
  };
}

describe("a peer record read from disk", () => {
  it("survives a JSON round trip with every field", () => {
    const record = fullRecord();
    expect(parsePeerRecord(JSON.parse(JSON.stringify(record)))).toEqual(record);
  });

  it("may omit the optional fields", () => {
    const record = createPeerRecord("peer-b", 3);
    expect(parsePeerRecord(JSON.parse(JSON.stringify(record)))).toEqual(record);
  });

  it("drops unknown fields", () => {
    expect(parsePeerRecord({ ...fullRecord(), surprise: 1 })).toEqual(fullRecord());
  });

  const wrongShapes: Array<[string, (r: Record<string, unknown>) => unknown]> = [
    ["not an object", () => "peer"],
    ["an array", () => []],
    ["a numeric peer id", (r) => ({ ...r, peerId: 7 })],
    ["an empty peer id", (r) => ({ ...r, peerId: "" })],
    ["addresses that are not an array", (r) => ({ ...r, addresses: {} })],
    ["an address without a port", (r) => ({ ...r, addresses: [{ address: "10.0.0.1", failures: 0 }] })],
    ["negative failures", (r) => ({ ...r, addresses: [{ address: "10.0.0.1:1", failures: -1 }] })],
    ["fractional failures", (r) => ({ ...r, addresses: [{ address: "10.0.0.1:1", failures: 0.5 }] })],
    ["a string time", (r) => ({ ...r, lastSeen: "yesterday" })],
    ["an unknown disconnect reason", (r) => ({ ...r, disconnections: [{ at: 1, reason: "bored", direction: "inbound", initiator: "local" }] })],
    ["a bad direction", (r) => ({ ...r, disconnections: [{ at: 1, reason: "normal", direction: "sideways", initiator: "local" }] })],
    ["a bad initiator", (r) => ({ ...r, disconnections: [{ at: 1, reason: "normal", direction: "inbound", initiator: "both" }] })],
    ["a missing backoff", (r) => ({ ...r, backoff: undefined })],
    ["a non-boolean protected flag", (r) => ({ ...r, protected: "yes" })],
    ["a non-string capability", (r) => ({ ...r, capabilities: [1] })],
    ["a non-boolean healthy flag", (r) => ({ ...r, healthy: 1 })],
    ["an infinite time", (r) => ({ ...r, addedAt: Number.POSITIVE_INFINITY })],
  ];

  it.each(wrongShapes)("with %s is rejected as DATABASE_CORRUPT", (_, mutate) => {
    const value = mutate(fullRecord() as unknown as Record<string, unknown>);
    throwsWithCode(() => parsePeerRecord(value, "peers[0]"), ErrorCode.DATABASE_CORRUPT);
  });
});

describe("host:port addresses", () => {
  it.each(["127.0.0.1:4001", "example.com:1", "node-1.internal:65535", "[::1]:4001", "[fe80::1%eth0]:9"])(
    "%s is accepted",
    (address) => expect(isHostPort(address)).toBe(true),
  );

  it.each(["127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "::1:4001", "[::1]", "[]:1", "a b:1", "-x:1", ":1", 4001])(
    "%s is rejected",
    (address) => expect(isHostPort(address)).toBe(false),
  );
});
