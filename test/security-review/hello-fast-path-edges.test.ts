/**
 * Security review of the Hello fast path (src/wire/hello-fast-path.ts): it must never decode a body
 * differently from the generated protobuf-es decoder. The existing property test encodes Hellos with a
 * canonical encoder and corrupts bytes at random; this one writes the Hello field by field in the
 * encodings a hostile peer would choose: overlong and out-of-range varints (5 to 10 bytes), fields repeated
 * (last one wins), `versions` packed and unpacked in one message, empty packed runs, enums at 2^31, bools
 * other than 0/1, strings with a BOM, lone surrogates and overlong UTF-8, wrong wire types, nested lengths
 * running past their parent. Where the fast path decodes, the result must equal the generated decoder's.
 */
import { equals, fromBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { decodeHelloFrame } from "../../src/wire/hello-fast-path.js";
import { propertyRuns } from "../helpers/property-runs.js";

/** A varint of `value` (up to 2^64-1 as bigint), optionally padded to `length` bytes (overlong form). */
function varint(value: bigint, length = 0): number[] {
  const out: number[] = [];
  let v = value;
  do {
    out.push(Number(v & 0x7fn));
    v >>= 7n;
  } while (v > 0n);
  while (out.length < length) out.push(0);
  for (let i = 0; i < out.length - 1; i++) out[i] = (out[i] as number) | 0x80;
  return out;
}

const varintValue = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 3n, 127n, 128n, 0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn, 0x1_0000_0000n, 0xffff_ffff_ffff_ffffn),
  fc.bigInt({ min: 0n, max: 0xffff_ffffn }),
  fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
);
/** A varint in canonical or overlong form (up to 10 bytes). */
const anyVarint = fc.tuple(varintValue, fc.integer({ min: 0, max: 10 })).map(([v, pad]) => varint(v, pad));

const utf8Bytes: fc.Arbitrary<number[]> = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 12 }).map((s) => [...new TextEncoder().encode(s)]),
  fc.constantFrom<number[]>(
    [0xef, 0xbb, 0xbf, 0x61], // BOM then "a"
    [0xef, 0xbb, 0xbf],
    [0xed, 0xa0, 0x80], // lone surrogate
    [0xc0, 0x80], // overlong NUL
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0xe2, 0x82], // truncated
    [0xff],
  ),
);

/** A length-delimited field: tag byte, length, contents; sometimes with a lying length. */
function delimited(tag: number, body: fc.Arbitrary<number[]>): fc.Arbitrary<number[]> {
  return fc.tuple(body, fc.integer({ min: -2, max: 2 }), fc.boolean()).map(([b, lie, honest]) => {
    const length = honest ? b.length : Math.max(0, b.length + lie);
    return [tag, ...varint(BigInt(length)), ...b];
  });
}

const protocolField = fc.oneof(
  delimited(0x0a, utf8Bytes),
  anyVarint.map((v) => [0x10, ...v]),
  delimited(0x12, fc.array(anyVarint, { maxLength: 4 }).map((vs) => vs.flat())),
  anyVarint.map((v) => [0x18, ...v]),
  fc.constantFrom([0x08, 0x01], [0x1a, 0x00], [0x80, 0x01, 0x00]),
);
const capabilityField = fc.oneof(
  delimited(0x0a, utf8Bytes),
  anyVarint.map((v) => [0x10, ...v]),
  anyVarint.map((v) => [0x18, ...v]),
  fc.constantFrom([0x1a, 0x00], [0x20, 0x00]),
);
const bytesValue = fc.uint8Array({ maxLength: 40 }).map((b) => [...b]);

const helloField = fc.oneof(
  anyVarint.map((v) => [0x08, ...v]),
  anyVarint.map((v) => [0x10, ...v]),
  delimited(0x1a, bytesValue),
  anyVarint.map((v) => [0x20, ...v]),
  delimited(0x2a, bytesValue),
  delimited(0x32, bytesValue),
  delimited(0x3a, fc.array(protocolField, { maxLength: 5 }).map((fs) => fs.flat())),
  delimited(0x42, fc.array(capabilityField, { maxLength: 4 }).map((fs) => fs.flat())),
  delimited(0x4a, utf8Bytes),
  anyVarint.map((v) => [0x50, ...v]),
  delimited(0x5a, bytesValue),
  anyVarint.map((v) => [0x60, ...v]),
  delimited(0x6a, utf8Bytes),
  // Wrong wire types for known fields, an unknown field, a two-byte tag of a known field.
  fc.constantFrom([0x0a, 0x00], [0x0d, 0, 0, 0, 0], [0x78, 0x01], [0x88, 0x00, 0x01], [0x62, 0x00]),
);

function generic(body: Uint8Array): Frame | undefined {
  try {
    return fromBinary(FrameSchema, body);
  } catch {
    return undefined;
  }
}

describe("the Hello fast path on hostile encodings", () => {
  it("either gives up or decodes exactly what the generated decoder decodes", () => {
    let decided = 0;
    fc.assert(
      fc.property(fc.array(helloField, { maxLength: 16 }), fc.boolean(), (fields, honestOuter) => {
        const inner = fields.flat();
        const outerLength = honestOuter ? inner.length : inner.length + 1;
        const body = Uint8Array.from([0x22, ...varint(BigInt(outerLength)), ...inner]);
        const fast = decodeHelloFrame(body);
        if (fast === undefined) return;
        decided++;
        const slow = generic(body);
        expect(slow, "the generated decoder rejects what the fast path accepted").toBeDefined();
        expect(equals(FrameSchema, fast, slow as Frame)).toBe(true);
      }),
      { numRuns: propertyRuns(3000) },
    );
    expect(decided).toBeGreaterThan(100);
  });
});
