/**
 * The frame bounds walk (src/wire/frame-shape.ts) against the generated decoder it stands in front of. It must
 * read a body exactly as protobuf-es does: never let through a frame whose decoded lists are over their bounds
 * (whatever the encoding: fields merged, wire types that do not match the schema, nested lengths running past
 * their parent, groups, truncation), never refuse one whose lists are within them, and call an encoding
 * malformed only when the generated decoder does.
 */
import { create, fromBinary, toBinary, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { PeerAddressesSchema } from "../../generated/peerlink/v1/peer_exchange_pb.js";
import { isPeerlinkError } from "../../src/errors.js";
import { MAX_HELLO_LIST_ENTRIES } from "../../src/handshake/defaults.js";
import { dispatchGenericFrame } from "../../src/wire/frame-dispatch.js";
import {
  checkFrameShape,
  MAX_MESSAGE_FIELD_READS,
  MAX_FRAME_ITEMS,
  MAX_OTHER_FIELDS,
} from "../../src/wire/frame-shape.js";
import { propertyRuns } from "../helpers/property-runs.js";

const ADVISORY: Record<string, number> = { "peerlink.v1.PeerAddresses.peers": 64, "peerlink.v1.KnownPeer.addrs": 16 };
const boundOf = (f: DescField): number => ADVISORY[`${f.parent.typeName}.${f.name}`] ?? MAX_HELLO_LIST_ENTRIES;

function varint(value: number | bigint): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return out;
}
const tag = (no: number, wireType: number): number[] => varint((no << 3) | wireType);
const delimited = (no: number, body: readonly number[]): number[] => [...tag(no, 2), ...varint(body.length), ...body];
const repeat = (unit: readonly number[], n: number): number[] => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(...unit);
  return out;
};

/** Counts of a list's entries near its bound: few, or just under, at and over it. */
function entryCount(f: DescField): fc.Arbitrary<number> {
  const bound = boundOf(f);
  return fc.constantFrom(0, 1, 2, bound - 1, bound, bound + 1, bound + 3);
}

/** A field the schema does not know, in any wire type, groups nested. */
const unknownField: fc.Arbitrary<number[]> = fc.letrec<{ field: number[] }>((tie) => ({
  field: fc.oneof(
    { depthSize: "small" },
    fc.tuple(fc.integer({ min: 20, max: 2000 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([no, v]) => [...tag(no, 0), ...varint(v)]),
    fc.tuple(fc.integer({ min: 20, max: 2000 }), fc.uint8Array({ maxLength: 6 })).map(([no, b]) => delimited(no, [...b])),
    fc.integer({ min: 20, max: 2000 }).map((no) => [...tag(no, 5), 1, 2, 3, 4]),
    fc.integer({ min: 20, max: 2000 }).map((no) => [...tag(no, 1), 1, 2, 3, 4, 5, 6, 7, 8]),
    fc
      .tuple(fc.integer({ min: 20, max: 2000 }), fc.array(tie("field"), { maxLength: 3 }))
      .map(([no, inner]) => [...tag(no, 3), ...inner.flat(), ...tag(no, 4)]),
  ),
})).field;

/**
 * A scalar value for a field, mostly in its own wire type, sometimes under a tag of another (the decoder goes by
 * the schema: it reads the value as the field's type whatever the tag says). The value is always whole: bytes
 * the decoder would read past the value could form tags that run past the parent message and read the bytes
 * after it as fields of the Frame, another kind among them, and the frame would no longer carry one kind.
 * Broken encodings come from the damage and the cut of `frameBytes`, which say so.
 */
function scalarField(f: DescField): fc.Arbitrary<number[]> {
  const value =
    f.fieldKind === "scalar" && (f.scalar === 9 || f.scalar === 12)
      ? fc.string({ maxLength: 8 }).map((s) => {
          const utf8 = [...new TextEncoder().encode(s)];
          return [...varint(utf8.length), ...utf8];
        })
      : fc.bigInt({ min: 0n, max: 2n ** 33n }).map((v) => varint(v));
  const ownWireType = f.fieldKind === "scalar" && (f.scalar === 9 || f.scalar === 12) ? 2 : 0;
  const own = value.map((v) => [...tag(f.number, ownWireType), ...v]);
  const other = fc.tuple(fc.integer({ min: 0, max: 5 }), value).map(([wt, v]) => [...tag(f.number, wt), ...v]);
  return fc.oneof({ weight: 9, arbitrary: own }, { weight: 1, arbitrary: other });
}

/** Fields of a message of `desc`, in any order, each as its encoding in the wire. */
function messageBody(desc: DescMessage, depth: number): fc.Arbitrary<number[]> {
  const field = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...desc.fields).chain((f) => fieldBytes(f, depth)) },
    { weight: 1, arbitrary: unknownField },
  );
  return fc.array(field, { maxLength: 5 }).map((fields) => fields.flat());
}

