import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeLengthPrefix,
  PREFIX_INCOMPLETE,
  PREFIX_MALFORMED,
  prefixBytesOf,
  prefixValueOf,
  readLengthPrefix,
  varintLength,
} from "../../src/wire/varint.js";

const read = (bytes: number[]) => readLengthPrefix(Uint8Array.from(bytes), 0, bytes.length);

describe("frame length prefixes", () => {
  it("round-trip every uint32 through the shortest encoding", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (n) => {
        const bytes = encodeLengthPrefix(n);
        expect(bytes.length).toBe(varintLength(n));
        const r = readLengthPrefix(bytes, 0, bytes.length);
        expect(prefixBytesOf(r)).toBe(bytes.length);
        expect(prefixValueOf(r)).toBe(n);
      }),
      { numRuns: 5_000 },
    );
  });

  it("accept the largest 5-byte value and reject a fifth byte above 0x0F", () => {
    expect(prefixValueOf(read([0xff, 0xff, 0xff, 0xff, 0x0f]))).toBe(0xffff_ffff);
    expect(read([0xff, 0xff, 0xff, 0xff, 0x10])).toBe(PREFIX_MALFORMED);
    expect(read([0x80, 0x80, 0x80, 0x80, 0x80])).toBe(PREFIX_MALFORMED);
  });

  it("reject overlong encodings whose last byte is 0x00 but accept a single 0x00", () => {
    expect(read([0x80, 0x00])).toBe(PREFIX_MALFORMED);
    expect(read([0x81, 0x80, 0x00])).toBe(PREFIX_MALFORMED);
    expect(read([0x80, 0x80, 0x80, 0x80, 0x00])).toBe(PREFIX_MALFORMED);
    expect(prefixValueOf(read([0x00]))).toBe(0);
  });

  it("report an unfinished prefix as incomplete", () => {
    expect(read([])).toBe(PREFIX_INCOMPLETE);
    expect(read([0x80])).toBe(PREFIX_INCOMPLETE);
    expect(read([0xff, 0xff, 0xff, 0xff])).toBe(PREFIX_INCOMPLETE);
  });
});
