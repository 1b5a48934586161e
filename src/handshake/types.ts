/**
 * Types of the sans-IO peerlink handshake (docs/PROTOCOL.md §3): options,
 * negotiation inputs and outputs, the handshake result and the actions the
 * state machine returns.
 *
 * @module
 */
import type { PeerlinkError } from "../errors.js";
import type { Identity } from "../identity/identity.js";
import type { PeerId } from "../identity/peer-id.js";
import type { DisconnectReason } from "../reasons.js";

/** Which end of the transport connection this side is. */
export type HandshakeRole = "dialer" | "listener";

/**
 * What the identity proof binds to (docs/PROTOCOL.md §3.3): the TLS 1.3
 * `tls-exporter` value of this connection, or both Hello frames on plain TCP.
 * With `certificate` (ALPN `peerlink/1+cert` agreed), a Hello may rely on the TLS certificates instead.
 */
export type ChannelBindingInput =
  | {
      readonly type: "tls";
      /** RFC 9266 tls-exporter value, 32 bytes, or what reads it (see {@link ExporterInput}). */
      readonly exporter: ExporterInput;
      /** Present when certificate binding was agreed: the raw Ed25519 keys of both TLS certificates, if known. */
      readonly certificate?: CertificateKeys | undefined;
    }
  | { readonly type: "nonces" };

/**
 * The RFC 9266 tls-exporter value (32 bytes), or a function that returns it: called at most once, and only
 * when a proof needs it (this side's Hello signed under exporter binding, or the peer's), so a connection whose
 * two sides both prove by certificate never computes it. It may throw (a PeerlinkError, e.g. TLS_FAILED when
 * the socket is gone): thrown by `start()`, or failing the handshake when verifying the peer's proof.
 */
export type ExporterInput = Uint8Array | (() => Uint8Array);

/** The raw Ed25519 keys of the two TLS certificates of a connection (`undefined`: not Ed25519 or not known). */
export interface CertificateKeys {
  /** This side's certificate key: when it is the identity key, the own Hello relies on it. */
  readonly own: Uint8Array | undefined;
  /** The peer's certificate key, which a certificate-bound peer Hello must name. */
  readonly peer: Uint8Array | undefined;
}

/** How the peer proved its identity: a signature in its Hello or Auth frame, or its TLS certificate (§3.3). */
export type IdentityProof = "signature" | "certificate";

/** An inclusive range of wire versions. */
export interface VersionRange {
  /** Lowest version spoken, at least 1. */
  readonly min: number;
  /** Highest version spoken, at least `min`. */
  readonly max: number;
}

/** An application protocol this side speaks (wire `ProtocolSupport`). */
export interface ProtocolSpec {
  /** Protocol name, e.g. `"/chat"`; case-sensitive, 1–128 UTF-8 bytes. */
  readonly name: string;
  /** Versions spoken (uint32, non-empty). */
  readonly versions: readonly number[];
  /** Numeric alias this side puts in `Data.protocol` for the protocol; unique among its protocols. */
  readonly alias: number;
}

/** An optional feature this side supports or requires (wire `Capability`). */
export interface CapabilitySpec {
  /** Capability name, e.g. `"peerlink.bandwidth-probe"`; case-sensitive, 1–64 UTF-8 bytes. */
  readonly name: string;
  /** Feature version (uint32). */
  readonly version: number;
  /**
   * When true, a peer that does not list this name is incompatible.
   * @default false
   */
  readonly required?: boolean;
}

/**
 * A protocol both sides agreed on (docs/PROTOCOL.md §3.4, step 5).
 *
 * @category Connections
 */
export interface AgreedProtocol {
  /** Protocol name. */
  readonly name: string;
  /** Highest version both sides speak. */
  readonly version: number;
  /** Alias this side puts in the Data frames it sends. */
  readonly localAlias: number;
  /** Alias the peer puts in the Data frames it sends. */
  readonly remoteAlias: number;
}

/**
 * A capability in force on the connection (docs/PROTOCOL.md §3.4, step 4).
 *
 * @category Connections
 */
export interface AgreedCapability {
  /** Capability name. */
  readonly name: string;
  /** The lower of both sides' versions. */
  readonly version: number;
}

