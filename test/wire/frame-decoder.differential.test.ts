import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { propertyRuns } from "../helpers/property-runs.js";
import { isPeerlinkError } from "../../src/errors.js";
import { createFrameDecoder } from "../../src/wire/frame-decoder.js";
import { encodeDataFrame } from "../../src/wire/frame-encoder.js";
import {
  arbFrame,
  arbFrameBody,
  concat,
  decodeWith,
  recordingSink,
  referenceDecode,
  referenceDecodeWithLimits,
  splitAt,
  varintBytes,
  type Event,
} from "./frame-fixtures.js";

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
      { numRuns: propertyRuns(10_000) },
    );
  });

  it("deliver identical frames from owned chunks, large Data frames cut into pieces of every size included", () => {
    // Large frames take the JS engine's held-views path (4 KiB and up); pieces of 1 KiB and up are held as views,
    // smaller ones switch the frame to the copying carry half-way.
    const arbLarge = fc
      .record({ protocol: fc.nat({ max: 5 }), size: fc.integer({ min: 3_000, max: 70_000 }), fill: fc.nat({ max: 255 }) })
      .map(({ protocol, size, fill }) => encodeDataFrame(protocol, new Uint8Array(size).map((_, i) => (i * 7 + fill) & 0xff)));
    fc.assert(
      fc.property(
        fc.array(fc.oneof(arbFrame, arbLarge), { maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, cuts) => {
          const stream = concat(frames);
          const chunks = splitAt(stream, cuts);
          const expected = referenceDecode(stream, 1_048_576);
          expect(decodeWith("js", 1_048_576, chunks, true)).toEqual(expected);
          expect(decodeWith("wasm", 1_048_576, chunks, true)).toEqual(expected);
        },
      ),
      { numRuns: propertyRuns(1_000) },
    );
  });

  it("deliver identical results when a sink raises the frame limit after some frames, as a connection does at open", () => {
    // The raise may happen in the middle of a push: later frames of the same chunk are checked against the new limit.
    const decodeRaising = (engine: "js" | "wasm", initial: number, raiseAfter: number, chunks: Uint8Array[]) => {
      const decoder = createFrameDecoder({ engine, maxFrameSize: 1_048_576, frameLimit: initial });
      const events: Event[] = [];
      const record = recordingSink(events);
      const raise = (): void => {
        if (events.length === raiseAfter) decoder.setFrameLimit(1_048_576);
      };
      const sink = {
        onData: (p: number, b: Uint8Array) => (record.onData(p, b), raise()),
        onPing: (n: number, t: number) => (record.onPing(n, t), raise()),
        onPong: (n: number, t: number) => (record.onPong(n, t), raise()),
        onControl: (f: Parameters<typeof record.onControl>[0], b: Uint8Array, items: number) => (record.onControl(f, b, items), raise()),
      };
      if (raiseAfter === 0) decoder.setFrameLimit(1_048_576);
      try {
        for (const chunk of chunks) decoder.push(chunk, sink);
        return { events };
      } catch (error) {
        if (!isPeerlinkError(error)) throw error;
        return { events, error: error.code };
      } finally {
        decoder.dispose();
      }
    };
    fc.assert(
      fc.property(
        fc.array(arbFrame, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.constantFrom(0, 8, 16),
        fc.nat(4),
        (frames, cuts, initial, raiseAfter) => {
          const stream = concat(frames);
          const chunks = splitAt(stream, cuts);
          const expected = referenceDecodeWithLimits(stream, (i) => (i < raiseAfter ? initial : 1_048_576));
          expect(decodeRaising("js", initial, raiseAfter, chunks)).toEqual(expected);
          expect(decodeRaising("wasm", initial, raiseAfter, chunks)).toEqual(expected);
        },
      ),
      { numRuns: propertyRuns(8_000) },
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
      { numRuns: propertyRuns(5_000) },
    );
  });

  it("agree with the generated decoder on the canonical Data layout and its near misses", () => {
    // The canonical layout (0x0a len [0x08 protocol] [0x12 n payload]) has its own shortcut in both
    // engines; these bodies sit on and just off that layout: short and long varints, overlong padding,
    // 64-bit protocol values, a repeated or reordered field, trailing bytes, truncation.
    const arbValue = fc.oneof(
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0x80, max: 0x1f_ffff }),
      fc.integer({ min: 0x20_0000, max: 0xffff_ffff }),
    );
    const arbBody = fc
      .record({
        protocol: fc.oneof(arbValue.map(BigInt), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
        withProtocol: fc.boolean(),
        payloadLength: fc.oneof({ weight: 4, arbitrary: fc.nat(200) }, { weight: 1, arbitrary: fc.integer({ min: 16_000, max: 17_000 }) }),
        withPayload: fc.boolean(),
        pads: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)).map((t) => t.map((n) => (n === 2 ? 0 : n))),
        twist: fc.constantFrom("none", "none", "none", "payload-first", "protocol-twice", "trailing", "truncate", "inner-short"),
      })
      .map(({ protocol, withProtocol, payloadLength, withPayload, pads, twist }) => {
        const [padInner, padProtocol, padLength, padTag] = pads as [number, number, number, number];
        const payload = Array.from({ length: payloadLength }, (_, i) => i & 0xff);
        const protocolField = withProtocol ? [0x08, ...varintBytes(protocol, padProtocol)] : [];
        const payloadField = withPayload ? [0x12, ...varintBytes(BigInt(payloadLength), padLength), ...payload] : [];
        const inner =
          twist === "payload-first"
            ? [...payloadField, ...protocolField]
            : twist === "protocol-twice"
              ? [...protocolField, 0x08, 0x05, ...payloadField]
              : [...protocolField, ...payloadField];
        let innerLength = inner.length;
        if (twist === "inner-short" && innerLength > 0) innerLength -= 1;
        const frameTag = padTag === 0 ? [0x0a] : [0x8a, ...Array<number>(padTag - 1).fill(0x80), 0x00];
        let body = [...frameTag, ...varintBytes(BigInt(innerLength), padInner), ...inner];
        if (twist === "trailing") body = [...body, 0x08, 0x01];
        if (twist === "truncate" && body.length > 1) body = body.slice(0, body.length - 1);
        return new Uint8Array(body);
      });
    fc.assert(
      fc.property(arbBody, fc.array(fc.nat(), { maxLength: 3 }), (body, cuts) => {
        const stream = concat([varintBytes(BigInt(body.length)), body]);
        const chunks = splitAt(stream, cuts);
        const expected = referenceDecode(stream, 1_048_576);
        expect(decodeWith("js", 1_048_576, chunks)).toEqual(expected);
        expect(decodeWith("wasm", 1_048_576, chunks)).toEqual(expected);
      }),
      { numRuns: propertyRuns(5_000) },
    );
  });
});
