import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { chooseSurvivor, compareBytes, keepConnectionDialedBy } from "../../src/manager/tie-break.js";
import { throwsWithCode } from "../helpers/error-code.js";

const bytes = (...values: number[]) => Uint8Array.from(values);

describe("comparing peer ids as unsigned bytes", () => {
  it("orders by the first differing byte, unsigned", () => {
    expect(compareBytes(bytes(1, 2), bytes(1, 3))).toBe(-1);
    expect(compareBytes(bytes(0x80), bytes(0x7f))).toBe(1);
    expect(compareBytes(bytes(0xff, 0), bytes(0xff, 0))).toBe(0);
  });

  it("sorts a proper prefix first", () => {
    expect(compareBytes(bytes(1, 2), bytes(1, 2, 0))).toBe(-1);
    expect(compareBytes(bytes(), bytes(0))).toBe(-1);
    expect(compareBytes(bytes(1, 2, 0), bytes(1, 2))).toBe(1);
  });

  it("is antisymmetric and agrees with Buffer.compare", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(compareBytes(a, b)).toBe(-compareBytes(b, a) || 0);
        expect(compareBytes(a, b)).toBe(Buffer.compare(a, b));
      }),
      { numRuns: 500 },
    );
  });
});

describe("deciding whose dial survives", () => {
  it("keeps the connection dialed by the peer with the smaller id", () => {
    expect(keepConnectionDialedBy(bytes(1), bytes(2))).toBe("local");
    expect(keepConnectionDialedBy(bytes(2), bytes(1))).toBe("remote");
  });

  it("refuses equal ids as a self-connection", () => {
    throwsWithCode(() => keepConnectionDialedBy(bytes(7, 7), bytes(7, 7)), ErrorCode.SELF_CONNECTION);
  });

  it("keeps the outbound connection on the side with the smaller id", () => {
    const out = { direction: "outbound" as const, name: "out" };
    const inb = { direction: "inbound" as const, name: "in" };
    expect(chooseSurvivor(bytes(1), bytes(2), out, inb)).toEqual({ keep: out, close: inb });
    expect(chooseSurvivor(bytes(1), bytes(2), inb, out)).toEqual({ keep: out, close: inb });
    expect(chooseSurvivor(bytes(2), bytes(1), out, inb)).toEqual({ keep: inb, close: out });
  });

  it("keeps the newer connection when both have the same direction (the peer redialed a stale one)", () => {
    const first = { direction: "inbound" as const, name: "first" };
    const second = { direction: "inbound" as const, name: "second" };
    expect(chooseSurvivor(bytes(1), bytes(2), first, second)).toEqual({ keep: second, close: first });
    expect(chooseSurvivor(bytes(2), bytes(1), first, second)).toEqual({ keep: second, close: first });
  });
});

describe("a simultaneous dial seen from both sides", () => {
  it("makes both peers keep the same physical connection, whatever order each saw them in", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        (idA, idB, aSawOwnDialFirst, bSawOwnDialFirst) => {
          fc.pre(compareBytes(idA, idB) !== 0);
          // Two physical connections: one dialed by A, one dialed by B.
          const dialedByA = "A→B";
          const dialedByB = "B→A";
          // Each side's view of them.
          const atA = { own: { direction: "outbound" as const, wire: dialedByA }, theirs: { direction: "inbound" as const, wire: dialedByB } };
          const atB = { own: { direction: "outbound" as const, wire: dialedByB }, theirs: { direction: "inbound" as const, wire: dialedByA } };
          const pick = (local: Uint8Array, remote: Uint8Array, view: typeof atA, ownFirst: boolean) =>
            ownFirst ? chooseSurvivor(local, remote, view.own, view.theirs) : chooseSurvivor(local, remote, view.theirs, view.own);
          const choiceA = pick(idA, idB, atA, aSawOwnDialFirst);
          const choiceB = pick(idB, idA, atB, bSawOwnDialFirst);
          expect(choiceA.keep.wire).toBe(choiceB.keep.wire);
          expect(choiceA.close.wire).toBe(choiceB.close.wire);
          expect(choiceA.keep.wire).toBe(compareBytes(idA, idB) < 0 ? dialedByA : dialedByB);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
