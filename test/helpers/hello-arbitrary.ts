/**
 * Random Hellos for the property tests of the hand-written Hello encoder and decoder, and the generated
 * (protobuf-es) encoding they are held to.
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import type { HelloFields } from "../../src/handshake/hello-encoder.js";

const uint32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffff_ffff }));
const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });

/**
 * Hellos with every field drawn, strings of `unit` ("binary": any code point, lone surrogates included;
 * "grapheme": valid text) up to `names`, `addrs` and `agent` characters, lists up to `lists` entries.
 */
export function helloArbitrary(options: {
  readonly unit: "binary" | "grapheme";
  readonly names: number;
  readonly addrs: number;
  readonly agent: number;
  readonly lists: number;
}): fc.Arbitrary<HelloFields> {
  const text = (max: number) => fc.string({ unit: options.unit, maxLength: max });
  return fc.record({
    minVersion: uint32,
    maxVersion: uint32,
    peerId: bytes(40),
    keyType: fc.integer({ min: 0, max: 3 }),
    publicKey: bytes(40),
    nonce: bytes(40),
    protocols: fc.array(fc.record({ name: text(options.names), versions: fc.array(uint32, { maxLength: 6 }), alias: uint32 }), { maxLength: options.lists }),
    capabilities: fc.array(fc.record({ name: text(options.names), version: uint32, required: fc.boolean() }), { maxLength: options.lists }),
    listenAddrs: fc.array(text(options.addrs), { maxLength: options.lists }),
    binding: fc.integer({ min: 0, max: 3 }),
    proof: bytes(70),
    earlyData: fc.boolean(),
    agent: text(options.agent),
  });
}

/** `Frame{hello: fields}` as protobuf-es encodes it (no length prefix). */
export function genericHelloFrame(fields: HelloFields): Uint8Array {
  const value = {
    ...fields,
    protocols: fields.protocols.map((p) => ({ ...p, versions: [...p.versions] })),
    capabilities: [...fields.capabilities],
    listenAddrs: [...fields.listenAddrs],
  };
  return toBinary(FrameSchema, create(FrameSchema, { kind: { case: "hello", value } }));
}
