// The per-connection shortcuts of the handshake (lists scanned instead of hashed when short, the node's lists
// validated and encoded once) must decide exactly what the general code decides, and must not serve stale
// values when the options they were built from change in place.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HelloSchema, KeyType, type Hello } from "../../generated/peerlink/v1/handshake_pb.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Handshake } from "../../src/handshake/handshake.js";
import { checkHello } from "../../src/handshake/hello-check.js";
import { negotiateCapabilities, negotiateProtocols } from "../../src/handshake/negotiate.js";
import type { AgreedProtocol, CapabilitySpec, HandshakeAction, ProtocolSpec } from "../../src/handshake/types.js";
import { base32Encode } from "../../src/identity/base32.js";
import { Identity } from "../../src/identity/identity.js";
import { PeerId, peerIdDigest } from "../../src/identity/peer-id.js";
import { sentFrames } from "./pair.js";

const bob = Identity.generate();
const alice = Identity.generate();

function helloWith(fields: Omit<MessageInitShape<typeof HelloSchema>, "$typeName">): Hello {
  return create(HelloSchema, {
    minVersion: 1,
    maxVersion: 1,
    peerId: bob.peerId.bytes,
    keyType: KeyType.ED25519,
    publicKey: bob.publicKey,
    nonce: new Uint8Array(32),
    ...fields,
  });
}

const protocols = (n: number): { name: string; versions: number[]; alias: number }[] =>
  Array.from({ length: n }, (_, i) => ({ name: `/p${i}`, versions: [1], alias: i + 1 }));
const capabilities = (n: number): { name: string; version: number; required: boolean }[] =>
  Array.from({ length: n }, (_, i) => ({ name: `c${i}`, version: 1, required: false }));

