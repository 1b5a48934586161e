import { create, toBinary } from "@bufbuild/protobuf";
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import type { GoodbyeReason } from "../../generated/peerlink/v1/goodbye_pb.js";
import { ChannelBinding, KeyType } from "../../generated/peerlink/v1/handshake_pb.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity, verifySignature } from "../../src/identity/identity.js";
import { Handshake } from "../../src/handshake/handshake.js";
import { answeredBy } from "../../src/handshake/proven-failures.js";
import { MAX_EARLY_DATA_MESSAGES } from "../../src/handshake/defaults.js";
import type { ChannelBindingInput, HandshakeAction, HandshakeOptions } from "../../src/handshake/types.js";
import { dataFrame, outcome, runPair, sentFrames, splitFrames, type WireFrame } from "./pair.js";

const alice = Identity.generate();
const bob = Identity.generate();
const exporter = new Uint8Array(randomBytes(32));
const tls = { type: "tls", exporter } as const;
const nonces = { type: "nonces" } as const;
const bindings = [
  ["TLS exporter", tls],
  ["nonces", nonces],
] as const;

function failOf(action: HandshakeAction | undefined): { reason: string; code: string; initiator: string | undefined } {
  if (action?.type !== "fail") throw new Error(`expected a fail action, got ${action?.type}`);
  return { reason: action.reason, code: action.error.code, initiator: action.error.initiator };
}

function goodbyeReasons(actions: readonly HandshakeAction[]): number[] {
  return sentFrames(actions).flatMap((w) => (w.frame.kind.case === "goodbye" ? [w.frame.kind.value.reason] : []));
}

describe.each(bindings)("a handshake between two honest nodes (%s binding)", (_name, binding) => {
  const dialerOpts = {
    identity: alice,
    binding,
    protocols: [{ name: "/chat", versions: [1, 2], alias: 3 }, { name: "/only-alice", versions: [1], alias: 4 }],
    capabilities: [{ name: "peerlink.bandwidth-probe", version: 2 }, { name: "x.alice", version: 1 }],
    listenAddrs: ["127.0.0.1:4001"],
    agent: "alice/1",
  };
  const listenerOpts = {
    identity: bob,
    binding,
    protocols: [{ name: "/chat", versions: [2, 3], alias: 9 }],
    capabilities: [{ name: "peerlink.bandwidth-probe", version: 1 }],
    listenAddrs: ["[::1]:5001"],
    agent: "bob/1",
  };

  it("opens both sides with each other's verified peer id and key", () => {
    const { dialer, listener } = runPair({ ...dialerOpts, expectedPeerId: bob.peerId }, listenerOpts);
    const d = outcome(dialer);
    const l = outcome(listener);
    expect(d?.type).toBe("open");
    expect(l?.type).toBe("open");
    if (d?.type !== "open" || l?.type !== "open") return;
    expect(d.result.remotePeerId.equals(bob.peerId)).toBe(true);
    expect(l.result.remotePeerId.equals(alice.peerId)).toBe(true);
    expect(d.result.remotePublicKey).toEqual(bob.publicKey);
    expect(l.result.remotePublicKey).toEqual(alice.publicKey);
    expect(dialer.hs.phase).toBe("open");
    expect(listener.hs.phase).toBe("open");
  });

  it("agrees on the same version, capabilities and protocols on both sides, with mirrored aliases", () => {
    const { dialer, listener } = runPair(dialerOpts, listenerOpts);
    const d = dialer.hs.result;
    const l = listener.hs.result;
    expect(d?.version).toBe(1);
    expect(l?.version).toBe(1);
    expect(d?.capabilities).toEqual([{ name: "peerlink.bandwidth-probe", version: 1 }]);
    expect(l?.capabilities).toEqual(d?.capabilities);
    expect(d?.protocols).toEqual([{ name: "/chat", version: 2, localAlias: 3, remoteAlias: 9 }]);
    expect(l?.protocols).toEqual([{ name: "/chat", version: 2, localAlias: 9, remoteAlias: 3 }]);
    expect(d?.remoteListenAddrs).toEqual(["[::1]:5001"]);
    expect(l?.remoteListenAddrs).toEqual(["127.0.0.1:4001"]);
    expect(d?.remoteAgent).toBe("bob/1");
    expect(d?.binding).toBe(binding.type);
    expect(d?.earlyData).toBe(false);
  });

  it("sends no Goodbye on success", () => {
    const { dialer, listener } = runPair(dialerOpts, listenerOpts);
    expect(goodbyeReasons(dialer.actions)).toEqual([]);
    expect(goodbyeReasons(listener.actions)).toEqual([]);
  });
});