/** Options of a {@link Handshake}. */
export interface HandshakeOptions {
  /** This node's identity (signs the proof). */
  readonly identity: Identity;
  /** `"dialer"` for the side that opened the transport connection, else `"listener"`. */
  readonly role: HandshakeRole;
  /** What the proof binds to; must match the transport (TLS exporter with TLS, nonces without). */
  readonly binding: ChannelBindingInput;
  /**
   * Wire versions spoken.
   * @default `{ min: 1, max: 1 }` ({@link WIRE_VERSION})
   */
  readonly versions?: VersionRange;
  /**
   * Application protocols spoken.
   * @default []
   */
  readonly protocols?: readonly ProtocolSpec[];
  /**
   * Capabilities supported or required.
   * @default []
   */
  readonly capabilities?: readonly CapabilitySpec[];
  /**
   * Addresses this node accepts connections on (`host:port`, IPv6 in brackets), sent to the peer.
   * @default []
   */
  readonly listenAddrs?: readonly string[];
  /** Dialer only: the peer id the remote must prove, else the handshake fails with IDENTITY_MISMATCH. */
  readonly expectedPeerId?: PeerId | undefined;
  /**
   * Dialer: announce 0-RTT (`Hello.early_data`) so Data frames may follow the Hello at once.
   * Ignored by a listener, which always holds a dialer's announced early data (up to
   * {@link HandshakeOptions.maxEarlyDataBytes}) and never sends any.
   * @default false
   */
  readonly earlyData?: boolean;
  /**
   * Most early-data bytes (Frame body bytes) a listener holds before the dialer is verified.
   * @default 65536 ({@link MAX_EARLY_DATA_BYTES})
   */
  readonly maxEarlyDataBytes?: number;
  /**
   * Free text sent in `Hello.agent`, for the peer's logs.
   * @default "peerlink/0.1.0" ({@link DEFAULT_AGENT})
   */
  readonly agent?: string | undefined;
  /**
   * Source of the 32-byte Hello nonce; tests inject fixed values.
   * @default crypto.randomBytes
   */
  readonly randomBytes?: (length: number) => Uint8Array;
}

/**
 * What two nodes agreed on once the handshake succeeded.
 *
 * @category Connections
 */
export interface HandshakeResult {
  /** The verified peer id of the remote node. */
  readonly remotePeerId: PeerId;
  /** The remote node's raw 32-byte Ed25519 public key. */
  readonly remotePublicKey: Uint8Array;
  /** The agreed wire version. */
  readonly version: number;
  /** Protocols both sides speak, sorted by name. */
  readonly protocols: readonly AgreedProtocol[];
  /** Capabilities in force, sorted by name. */
  readonly capabilities: readonly AgreedCapability[];
  /** Where the remote node says it accepts connections. */
  readonly remoteListenAddrs: readonly string[];
  /** The remote node's `Hello.agent`. */
  readonly remoteAgent: string;
  /** True when the dialer announced early data (0-RTT) in its Hello. */
  readonly earlyData: boolean;
  /** The channel binding that proved both identities. */
  readonly binding: "tls" | "nonces";
  /** How the peer proved its identity. */
  readonly peerProof: IdentityProof;
}

/** An application message received as early data and released on open. */
export interface EarlyMessage {
  /** The alias the dialer declared for the protocol (`Data.protocol`). */
  readonly alias: number;
  /** The message bytes. */
  readonly payload: Uint8Array;
}

/** Something the caller of the {@link Handshake} must do, in order. */
export type HandshakeAction =
  /** Write these bytes (one length-prefixed frame) to the transport. */
  | { readonly type: "send"; readonly bytes: Uint8Array }
  /**
   * The handshake succeeded: the connection is open. `earlyData` holds the
   * dialer's early messages in arrival order, released exactly once; deliver them
   * before any later frame.
   */
  | { readonly type: "open"; readonly result: HandshakeResult; readonly earlyData: readonly EarlyMessage[] }
  /**
   * The handshake failed; any held early data was dropped. When this side
   * decided the failure, a `send` action with a Goodbye precedes this one.
   */
  | { readonly type: "fail"; readonly reason: DisconnectReason; readonly error: PeerlinkError };

/** Where a {@link Handshake} is. */
export type HandshakePhase =
  /** Constructed; `start()` not called yet. */
  | "idle"
  /** Own Hello sent; waiting for the peer's Hello. */
  | "awaiting-hello"
  /** Plain TCP: both Hellos seen, own Auth sent; waiting for the peer's Auth. */
  | "awaiting-auth"
  /** Succeeded. */
  | "open"
  /** Failed. */
  | "failed";
