/**
 * The handshake result as an open connection keeps it for its life.
 *
 * @module
 */
import type { PeerId } from "../identity/peer-id.js";
import type { AgreedCapability, AgreedProtocol, HandshakeResult, IdentityProof } from "../handshake/types.js";

/**
 * A {@link HandshakeResult} with the same values, the peer's public key kept as a 32-character one-byte string
 * (~48 B) instead of a typed array with an ArrayBuffer of its own (~0.2 KiB). `remotePublicKey` is made from
 * it on first read and is then the same array on every read, as a plain property would be; the node layer
 * never reads it, so most connections never make it.
 */
export class KeptHandshakeResult implements HandshakeResult {
  readonly remotePeerId: PeerId;
  readonly version: number;
  readonly protocols: readonly AgreedProtocol[];
  readonly capabilities: readonly AgreedCapability[];
  readonly remoteListenAddrs: readonly string[];
  readonly remoteAgent: string;
  readonly earlyData: boolean;
  readonly binding: "tls" | "nonces";
  readonly peerProof: IdentityProof;
  /** The key's bytes as char codes (latin1) until the array is made, then the array. */
  #key: string | Uint8Array;

  constructor(
    result: HandshakeResult,
    protocols: readonly AgreedProtocol[],
    capabilities: readonly AgreedCapability[],
    remoteListenAddrs: readonly string[],
    remoteAgent: string,
  ) {
    this.remotePeerId = result.remotePeerId;
    this.version = result.version;
    this.protocols = protocols;
    this.capabilities = capabilities;
    this.remoteListenAddrs = remoteListenAddrs;
    this.remoteAgent = remoteAgent;
    this.earlyData = result.earlyData;
    this.binding = result.binding;
    this.peerProof = result.peerProof;
    const key = result.remotePublicKey;
    // `apply`, not a spread: a spread of a typed array goes through its iterator (an object per byte).
    this.#key = key.length <= 64 ? String.fromCharCode.apply(null, key as unknown as number[]) : key;
  }

  /** The remote node's raw 32-byte Ed25519 public key (the same array on every read). */
  get remotePublicKey(): Uint8Array {
    const kept = this.#key;
    if (typeof kept !== "string") return kept;
    const key = new Uint8Array(kept.length);
    for (let i = 0; i < kept.length; i++) key[i] = kept.charCodeAt(i);
    this.#key = key;
    return key;
  }
}