describe("the frames each binding puts on the wire", () => {
  it("with TLS, each side sends exactly one Hello carrying a 64-byte proof and no Auth", () => {
    const { dialer, listener } = runPair({ identity: alice, binding: tls }, { identity: bob, binding: tls });
    for (const side of [dialer, listener]) {
      const frames = sentFrames(side.actions);
      expect(frames.map((f) => f.frame.kind.case)).toEqual(["hello"]);
      const hello = frames[0]?.frame.kind;
      expect(hello?.case === "hello" && hello.value.proof.length).toBe(64);
      expect(hello?.case === "hello" && hello.value.binding).toBe(ChannelBinding.TLS_EXPORTER);
    }
  });

  it("without TLS, each side sends a Hello with an empty proof and then one Auth", () => {
    const { dialer, listener } = runPair({ identity: alice, binding: nonces }, { identity: bob, binding: nonces });
    for (const side of [dialer, listener]) {
      const frames = sentFrames(side.actions);
      expect(frames.map((f) => f.frame.kind.case)).toEqual(["hello", "auth"]);
      const hello = frames[0]?.frame.kind;
      expect(hello?.case === "hello" && hello.value.proof.length).toBe(0);
      expect(hello?.case === "hello" && hello.value.nonce.length).toBe(32);
    }
  });

  it("the TLS proof is the signature over the label, the signer's role byte and the exporter", () => {
    const hs = new Handshake({ identity: alice, role: "listener", binding: tls });
    const [hello] = sentFrames(hs.start());
    const proof = hello?.frame.kind.case === "hello" ? hello.frame.kind.value.proof : new Uint8Array();
    const signed = Buffer.concat([Buffer.from("peerlink-v1-tls-binding", "ascii"), Buffer.of(0x02), exporter]);
    expect(signed.length).toBe(23 + 1 + 32);
    expect(verifySignature(alice.publicKey, signed, proof)).toBe(true);
    const asDialer = Buffer.concat([Buffer.from("peerlink-v1-tls-binding", "ascii"), Buffer.of(0x01), exporter]);
    expect(verifySignature(alice.publicKey, asDialer, proof)).toBe(false);
  });

  it("the nonce proof signs the label, the role byte and the SHA-256 of both Hello bodies as sent", () => {
    const { dialer, listener } = runPair({ identity: alice, binding: nonces }, { identity: bob, binding: nonces });
    const [dHello, dAuth] = sentFrames(dialer.actions);
    const [lHello] = sentFrames(listener.actions);
    const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();
    const signed = Buffer.concat([
      Buffer.from("peerlink-v1-nonce-binding", "ascii"),
      Buffer.of(0x01),
      sha((dHello as WireFrame).body),
      sha((lHello as WireFrame).body),
    ]);
    const proof = dAuth?.frame.kind.case === "auth" ? dAuth.frame.kind.value.proof : new Uint8Array();
    expect(verifySignature(alice.publicKey, signed, proof)).toBe(true);
  });

  it("uses fresh nonces for every handshake", () => {
    const a = sentFrames(new Handshake({ identity: alice, role: "dialer", binding: nonces }).start())[0];
    const b = sentFrames(new Handshake({ identity: alice, role: "dialer", binding: nonces }).start())[0];
    const nonceOf = (w: WireFrame | undefined) => (w?.frame.kind.case === "hello" ? w.frame.kind.value.nonce : undefined);
    expect(nonceOf(a)).not.toEqual(nonceOf(b));
  });
});

