// A node's own Hello is copied from a layout encoded once per kind: every copy must be exactly the Hello
// the encoder writes for the same fields, and no copy may leak into another.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ChannelBinding, KeyType } from "../../generated/peerlink/v1/handshake_pb.js";
import { encodeHelloFrame } from "../../src/handshake/hello-encoder.js";
import { helloTemplate, type HelloTemplate } from "../../src/handshake/hello-template.js";
import { ownHelloFrame } from "../../src/handshake/own-hello.js";
import { Identity } from "../../src/identity/identity.js";
import { base32Decode } from "../../src/identity/base32.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function expected(t: HelloTemplate, id: Identity, min: number, max: number, binding: ChannelBinding, earlyData: boolean, nonce: Uint8Array, proof: Uint8Array): string {
  return hex(
    encodeHelloFrame({
      minVersion: min,
      maxVersion: max,
      peerId: base32Decode(id.peerId.toString()),
      keyType: KeyType.ED25519,
      publicKey: id.publicKey,
      nonce,
      protocols: t.protocols,
      capabilities: t.capabilities,
      listenAddrs: t.listenAddrs,
      binding,
      proof,
      earlyData,
      agent: t.agent,
    }).bytes,
  );
}

describe("a node's own Hello, copied from a layout encoded once", () => {
  const template = helloTemplate(
    [{ name: "/chat", versions: [1, 2], alias: 1 }, { name: "/sync", versions: [3], alias: 7 }],
    [{ name: "gossip", version: 2, required: true }],
    ["127.0.0.1:4001", "[::1]:4001"],
    "peerlink-test/1",
  );
  const bindings = [ChannelBinding.TLS_EXPORTER, ChannelBinding.NONCES, ChannelBinding.TLS_CERTIFICATE];

  it("is the encoder's Hello for every binding, early-data flag, proof and nonce, on every call", () => {
    const id = Identity.generate();
    for (let round = 0; round < 3; round++) {
      for (const binding of bindings) {
        for (const early of [false, true]) {
          for (const proof of [new Uint8Array(0), randomBytes(64)]) {
            const nonce = randomBytes(32);
            const { body, bytes } = ownHelloFrame(template, id, { min: 1, max: 1 }, binding, early, nonce, proof);
            expect(hex(bytes)).toBe(expected(template, id, 1, 1, binding, early, nonce, proof));
            expect(hex(bytes).endsWith(hex(body))).toBe(true);
            expect(body.buffer).toBe(bytes.buffer);
          }
        }
      }
    }
  });

  it("hands out arrays of their own: writing into one changes no later Hello", () => {
    const id = Identity.generate();
    const nonce = randomBytes(32);
    const first = ownHelloFrame(template, id, { min: 1, max: 1 }, ChannelBinding.TLS_CERTIFICATE, false, nonce, new Uint8Array(0));
    first.bytes.fill(0xff);
    const second = ownHelloFrame(template, id, { min: 1, max: 1 }, ChannelBinding.TLS_CERTIFICATE, false, nonce, new Uint8Array(0));
    expect(second.bytes.buffer).not.toBe(first.bytes.buffer);
    expect(hex(second.bytes)).toBe(expected(template, id, 1, 1, ChannelBinding.TLS_CERTIFICATE, false, nonce, new Uint8Array(0)));
  });

  it("keeps identities, templates and version ranges apart", () => {
    const a = Identity.generate();
    const b = Identity.generate();
    const other = helloTemplate([{ name: "/chat", versions: [1], alias: 1 }], [], ["127.0.0.1:5001"], "peerlink-test/1");
    const nonce = randomBytes(32);
    const none = new Uint8Array(0);
    const cases = [
      [template, a, 1, 1],
      [template, b, 1, 1],
      [other, a, 1, 1],
      [template, a, 1, 3],
      [other, b, 2, 5],
    ] as const;
    for (let round = 0; round < 2; round++) {
      for (const [t, id, min, max] of cases) {
        const got = ownHelloFrame(t, id, { min, max }, ChannelBinding.NONCES, false, nonce, none);
        expect(hex(got.bytes)).toBe(expected(t, id, min, max, ChannelBinding.NONCES, false, nonce, none));
      }
    }
  });

  it("stays right when one kind alternates between version ranges (each call rebuilds its layout)", () => {
    const id = Identity.generate();
    const nonce = randomBytes(32);
    const none = new Uint8Array(0);
    for (let round = 0; round < 2; round++) {
      for (let max = 1; max <= 12; max++) {
        const got = ownHelloFrame(template, id, { min: 1, max }, ChannelBinding.NONCES, true, nonce, none);
        expect(hex(got.bytes)).toBe(expected(template, id, 1, max, ChannelBinding.NONCES, true, nonce, none));
      }
    }
  });
});