function fieldBytes(f: DescField, depth: number): fc.Arbitrary<number[]> {
  switch (f.fieldKind) {
    case "scalar":
    case "enum":
      return scalarField(f);
    case "message":
      return depth > 3 ? fc.constant<number[]>([]) : messageBody(f.message, depth + 1).map((b) => delimited(f.number, b));
    case "list": {
      if (f.listKind === "message") {
        const entry = depth > 3 ? fc.constant<number[]>([]) : messageBody(f.message, depth + 1);
        return fc.tuple(entry, entryCount(f)).map(([b, n]) => repeat(delimited(f.number, b), n));
      }
      const value = f.scalar === 9 ? fc.constant<number[]>([1, 0x61]) : fc.constant<number[]>([1]);
      return fc.tuple(value, entryCount(f), fc.boolean()).map(([v, n, packed]) =>
        packed && f.scalar !== 9 ? delimited(f.number, repeat(v, n)) : repeat([...tag(f.number, f.scalar === 9 ? 2 : 0), ...v], n),
      );
    }
    default:
      throw new Error(`no generator for ${f.fieldKind}`);
  }
}

/** A Frame: one kind, read one to three times (merged), now and then followed by another kind; maybe cut or flipped. */
const frameBytes: fc.Arbitrary<{ bytes: Uint8Array; oneKind: boolean }> = fc
  .tuple(
    fc.constantFrom(...FrameSchema.fields),
    fc.integer({ min: 1, max: 3 }),
    fc.option(fc.constantFrom(...FrameSchema.fields), { freq: 4 }),
    fc.option(fc.tuple(fc.nat(), fc.nat(255)), { freq: 4 }),
    fc.boolean(),
  )
  .chain(([kind, times, other, damage, cut]) =>
    fc
      .tuple(fc.array(messageBody(kind.message as DescMessage, 1), { minLength: times, maxLength: times }), other === null ? fc.constant<number[]>([]) : messageBody(other.message as DescMessage, 1))
      .map(([bodies, otherBody]) => {
        const bytes = [...bodies.flatMap((b) => delimited(kind.number, b)), ...(other === null ? [] : delimited(other.number, otherBody))];
        if (damage !== null && bytes.length > 0) {
          const at = damage[0] % bytes.length;
          if (cut) bytes.length = at;
          else bytes[at] = damage[1];
        }
        // A damaged byte may make a tag of another kind: one kind is known only for an undamaged frame.
        return { bytes: Uint8Array.from(bytes), oneKind: (other === null || other === kind) && damage === null };
      }),
  );

/** The longest decoded list, by list field, over the whole decoded message tree. */
function longestLists(message: ReflectMessage, out = new Map<DescField, number>()): Map<DescField, number> {
  for (const f of message.fields) {
    if (!message.isSet(f)) continue;
    if (f.fieldKind === "list") {
      const list = message.get(f);
      out.set(f, Math.max(out.get(f) ?? 0, list.size));
      if (f.listKind === "message") for (const entry of list) longestLists(entry as ReflectMessage, out);
    } else if (f.fieldKind === "message") {
      longestLists(message.get(f), out);
    }
  }
  return out;
}

type Verdict = "decode" | "ignore" | "PROTOCOL_VIOLATION" | "MALFORMED_FRAME";
function verdictOf(body: Uint8Array): Verdict {
  try {
    return checkFrameShape(FrameSchema, body).ignore ? "ignore" : "decode";
  } catch (error) {
    if (isPeerlinkError(error) && (error.code === "PROTOCOL_VIOLATION" || error.code === "MALFORMED_FRAME")) return error.code;
    throw error;
  }
}

