import { describe, expect, it } from "vitest";
import { truncateUtf8 } from "../../src/util/utf8.js";

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

describe("cutting text to a UTF-8 byte budget", () => {
  it("returns text that fits unchanged", () => {
    expect(truncateUtf8("", 0)).toBe("");
    expect(truncateUtf8("goodbye", 7)).toBe("goodbye");
    expect(truncateUtf8("é".repeat(10), 20)).toBe("é".repeat(10));
  });

  it("cuts long text to at most the budget, at a character boundary", () => {
    expect(truncateUtf8("x".repeat(2_000_000), 1024)).toBe("x".repeat(1024));
    // "é" is 2 bytes: 1023 bytes hold 511 of them, never half of the 512th.
    expect(truncateUtf8("é".repeat(600), 1023)).toBe("é".repeat(511));
    // "😀" is 4 bytes (a surrogate pair in UTF-16): 10 bytes hold two.
    expect(truncateUtf8("😀😀😀", 10)).toBe("😀😀");
    for (const budget of [0, 1, 2, 3, 5, 7]) {
      const cut = truncateUtf8("a😀é€b".repeat(3), budget);
      expect(utf8Length(cut)).toBeLessThanOrEqual(budget);
      expect(cut).not.toContain("\uFFFD");
    }
  });

  it("cuts where cutting the whole text's encoding would, however long the text", () => {
    // Only the first budget + 1 units are encoded: the result must not depend on what follows them.
    const reference = (text: string, maxBytes: number): string => {
      const bytes = new TextEncoder().encode(text);
      if (bytes.length <= maxBytes) return text;
      let end = maxBytes;
      while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
      return new TextDecoder().decode(bytes.subarray(0, end));
    };
    const pieces = ["a", "é", "€", "😀", "\uD83D", "\uDE00", "z"];
    let seed = 7;
    const next = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let run = 0; run < 2_000; run++) {
      const budget = next(40);
      let text = "";
      const length = next(3 * budget + 10);
      while (text.length < length) text += pieces[next(pieces.length)];
      expect(truncateUtf8(text, budget)).toBe(reference(text, budget));
    }
    const pairAtTheEdge = "x".repeat(1024) + "😀" + "y".repeat(5_000);
    expect(truncateUtf8(pairAtTheEdge, 1024)).toBe("x".repeat(1024));
    expect(truncateUtf8("x".repeat(1023) + "😀" + "y", 1024)).toBe("x".repeat(1023));
  });
});
