/**
 * Peer ids: SHA-256 over the key type byte and the raw public key
 * (docs/PROTOCOL.md, "Identity"). Printable form: lowercase unpadded base32,
 * 52 characters.
 *
 * @module
 */
import { hash } from "node:crypto";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { base32Decode, base32Encode } from "./base32.js";

/** Length of a peer id in bytes. */
export const PEER_ID_LENGTH = 32;
/** Wire value of KeyType.ED25519. */
export const KEY_TYPE_ED25519 = 1;

/** Key type byte and key, hashed together: one buffer reused (single-threaded, never handed out). */
const hashInput = new Uint8Array(33);

/**
 * Internal: the 32 peer id bytes of an Ed25519 public key (SHA-256 over the key type byte and the key), for
 * callers that compare them with claimed bytes before making a {@link PeerId}. Throws INVALID_PEER_ID as
 * {@link PeerId.fromPublicKey} does.
 */
export function peerIdDigest(publicKey: Uint8Array, keyType: number = KEY_TYPE_ED25519): Uint8Array {
  if (keyType !== KEY_TYPE_ED25519 || publicKey.length !== 32) {
    throw new PeerlinkError(ErrorCode.INVALID_PEER_ID, "only 32-byte Ed25519 public keys are supported");
  }
  hashInput[0] = keyType;
  hashInput.set(publicKey, 1);
  return hash("sha256", hashInput, "buffer");
}

/**
 * The identity of a node, derived from its public key. Immutable; compare with {@link PeerId.equals}.
 *
 * @category Identity
 */
export class PeerId {
  /**
   * The printable form only: the bytes are decoded from it when asked for (a copy was returned anyway). A
   * peer id lives as long as its peer is known; a typed array of 32 bytes beside the text cost ~0.2 KiB more.
   */
  readonly #text: string;

  private constructor(bytes: Uint8Array) {
    this.#text = base32Encode(bytes);
  }

  /** Derives the peer id of an Ed25519 public key (32 raw bytes). */
  static fromPublicKey(publicKey: Uint8Array, keyType: number = KEY_TYPE_ED25519): PeerId {
    return new PeerId(peerIdDigest(publicKey, keyType));
  }

  /** Wraps 32 peer id bytes (e.g. from a Hello frame). Throws INVALID_PEER_ID on a wrong length. */
  static fromBytes(bytes: Uint8Array): PeerId {
    if (bytes.length !== PEER_ID_LENGTH) {
      throw new PeerlinkError(ErrorCode.INVALID_PEER_ID, `peer id must be ${PEER_ID_LENGTH} bytes, got ${bytes.length}`);
    }
    return new PeerId(bytes);
  }

  /** Parses the printable form produced by {@link PeerId.toString}. Throws INVALID_PEER_ID on bad input. */
  static parse(text: string): PeerId {
    if (typeof text !== "string" || text.length !== 52) {
      throw new PeerlinkError(ErrorCode.INVALID_PEER_ID, "a peer id is 52 lowercase base32 characters");
    }
    return PeerId.fromBytes(base32Decode(text));
  }

  /** A copy of the 32 id bytes. */
  get bytes(): Uint8Array {
    return base32Decode(this.#text);
  }

  /** True when both ids are the same bytes (constant time: every character is compared). */
  equals(other: PeerId | null | undefined): boolean {
    if (!(other instanceof PeerId)) return false;
    const a = this.#text;
    const b = other.#text;
    let diff = a.length ^ b.length;
    for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
    return diff === 0;
  }

  /** Printable form: 52 lowercase base32 characters. */
  toString(): string {
    return this.#text;
  }

  /** JSON form: the printable string. */
  toJSON(): string {
    return this.#text;
  }
}
