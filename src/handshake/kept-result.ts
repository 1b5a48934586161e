/**
 * The handshake result as an open connection keeps it for its life.
 *
 * @module
 */
import type { PeerId } from "../identity/peer-id.js";
import type { AgreedCapability, AgreedProtocol, HandshakeResult, IdentityProof } from "./types.js";

/**
 * A {@link HandshakeResult} made once, by the handshake, and kept by the connection: the peer's public key is
 * kept as a 32-character one-byte string (~48 B) instead of a typed array with an ArrayBuffer of its own
 * (~0.2 KiB). `remotePublicKey` is made from it on first read and is then the same array on every read, as a
 * plain property would be; the node layer never reads it, so most connections never make it. The connection
 * replaces its lists with equal ones shared between connections ({@link KeptHandshakeResult.keepShared}).
 */
export class KeptHandshakeResult implements HandshakeResult {
  readonly remotePeerId: PeerId;
  readonly version: number;
  protocols: readonly AgreedProtocol[];
  capabilities: readonly AgreedCapability[];
  remoteListenAddrs: readonly string[];
  remoteAgent: string;
  readonly earlyData: boolean;
  readonly binding: "tls" | "nonces";
  readonly peerProof: IdentityProof;
  /** The key's bytes as char codes (latin1) until the array is made, then the array. */
  #key: string | Uint8Array;

  /**
   * `remotePublicKey` is read at once (a view into a received frame is fine: it is not kept); given as a string,
   * it is the key's bytes as char codes (a 32-byte key's `keyTextOf`).
   */
  constructor(
    remotePeerId: PeerId,
    remotePublicKey: Uint8Array | string,
    version: number,
    protocols: readonly AgreedProtocol[],
    capabilities: readonly AgreedCapability[],
    remoteListenAddrs: readonly string[],
    remoteAgent: string,
    earlyData: boolean,
    binding: "tls" | "nonces",
    peerProof: IdentityProof,
  ) {
    this.remotePeerId = remotePeerId;
    this.version = version;
    this.protocols = protocols;
    this.capabilities = capabilities;
    this.remoteListenAddrs = remoteListenAddrs;
    this.remoteAgent = remoteAgent;
    this.earlyData = earlyData;
    this.binding = binding;
    this.peerProof = peerProof;
    // `apply`, not a spread: a spread of a typed array goes through its iterator (an object per byte).
    this.#key =
      typeof remotePublicKey === "string"
        ? remotePublicKey
        : remotePublicKey.length <= 64
          ? String.fromCharCode.apply(null, remotePublicKey as unknown as number[])
          : Uint8Array.from(remotePublicKey);
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

  /**
   * Replaces the lists and the agent with equal values shared between connections (the connection does so at
   * open, before it hands the result out). Internal.
   */
  keepShared(protocols: readonly AgreedProtocol[], capabilities: readonly AgreedCapability[], remoteListenAddrs: readonly string[], remoteAgent: string): void {
    this.protocols = protocols;
    this.capabilities = capabilities;
    this.remoteListenAddrs = remoteListenAddrs;
    this.remoteAgent = remoteAgent;
  }
}
