import { create } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { encodeDataFrame, encodeFrame, encodePingFrame, encodePongFrame } from "../../src/wire/frame-encoder.js";
import { createFrameDecoder } from "../../src/wire/frame-decoder.js";
import { hex, runDecoder } from "./frame-fixtures.js";

const uint32 = fc.oneof(fc.constantFrom(0, 1, 127, 128, 16383, 16384, 0xffff_ffff), fc.integer({ min: 0, max: 0xffff_ffff }));

describe("the hand-written frame encoders", () => {
  it("produce the same bytes as the generated encoder for Data frames", () => {
    fc.assert(
      fc.property(uint32, fc.uint8Array({ maxLength: 300 }), (protocol, payload) => {
        const generic = encodeFrame(create(FrameSchema, { kind: { case: "data", value: { protocol, payload } } }));
        expect(hex(encodeDataFrame(protocol, payload))).toBe(hex(generic));
      }),
      { numRuns: 5_000 },
    );
  });

  it("produce the same bytes as the generated encoder for Data frames with their own (not zero-filled) buffer", () => {
    // Frames over 4 KiB get a buffer of their own that is not zero-filled first: every byte must be written.
    fc.assert(
      fc.property(uint32, fc.integer({ min: 4_000, max: 70_000 }), fc.nat({ max: 255 }), (protocol, size, fill) => {
        const payload = new Uint8Array(size).map((_, i) => (i * 31 + fill) & 0xff);
        const generic = encodeFrame(create(FrameSchema, { kind: { case: "data", value: { protocol, payload } } }));
        expect(Buffer.from(encodeDataFrame(protocol, payload)).equals(Buffer.from(generic))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("refuse with INVALID_ARGUMENT a large payload whose length is not the bytes it holds, instead of sending unwritten memory", () => {
    class Lying extends Uint8Array {
      override get length(): number {
        return 20_000;
      }
    }
    let code: string | undefined;
    try {
      encodeDataFrame(1, new Lying(10));
    } catch (error) {
      code = (error as { code?: string }).code;
    }
    expect(code).toBe("INVALID_ARGUMENT");
    // A Proxy gets no further: the built-in getter behind its `length` refuses it.
    expect(() => encodeDataFrame(1, new Proxy(new Uint8Array(20_000), {}))).toThrow(TypeError);
  });

  it("produce the same bytes as the generated encoder for Ping and Pong frames", () => {
    fc.assert(
      fc.property(uint32, uint32, (nonce, timestampUs) => {
        const ping = encodeFrame(create(FrameSchema, { kind: { case: "ping", value: { nonce, timestampUs } } }));
        const pong = encodeFrame(create(FrameSchema, { kind: { case: "pong", value: { nonce, timestampUs } } }));
        expect(hex(encodePingFrame(nonce, timestampUs))).toBe(hex(ping));
        expect(hex(encodePongFrame(nonce, timestampUs))).toBe(hex(pong));
      }),
      { numRuns: 5_000 },
    );
  });

  it("encode a payload large enough for a multi-byte length prefix that both decoders read back", () => {
    const payload = new Uint8Array(70_000).map((_, i) => i * 7);
    const bytes = encodeDataFrame(42, payload);
    for (const engine of ["wasm", "js"] as const) {
      const decoder = createFrameDecoder({ engine });
      expect(runDecoder(decoder, [bytes])).toEqual({ events: [["data", 42, hex(payload)]] });
      decoder.dispose();
    }
  });

  it("reject values that are not uint32 with INVALID_ARGUMENT", () => {
    for (const bad of [-1, 2 ** 32, 1.5, NaN]) {
      expect(() => encodeDataFrame(bad, new Uint8Array())).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
      expect(() => encodePingFrame(bad, 0)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
      expect(() => encodePongFrame(0, bad)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
  });
});
