/**
 * A prefix kept for long must not keep the long text it was cut from (V8 makes a cut of 13 or more units a view
 * of the original).
 */
import { describe, expect, it } from "vitest";
import { keptPrefix } from "../../src/util/kept-text.js";

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap growth (bytes) from keeping `keep(text)` for each of `count` distinct 100,000-unit texts. */
function heapGrowthKeeping(keep: (text: string) => string, count = 100): number {
  if (gc === undefined) throw new Error("run with --expose-gc (vitest.config.ts passes it)");
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept: string[] = [];
  for (let i = 0; i < count; i++) kept.push(keep(`${i}:`.padEnd(100_000, "z")));
  gc();
  gc();
  const growth = process.memoryUsage().heapUsed - before;
  expect(kept).toHaveLength(count);
  return growth;
}

describe("a kept prefix", () => {
  it("is the text's first units, every unit kept (a lone surrogate too), and the text itself when it fits", () => {
    expect(keptPrefix("goodbye", 100)).toBe("goodbye");
    expect(keptPrefix("x".repeat(5_000), 1_000)).toBe("x".repeat(1_000));
    const odd = "a\uD83D" + "é".repeat(40) + "\uDE00b";
    expect(keptPrefix(odd, 2)).toBe("a\uD83D");
    expect(keptPrefix(odd + "c".repeat(100), 43)).toBe(odd.slice(0, 43));
  });

  it("does not keep the long text it was cut from alive", () => {
    // A plain slice keeps each 100,000-unit original: about 10 MB for 100 kept prefixes.
    expect(heapGrowthKeeping((text) => text.slice(0, 1_000))).toBeGreaterThan(5_000_000);
    expect(heapGrowthKeeping((text) => keptPrefix(text, 1_000))).toBeLessThan(1_000_000);
  });
});
