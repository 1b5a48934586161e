// The hand-written Hello encoder must write exactly what protobuf-es's generic encoder writes for the same Hello.
import { fromBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { encodeHelloFrame, type HelloFields } from "../../src/handshake/hello-encoder.js";
import { genericHelloFrame, helloArbitrary } from "../helpers/hello-arbitrary.js";
import { prefixWithLength } from "../../src/handshake/frame-bytes.js";

const hello = helloArbitrary({ unit: "binary", names: 140, addrs: 60, agent: 300, lists: 5 });

describe("the hand-written Hello encoder", () => {
  it("writes the same bytes as protobuf-es for any Hello (and a length prefix before them)", () => {
    fc.assert(
      fc.property(hello, (fields) => {
        const { body, bytes: framed } = encodeHelloFrame(fields);
        const expected = genericHelloFrame(fields);
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