describe("a relay in the middle", () => {
  it("with TLS terminated on both legs (different exporters), both sides fail with AUTHENTICATION_FAILED and never open", () => {
    const otherExporter = new Uint8Array(randomBytes(32));
    const { dialer, listener } = runPair(
      { identity: alice, binding: { type: "tls", exporter } },
      { identity: bob, binding: { type: "tls", exporter: otherExporter } },
    );
    expect(failOf(outcome(dialer))).toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED, initiator: "local" });
    expect(failOf(outcome(listener))).toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED, initiator: "local" });
    expect(dialer.actions.some((a) => a.type === "open")).toBe(false);
    expect(listener.actions.some((a) => a.type === "open")).toBe(false);
  });

  it("without TLS, a relay that substitutes its own nonce is caught by the Auth proof", () => {
    const tamper = (from: "dialer" | "listener", w: WireFrame): WireFrame => {
      if (from !== "listener" || w.frame.kind.case !== "hello") return w;
      const hello = { ...w.frame.kind.value, nonce: new Uint8Array(32).fill(1) };
      const frame = create(FrameSchema, { kind: { case: "hello", value: hello } });
      return { frame, body: toBinary(FrameSchema, frame) };
    };
    const { dialer, listener } = runPair({ identity: alice, binding: nonces }, { identity: bob, binding: nonces }, { tamper });
    expect(failOf(outcome(listener)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(failOf(outcome(dialer)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("a proof signed for the other role is rejected (a reflected Hello does not verify)", () => {
    // The listener reflects the dialer's own TLS Hello back: same exporter, same key, wrong role byte.
    const d = new Handshake({ identity: alice, role: "dialer", binding: tls });
    const [hello] = sentFrames(d.start());
    const actions = d.receive((hello as WireFrame).frame, (hello as WireFrame).body);
    expect(failOf(actions.at(-1)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });
});

describe("checks after the proof verified", () => {
  it.each(bindings)("a node that reaches itself fails with SELF_CONNECTION on both ends (%s)", (_n, binding) => {
    const { dialer, listener } = runPair({ identity: alice, binding }, { identity: alice, binding });
    expect(failOf(outcome(dialer))).toMatchObject({ code: ErrorCode.SELF_CONNECTION, reason: "self_connection" });
    expect(failOf(outcome(listener))).toMatchObject({ code: ErrorCode.SELF_CONNECTION, reason: "self_connection" });
  });

  it.each(bindings)("a dialer expecting another peer id fails with IDENTITY_MISMATCH and says so in its Goodbye (%s)", (_n, binding) => {
    const carol = Identity.generate();
    const { dialer } = runPair({ identity: alice, binding, expectedPeerId: carol.peerId }, { identity: bob, binding });
    expect(failOf(outcome(dialer))).toMatchObject({
      code: ErrorCode.IDENTITY_MISMATCH,
      reason: "unexpected_identity",
      initiator: "local",
    });
    expect(goodbyeReasons(dialer.actions)).toEqual([11 /* UNEXPECTED_IDENTITY */]);
    // The identity that proved itself instead rides along, for the dialer to record at the address.
    const fail = outcome(dialer);
    expect(fail?.type === "fail" ? answeredBy(fail.error)?.toString() : undefined).toBe(bob.peerId.toString());
  });

  it("a listener that already verified the dialer reads its UNEXPECTED_IDENTITY Goodbye as IDENTITY_MISMATCH from the remote", () => {
    const l = new Handshake({ identity: bob, role: "listener", binding: tls });
    l.start();
    const frame = create(FrameSchema, { kind: { case: "goodbye", value: { reason: 11 } } });
    expect(failOf(l.receive(frame, toBinary(FrameSchema, frame))[0])).toMatchObject({
      code: ErrorCode.IDENTITY_MISMATCH,
      initiator: "remote",
    });
  });

  it("disjoint version ranges fail both sides with PROTOCOL_MISMATCH (incompatible_version)", () => {
    const { dialer, listener } = runPair(
      { identity: alice, binding: tls, versions: { min: 1, max: 1 } },
      { identity: bob, binding: tls, versions: { min: 2, max: 3 } },
    );
    expect(failOf(outcome(dialer))).toMatchObject({ code: ErrorCode.PROTOCOL_MISMATCH, reason: "incompatible_version" });
    expect(failOf(outcome(listener))).toMatchObject({ code: ErrorCode.PROTOCOL_MISMATCH, reason: "incompatible_version" });
  });

  it("overlapping version ranges agree on the highest common version", () => {
    const { dialer, listener } = runPair(
      { identity: alice, binding: tls, versions: { min: 1, max: 4 } },
      { identity: bob, binding: tls, versions: { min: 2, max: 3 } },
    );
    expect(dialer.hs.result?.version).toBe(3);
    expect(listener.hs.result?.version).toBe(3);
  });

  it("a required capability the peer does not know fails both sides with PROTOCOL_MISMATCH", () => {
    const { dialer, listener } = runPair(
      { identity: alice, binding: nonces },
      { identity: bob, binding: nonces, capabilities: [{ name: "x.future", version: 1, required: true }] },
    );
    const d = failOf(outcome(dialer));
    const l = failOf(outcome(listener));
    expect(d).toMatchObject({ code: ErrorCode.PROTOCOL_MISMATCH, reason: "incompatible_version" });
    expect(l).toMatchObject({ code: ErrorCode.PROTOCOL_MISMATCH, reason: "incompatible_version" });
  });

  it("sends a Goodbye with the failing reason", () => {
    const { dialer } = runPair(
      { identity: alice, binding: tls, versions: { min: 1, max: 1 } },
      { identity: bob, binding: tls, versions: { min: 2, max: 2 } },
    );
    expect(goodbyeReasons(dialer.actions)).toEqual([9 /* INCOMPATIBLE_VERSION */]);
  });
});

/** A dialer-side handshake that has started, plus a crafted listener Hello to feed it. */
function craftedHello(overrides: Record<string, unknown>, identity = bob, binding: ChannelBindingInput = tls): WireFrame {
  const proof =
    binding.type === "tls"
      ? identity.sign(Buffer.concat([Buffer.from("peerlink-v1-tls-binding"), Buffer.of(0x02), exporter]))
      : new Uint8Array(0);
  const frame = create(FrameSchema, {
    kind: {
      case: "hello",
      value: {
        minVersion: 1,
        maxVersion: 1,
        peerId: identity.peerId.bytes,
        keyType: KeyType.ED25519,
        publicKey: identity.publicKey,
        nonce: new Uint8Array(randomBytes(32)),
        binding: binding.type === "tls" ? ChannelBinding.TLS_EXPORTER : ChannelBinding.NONCES,
        proof,
        ...overrides,
      },
    },
  });
  return { frame, body: toBinary(FrameSchema, frame) };
}

function startedDialer(options: Partial<HandshakeOptions> = {}): Handshake {
  const hs = new Handshake({ identity: alice, role: "dialer", binding: tls, ...options });
  hs.start();
  return hs;
}

describe("a peer Hello that breaks the rules", () => {
  it.each([
    ["a 16-byte nonce", { nonce: new Uint8Array(16) }],
    ["an empty nonce", { nonce: new Uint8Array(0) }],
    ["a 31-byte public key", { publicKey: new Uint8Array(31) }],
    ["an empty peer id", { peerId: new Uint8Array(0) }],
    ["an unknown key type", { keyType: 7 }],
    ["min_version above max_version", { minVersion: 3, maxVersion: 2 }],
    ["version 0", { minVersion: 0, maxVersion: 0 }],
    ["early_data set by a listener", { earlyData: true }],
    ["a duplicated protocol alias", { protocols: [{ name: "/a", versions: [1], alias: 1 }, { name: "/b", versions: [1], alias: 1 }] }],
    ["an empty capability name", { capabilities: [{ name: "", version: 1 }] }],
    ["a 65-byte capability name", { capabilities: [{ name: "c".repeat(65), version: 1 }] }],
  ])("with %s is a PROTOCOL_VIOLATION", (_what, overrides) => {
    const hs = startedDialer();
    const w = craftedHello(overrides);
    const actions = hs.receive(w.frame, w.body);
    expect(failOf(actions.at(-1))).toMatchObject({ code: ErrorCode.PROTOCOL_VIOLATION, reason: "protocol_violation" });
    expect(goodbyeReasons(actions)).toEqual([4 /* PROTOCOL_VIOLATION */]);
  });

  it("whose peer id is not the hash of its key fails with AUTHENTICATION_FAILED", () => {
    const hs = startedDialer();
    const w = craftedHello({ peerId: alice.peerId.bytes });
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("with a corrupted proof fails with AUTHENTICATION_FAILED", () => {
    const hs = startedDialer();
    const good = craftedHello({});
    const proof = good.frame.kind.case === "hello" ? Uint8Array.from(good.frame.kind.value.proof) : new Uint8Array(64);
    proof[10] = (proof[10] as number) ^ 0xff;
    const w = craftedHello({ proof });
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("with a truncated proof fails with AUTHENTICATION_FAILED", () => {
    const hs = startedDialer();
    const w = craftedHello({ proof: new Uint8Array(10) });
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("binding to nonces inside TLS fails with AUTHENTICATION_FAILED", () => {
    const hs = startedDialer();
    const w = craftedHello({}, bob, nonces);
    expect(failOf(hs.receive(w.frame, w.body).at(-1))).toMatchObject({
      code: ErrorCode.AUTHENTICATION_FAILED,
      reason: "authentication_failed",
    });
  });

  it("binding to a TLS exporter on plain TCP fails with AUTHENTICATION_FAILED", () => {
    const hs = startedDialer({ binding: nonces });
    const w = craftedHello({}, bob, tls);
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("with an unspecified binding fails with AUTHENTICATION_FAILED", () => {
    const hs = startedDialer();
    const w = craftedHello({ binding: ChannelBinding.UNSPECIFIED });
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("carrying a proof on plain TCP is a PROTOCOL_VIOLATION", () => {
    const hs = startedDialer({ binding: nonces });
    const w = craftedHello({ proof: new Uint8Array(64) }, bob, nonces);
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
  });
});

describe("frames in the wrong order", () => {
  const frameOf = (init: Parameters<typeof create<typeof FrameSchema>>[1]): WireFrame => {
    const frame = create(FrameSchema, init);
    return { frame, body: toBinary(FrameSchema, frame) };
  };

  it.each([
    ["a Ping", { kind: { case: "ping" as const, value: { nonce: 1, timestampUs: 2 } } }],
    ["a Pong", { kind: { case: "pong" as const, value: { nonce: 1, timestampUs: 2 } } }],
    ["a CapabilityUpdate", { kind: { case: "capabilityUpdate" as const, value: {} } }],
    ["a BandwidthProbe", { kind: { case: "bandwidthProbe" as const, value: { count: 1 } } }],
    ["an empty frame (no kind)", {}],
  ])("%s before the connection is open is a PROTOCOL_VIOLATION", (_what, init) => {
    const hs = startedDialer();
    const w = frameOf(init);
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
  });

  it("an Auth before the Hello is a PROTOCOL_VIOLATION", () => {
    const hs = startedDialer({ binding: nonces });
    const w = frameOf({ kind: { case: "auth", value: { proof: new Uint8Array(64) } } });
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
  });

  it("an Auth on a TLS connection is a PROTOCOL_VIOLATION", () => {
    const hs = startedDialer();
    const w = frameOf({ kind: { case: "auth", value: { proof: new Uint8Array(64) } } });
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
  });

  it("a second Hello is a PROTOCOL_VIOLATION", () => {
    const hs = startedDialer({ binding: nonces });
    const w = craftedHello({}, bob, nonces);
    expect(hs.receive(w.frame, w.body).map((a) => a.type)).toEqual(["send"]);
    expect(failOf(hs.receive(w.frame, w.body).at(-1)).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
  });

  it("Data from the listener before the connection is open is a PROTOCOL_VIOLATION", () => {
    const hs = startedDialer({ binding: nonces });
    expect(failOf(hs.receiveData(1, Uint8Array.of(1)).at(-1)).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
  });

  it("a body that is not a protobuf Frame is a MALFORMED_FRAME and sends Goodbye PROTOCOL_VIOLATION", () => {
    const hs = startedDialer();
    const actions = hs.receiveBody(Uint8Array.of(0x0a, 0xff, 0x01));
    expect(failOf(actions.at(-1))).toMatchObject({ code: ErrorCode.MALFORMED_FRAME, reason: "protocol_violation" });
    expect(goodbyeReasons(actions)).toEqual([4]);
  });

  it("frames after a failure are ignored", () => {
    const hs = startedDialer();
    hs.receiveBody(Uint8Array.of(0x0a, 0xff, 0x01));
    const w = craftedHello({});
    expect(hs.receive(w.frame, w.body)).toEqual([]);
    expect(hs.phase).toBe("failed");
  });
});

describe("a Goodbye from the peer during the handshake", () => {
  it("fails with the peer's reason and remote initiator, without answering", () => {
    const hs = startedDialer();
    const frame = create(FrameSchema, { kind: { case: "goodbye", value: { reason: 12, detail: "slow down" } } });
    const actions = hs.receive(frame, toBinary(FrameSchema, frame));
    expect(actions).toHaveLength(1);
    const f = failOf(actions[0]);
    expect(f).toMatchObject({ code: ErrorCode.RATE_LIMITED, reason: "rate_limited", initiator: "remote" });
    expect(actions[0]?.type === "fail" && actions[0].error.message).toContain("slow down");
  });

  it("keeps at most 1 KiB of the peer's detail in the error and its cause, cut at a character boundary", () => {
    // Up to a pre-auth frame (64 KiB) of the peer's text would otherwise ride along into logs and the journal.
    const long = "é".repeat(30_000);
    const hs = startedDialer();
    const frame = create(FrameSchema, { kind: { case: "goodbye", value: { reason: 12, detail: long } } });
    const action = hs.receive(frame, toBinary(FrameSchema, frame))[0];
    const error = action?.type === "fail" ? action.error : undefined;
    const cause = error?.cause as { detail: string } | undefined;
    expect(cause?.detail).toBe("é".repeat(512));
    expect(error?.rawMessage).toBe(`peer ended the handshake (rate_limited): ${"é".repeat(512)}`);
  });

  it("with an unknown reason value is read as normal (CONNECTION_CLOSED)", () => {
    const hs = startedDialer();
    const frame = create(FrameSchema, { kind: { case: "goodbye", value: { reason: 999 as GoodbyeReason } } });
    expect(failOf(hs.receive(frame, toBinary(FrameSchema, frame))[0])).toMatchObject({
      code: ErrorCode.CONNECTION_CLOSED,
      reason: "normal",
    });
  });
});

describe("the handshake timeout", () => {
  it("sends Goodbye TIMEOUT and fails with HANDSHAKE_TIMEOUT", () => {
    const hs = startedDialer();
    const actions = hs.timeout();
    expect(goodbyeReasons(actions)).toEqual([3 /* TIMEOUT */]);
    expect(failOf(actions.at(-1))).toMatchObject({ code: ErrorCode.HANDSHAKE_TIMEOUT, reason: "timeout" });
  });

  it("sends no Goodbye when the own Hello was never sent", () => {
    const hs = new Handshake({ identity: alice, role: "dialer", binding: tls });
    expect(hs.timeout().map((a) => a.type)).toEqual(["fail"]);
  });

  it("does nothing once the handshake is open", () => {
    const { dialer } = runPair({ identity: alice, binding: tls }, { identity: bob, binding: tls });
    expect(dialer.hs.timeout()).toEqual([]);
  });
});

describe("early data (0-RTT) held by the listener", () => {
  const early = [
    { alias: 3, payload: Uint8Array.of(1) },
    { alias: 3, payload: Uint8Array.of(2, 2) },
    { alias: 4, payload: Uint8Array.of(3, 3, 3) },
  ];

  it("announces early_data in the dialer's Hello", () => {
    const hs = new Handshake({ identity: alice, role: "dialer", binding: nonces, earlyData: true });
    const [hello] = sentFrames(hs.start());
    expect(hello?.frame.kind.case === "hello" && hello.frame.kind.value.earlyData).toBe(true);
    expect(hs.sendsEarlyData).toBe(true);
  });

  it("never announces early_data as a listener, even when asked to", () => {
    const hs = new Handshake({ identity: bob, role: "listener", binding: nonces, earlyData: true });
    const [hello] = sentFrames(hs.start());
    expect(hello?.frame.kind.case === "hello" && hello.frame.kind.value.earlyData).toBe(false);
  });

  it("releases the dialer's early messages once, in order, with the open action after the proof verified", () => {
    const { listener } = runPair(
      { identity: alice, binding: nonces, earlyData: true },
      { identity: bob, binding: nonces },
      { early },
    );
    const opens = listener.actions.filter((a) => a.type === "open");
    expect(opens).toHaveLength(1);
    const open = opens[0];
    expect(open?.type === "open" && open.earlyData).toEqual(early);
    expect(open?.type === "open" && open.result.earlyData).toBe(true);
    expect(listener.hs.heldEarlyDataBytes).toBe(0);
  });

  it("holds early messages and releases nothing while the dialer's Auth is missing", () => {
    const l = new Handshake({ identity: bob, role: "listener", binding: nonces });
    l.start();
    const d = new Handshake({ identity: alice, role: "dialer", binding: nonces, earlyData: true });
    const [hello] = sentFrames(d.start());
    expect(l.receive((hello as WireFrame).frame, (hello as WireFrame).body).map((a) => a.type)).toEqual(["send"]);
    for (const e of early) expect(l.receiveData(e.alias, e.payload)).toEqual([]);
    expect(l.phase).toBe("awaiting-auth");
    expect(l.heldEarlyDataBytes).toBeGreaterThan(6);
  });

  it("drops early messages undelivered when the dialer's identity is not the one a check accepts", () => {
    const { listener } = runPair(
      { identity: alice, binding: nonces, earlyData: true, versions: { min: 5, max: 5 } },
      { identity: bob, binding: nonces },
      { early },
    );
    expect(failOf(outcome(listener)).code).toBe(ErrorCode.PROTOCOL_MISMATCH);
    expect(listener.actions.some((a) => a.type === "open")).toBe(false);
    expect(listener.hs.heldEarlyDataBytes).toBe(0);
  });

  it("drops early messages when the dialer's proof does not verify", () => {
    const tamper = (from: "dialer" | "listener", w: WireFrame): WireFrame => {
      if (from !== "dialer" || w.frame.kind.case !== "auth") return w;
      const frame = create(FrameSchema, { kind: { case: "auth", value: { proof: new Uint8Array(64) } } });
      return { frame, body: toBinary(FrameSchema, frame) };
    };
    const { listener } = runPair(
      { identity: alice, binding: nonces, earlyData: true },
      { identity: bob, binding: nonces },
      { early, tamper },
    );
    expect(failOf(outcome(listener)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(listener.actions.some((a) => a.type === "open")).toBe(false);
  });

  it("treats Data from a dialer that did not announce early data as a PROTOCOL_VIOLATION", () => {
    const { listener } = runPair({ identity: alice, binding: nonces }, { identity: bob, binding: nonces }, { early });
    expect(failOf(outcome(listener)).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
  });

  it("treats early data above the cap as a PROTOCOL_VIOLATION", () => {
    const { listener } = runPair(
      { identity: alice, binding: nonces, earlyData: true },
      { identity: bob, binding: nonces, maxEarlyDataBytes: 100 },
      { early: [{ alias: 1, payload: new Uint8Array(60) }, { alias: 1, payload: new Uint8Array(60) }] },
    );
    const f = failOf(outcome(listener));
    expect(f.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    expect(listener.hs.error?.message).toContain("early data");
  });

  it("holds an early payload that is a small view of a larger buffer as its own bytes, released unchanged", () => {
    // Counted at its length, a view would pin its whole buffer (a 64 KiB slab, a padded frame) until open.
    const slab = new Uint8Array(64 * 1024).fill(9);
    const views = [{ alias: 1, payload: slab.subarray(100, 200) }, { alias: 2, payload: slab.subarray(0, 40_000) }];
    const { listener } = runPair({ identity: alice, binding: nonces, earlyData: true }, { identity: bob, binding: nonces }, { early: views });
    const open = listener.actions.find((a) => a.type === "open");
    const released = open?.type === "open" ? open.earlyData : [];
    expect(released.map((m) => [m.alias, m.payload.length])).toEqual([
      [1, 100],
      [2, 40_000],
    ]);
    expect(released[0]?.payload.buffer.byteLength).toBe(100);
    expect(released[0]?.payload.every((b) => b === 9)).toBe(true);
    // Most of its buffer: kept as the view it came as (no copy of a large payload).
    expect(released[1]?.payload.buffer).toBe(slab.buffer);
  });

  it("holds exactly up to the default 64 KiB cap", () => {
    const l = new Handshake({ identity: bob, role: "listener", binding: nonces });
    l.start();
    const d = new Handshake({ identity: alice, role: "dialer", binding: nonces, earlyData: true });
    const [hello] = sentFrames(d.start());
    l.receive((hello as WireFrame).frame, (hello as WireFrame).body);
    const payload = new Uint8Array(1000);
    const frameBytes = dataFrame(1, payload).body.length;
    const fits = Math.floor((64 * 1024) / frameBytes);
    for (let i = 0; i < fits; i++) expect(l.receiveData(1, payload)).toEqual([]);
    expect(l.heldEarlyDataBytes).toBe(fits * frameBytes);
    expect(failOf(l.receiveData(1, payload).at(-1)).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
  });

  it("holds at most 1,024 early messages, however small: each costs memory its few bytes do not count", () => {
    // 64 KiB of empty Data frames were 16,384 held messages: 3.7 MiB of heap for one unverified dialer.
    const l = new Handshake({ identity: bob, role: "listener", binding: nonces });
    l.start();
    const d = new Handshake({ identity: alice, role: "dialer", binding: nonces, earlyData: true });
    const [hello] = sentFrames(d.start());
    l.receive((hello as WireFrame).frame, (hello as WireFrame).body);
    const empty = new Uint8Array(0);
    for (let i = 0; i < MAX_EARLY_DATA_MESSAGES; i++) expect(l.receiveData(1, empty)).toEqual([]);
    expect(l.heldEarlyDataBytes).toBeLessThan(64 * 1024);
    const failed = l.receiveData(1, empty).at(-1);
    expect(failOf(failed).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    expect(l.error?.message).toContain("early data exceeds the limit");
  });
});

describe("constructor options", () => {
  it.each([
    ["an exporter of the wrong length", { binding: { type: "tls", exporter: new Uint8Array(16) } }],
    ["an unknown binding", { binding: { type: "psk" } }],
    ["an empty version range", { versions: { min: 2, max: 1 } }],
    ["version 0", { versions: { min: 0, max: 1 } }],
    ["duplicate protocol aliases", { protocols: [{ name: "/a", versions: [1], alias: 1 }, { name: "/b", versions: [1], alias: 1 }] }],
    ["a protocol without versions", { protocols: [{ name: "/a", versions: [], alias: 1 }] }],
    ["a duplicate capability", { capabilities: [{ name: "c", version: 1 }, { name: "c", version: 2 }] }],
    ["a negative early-data cap", { maxEarlyDataBytes: -1 }],
    // More than a peer accepts in a Hello (§3.2: 256 entries per list).
    ["257 protocols", { protocols: Array.from({ length: 257 }, (_, i) => ({ name: `/p${i}`, versions: [1], alias: i })) }],
    ["257 capabilities", { capabilities: Array.from({ length: 257 }, (_, i) => ({ name: `c${i}`, version: 1 })) }],
    ["257 listen addresses", { listenAddrs: Array.from({ length: 257 }, (_, i) => `127.0.0.1:${1000 + i}`) }],
    ["a protocol with 257 versions", { protocols: [{ name: "/a", versions: Array.from({ length: 257 }, (_, i) => i + 1), alias: 1 }] }],
  ])("rejects %s with INVALID_ARGUMENT", (_what, overrides) => {
    expect(() => new Handshake({ identity: alice, role: "dialer", binding: tls, ...(overrides as object) })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });

  it("accepts exactly 256 entries in each list", () => {
    const hs = new Handshake({
      identity: alice,
      role: "dialer",
      binding: tls,
      protocols: Array.from({ length: 256 }, (_, i) => ({ name: `/p${i}`, versions: [1], alias: i })),
      capabilities: Array.from({ length: 256 }, (_, i) => ({ name: `c${i}`, version: 1 })),
      listenAddrs: Array.from({ length: 256 }, (_, i) => `127.0.0.1:${1000 + i}`),
    });
    expect(hs.phase).toBeDefined();
  });

  it("refuses to start twice", () => {
    const hs = startedDialer();
    expect(() => hs.start()).toThrow(PeerlinkError);
  });

  it("reports the alias it declared for a protocol, for early-data sends", () => {
    const hs = new Handshake({ identity: alice, role: "dialer", binding: tls, protocols: [{ name: "/x", versions: [1], alias: 42 }] });
    expect(hs.localAliasFor("/x")).toBe(42);
    expect(hs.localAliasFor("/y")).toBeUndefined();
  });
});

describe("the bytes a Hello goes out as", () => {
  it("are one length-prefixed frame whose body decodes back to the Hello", () => {
    const hs = new Handshake({ identity: alice, role: "dialer", binding: tls, agent: "a".repeat(200) });
    const [send] = hs.start();
    expect(send?.type).toBe("send");
    const bytes = send?.type === "send" ? send.bytes : new Uint8Array();
    const frames = splitFrames(bytes);
    expect(frames).toHaveLength(1);
    // A body over 127 bytes needs a two-byte LEB128 prefix.
    expect(bytes.length).toBe((frames[0] as WireFrame).body.length + 2);
    expect(frames[0]?.frame.kind.case === "hello" && frames[0].frame.kind.value.agent).toBe("a".repeat(200));
  });
});

describe("the own Hello", () => {
  it("is refused with INVALID_ARGUMENT when it would exceed the pre-authentication frame limit (peers would refuse it)", () => {
    // 256 protocols with the longest names and 256 listen addresses still fit (about 41 KB)...
    const protocols = Array.from({ length: 256 }, (_, i) => ({ name: `/p${i}`.padEnd(128, "x"), versions: [1, 2, 3], alias: i + 1 }));
    const listenAddrs: string[] = Array(256).fill("[2001:db8::1]:40001");
    const fits = new Handshake({ identity: alice, role: "dialer", binding: nonces, protocols, listenAddrs });
    expect(fits.start()).toHaveLength(1);
    // ...a 30 KB agent string on top does not.
    const big = new Handshake({ identity: alice, role: "dialer", binding: nonces, protocols, listenAddrs, agent: "a".repeat(30_000) });
    expect(() => big.start()).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});