describe("the frame bounds walk", () => {
  it("agrees with the generated decoder on every list bound, and on what is malformed", () => {
    fc.assert(
      fc.property(frameBytes, ({ bytes, oneKind }) => {
        const verdict = verdictOf(bytes);
        let decoded: ReflectMessage | undefined;
        let failure: unknown;
        try {
          decoded = reflect(FrameSchema, fromBinary(FrameSchema, bytes, { readUnknownFields: false }));
        } catch (error) {
          failure = error;
        }
        // Malformed only where the generated decoder fails too.
        if (verdict === "MALFORMED_FRAME") expect(decoded).toBeUndefined();
        if (decoded === undefined) {
          // Where the walk let it through, the decoder fails only on UTF-8, which the walk does not read.
          if (verdict === "decode") expect(String(failure)).toMatch(/utf-8/i);
          return;
        }
        const over = [...longestLists(decoded)].filter(([f, n]) => n > boundOf(f));
        // Never lets through a frame with a list over its bound.
        if (verdict === "decode") expect(over.map(([f]) => f.name)).toEqual([]);
        // With one kind (merged, never replaced), refuses only what is over a bound.
        if (oneKind && over.length === 0) expect(verdict).toBe("decode");
        if (oneKind && over.length > 0) {
          const advisory = over.every(([f]) => ADVISORY[`${f.parent.typeName}.${f.name}`] !== undefined);
          expect(verdict).toBe(advisory ? "ignore" : "PROTOCOL_VIOLATION");
        }
      }),
      { numRuns: propertyRuns(1_500) },
    );
    // 1,500 frames of up to every list bound: 13 s on a quiet 2-core machine, 34 s on a saturated one. The
    // timeout only guards against a hang.
  }, 120_000);

  it("returns what decoding the frame costs: its fields, list entries and message reads", () => {
    // Frame{goodbye{reason, detail}}: the kind, two fields.
    expect(checkFrameShape(FrameSchema, Uint8Array.from(delimited(6, [0x08, 0x01, ...delimited(2, [0x61])]))).items).toBe(3);
    // Frame{capability_update{protocols_added: [{name, versions: packed 1, 2, 3}]}}: the kind, the entry, the name,
    // the packed run and its three versions.
    const update = delimited(7, delimited(3, [...delimited(1, [0x61]), ...delimited(2, [1, 2, 3])]));
    expect(checkFrameShape(FrameSchema, Uint8Array.from(update)).items).toBe(7);
    expect(checkFrameShape(FrameSchema, new Uint8Array(0))).toEqual({ items: 0, ignore: false });
  });

  it("refuses a list of 257 entries before building any of them, however large the frame", () => {
    const emptyCapabilities = Uint8Array.from(delimited(7, repeat([0x0a, 0x00], 400_000)));
    expect(verdictOf(emptyCapabilities)).toBe("PROTOCOL_VIOLATION");
    const allowed = Uint8Array.from(delimited(7, repeat([0x0a, 0x00], MAX_HELLO_LIST_ENTRIES)));
    expect(verdictOf(allowed)).toBe("decode");
    expect(verdictOf(Uint8Array.from(delimited(7, repeat([0x0a, 0x00], MAX_HELLO_LIST_ENTRIES + 1))))).toBe("PROTOCOL_VIOLATION");
  });

  it("holds a Hello in the plain encoding to the same bounds (its fast path gives up past them)", () => {
    const hello = (addrs: number): Uint8Array => Uint8Array.from(delimited(4, [0x08, 0x01, 0x10, 0x01, ...repeat(delimited(9, [0x61]), addrs)]));
    const kinds: Array<string | undefined> = [];
    const sink = { onData: () => {}, onPing: () => {}, onPong: () => {}, onControl: (f: { kind: { case: string | undefined } }) => void kinds.push(f.kind.case) };
    dispatchGenericFrame(hello(MAX_HELLO_LIST_ENTRIES), sink);
    expect(kinds).toEqual(["hello"]);
    let code: unknown;
    try {
      dispatchGenericFrame(hello(MAX_HELLO_LIST_ENTRIES + 1), sink);
    } catch (error) {
      code = isPeerlinkError(error) ? error.code : error;
    }
    expect(code).toBe("PROTOCOL_VIOLATION");
  });

  it("stops at the first entry over the bound, before reading the rest of the body", () => {
    // A malformed tail after entry 257: read, it would make the verdict MALFORMED_FRAME.
    // (An unknown field 20 whose length varint never ends.)
    const tail = [0xa2, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff];
    const body = Uint8Array.from([...delimited(7, repeat([0x12, 0x00], MAX_HELLO_LIST_ENTRIES + 1)), ...tail]);
    expect(verdictOf(body)).toBe("PROTOCOL_VIOLATION");
    expect(verdictOf(body.subarray(0, body.length - tail.length))).toBe("PROTOCOL_VIOLATION");
    expect(verdictOf(Uint8Array.from([...delimited(7, repeat([0x12, 0x00], MAX_HELLO_LIST_ENTRIES)), ...tail]))).toBe("MALFORMED_FRAME");
  });

  it("refuses a kind after another (a Frame carries one), and merges a kind read again", () => {
    const caps = (n: number): number[] => delimited(4, repeat(delimited(8, [0x0a, 0x01, 0x61]), n));
    // Hello{200 capabilities}, Ping, Hello{200 capabilities}: the decoder would build both Hellos, and the frame is a Ping.
    expect(verdictOf(Uint8Array.from([...caps(200), 0x12, 0x00, ...caps(200)]))).toBe("PROTOCOL_VIOLATION");
    // A Hello and then a Data: charged as a Data, the Hello built all the same.
    expect(verdictOf(Uint8Array.from([...caps(200), ...delimited(1, [0x08, 0x01])]))).toBe("PROTOCOL_VIOLATION");
    // Without the Ping between them the two Hellos merge: 400 capabilities.
    expect(verdictOf(Uint8Array.from([...caps(100), ...caps(100)]))).toBe("decode");
    expect(verdictOf(Uint8Array.from([...caps(200), ...caps(200)]))).toBe("PROTOCOL_VIOLATION");
  });

  it("bounds the whole frame: lists of messages at their bounds cannot multiply the per-message bounds", () => {
    const versions = repeat([0x01], MAX_HELLO_LIST_ENTRIES);
    // The largest Hello the list rules allow (256 protocols of 256 versions) is within the frame's bound.
    const hello = delimited(4, repeat(delimited(7, [0x0a, 0x01, 0x61, ...delimited(2, versions)]), MAX_HELLO_LIST_ENTRIES));
    expect(verdictOf(Uint8Array.from(hello))).toBe("decode");
    // Protocols of 1,024 unknown fields each (within the per-message bound): the entry, its fields; 71 fit, 72 do not.
    const fat = delimited(7, repeat([0xa0, 0x01, 0x01], MAX_OTHER_FIELDS));
    const protocols = (n: number): Uint8Array => Uint8Array.from(delimited(4, repeat(fat, n)));
    expect(verdictOf(protocols(Math.floor(MAX_FRAME_ITEMS / (MAX_OTHER_FIELDS + 1))))).toBe("decode");
    expect(verdictOf(protocols(Math.floor(MAX_FRAME_ITEMS / (MAX_OTHER_FIELDS + 1)) + 1))).toBe("PROTOCOL_VIOLATION");
  });

  it("counts empty packed runs as fields", () => {
    const runs = (n: number): Uint8Array => Uint8Array.from(delimited(4, delimited(7, repeat([0x12, 0x00], n))));
    expect(verdictOf(runs(MAX_OTHER_FIELDS))).toBe("decode");
    expect(verdictOf(runs(MAX_OTHER_FIELDS + 1))).toBe("PROTOCOL_VIOLATION");
  });

  it("holds a Hello the fast path would take to the same bounds: its lists, its fields", () => {
    const codeOf = (body: Uint8Array): unknown => {
      const sink = { onData: () => {}, onPing: () => {}, onPong: () => {}, onControl: () => {} };
      try {
        dispatchGenericFrame(body, sink);
        return "delivered";
      } catch (error) {
        return isPeerlinkError(error) ? error.code : error;
      }
    };
    const hello = (fields: number[]): Uint8Array => Uint8Array.from(delimited(4, [0x08, 0x01, 0x10, 0x01, ...fields]));
    expect(codeOf(hello(repeat([0x3a, 0x00], MAX_HELLO_LIST_ENTRIES)))).toBe("delivered");
    expect(codeOf(hello(repeat([0x3a, 0x00], MAX_HELLO_LIST_ENTRIES + 1)))).toBe("PROTOCOL_VIOLATION");
    expect(codeOf(hello(repeat([0x42, 0x00], MAX_HELLO_LIST_ENTRIES + 1)))).toBe("PROTOCOL_VIOLATION");
    expect(codeOf(hello(delimited(7, delimited(2, repeat([0x01], MAX_HELLO_LIST_ENTRIES)))))).toBe("delivered");
    expect(codeOf(hello(delimited(7, delimited(2, repeat([0x01], MAX_HELLO_LIST_ENTRIES + 1)))))).toBe("PROTOCOL_VIOLATION");
    expect(codeOf(hello(delimited(7, repeat([0x10, 0x01], MAX_HELLO_LIST_ENTRIES + 1))))).toBe("PROTOCOL_VIOLATION");
    // A scalar written again and again: the plain encoding the fast path takes, past the fields bound.
    expect(codeOf(hello(repeat([0x6a, 0x00], MAX_OTHER_FIELDS - 2)))).toBe("delivered");
    expect(codeOf(hello(repeat([0x6a, 0x00], 500_000)))).toBe("PROTOCOL_VIOLATION");
  });

  it("ignores a peer exchange over its bounds as a frame of no kind, and decodes one within them", () => {
    const peer = (addrs: number): number[] => delimited(1, [...delimited(1, repeat([7], 32)), ...repeat(delimited(2, [0x61]), addrs)]);
    const frame = (peers: number, addrs: number): Uint8Array => Uint8Array.from(delimited(16, [...repeat(peer(addrs), peers), 0x10, 0x01]));
    const controls: Array<{ kind: string | undefined; peers: number }> = [];
    const sink = {
      onData: () => {},
      onPing: () => {},
      onPong: () => {},
      onControl: (f: { kind: { case: string | undefined; value?: unknown } }) =>
        void controls.push({ kind: f.kind.case, peers: f.kind.case === "peerAddresses" ? (f.kind.value as { peers: unknown[] }).peers.length : 0 }),
    };
    for (const [peers, addrs] of [[64, 16], [65, 1], [1, 17], [30_000, 0]] as const) dispatchGenericFrame(frame(peers, addrs), sink);
    expect(controls).toEqual([
      { kind: "peerAddresses", peers: 64 },
      { kind: undefined, peers: 0 },
      { kind: undefined, peers: 0 },
      { kind: undefined, peers: 0 },
    ]);
    // A real one, as encoded by the generated encoder, is decoded.
    const real = toBinary(FrameSchema, create(FrameSchema, { kind: { case: "peerAddresses", value: create(PeerAddressesSchema, { request: true }) } }));
    expect(verdictOf(real)).toBe("decode");
  });

  it("refuses a message field read more than 16 times, and a message of more than 1,024 other fields", () => {
    expect(verdictOf(Uint8Array.from(repeat([0x12, 0x00], MAX_MESSAGE_FIELD_READS)))).toBe("decode");
    expect(verdictOf(Uint8Array.from(repeat([0x12, 0x00], MAX_MESSAGE_FIELD_READS + 1)))).toBe("PROTOCOL_VIOLATION");
    // Ping{nonce} written again and again, and unknown fields inside an unknown group: each counts.
    expect(verdictOf(Uint8Array.from(delimited(2, repeat([0x08, 0x01], MAX_OTHER_FIELDS))))).toBe("decode");
    expect(verdictOf(Uint8Array.from(delimited(2, repeat([0x08, 0x01], MAX_OTHER_FIELDS + 1))))).toBe("PROTOCOL_VIOLATION");
    const group = (n: number): Uint8Array => Uint8Array.from([...tag(30, 3), ...repeat([0xa0, 0x01, 0x01], n), ...tag(30, 4)]);
    expect(verdictOf(group(MAX_OTHER_FIELDS - 1))).toBe("decode");
    expect(verdictOf(group(MAX_OTHER_FIELDS))).toBe("PROTOCOL_VIOLATION");
  });

  it("reads a nested length running past its parent as the generated decoder does", () => {
    // Data{protocol: 0x12 ...}: the nested field's length is read beyond Data's one byte; protobuf-es takes it.
    const body = Uint8Array.of(10, 1, 18, 0);
    expect(() => fromBinary(FrameSchema, body)).not.toThrow();
    expect(verdictOf(body)).toBe("decode");
  });
});
