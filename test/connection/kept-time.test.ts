// Times a connection keeps for its life are stored as small offsets: every time must come back exactly.
import { describe, expect, it } from "vitest";
import { keepTime, readTime } from "../../src/connection/kept-time.js";

describe("kept times", () => {
  it("keep a clock time of this process as a small integer (an int32: a Smi in V8, not a heap number)", () => {
    const now = Date.now();
    for (const t of [now, now + 5_000, now - 86_400_000, now + 20 * 86_400_000]) {
      const kept = keepTime(t);
      expect(typeof kept).toBe("number");
      expect((kept as number) | 0).toBe(kept);
      expect(readTime(kept)).toBe(t);
    }
  });

  it("give back any other time exactly: fake clocks, fractions, far times, infinities and NaN", () => {
    const now = Date.now();
    const times = [0, 1_000, -5, 0.1, 1234.5678, now + 0.3, performance.now(), now * 3 + 0.7, 2 ** 53 - 1, -(2 ** 52) + 0.5, 1e300, Infinity, -Infinity, NaN];
    for (const t of times) expect(readTime(keepTime(t))).toBe(t);
  });
});
