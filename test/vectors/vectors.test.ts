/**
 * The language-neutral vectors of test/vectors/ (written by generate.py), checked
 * against peerlink's TypeScript: peer ids, identity proofs, the plain-TCP
 * transcript, every frame kind through the node's encoders, every Goodbye
 * reason and the length-prefix rules. The Go and Python suites check the same
 * files (interop/go/peer/vectors_test.go, interop/python/test_vectors.py); this
 * file runs them too, so CI fails when any of the three disagrees.
 */
import { create, equals, fromBinary, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { GoodbyeReason } from "../../generated/peerlink/v1/goodbye_pb.js";
import { encodeGoodbye } from "../../src/handshake/handshake.js";
import { nonceBindingPayload, tlsBindingPayload } from "../../src/handshake/transcript.js";
import { Identity, verifySignature } from "../../src/identity/identity.js";
import { PeerId } from "../../src/identity/peer-id.js";
import { reasonFromWire, reasonToWire } from "../../src/reasons.js";
import { encodeDataFrame, encodeFrame, encodePingFrame, encodePongFrame } from "../../src/wire/frame-encoder.js";
import { PREFIX_INCOMPLETE, PREFIX_MALFORMED, prefixBytesOf, prefixValueOf, readLengthPrefix } from "../../src/wire/varint.js";
import { buildGoPeer, GO_BUILD_TIMEOUT_MS, run } from "../interop/go-toolchain.js";
import { PYTHON, requirePython, runCommand } from "../interop/python-peer-process.js";

const DIR = fileURLToPath(new URL(".", import.meta.url));
/** A vector file, typed by the caller (the files are this folder's own). */
const load = <T>(name: string): T => JSON.parse(readFileSync(join(DIR, name), "utf8")) as T;
interface Cases<T> {
  readonly cases: T[];
}
interface Side {
  readonly seed: string;
  readonly publicKey: string;
  readonly peerId: string;
  readonly authMessage: string;
  readonly authBody: string;
  readonly helloBody: string;
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, "hex"));
/** PKCS#8 PEM of an Ed25519 private key given as its 32-byte seed (RFC 8410). */
const pemOfSeed = (seed: string): string =>
  `-----BEGIN PRIVATE KEY-----\n${Buffer.from(`302e020100300506032b657004220420${seed}`, "hex").toString("base64")}\n-----END PRIVATE KEY-----\n`;

describe("vectors: peer ids (§2)", () => {
  const doc = load<Cases<{ seed: string; publicKey: string; peerId: string; peerIdText: string }>>("peer-id.json");
  it.each(doc.cases)("derives $peerIdText from its key", (c) => {
    const identity = Identity.fromPem(pemOfSeed(c.seed));
    expect(hex(identity.publicKey)).toBe(c.publicKey);
    const id = PeerId.fromPublicKey(bytes(c.publicKey));
    expect(hex(id.bytes)).toBe(c.peerId);
    expect(id.toString()).toBe(c.peerIdText);
    expect(hex(PeerId.parse(c.peerIdText).bytes)).toBe(c.peerId);
  });
});

describe("vectors: the TLS identity proof (§3.3)", () => {
  type Proof = { seed: string; publicKey: string; role: "dialer" | "listener"; exporter: string; message: string; signature: string };
  it.each(load<Cases<Proof>>("identity-proof.json").cases)("signs the $role message to the fixed signature", (c) => {
    const message = tlsBindingPayload(c.role, bytes(c.exporter));
    expect(hex(message)).toBe(c.message);
    const identity = Identity.fromPem(pemOfSeed(c.seed));
    expect(hex(identity.sign(message))).toBe(c.signature);
    expect(verifySignature(bytes(c.publicKey), message, bytes(c.signature))).toBe(true);
    const otherRole = tlsBindingPayload(c.role === "dialer" ? "listener" : "dialer", bytes(c.exporter));
    expect(verifySignature(bytes(c.publicKey), otherRole, bytes(c.signature))).toBe(false);
  });
});

describe("vectors: the plain-TCP Auth transcript (§3.3, §3.5)", () => {
  const t = load<{ dialer: Side; listener: Side; earlyDataBody: string; dialerToListener: string; listenerToDialer: string }>(
    "nonce-transcript.json",
  );
  it.each(["dialer", "listener"] as const)("the %s's Auth signs both Hello bodies with its role", (role) => {
    const side = t[role];
    const message = nonceBindingPayload(role, bytes(t.dialer.helloBody), bytes(t.listener.helloBody));
    expect(hex(message)).toBe(side.authMessage);
    const auth = fromBinary(FrameSchema, bytes(side.authBody));
    expect(auth.kind.case).toBe("auth");
    const proof = auth.kind.case === "auth" ? auth.kind.value.proof : new Uint8Array();
    expect(hex(Identity.fromPem(pemOfSeed(side.seed)).sign(message))).toBe(hex(proof));
    expect(verifySignature(bytes(side.publicKey), message, proof)).toBe(true);
  });

  it("frames each direction exactly as on the wire: Hello, early Data, Auth", () => {
    const frame = (body: string): string => hex(encodeFrame(fromBinary(FrameSchema, bytes(body))));
    expect(frame(t.dialer.helloBody) + frame(t.earlyDataBody) + frame(t.dialer.authBody)).toBe(t.dialerToListener);
    expect(frame(t.listener.helloBody) + frame(t.listener.authBody)).toBe(t.listenerToDialer);
    const hello = fromBinary(FrameSchema, bytes(t.dialer.helloBody));
    expect(hello.kind.case === "hello" && hex(hello.kind.value.peerId)).toBe(t.dialer.peerId);
  });
});

