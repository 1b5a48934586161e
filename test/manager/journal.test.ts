/**
 * The decision journal (src/manager/journal.ts): a bounded ring per class of decision, so a flood of refused
 * connections cannot push the bans, closes and trims an operator looks for out of it.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { DecisionJournal, type JournalEntry } from "../../src/manager/journal.js";
import { throwsWithCode } from "../helpers/error-code.js";

function entry(at: number, extra: Partial<JournalEntry> = {}): JournalEntry {
  return { at, kind: "refused", code: "CONNECTION_LIMIT", detail: `entry ${at}`, ...extra };
}

describe("a decision journal below capacity", () => {
  it("keeps every entry, oldest first", () => {
    const journal = new DecisionJournal(10);
    for (let i = 0; i < 3; i++) journal.record(entry(i));
    expect(journal.size).toBe(3);
    expect(journal.entries().map((e) => e.at)).toEqual([0, 1, 2]);
    expect(journal.dropped).toBe(0);
  });

  it("stores frozen copies, so later changes to the input do not leak in", () => {
    const journal = new DecisionJournal(4);
    const input = { ...entry(1), detail: "original" };
    journal.record(input);
    input.detail = "changed";
    const [stored] = journal.entries();
    expect(stored?.detail).toBe("original");
    expect(Object.isFrozen(stored)).toBe(true);
  });

  it("truncates very long details", () => {
    const journal = new DecisionJournal(1);
    journal.record(entry(0, { detail: "y".repeat(100_000) }));
    expect(journal.entries()[0]?.detail).toHaveLength(1000);
  });

  it("keeps no more of a long detail than it shows (the cut is not a view of the whole)", () => {
    const gc = (globalThis as { gc?: () => void }).gc as () => void;
    const journal = new DecisionJournal(100);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100; i++) journal.record(entry(i, { detail: `peer said: ${i}`.padEnd(100_000, "y") }));
    gc();
    gc();
    // Each 100,000-unit detail kept whole would be 10 MB in all; the shown 1,000 units are 0.1 MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(2_000_000);
    expect(journal.entries()[99]?.detail.startsWith("peer said: 99")).toBe(true);
  });
});

describe("a full decision journal", () => {
  it("never grows past its capacity and keeps the newest entries", () => {
    const journal = new DecisionJournal(5);
    for (let i = 0; i < 1003; i++) {
      journal.record(entry(i));
      expect(journal.size).toBe(Math.min(i + 1, 5));
    }
    expect(journal.entries().map((e) => e.at)).toEqual([998, 999, 1000, 1001, 1002]);
    expect(journal.dropped).toBe(998);
  });

  it("keeps only the newest 1024 of 200 000 records in its ring", () => {
    const journal = new DecisionJournal(1024);
    for (let i = 0; i < 200_000; i++) journal.record(entry(i));
    expect(journal.size).toBe(1024);
    expect(journal.entries()[0]?.at).toBe(200_000 - 1024);
  });

  it("keeps refusals apart: a flood of them leaves the bans and closes, and queries merge both in order", () => {
    const journal = new DecisionJournal(3);
    journal.record(entry(1, { kind: "banned", code: "BANNED" }));
    journal.record(entry(2, { kind: "closed", code: "normal" }));
    for (let i = 3; i < 1_003; i++) journal.record(entry(i));
    journal.record(entry(1_003, { kind: "opened", code: "ok" }));
    expect(journal.entries().map((e) => [e.at, e.kind])).toEqual([
      [1, "banned"],
      [2, "closed"],
      [1_000, "refused"],
      [1_001, "refused"],
      [1_002, "refused"],
      [1_003, "opened"],
    ]);
    expect(journal.size).toBe(6);
    expect(journal.dropped).toBe(997);
    expect(journal.query({ limit: 2 }).map((e) => e.at)).toEqual([1_002, 1_003]);
    expect(journal.query({ kind: "banned" }).map((e) => e.at)).toEqual([1]);
    // Past its own capacity, each class drops its own oldest.
    journal.record(entry(1_004, { kind: "trimmed", code: "x" }));
    journal.record(entry(1_005, { kind: "trimmed", code: "x" }));
    expect(journal.query({ kind: ["banned", "closed", "opened", "trimmed"] }).map((e) => e.at)).toEqual([1_003, 1_004, 1_005]);
  });

  it("starts empty again after clear", () => {
    const journal = new DecisionJournal(2);
    journal.record(entry(1));
    journal.record(entry(2));
    journal.record(entry(3));
    journal.clear();
    expect(journal.size).toBe(0);
    expect(journal.dropped).toBe(0);
    expect(journal.entries()).toEqual([]);
    journal.record(entry(4));
    expect(journal.entries().map((e) => e.at)).toEqual([4]);
  });

  it("rejects a capacity that is not a positive integer", () => {
    for (const capacity of [0, -1, 1.5, Number.NaN]) {
      throwsWithCode(() => new DecisionJournal(capacity), ErrorCode.INVALID_ARGUMENT);
    }
  });
});

describe("querying the decision journal", () => {
  function filled(): DecisionJournal {
    const journal = new DecisionJournal(100);
    journal.record(entry(1, { kind: "opened", peerId: "A", address: "1.2.3.4:4001", code: "ok" }));
    journal.record(entry(2, { kind: "refused", address: "1.2.3.4:5000", limit: "maxPerIp", value: 4 }));
    journal.record(entry(3, { kind: "banned", peerId: "B", address: "[2001:db8::1]:4001", code: "PEER_BANNED" }));
    journal.record(entry(4, { kind: "trimmed", peerId: "A", address: "1.2.3.4:4001", code: "network_restructure" }));
    journal.record(entry(5, { kind: "refused", address: "9.9.9.9:1", limit: "maxInbound", value: 96 }));
    return journal;
  }

  it("filters by peer id", () => {
    expect(filled().query({ peerId: "A" }).map((e) => e.at)).toEqual([1, 4]);
  });

  it("filters by kind or by several kinds", () => {
    expect(filled().query({ kind: "refused" }).map((e) => e.at)).toEqual([2, 5]);
    expect(filled().query({ kind: ["banned", "trimmed"] }).map((e) => e.at)).toEqual([3, 4]);
  });

  it("filters by exact address, or by IP across ports", () => {
    expect(filled().query({ address: "1.2.3.4:4001" }).map((e) => e.at)).toEqual([1, 4]);
    expect(filled().query({ address: "1.2.3.4" }).map((e) => e.at)).toEqual([1, 2, 4]);
    expect(filled().query({ address: "2001:DB8::1" }).map((e) => e.at)).toEqual([3]);
    expect(filled().query({ address: "nowhere:1" })).toEqual([]);
  });

  it("combines filters and keeps only the most recent matches with limit", () => {
    expect(filled().query({ address: "1.2.3.4", kind: ["opened", "refused", "trimmed"], limit: 2 }).map((e) => e.at)).toEqual([2, 4]);
    expect(filled().query({ since: 3 }).map((e) => e.at)).toEqual([3, 4, 5]);
    expect(filled().query({ limit: 0 })).toEqual([]);
  });

  it("keeps the limit and value fields that explain a refusal", () => {
    expect(filled().query({ kind: "refused", limit: 1 })[0]).toMatchObject({ limit: "maxInbound", value: 96 });
  });

  it("rejects a negative limit", () => {
    expect(() => filled().query({ limit: -1 })).toThrow(/limit/);
  });
});
