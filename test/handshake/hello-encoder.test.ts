// The hand-written Hello encoder must write exactly what protobuf-es's generic encoder writes for the same Hello.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { encodeHelloFrame, type HelloFields } from "../../src/handshake/hello-encoder.js";
import { prefixWithLength } from "../../src/handshake/frame-bytes.js";

const uint32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffff_ffff }));
const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });
const text = (max: number) => fc.string({ unit: "binary", maxLength: max });

const hello: fc.Arbitrary<HelloFields> = fc.record({
  minVersion: uint32,
  maxVersion: uint32,
  peerId: bytes(40),
  keyType: fc.integer({ min: 0, max: 3 }),
  publicKey: bytes(40),
  nonce: bytes(40),
  protocols: fc.array(fc.record({ name: text(140), versions: fc.array(uint32, { maxLength: 6 }), alias: uint32 }), { maxLength: 5 }),
  capabilities: fc.array(fc.record({ name: text(70), version: uint32, required: fc.boolean() }), { maxLength: 5 }),
  listenAddrs: fc.array(text(60), { maxLength: 5 }),
  binding: fc.integer({ min: 0, max: 3 }),
  proof: bytes(70),
  earlyData: fc.boolean(),
  agent: text(300),
});

function generic(fields: HelloFields): Uint8Array {
  return toBinary(FrameSchema, create(FrameSchema, { kind: { case: "hello", value: { ...fields, protocols: fields.protocols.map((p) => ({ ...p, versions: [...p.versions] })), capabilities: [...fields.capabilities], listenAddrs: [...fields.listenAddrs] } } }));
}

describe("the hand-written Hello encoder", () => {
  it("writes the same bytes as protobuf-es for any Hello (and a length prefix before them)", () => {
    fc.assert(
      fc.property(hello, (fields) => {
        const { body, bytes: framed } = encodeHelloFrame(fields);
        const expected = generic(fields);
        expect(Buffer.from(body).toString("hex")).toBe(Buffer.from(expected).toString("hex"));
        expect(Buffer.from(framed).toString("hex")).toBe(Buffer.from(prefixWithLength(expected)).toString("hex"));
      }),
      { numRuns: 500 },
    );
  });

  it("a Hello with every field empty is an empty Hello message inside the Frame", () => {
    const empty: HelloFields = { minVersion: 0, maxVersion: 0, peerId: new Uint8Array(0), keyType: 0, publicKey: new Uint8Array(0), nonce: new Uint8Array(0), protocols: [], capabilities: [], listenAddrs: [], binding: 0, proof: new Uint8Array(0), earlyData: false, agent: "" };
    const { body } = encodeHelloFrame(empty);
    expect([...body]).toEqual([0x22, 0x00]);
    expect(fromBinary(FrameSchema, body).kind.case).toBe("hello");
  });
});
