/**
 * The CLI's inbound handshake failure lines (src/cli/failure-lines.ts), on a fake clock: a flood of connects
 * from unauthenticated hosts prints at most a burst and then one line a second, each saying how many it hid.
 */
import { describe, expect, it } from "vitest";
import { FailureLines } from "../../src/cli/failure-lines.js";

describe("inbound failure lines", () => {
  it("prints 10 at once, then 1 a second, the next printed one counting the failures not printed", () => {
    const lines = new FailureLines(0);
    const printed = Array.from({ length: 2_000 }, () => lines.admit(0));
    expect(printed.filter((u) => u !== undefined)).toEqual(Array.from({ length: 10 }, () => 0));
    expect(lines.admit(999)).toBeUndefined();
    // 1,990 hidden at once, 1 more just before the second was up.
    expect(lines.admit(1_000)).toBe(1_991);
    expect(lines.admit(1_000)).toBeUndefined();
    // After a quiet spell the burst is back.
    expect(Array.from({ length: 11 }, () => lines.admit(60_000))).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, undefined]);
  });
});
