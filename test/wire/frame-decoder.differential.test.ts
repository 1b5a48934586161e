import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arbFrame, arbFrameBody, concat, decodeWith, referenceDecode, splitAt } from "./frame-fixtures.js";

const MAX_SIZES = [1_048_576, 64, 8] as const;

describe("the WASM and JS frame decoders against the generated decoder", () => {
  it("deliver identical frames and errors for random frame streams split at random chunk boundaries", () => {
    fc.assert(
      fc.property(
        fc.array(arbFrame, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.constantFrom(...MAX_SIZES),
        (frames, cuts, maxFrameSize) => {
          const stream = concat(frames);
          const chunks = splitAt(stream, cuts);
          const expected = referenceDecode(stream, maxFrameSize);
          expect(decodeWith("js", maxFrameSize, chunks)).toEqual(expected);
          expect(decodeWith("wasm", maxFrameSize, chunks)).toEqual(expected);
        },
      ),
      { numRuns: 35_000 },
    );
  });

  it("deliver identical results for single random bodies fed one byte at a time", () => {
    fc.assert(
      fc.property(arbFrameBody, (body) => {
        const stream = concat([[body.length < 128 ? body.length : 0x80 | (body.length & 0x7f), ...(body.length < 128 ? [] : [body.length >> 7])], body]);
        const chunks = splitAt(stream, Array.from({ length: stream.length }, (_, i) => i));
        const expected = referenceDecode(stream, 1_048_576);
        expect(decodeWith("js", 1_048_576, chunks)).toEqual(expected);
        expect(decodeWith("wasm", 1_048_576, chunks)).toEqual(expected);
      }),
      { numRuns: 10_000 },
    );
  });
});
