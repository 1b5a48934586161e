/**
 * Certificate binding (docs/PROTOCOL.md §3.3): under ALPN peerlink/1+cert a side whose TLS certificate key is its
 * identity key sends TLS_CERTIFICATE with an empty proof; the receiver accepts it only when its peer's certificate
 * key is the Hello's key. Sans-IO: the TLS facts (agreed ALPN, certificate keys) come in as the binding input.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { ChannelBinding } from "../../generated/peerlink/v1/handshake_pb.js";
import { ErrorCode } from "../../src/errors.js";
import { Handshake } from "../../src/handshake/handshake.js";
import type { ChannelBindingInput, HandshakeAction } from "../../src/handshake/types.js";
import { Identity } from "../../src/identity/identity.js";
import { outcome, runPair, sentFrames, type WireFrame } from "./pair.js";

const alice = Identity.generate();
const bob = Identity.generate();
const mallory = Identity.generate();
const exporter = new Uint8Array(randomBytes(32));

/** The binding one side sees when peerlink/1+cert was agreed: its own and its peer's certificate keys. */
function certBinding(own: Uint8Array | undefined, peer: Uint8Array | undefined): ChannelBindingInput {
  return { type: "tls", exporter, certificate: { own, peer } };
}

function helloOf(actions: readonly HandshakeAction[]): { binding: ChannelBinding; proof: Uint8Array } {
  const w = sentFrames(actions).find((f) => f.frame.kind.case === "hello");
  if (w?.frame.kind.case !== "hello") throw new Error("no Hello sent");
  return w.frame.kind.value;
}

function failCode(action: HandshakeAction | undefined): string {
  if (action?.type !== "fail") throw new Error(`expected a fail action, got ${action?.type}`);
  return action.error.code;
}

describe("certificate binding between two nodes whose certificates carry their identity keys", () => {
  it("both Hellos are TLS_CERTIFICATE with an empty proof, and both sides open with peerProof 'certificate'", () => {
    const { dialer, listener } = runPair(
      { identity: alice, binding: certBinding(alice.publicKey, bob.publicKey), expectedPeerId: bob.peerId },
      { identity: bob, binding: certBinding(bob.publicKey, alice.publicKey) },
    );
    for (const side of [dialer, listener]) {
      const hello = helloOf(side.actions);
      expect(hello.binding).toBe(ChannelBinding.TLS_CERTIFICATE);
      expect(hello.proof.length).toBe(0);
      const end = outcome(side);
      expect(end?.type).toBe("open");
      if (end?.type === "open") expect(end.result.peerProof).toBe("certificate");
    }
  });

  it("a side whose certificate key is not its identity key signs as before; the other side still uses its certificate", () => {
    // Alice presents an organisation's certificate (another key): she proves her identity with a signature.
    const orgKey = mallory.publicKey;
    const { dialer, listener } = runPair(
      { identity: alice, binding: certBinding(orgKey, bob.publicKey) },
      { identity: bob, binding: certBinding(bob.publicKey, orgKey) },
    );
    expect(helloOf(dialer.actions).binding).toBe(ChannelBinding.TLS_EXPORTER);
    expect(helloOf(dialer.actions).proof.length).toBe(64);
    expect(helloOf(listener.actions).binding).toBe(ChannelBinding.TLS_CERTIFICATE);
    const l = outcome(listener);
    const d = outcome(dialer);
    expect(l?.type === "open" && l.result.peerProof).toBe("signature");
    expect(d?.type === "open" && d.result.peerProof).toBe("certificate");
  });

  it("without certificate binding agreed (ALPN peerlink/1), Hellos carry signed proofs", () => {
    const { dialer, listener } = runPair({ identity: alice, binding: { type: "tls", exporter } }, { identity: bob, binding: { type: "tls", exporter } });
    for (const side of [dialer, listener]) {
      expect(helloOf(side.actions).binding).toBe(ChannelBinding.TLS_EXPORTER);
      const end = outcome(side);
      expect(end?.type === "open" && end.result.peerProof).toBe("signature");
    }
  });
});

describe("a certificate-bound Hello the receiver must refuse", () => {
  /** A listener Hello from `bob` claiming TLS_CERTIFICATE, as `rewrite` changes it, delivered to a dialer. */
  function deliverListenerHello(dialerBinding: ChannelBindingInput, rewrite: (h: Record<string, unknown>) => Record<string, unknown> = (h) => h): HandshakeAction[] {
    const l = new Handshake({ identity: bob, role: "listener", binding: certBinding(bob.publicKey, alice.publicKey) });
    const [sent] = sentFrames(l.start()) as [WireFrame];
    if (sent.frame.kind.case !== "hello") throw new Error("no Hello");
    const frame = create(FrameSchema, { kind: { case: "hello", value: rewrite({ ...sent.frame.kind.value }) } });
    const d = new Handshake({ identity: alice, role: "dialer", binding: dialerBinding });
    d.start();
    return d.receive(frame, toBinary(FrameSchema, frame));
  }

  it("when the peer's certificate carries another key (a relay with its own certificate): AUTHENTICATION_FAILED", () => {
    const actions = deliverListenerHello(certBinding(alice.publicKey, mallory.publicKey));
    expect(failCode(actions.at(-1))).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(actions.some((a) => a.type === "open")).toBe(false);
  });

  it("when the peer's certificate key is unknown (not Ed25519, or a resumed session without its key): AUTHENTICATION_FAILED", () => {
    expect(failCode(deliverListenerHello(certBinding(alice.publicKey, undefined)).at(-1))).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("when certificate binding was not agreed (peerlink/1): AUTHENTICATION_FAILED, even if the certificate matches", () => {
    expect(failCode(deliverListenerHello({ type: "tls", exporter }).at(-1))).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("on plain TCP: AUTHENTICATION_FAILED", () => {
    expect(failCode(deliverListenerHello({ type: "nonces" }).at(-1))).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("with a non-empty proof: PROTOCOL_VIOLATION", () => {
    const actions = deliverListenerHello(certBinding(alice.publicKey, bob.publicKey), (h) => ({ ...h, proof: new Uint8Array(64) }));
    expect(failCode(actions.at(-1))).toBe(ErrorCode.PROTOCOL_VIOLATION);
  });
});
