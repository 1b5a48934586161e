import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { propertyRuns } from "../helpers/property-runs.js";
import { decodeWith, referenceDecode, splitAt } from "./frame-fixtures.js";

describe("the WASM and JS frame decoders fed garbage", () => {
  it("deliver identical frames and errors for random garbage bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(), { maxLength: 4 }), (stream, cuts) => {
        const chunks = splitAt(stream, cuts);
        const expected = referenceDecode(stream, 1_048_576);
        expect(decodeWith("js", 1_048_576, chunks)).toEqual(expected);
        expect(decodeWith("wasm", 1_048_576, chunks)).toEqual(expected);
      }),
      { numRuns: propertyRuns(10_000) },
    );
  });
});
