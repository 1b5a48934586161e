import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../../src/errors.js";
import type { BanEntry } from "../../../src/manager/ban-list.js";
import type { LimitRefusal } from "../../../src/manager/connection-limits.js";
import { addressesToRecord, decideAdoption, MAX_RECORDED_ADDRESSES } from "../../../src/node/core/adoption.js";
import { DisconnectReason } from "../../../src/reasons.js";

const LOCAL = new Uint8Array(32).fill(1);
const REMOTE = new Uint8Array(32).fill(2);
const BAN: BanEntry = { key: "peer:p", kind: "peer", value: "p", reason: "private note", createdAt: 0, expiresAt: 10, offences: 1 };
const FULL: LimitRefusal = { reason: "inbound_full", direction: "inbound", limit: 1, current: 1, option: "maxInbound" };

function input(over: Partial<Parameters<typeof decideAdoption>[0]> = {}) {
  return {
    running: true,
    ban: undefined,
    existing: undefined,
    incoming: { direction: "inbound" as const },
    localId: LOCAL,
    remoteId: REMOTE,
    capacity: undefined,
    capacityRetryAfterMs: 30_000,
    ...over,
  };
}

describe("the adoption verdict", () => {
  it("checks stopping, then bans, then duplicates, then capacity", () => {
    const existing = { direction: "outbound" as const };
    expect(decideAdoption(input({ running: false, ban: BAN, capacity: FULL }))).toMatchObject({ kind: "refuse", code: ErrorCode.STOPPED });
    expect(decideAdoption(input({ ban: BAN, existing, capacity: FULL }))).toMatchObject({ kind: "refuse", reason: DisconnectReason.PEER_BANNED });
    // A duplicate adds no connection: it is resolved even when the node is full.
    expect(decideAdoption(input({ existing, capacity: FULL })).kind).not.toBe("refuse");
    expect(decideAdoption(input({ capacity: FULL }))).toMatchObject({ kind: "refuse", reason: DisconnectReason.RESOURCE_CONSTRAINT, retryAfterMs: 30_000 });
    expect(decideAdoption(input())).toEqual({ kind: "keep", close: undefined });
  });

  it("never puts the ban's own reason on the wire, only its public text", () => {
    const verdict = decideAdoption(input({ ban: BAN }));
    expect(verdict.kind === "refuse" && verdict.goodbyeDetail).toBeUndefined();
    expect(verdict.kind === "refuse" && verdict.detail).toContain("private note");
    const open = decideAdoption(input({ ban: { ...BAN, publicReason: "spam" } }));
    expect(open.kind === "refuse" && open.goodbyeDetail).toBe("spam");
  });

  it("keeps the connection dialed by the smaller id in a simultaneous dial, on both sides alike", () => {
    const inbound = { direction: "inbound" as const };
    const outbound = { direction: "outbound" as const };
    // Local id 0x01… < remote 0x02…: the connection this side dialed (outbound) survives.
    expect(decideAdoption(input({ existing: outbound, incoming: inbound }))).toEqual({ kind: "duplicate" });
    expect(decideAdoption(input({ existing: inbound, incoming: outbound }))).toEqual({ kind: "keep", close: inbound });
  });
});

describe("the addresses recorded from a Hello", () => {
  it("binds the unspecified address to the IP the peer came from, refuses other scopes and others' addresses", () => {
    const owner = (a: string): string | undefined => (a === "203.0.113.9:4001" ? "someone-else" : undefined);
    const recorded = addressesToRecord(
      "p",
      ["0.0.0.0:4001", "127.0.0.1:22", "203.0.113.9:4001", "198.51.100.7:4001", "not an address"],
      { direction: "inbound", remoteAddress: "198.51.100.7:50000" },
      owner,
      () => false,
    );
    expect(recorded).toEqual(["198.51.100.7:4001"]);
  });

  it("takes an address whose owner's claim does not hold only for the peer that connected from that IP", () => {
    const address = "198.51.100.7:4001";
    const owner = (a: string): string | undefined => (a === address ? "someone-else" : undefined);
    const from = (remoteAddress: string, held: boolean): string[] =>
      addressesToRecord("p", [address], { direction: "inbound", remoteAddress }, owner, (o, a) => {
        expect([o, a]).toEqual(["someone-else", address]);
        return held;
      });
    expect(from("198.51.100.7:50000", false)).toEqual([address]);
    // The owner was reached there, or connected here: only a dial that reaches the newcomer there moves it.
    expect(from("198.51.100.7:50000", true)).toEqual([]);
    // Another IP: a claim against a claim, the first one stays.
    expect(from("198.51.100.8:50000", false)).toEqual([]);
  });

  it(`records at most ${MAX_RECORDED_ADDRESSES}`, () => {
    const many = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 1}:4001`);
    expect(addressesToRecord("p", many, { direction: "outbound", remoteAddress: "198.51.100.1:4001" }, () => undefined, () => true)).toHaveLength(MAX_RECORDED_ADDRESSES);
  });
});