function violation(hello: Hello): string | undefined {
  const check = checkHello(hello, "listener");
  if (check.ok) return undefined;
  expect(check.error.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
  return check.error.rawMessage;
}

describe("checkHello on short and long lists", () => {
  // 8 and below are scanned, above with Sets: both sides of the boundary, the duplicate first, last and inside.
  const sizes = [2, 7, 8, 9, 10, 64, 256];

  it.each(sizes)("finds a repeated protocol name, alias or capability name among %i entries", (n) => {
    for (const [at, of] of [[n - 1, 0], [n - 1, n - 2], [1, 0], [Math.floor(n / 2), Math.floor(n / 4)]] as const) {
      if (at === of) continue;
      const named = protocols(n);
      named[at] = { ...named[at]!, name: named[of]!.name };
      expect(violation(helloWith({ protocols: named }))).toBe(`bad Hello: protocol ${JSON.stringify(named[of]!.name)} listed twice`);
      const aliased = protocols(n);
      aliased[at] = { ...aliased[at]!, alias: aliased[of]!.alias };
      expect(violation(helloWith({ protocols: aliased }))).toBe(`bad Hello: alias ${aliased[of]!.alias} used twice`);
      const caps = capabilities(n);
      caps[at] = { ...caps[at]!, name: caps[of]!.name };
      expect(violation(helloWith({ capabilities: caps }))).toBe(`bad Hello: capability ${JSON.stringify(caps[of]!.name)} listed twice`);
    }
  });

  it.each(sizes)("accepts %i distinct entries and measures names in UTF-8 bytes", (n) => {
    expect(checkHello(helloWith({ protocols: protocols(n), capabilities: capabilities(n) }), "listener").ok).toBe(true);
    // 43 three-byte characters are 129 bytes: over the protocol name limit though only 43 code units.
    const long = protocols(n);
    long[n - 1] = { name: "€".repeat(43), versions: [1], alias: 9999 };
    expect(violation(helloWith({ protocols: long }))).toBe("bad Hello: protocol name of 129 bytes");
    const fits = protocols(n);
    fits[n - 1] = { name: "€".repeat(42), versions: [1], alias: 9999 };
    expect(checkHello(helloWith({ protocols: fits }), "listener").ok).toBe(true);
  });

  it("still names the derived peer id and refuses a peer id that is not its key's hash", () => {
    const check = checkHello(helloWith({}), "listener");
    expect(check.ok && check.peerId.equals(bob.peerId)).toBe(true);
    const wrong = checkHello(helloWith({ peerId: alice.peerId.bytes }), "listener");
    expect(!wrong.ok && wrong.error.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });
});

// The Map-based negotiation, as written before the short-list path, as the reference.
function firstByName<T extends { readonly name: string }>(items: readonly T[]): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) if (!map.has(item.name)) map.set(item.name, item);
  return map;
}
function referenceCapabilities(local: readonly CapabilitySpec[], remote: readonly CapabilitySpec[]): unknown {
  const l = firstByName(local);
  const r = firstByName(remote);
  for (const c of l.values()) if (c.required === true && !r.has(c.name)) return { ok: false, name: c.name, requiredBy: "local" };
  for (const c of r.values()) if (c.required === true && !l.has(c.name)) return { ok: false, name: c.name, requiredBy: "remote" };
  const agreed = [...l].flatMap(([name, mine]) => {
    const theirs = r.get(name);
    return theirs === undefined ? [] : [{ name, version: Math.min(mine.version, theirs.version) }];
  });
  return { ok: true, agreed: agreed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
}
function referenceProtocols(local: readonly ProtocolSpec[], remote: readonly ProtocolSpec[]): AgreedProtocol[] {
  const r = firstByName(remote);
  const agreed: AgreedProtocol[] = [];
  for (const mine of firstByName(local).values()) {
    const theirs = r.get(mine.name);
    if (theirs === undefined) continue;
    const common = mine.versions.filter((v) => theirs.versions.includes(v));
    if (common.length > 0) agreed.push({ name: mine.name, version: Math.max(...common), localAlias: mine.alias, remoteAlias: theirs.alias });
  }
  return agreed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

describe("negotiation on short and long lists", () => {
  // Few names, so that lists repeat names and overlap; up to 14 entries, across the short-list boundary.
  const name = fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k");
  const version = fc.integer({ min: 0, max: 12 });
  const caps = fc.array(fc.record({ name, version, required: fc.boolean() }), { maxLength: 14 });
  const protos = fc.array(fc.record({ name, versions: fc.array(version, { minLength: 1, maxLength: 12 }), alias: fc.nat() }), { maxLength: 14 });

  it("agrees on the same capabilities, or fails on the same one, as the Map-based negotiation", () => {
    fc.assert(fc.property(caps, caps, (l, r) => {
      expect(negotiateCapabilities(l, r)).toEqual(referenceCapabilities(l, r));
    }), { numRuns: 2000 });
  });

  it("agrees on the same protocols, versions and aliases as the Map-based negotiation", () => {
    fc.assert(fc.property(protos, protos, (l, r) => {
      expect(negotiateProtocols(l, r)).toEqual(referenceProtocols(l, r));
    }), { numRuns: 2000 });
  });
});

function helloSent(actions: readonly HandshakeAction[]): Hello {
  const frame = sentFrames(actions)[0]?.frame;
  if (frame?.kind.case !== "hello") throw new Error("no Hello sent");
  return frame.kind.value;
}

describe("the node's lists, validated and encoded once", () => {
  const binding = { type: "tls", exporter: new Uint8Array(randomBytes(32)) } as const;
  const start = (options: Record<string, unknown>): Hello =>
    helloSent(new Handshake({ identity: alice, role: "dialer", binding, ...options }).start());

  it("are sent as given, and as changed when the same option objects are changed in place", () => {
    const protocolList: { name: string; versions: number[]; alias: number }[] = [{ name: "/chat", versions: [1, 2], alias: 1 }];
    const capabilityList: { name: string; version: number; required?: boolean }[] = [{ name: "x.cap", version: 1 }];
    const listenAddrs = ["127.0.0.1:4001"];
    const options = { protocols: protocolList, capabilities: capabilityList, listenAddrs, agent: "a/1" };
    const first = start(options);
    expect(first.protocols.map((p) => [p.name, [...p.versions], p.alias])).toEqual([["/chat", [1, 2], 1]]);
    expect(first.capabilities.map((c) => [c.name, c.version, c.required])).toEqual([["x.cap", 1, false]]);
    expect([...first.listenAddrs]).toEqual(["127.0.0.1:4001"]);
    expect(first.agent).toBe("a/1");

    protocolList[0]!.versions.push(3);
    protocolList.push({ name: "/file", versions: [4], alias: 2 });
    capabilityList[0]!.required = true;
    listenAddrs[0] = "127.0.0.1:4002";
    const second = start({ ...options, agent: "a/2" });
    expect(second.protocols.map((p) => [p.name, [...p.versions], p.alias])).toEqual([["/chat", [1, 2, 3], 1], ["/file", [4], 2]]);
    expect(second.capabilities.map((c) => [c.name, c.version, c.required])).toEqual([["x.cap", 1, true]]);
    expect([...second.listenAddrs]).toEqual(["127.0.0.1:4002"]);
    expect(second.agent).toBe("a/2");

    protocolList[1]!.alias = 1; // now a duplicate alias: refused, not served from the earlier validation
    expect(() => start(options)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    protocolList[1]!.alias = 2;
    capabilityList[0]!.version = -1;
    expect(() => start(options)).toThrow(PeerlinkError);
    capabilityList[0]!.version = 7;
    expect(start(options).capabilities[0]!.version).toBe(7);
  });

  it("refuse lists longer than a Hello carries, on every handshake", () => {
    const options = { listenAddrs: Array.from({ length: 257 }, (_, i) => `127.0.0.1:${i + 1}`) };
    for (let i = 0; i < 2; i++) expect(() => start(options)).toThrow(/at most 256 listenAddrs/);
  });
});

describe("peer id bytes and text", () => {
  it("the digest is SHA-256 over the key type byte and the key", () => {
    for (let i = 0; i < 20; i++) {
      const key = new Uint8Array(randomBytes(32));
      const expected = createHash("sha256").update(Uint8Array.of(1)).update(key).digest();
      expect(Buffer.from(peerIdDigest(key)).equals(expected)).toBe(true);
      expect(PeerId.fromPublicKey(key).toString()).toBe(PeerId.fromBytes(expected).toString());
    }
    expect(() => peerIdDigest(new Uint8Array(31))).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_PEER_ID }));
  });

  it("base32 of any length matches the bit-by-bit definition", () => {
    const reference = (bytes: Uint8Array): string => {
      const bits = [...bytes].map((b) => b.toString(2).padStart(8, "0")).join("");
      const padded = bits.padEnd(Math.ceil(bits.length / 5) * 5, "0");
      return (padded.match(/.{5}/g) ?? []).map((g) => "abcdefghijklmnopqrstuvwxyz234567"[parseInt(g, 2)]).join("");
    };
    for (const length of [0, 1, 4, 5, 31, 32, 33, 40, 41, 100]) {
      const bytes = new Uint8Array(randomBytes(length));
      expect(base32Encode(bytes)).toBe(reference(bytes));
    }
  });
});

describe("the peer ids of keys seen lately", () => {
  it("are the ids of the keys, and a key seen before with another key's peer id is still refused", () => {
    const first = checkHello(helloWith({}), "listener");
    const again = checkHello(helloWith({}), "listener");
    expect(first.ok && again.ok).toBe(true);
    if (first.ok && again.ok) {
      expect(again.peerId.equals(bob.peerId)).toBe(true);
      expect(again.peerId.toString()).toBe(PeerId.fromPublicKey(bob.publicKey).toString());
    }
    // Bob's key is known now: a Hello naming Alice's id with it must fail as it did the first time.
    const forged = checkHello(helloWith({ peerId: alice.peerId.bytes }), "listener");
    expect(forged.ok).toBe(false);
    if (!forged.ok) expect(forged.error.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    // And one bit off in the id.
    const bits = bob.peerId.bytes;
    bits[31] = (bits[31] as number) ^ 1;
    const flipped = checkHello(helloWith({ peerId: bits }), "listener");
    expect(flipped.ok).toBe(false);
  });
});
