import { createHash, randomBytes } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { ChannelBinding, KeyType } from "../../generated/peerlink/v1/handshake_pb.js";
import { ErrorCode } from "../../src/errors.js";
import { Handshake } from "../../src/handshake/handshake.js";
import { Identity, verifySignature } from "../../src/identity/identity.js";
import { isSmallOrderKey } from "../../src/identity/small-order.js";

const SEVEN = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];
const key = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"));
const withSign = (k: Uint8Array): Uint8Array => {
  const out = Uint8Array.from(k);
  out[31] = (out[31] as number) | 0x80;
  return out;
};

describe("small-order Ed25519 keys", () => {
  it("are the 14 encodings of PROTOCOL.md §2 (seven values, either sign bit)", () => {
    for (const hex of SEVEN) {
      expect(isSmallOrderKey(key(hex)), hex).toBe(true);
      expect(isSmallOrderKey(withSign(key(hex))), `${hex} with the sign bit`).toBe(true);
    }
  });

  it("do not include real keys, nor encodings one byte away from a listed one", () => {
    for (let i = 0; i < 200; i++) expect(isSmallOrderKey(Identity.generate().publicKey)).toBe(false);
    const near = key(SEVEN[1] as string);
    near[0] = 2;
    expect(isSmallOrderKey(near)).toBe(false);
    const nearTop = key(SEVEN[4] as string);
    nearTop[31] = 0x7e;
    expect(isSmallOrderKey(nearTop)).toBe(false);
  });

  it("a Hello with the neutral key and the signature every verifier accepts for it is refused with AUTHENTICATION_FAILED", () => {
    const neutral = key(SEVEN[1] as string);
    // R = the neutral point, S = 0: [S]B = R + [k]A holds for any message when A is the neutral point.
    const trivial = new Uint8Array(64);
    trivial[0] = 1;
    const exporter = new Uint8Array(randomBytes(32));
    const signed = Buffer.concat([Buffer.from("peerlink-v1-tls-binding"), Buffer.of(0x02), exporter]);
    // Why the rule exists: Node's Ed25519 verification accepts this "proof" (if it ever stops, the check stays right).
    const verifies = verifySignature(neutral, signed, trivial);
    const peerId = createHash("sha256").update(Buffer.concat([Buffer.of(KeyType.ED25519), neutral])).digest();
    const frame = create(FrameSchema, {
      kind: {
        case: "hello",
        value: { minVersion: 1, maxVersion: 1, peerId, keyType: KeyType.ED25519, publicKey: neutral, nonce: new Uint8Array(32), binding: ChannelBinding.TLS_EXPORTER, proof: trivial },
      },
    });
    const dialer = new Handshake({ identity: Identity.generate(), role: "dialer", binding: { type: "tls", exporter } });
    dialer.start();
    const actions = dialer.receive(frame, toBinary(FrameSchema, frame));
    const end = actions.at(-1);
    expect(end?.type).toBe("fail");
    if (end?.type === "fail") expect(end.error.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(actions.some((a) => a.type === "open")).toBe(false);
    console.log(`trivial signature for the neutral key verifies with this Node/OpenSSL: ${verifies}`);
  });
});