describe("vectors: one frame of every kind (§1.1)", () => {
  const cases = load<Cases<{ kind: string; json: JsonValue; body: string; wire: string }>>("frames.json").cases;

  it("cover every Frame kind", () => {
    expect(cases.map((c) => c.kind).sort()).toEqual(FrameSchema.oneofs[0]?.fields.map((f) => f.localName).sort());
  });

  it.each(cases)("encodes $kind to its bytes and decodes them back", (c) => {
    const frame = fromJson(FrameSchema, c.json);
    expect(hex(encodeFrame(frame))).toBe(c.wire);
    expect(equals(FrameSchema, fromBinary(FrameSchema, bytes(c.body)), frame)).toBe(true);
    // The node's fast paths for the hot kinds must write the very same bytes.
    const k = frame.kind;
    if (k.case === "data") expect(hex(encodeDataFrame(k.value.protocol, k.value.payload))).toBe(c.wire);
    if (k.case === "ping") expect(hex(encodePingFrame(k.value.nonce, k.value.timestampUs))).toBe(c.wire);
    if (k.case === "pong") expect(hex(encodePongFrame(k.value.nonce, k.value.timestampUs))).toBe(c.wire);
  });
});

describe("vectors: every Goodbye reason (§8)", () => {
  const cases = load<Cases<{ value: number; name: string | null; sendable: boolean; body: string; readAs: string }>>("goodbye-reasons.json").cases;
  const wireName = (r: GoodbyeReason): string => `GOODBYE_REASON_${GoodbyeReason[r]}`;

  it.each(cases)("reads reason $value as $readAs", (c) => {
    const frame = fromBinary(FrameSchema, bytes(c.body));
    expect(frame.kind.case).toBe("goodbye");
    const reason = frame.kind.case === "goodbye" ? frame.kind.value.reason : GoodbyeReason.UNSPECIFIED;
    expect(reason).toBe(c.value);
    expect(wireName(reasonToWire(reasonFromWire(reason)))).toBe(c.readAs);
  });

  it.each(cases.filter((c) => c.sendable && c.value !== 0))("sends $name as its bytes", (c) => {
    const reason = reasonFromWire(c.value);
    const body = create(FrameSchema, { kind: { case: "goodbye", value: { reason: c.value } } });
    expect(hex(encodeGoodbye(reason))).toBe(hex(encodeFrame(body)));
    expect(hex(encodeGoodbye(reason)).endsWith(c.body)).toBe(true);
  });
});

describe("vectors: length prefixes (§1)", () => {
  const doc = load<{ maxFrameSize: number } & Cases<{ hex: string; verdict: string; length?: number; prefixBytes?: number }>>(
    "length-prefixes.json",
  );
  it.each(doc.cases)("reads '$hex' as $verdict", (c) => {
    const b = bytes(c.hex);
    const r = readLengthPrefix(b, 0, b.length);
    const verdict =
      r === PREFIX_INCOMPLETE ? "incomplete" : r === PREFIX_MALFORMED ? "malformed" : prefixValueOf(r) > doc.maxFrameSize ? "tooLarge" : "ok";
    expect(verdict).toBe(c.verdict);
    if (c.length !== undefined) expect(prefixValueOf(r)).toBe(c.length);
    if (c.prefixBytes !== undefined) expect(prefixBytesOf(r)).toBe(c.prefixBytes);
  });
});

describe("vectors: the Go and Python suites agree", () => {
  beforeAll(() => requirePython());

  it("go test -run Vectors passes", async () => {
    await buildGoPeer();
    const result = await run("go", ["test", "-count=1", "-run", "Vectors", "./peer/"], { timeoutMs: GO_BUILD_TIMEOUT_MS });
    expect(result.stdout + result.stderr).toMatch(/^ok\s/m);
    expect(result.code).toBe(0);
  }, GO_BUILD_TIMEOUT_MS);

  it("python3 -m unittest test_vectors passes", async () => {
    const result = await runCommand(PYTHON, ["-m", "unittest", "-v", "test_vectors"]);
    expect(result.stderr).toMatch(/^OK$/m);
    expect(result.stderr).toMatch(/Ran [1-9]\d* tests?/);
    expect(result.code).toBe(0);
  });
});
