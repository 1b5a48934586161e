/**
 * Chaos for the sans-IO connection core (in the spirit of CometBFT's FuzzConnConfig): whatever bytes a peer
 * sends — garbage, well-framed garbage, or random valid frames of every kind in any order, cut at random
 * chunk boundaries — the core never throws, only moves through its named states, and when it fails, fails
 * with a typed PeerlinkError.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { prefixWithLength } from "../../src/handshake/frame-bytes.js";
import { Identity } from "../../src/identity/identity.js";
import { corePair, type CorePair } from "./core-pair.js";

const alice = Identity.generate();
const bob = Identity.generate();
const STATES = new Set(["connecting", "securing", "handshaking", "open", "closing", "closed"]);
const CODES = new Set<string>(Object.values(ErrorCode));

function openPair(): CorePair {
  const pair = corePair(
    { secure: false, handshake: { identity: alice, protocols: [{ name: "/chat", versions: [1], alias: 5 }] } },
    { secure: false, handshake: { identity: bob, protocols: [{ name: "/chat", versions: [1], alias: 9 }] } },
    { type: "nonces" },
  );
  pair.pump();
  expect(pair.listener.core.state).toBe("open");
  return pair;
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const smallBytes = fc.uint8Array({ maxLength: 64 });
const name = fc.string({ maxLength: 12 });

/** A random frame of any kind (including kinds that are illegal after the handshake), as wire bytes. */
const randomFrame: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    fc.record({ case: fc.constant("data"), value: fc.record({ protocol: u32, payload: smallBytes }) }),
    fc.record({ case: fc.constant("ping"), value: fc.record({ nonce: u32, timestampUs: u32 }) }),
    fc.record({ case: fc.constant("pong"), value: fc.record({ nonce: u32, timestampUs: u32 }) }),
    fc.record({ case: fc.constant("hello"), value: fc.record({ minVersion: u32, maxVersion: u32, nonce: smallBytes, peerId: smallBytes }) }),
    fc.record({ case: fc.constant("auth"), value: fc.record({ proof: smallBytes }) }),
    fc.record({ case: fc.constant("goodbye"), value: fc.record({ reason: fc.integer({ min: 0, max: 40 }), detail: name, retryAfterMs: u32 }) }),
    fc.record({
      case: fc.constant("capabilityUpdate"),
      value: fc.record({
        added: fc.array(fc.record({ name, version: u32, required: fc.boolean() }), { maxLength: 3 }),
        removed: fc.array(name, { maxLength: 3 }),
        protocolsAdded: fc.array(fc.record({ name, versions: fc.array(u32, { maxLength: 3 }), alias: u32 }), { maxLength: 3 }),
        protocolsRemoved: fc.array(name, { maxLength: 3 }),
      }),
    }),
    fc.record({ case: fc.constant("bandwidthProbe"), value: fc.record({ probeId: u32, index: u32, count: u32, padding: smallBytes }) }),
    fc.record({ case: fc.constant("bandwidthReport"), value: fc.record({ probeId: u32, framesReceived: u32, bytesReceived: u32, elapsedUs: u32 }) }),
    fc.constant({ case: undefined, value: undefined }),
  )
  .map((kind) => prefixWithLength(toBinary(FrameSchema, create(FrameSchema, { kind } as never))));

/** Garbage: raw random bytes, or a valid length prefix followed by random body bytes. */
const garbage: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 64 }),
  fc.uint8Array({ maxLength: 40 }).map((body) => prefixWithLength(body)),
);

/** Concatenates `parts` and cuts the result at the given fractions into chunks. */
function chunk(parts: Uint8Array[], cuts: number[]): Uint8Array[] {
  const all = Buffer.concat(parts);
  const points = [...new Set(cuts.map((c) => Math.floor(c * all.length)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of [...points, all.length]) {
    if (p > last) chunks.push(all.subarray(last, p));
    last = Math.max(last, p);
  }
  return chunks;
}

function feed(pair: CorePair, chunks: Uint8Array[]): void {
  const target = pair.listener;
  for (const bytes of chunks) {
    if (target.destroyed) break;
    pair.now += 1;
    pair.take(target, target.core.receive(bytes, pair.now));
  }
  // Let the core run its deadlines out (graceful close, linger), as the timer adapter would.
  for (let i = 0; i < 5 && !target.destroyed; i++) {
    const next = target.core.nextDeadline();
    if (next === undefined || !Number.isFinite(next)) break;
    pair.now = Math.max(pair.now, next);
    pair.take(target, target.core.tick(pair.now));
  }
  pair.take(target, target.core.transportClosed(pair.now));
}

function checkInvariants(pair: CorePair): void {
  const core = pair.listener.core;
  expect(STATES.has(core.state)).toBe(true);
  expect(core.state).toBe("closed");
  const info = core.closeInfo;
  expect(info).toBeDefined();
  if (info?.error !== undefined) {
    expect(info.error).toBeInstanceOf(PeerlinkError);
    expect(CODES.has(info.error.code)).toBe(true);
  }
  for (const event of pair.listener.events) expect(typeof event.type).toBe("string");
}

describe("an open connection core fed hostile input", () => {
  it("never throws and fails only with typed errors on random valid frames of every kind, cut anywhere", () => {
    fc.assert(
      fc.property(fc.array(randomFrame, { minLength: 1, maxLength: 12 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), (frames, cuts) => {
        const pair = openPair();
        feed(pair, chunk(frames, cuts));
        checkInvariants(pair);
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on garbage mixed with valid frames", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(randomFrame, garbage), { minLength: 1, maxLength: 8 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), (parts, cuts) => {
        const pair = openPair();
        feed(pair, chunk(parts, cuts));
        checkInvariants(pair);
      }),
      { numRuns: 300 },
    );
  });
});
