/**
 * The TLS exporter as a reader (docs/PROTOCOL.md §3.3: the binding is chosen per side): a handshake reads it only
 * when a proof needs it — its own Hello under exporter binding, or a peer's Hello that chose exporter binding —
 * at most once, and a reader that fails fails the handshake with its error.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Handshake } from "../../src/handshake/handshake.js";
import type { HandshakeAction } from "../../src/handshake/types.js";
import { Identity } from "../../src/identity/identity.js";
import { outcome, runPair, sentFrames } from "./pair.js";

const alice = Identity.generate();
const bob = Identity.generate();
const exporter = new Uint8Array(randomBytes(32));

/** An exporter reader counting its calls. */
function counted(value: () => Uint8Array = () => exporter): { read: () => Uint8Array; calls: () => number } {
  let calls = 0;
  return {
    read: () => {
      calls++;
      return value();
    },
    calls: () => calls,
  };
}

function failOf(actions: readonly HandshakeAction[]): PeerlinkError {
  const fail = actions.find((a) => a.type === "fail");
  if (fail?.type !== "fail") throw new Error("expected a fail action");
  return fail.error;
}

describe("a handshake given an exporter reader", () => {
  it("never reads it when both sides prove by certificate", () => {
    const a = counted();
    const b = counted();
    const { dialer, listener } = runPair(
      { identity: alice, binding: { type: "tls", exporter: a.read, certificate: { own: alice.publicKey, peer: bob.publicKey } } },
      { identity: bob, binding: { type: "tls", exporter: b.read, certificate: { own: bob.publicKey, peer: alice.publicKey } } },
    );
    expect(outcome(dialer)?.type).toBe("open");
    expect(outcome(listener)?.type).toBe("open");
    expect([a.calls(), b.calls()]).toEqual([0, 0]);
  });

  it("reads it once on the side that signs and once on the side that verifies a signed peer Hello", () => {
    // Alice's certificate carries another key: she signs; Bob proves by certificate and verifies her signature.
    const a = counted();
    const b = counted();
    const { dialer, listener } = runPair(
      { identity: alice, binding: { type: "tls", exporter: a.read, certificate: { own: undefined, peer: bob.publicKey } } },
      { identity: bob, binding: { type: "tls", exporter: b.read, certificate: { own: bob.publicKey, peer: undefined } } },
    );
    expect(outcome(dialer)?.type).toBe("open");
    expect(outcome(listener)?.type).toBe("open");
    expect([a.calls(), b.calls()]).toEqual([1, 1]);
  });

  it("reads it once per side under exporter binding (signing and verifying share the value)", () => {
    const a = counted();
    const b = counted();
    const { dialer, listener } = runPair({ identity: alice, binding: { type: "tls", exporter: a.read } }, { identity: bob, binding: { type: "tls", exporter: b.read } });
    expect(outcome(dialer)?.type).toBe("open");
    expect(outcome(listener)?.type).toBe("open");
    expect([a.calls(), b.calls()]).toEqual([1, 1]);
  });

  it("verifies against what the reader returns: another channel's value fails the proof", () => {
    const other = new Uint8Array(randomBytes(32));
    const { listener } = runPair({ identity: alice, binding: { type: "tls", exporter } }, { identity: bob, binding: { type: "tls", exporter: () => other } });
    expect(failOf(listener.actions).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("fails the handshake with the reader's error when it cannot read the exporter to verify the peer", () => {
    const gone = (): Uint8Array => {
      throw new PeerlinkError(ErrorCode.TLS_FAILED, "TLS keying-material exporter unavailable");
    };
    const { listener } = runPair(
      { identity: alice, binding: { type: "tls", exporter } },
      { identity: bob, binding: { type: "tls", exporter: gone, certificate: { own: bob.publicKey, peer: undefined } } },
    );
    const error = failOf(listener.actions);
    expect(error.code).toBe(ErrorCode.TLS_FAILED);
    // The own Hello was sent (by certificate): the failure is said with a Goodbye.
    expect(sentFrames(listener.actions).some((f) => f.frame.kind.case === "goodbye")).toBe(true);
  });

  it("refuses a reader that returns a value of the wrong length, and throws from start() when its own proof needs it", () => {
    const short = new Handshake({ identity: alice, role: "dialer", binding: { type: "tls", exporter: () => new Uint8Array(16) } });
    expect(() => short.start()).toThrow(expect.objectContaining({ code: ErrorCode.TLS_FAILED }));
  });
});

describe("the result of an open handshake", () => {
  it("keeps the peer's key as its own copy, the same array on every read", () => {
    const { dialer, listener } = runPair({ identity: alice, binding: { type: "tls", exporter } }, { identity: bob, binding: { type: "tls", exporter } });
    const result = listener.hs.result;
    expect(result).toBeDefined();
    const key = result?.remotePublicKey as Uint8Array;
    expect(Buffer.from(key)).toEqual(Buffer.from(alice.publicKey));
    expect(result?.remotePublicKey).toBe(key);
    expect(key.buffer.byteLength).toBe(32); // not a view into a received frame
    expect(outcome(dialer)?.type === "open" && outcome(dialer)).toMatchObject({ result: dialer.hs.result });
  });
});
