// The Hello fast path must decode exactly what the generated decoder decodes, and give up (undefined) rather
// than differ: checked on random Hellos and on random corruptions of them.
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { encodeHelloFrame } from "../../src/handshake/hello-encoder.js";
import { genericHelloFrame, helloArbitrary } from "../helpers/hello-arbitrary.js";
import { decodeHelloFrame } from "../../src/wire/hello-fast-path.js";

const hello = helloArbitrary({ unit: "grapheme", names: 20, addrs: 30, agent: 40, lists: 4 });

function generic(body: Uint8Array): Frame | undefined {
  try {
    return fromBinary(FrameSchema, body);
  } catch {
    return undefined;
  }
}

/** A corruption of `body`: bytes flipped, inserted, removed or cut off. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant("remove" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
);

type Mutation = { readonly kind: string; readonly at: number; readonly value?: number | Uint8Array; readonly length?: number };

function mutate(body: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(body);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === "flip") b[at] = m.value as number;
    else if (m.kind === "insert") b = Uint8Array.from([...b.subarray(0, at), ...(m.value as Uint8Array), ...b.subarray(at)]);
    else if (m.kind === "remove") b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + (m.length as number))]);
    else b = b.slice(0, at);
  }
  return b;
}

/** The Hello bytes inside a Frame{hello} body: after the tag byte and the length varint. */
function innerOf(body: Uint8Array): Uint8Array {
  let i = 1;
  while ((body[i] as number) >= 0x80) i++;
  return body.subarray(i + 1);
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return out;
}

describe("the Hello fast path", () => {
  it("decodes every Hello the generated encoder writes, equal to the generated decoder's result", () => {
    fc.assert(
      fc.property(hello, (fields) => {
        const body = genericHelloFrame(fields);
        const fast = decodeHelloFrame(body);
        expect(fast).toBeDefined();
        expect(equals(FrameSchema, fast as Frame, fromBinary(FrameSchema, body))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it("takes peerlink's own Hellos (the hand-written encoder's output)", () => {
    fc.assert(
      fc.property(hello, (fields) => {
        expect(decodeHelloFrame(encodeHelloFrame(fields).body)).toBeDefined();
      }),
      { numRuns: 200 },
    );
  });

  it("on corrupted input, either gives up or agrees with the generated decoder", () => {
    let decided = 0;
    fc.assert(
      fc.property(hello, fc.array(mutation, { minLength: 1, maxLength: 3 }), (fields, ms) => {
        // Corrupt the Hello inside, then frame it with its new length (a wrong outer length is rejected early).
        const { body: original } = encodeHelloFrame(fields);
        const inner = mutate(innerOf(original), ms);
        const body = Uint8Array.from([0x22, ...varint(inner.length), ...inner]);
        const fast = decodeHelloFrame(body);
        if (fast === undefined) return;
        decided++;
        const slow = generic(body);
        expect(slow, "the generated decoder rejects what the fast path accepted").toBeDefined();
        expect(equals(FrameSchema, fast, slow as Frame)).toBe(true);
      }),
      { numRuns: 3000 },
    );
    // Many corruptions still leave a Hello the fast path decodes: the property must not hold vacuously.
    expect(decided).toBeGreaterThan(100);
  });

  it("leaves other frames, other encodings and invalid UTF-8 to the generated decoder", () => {
    const ping = toBinary(FrameSchema, create(FrameSchema, { kind: { case: "ping", value: { nonce: 1 } } }));
    expect(decodeHelloFrame(ping)).toBeUndefined();
    // An unknown field inside the Hello (field 15, varint).
    expect(decodeHelloFrame(Uint8Array.from([0x22, 0x02, 0x78, 0x01]))).toBeUndefined();
    // agent = bytes 0xff (not UTF-8): the generated decoder judges it.
    expect(decodeHelloFrame(Uint8Array.from([0x22, 0x03, 0x6a, 0x01, 0xff]))).toBeUndefined();
    // A bool written as 2.
    expect(decodeHelloFrame(Uint8Array.from([0x22, 0x02, 0x60, 0x02]))).toBeUndefined();
    // An empty Hello is decoded.
    expect(decodeHelloFrame(Uint8Array.from([0x22, 0x00]))?.kind.case).toBe("hello");
  });
});
