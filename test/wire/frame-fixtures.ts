// Shared helpers for the wire tests: a recording sink, a reference decoder built on the generated
// codec, and fast-check arbitraries for frame bodies (valid, unusual and broken).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { GoodbyeSchema } from "../../generated/peerlink/v1/goodbye_pb.js";
import { isPeerlinkError } from "../../src/errors.js";
import { createFrameDecoder, type FrameDecoder, type FrameSink } from "../../src/wire/frame-decoder.js";
import { checkFrameShape } from "../../src/wire/frame-shape.js";
import { PREFIX_INCOMPLETE, PREFIX_MALFORMED, readLengthPrefix } from "../../src/wire/varint.js";

export type Event = readonly (string | number)[];

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/**
 * A sink that records every call as a comparable tuple. A Data, Ping or Pong the generated decoder read (through
 * `onControl`) is recorded as the fast path's would be: which path decoded a frame is not what is compared.
 */
export function recordingSink(events: Event[]): FrameSink {
  return {
    onData: (protocol, payload) => events.push(["data", protocol, hex(payload)]),
    onPing: (nonce, ts) => events.push(["ping", nonce, ts]),
    onPong: (nonce, ts) => events.push(["pong", nonce, ts]),
    onControl: (frame, bytes) => {
      const kind = frame.kind;
      if (kind.case === "data") events.push(["data", kind.value.protocol, hex(kind.value.payload)]);
      else if (kind.case === "ping") events.push(["ping", kind.value.nonce, kind.value.timestampUs]);
      else if (kind.case === "pong") events.push(["pong", kind.value.nonce, kind.value.timestampUs]);
      else events.push(["control", kind.case ?? "none", hex(bytes)]);
    },
  };
}

/**
 * Events the generated decoder gives for one body, or an error code: the protocol's bounds on what a body may
 * make a receiver build first (PROTOCOL.md §1; their walk has its own test against the generated decoder).
 */
export function referenceEvents(body: Uint8Array): Event | "MALFORMED_FRAME" | "PROTOCOL_VIOLATION" {
  try {
    if (checkFrameShape(FrameSchema, body).ignore) return ["control", "none", hex(body)];
  } catch (error) {
    if (isPeerlinkError(error) && error.code === "PROTOCOL_VIOLATION") return "PROTOCOL_VIOLATION";
    return "MALFORMED_FRAME";
  }
  let frame;
  try {
    frame = fromBinary(FrameSchema, body.slice());
  } catch {
    return "MALFORMED_FRAME";
  }
  switch (frame.kind.case) {
    case "data":
      return ["data", frame.kind.value.protocol, hex(frame.kind.value.payload)];
    case "ping":
      return ["ping", frame.kind.value.nonce, frame.kind.value.timestampUs];
    case "pong":
      return ["pong", frame.kind.value.nonce, frame.kind.value.timestampUs];
    default:
      return ["control", frame.kind.case ?? "none", hex(body)];
  }
}

/** Reference: decodes a whole stream at once with readLengthPrefix + the generated decoder. */
export function referenceDecode(stream: Uint8Array, maxFrameSize: number): { events: Event[]; error?: string } {
  return referenceDecodeWithLimits(stream, () => maxFrameSize);
}

/** {@link referenceDecode} where frame number `i` (from 0) is checked against `limitFor(i)`. */
export function referenceDecodeWithLimits(stream: Uint8Array, limitFor: (index: number) => number): { events: Event[]; error?: string } {
  const events: Event[] = [];
  let pos = 0;
  while (pos < stream.length) {
    const r = readLengthPrefix(stream, pos, stream.length);
    if (r === PREFIX_INCOMPLETE) break;
    if (r === PREFIX_MALFORMED) return { events, error: "MALFORMED_FRAME" };
    const prefix = r % 8;
    const length = (r - prefix) / 8;
    if (length > limitFor(events.length)) return { events, error: "FRAME_TOO_LARGE" };
    if (pos + prefix + length > stream.length) break;
    const e = referenceEvents(stream.subarray(pos + prefix, pos + prefix + length));
    if (typeof e === "string") return { events, error: e };
    events.push(e);
    pos += prefix + length;
  }
  return { events };
}

/** Feeds `chunks` to a decoder and returns what it delivered and the error code it threw, if any. */
export function runDecoder(
  decoder: FrameDecoder,
  chunks: readonly Uint8Array[],
  owned = false,
): { events: Event[]; error?: string } {
  const events: Event[] = [];
  const sink = recordingSink(events);
  try {
    for (const chunk of chunks) {
      if (owned) decoder.pushOwned(chunk, sink);
      else decoder.push(chunk, sink);
    }
  } catch (error) {
    if (!isPeerlinkError(error)) throw error;
    return { events, error: error.code };
  }
  return { events };
}

/** {@link runDecoder} on a fresh decoder of `engine` with `maxFrameSize`, disposed afterwards (`owned`: by `pushOwned`). */
export function decodeWith(
  engine: "wasm" | "js",
  maxFrameSize: number,
  chunks: Uint8Array[],
  owned = false,
): { events: Event[]; error?: string } {
  const decoder = createFrameDecoder({ engine, maxFrameSize });
  try {
    return runDecoder(decoder, chunks, owned);
  } finally {
    decoder.dispose();
  }
}

/** Splits `bytes` at the given cut points (any numbers; taken modulo the length). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.slice(last, p));
    last = p;
  }
  out.push(bytes.slice(last));
  return out;
}

export function concat(parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

/** LEB128 of a non-negative bigint, padded with `overlong` redundant continuation bytes. */
export function varintBytes(value: bigint, overlong = 0): number[] {
  const out: number[] = [];
  let v = value;
  do {
    out.push(Number(v & 0x7fn));
    v >>= 7n;
  } while (v > 0n);
  for (let i = 0; i < overlong; i++) out.push(0);
  for (let i = 0; i < out.length - 1; i++) out[i] = (out[i] as number) | 0x80;
  return out;
}

export function tag(fieldNo: number, wireType: number): number[] {
  return varintBytes(BigInt(fieldNo) * 8n + BigInt(wireType));
}

export function lengthDelimited(fieldNo: number, content: readonly number[] | Uint8Array): number[] {
  return [...tag(fieldNo, 2), ...varintBytes(BigInt(content.length)), ...content];
}

/** A varint value: mostly uint32, sometimes up to 64 bits, sometimes with overlong padding (max 10 bytes). */
export const arbVarint: fc.Arbitrary<number[]> = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }).map(BigInt) },
      { weight: 2, arbitrary: fc.constantFrom(0n, 1n, 127n, 128n, 0xffff_ffffn) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) },
    ),
    fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
  )
  .map(([v, pad]) => {
    const bytes = varintBytes(v, pad);
    return bytes.length > 10 ? varintBytes(v) : bytes;
  });

/** An unknown field (number >= 10, or an unused number inside a submessage) of any wire type. */
export function arbUnknownField(minFieldNo: number): fc.Arbitrary<number[]> {
  const fieldNo = fc.oneof(fc.integer({ min: minFieldNo, max: 40 }), fc.integer({ min: minFieldNo, max: 2 ** 29 - 1 }));
  return fc.oneof(
    fc.tuple(fieldNo, arbVarint).map(([n, v]) => [...tag(n, 0), ...v]),
    fc.tuple(fieldNo, fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([n, b]) => [...tag(n, 1), ...b]),
    fc.tuple(fieldNo, fc.uint8Array({ maxLength: 12 })).map(([n, b]) => lengthDelimited(n, b)),
    fc.tuple(fieldNo, fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([n, b]) => [...tag(n, 5), ...b]),
    // Rare: a (deprecated) group, well-formed or not.
    fc.tuple(fieldNo, arbVarint, fc.boolean()).map(([n, v, closed]) => [
      ...tag(n, 3),
      ...tag(1, 0),
      ...v,
      ...(closed ? tag(n, 4) : []),
    ]),
  );
}

/** Fields of a Data, Ping or Pong submessage, in random order, repeated, with unknown ones mixed in. */
export function arbHotFields(kind: 1 | 2 | 3): fc.Arbitrary<number[]> {
  const field1 = arbVarint.map((v) => [...tag(1, 0), ...v]);
  const field2 =
    kind === 1
      ? fc.uint8Array({ maxLength: 40 }).map((b) => lengthDelimited(2, b))
      : arbVarint.map((v) => [...tag(2, 0), ...v]);
  return fc
    .array(
      fc.oneof({ weight: 4, arbitrary: field1 }, { weight: 4, arbitrary: field2 }, { weight: 1, arbitrary: arbUnknownField(3) }),
      { maxLength: 5 },
    )
    .map((fields) => fields.flat());
}

/** A control message body field (4..9): a real Goodbye, or random bytes that may or may not parse. */
const arbControlField: fc.Arbitrary<number[]> = fc.oneof(
  fc
    .record({ reason: fc.integer({ min: 0, max: 8 }), message: fc.string({ maxLength: 10 }) })
    .map((g) => lengthDelimited(6, toBinary(GoodbyeSchema, create(GoodbyeSchema, g)))),
  fc.tuple(fc.integer({ min: 4, max: 9 }), fc.uint8Array({ maxLength: 16 })).map(([n, b]) => lengthDelimited(n, b)),
);

/** A Frame body: oneof occurrences (merging and replacing), unknown and control fields, sometimes broken. */
export const arbFrameBody: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(1 as const, 2 as const, 3 as const).chain((k) => arbHotFields(k).map((f) => lengthDelimited(k, f))) },
        { weight: 1, arbitrary: arbUnknownField(10) },
        { weight: 1, arbitrary: arbControlField },
      ),
      { minLength: 0, maxLength: 3 },
    ),
    fc.oneof(
      { weight: 10, arbitrary: fc.constant<"none">("none") },
      { weight: 1, arbitrary: fc.nat().map((n) => ({ truncate: n })) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, b]) => ({ at, b })) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 3 }).map((b) => ({ append: b })) },
    ),
  )
  .map(([fields, mutation]) => {
    const body = Uint8Array.from(fields.flat());
    if (mutation === "none") return body;
    if ("truncate" in mutation) return body.slice(0, body.length === 0 ? 0 : mutation.truncate % body.length);
    if ("append" in mutation) return concat([body, mutation.append]);
    if (body.length > 0) body[mutation.at % body.length] = mutation.b;
    return body;
  });

/** A frame: usually prefix + body, sometimes a broken or oversized prefix. */
export const arbFrame: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    arbFrameBody,
    fc.oneof(
      { weight: 20, arbitrary: fc.constant<"ok">("ok") },
      { weight: 1, arbitrary: fc.constant<"overlong">("overlong") },
      { weight: 1, arbitrary: fc.constant<"six">("six") },
      { weight: 1, arbitrary: fc.integer({ min: 0x10, max: 0xff }).map((b) => ({ fifth: b })) },
    ),
  )
  .map(([body, prefix]) => {
    if (prefix === "ok") return concat([varintBytes(BigInt(body.length)), body]);
    if (prefix === "overlong") return concat([varintBytes(BigInt(body.length), 1), body]);
    if (prefix === "six") return concat([[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], body]);
    return concat([[0xff, 0xff, 0xff, 0xff, prefix.fifth], body]);
  });
