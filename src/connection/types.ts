/**
 * Types of a peerlink connection: its states and named transitions, close
 * information, counters, and the events and actions of the sans-IO
 * {@link ConnectionCore}.
 *
 * @module
 */
import type { Frame } from "../../generated/peerlink/v1/frame_pb.js";
import type { PeerlinkError } from "../errors.js";
import type { AgreedCapability, AgreedProtocol, HandshakeResult } from "../handshake/types.js";
import type { DisconnectReason } from "../reasons.js";

/**
 * Where a connection is (docs/PROTOCOL.md §3.1): `connecting` (TCP),
 * `securing` (TLS), `handshaking` (Hello/Auth), `open`, `closing` (Goodbye
 * sent or received, waiting for the peer's close), `closed`.
 *
 * @category Connections
 */
export type ConnectionState = "connecting" | "securing" | "handshaking" | "open" | "closing" | "closed";

/**
 * The name of a state change:
 * - `transport-connected`: connecting → securing (TCP established);
 * - `transport-secured`: securing → handshaking (TLS done, or no TLS); the own Hello goes out;
 * - `handshake-succeeded`: handshaking → open;
 * - `goodbye-sent`: handshaking/open → closing, this side sent a Goodbye (close or local failure);
 * - `goodbye-received`: handshaking/open → closing, the peer sent a Goodbye;
 * - `peer-closed`: closing → closed, the peer closed its direction after the Goodbye;
 * - `close-timed-out`: closing → closed, the peer did not close in time;
 * - `transport-lost`: any → closed, the socket ended or failed without a Goodbye;
 * - `handshake-timed-out`: connecting/securing → closed, the deadline passed before a Hello was sent;
 * - `aborted`: any → closed, `abort()` was called.
 *
 * @category Connections
 */
export type ConnectionTransition =
  | "transport-connected"
  | "transport-secured"
  | "handshake-succeeded"
  | "goodbye-sent"
  | "goodbye-received"
  | "peer-closed"
  | "close-timed-out"
  | "transport-lost"
  | "handshake-timed-out"
  | "aborted";

/**
 * A state change, as emitted.
 *
 * @category Connections
 */
export interface StateChange {
  /** State before. */
  readonly from: ConnectionState;
  /** State after. */
  readonly to: ConnectionState;
  /** Why. */
  readonly transition: ConnectionTransition;
}

/**
 * Why and by whom a connection ended; decided once, at the first terminal event.
 *
 * @category Connections
 */
export interface CloseInfo {
  /** The reason (sent or received in the Goodbye, or implied by the failure). */
  readonly reason: DisconnectReason;
  /** `"local"` when this side ended it, `"remote"` when the peer did (Goodbye or socket close). */
  readonly initiator: "local" | "remote";
  /** The failure, when the connection did not end gracefully. */
  readonly error?: PeerlinkError;
}

/**
 * The peer's Goodbye, when it sent one.
 *
 * @category Connections
 */
export interface RemoteGoodbye {
  /** Its reason (unknown wire values read as `normal`). */
  readonly reason: DisconnectReason;
  /** Its free-text detail (may be empty). */
  readonly detail: string;
  /** Milliseconds the peer asks us to wait before reconnecting; 0 when not set. */
  readonly retryAfterMs: number;
}

/**
 * Per-connection counters, for maintenance and metrics. Times are `Date.now()` milliseconds.
 *
 * @category Connections
 */
export interface ConnectionStats {
  /** Bytes received, length prefixes included. */
  readonly bytesIn: number;
  /** Bytes written, length prefixes included. */
  readonly bytesOut: number;
  /** Frames received (every kind). */
  readonly framesIn: number;
  /** Frames written (every kind). */
  readonly framesOut: number;
  /** When the last bytes were written (`Date.now()` as read once per event-loop turn of sends); `undefined` before any. */
  readonly lastSentAt: number | undefined;
  /** When the last bytes arrived; `undefined` before any. */
  readonly lastReceivedAt: number | undefined;
  /** When the connection opened; `undefined` before. */
  readonly openedAt: number | undefined;
  /** Data frames dropped because their alias names no agreed protocol (docs/PROTOCOL.md §4). */
  readonly unknownProtocolFrames: number;
  /**
   * Frames read and discarded because this side had already sent its Goodbye (everything but the peer's
   * own Goodbye): they reach neither the application nor maintenance. Also counted in `framesIn`.
   */
  readonly discardedFrames: number;
}

/**
 * An application message received on an open connection.
 *
 * @category Connections
 */
export interface InboundMessage {
  /** The agreed protocol's name. */
  readonly protocol: string;
  /**
   * The message bytes (owned by the receiver: nothing writes them again). They may be a view into a larger
   * buffer that also holds other bytes this connection received (at most twice the message's size for a message
   * over 4 KiB; a shared 64 KiB slab for smaller ones, as Node pools small Buffers): copy them
   * (`data.slice()`) before transferring `data.buffer` to a worker.
   */
  readonly data: Uint8Array;
}

/**
 * The capabilities and protocols in force on an open connection (docs/PROTOCOL.md §3.4, §7).
 *
 * @category Connections
 */
export interface AgreedSets {
  /** Capabilities listed by both sides, at the lower version, sorted by name. */
  readonly capabilities: readonly AgreedCapability[];
  /** Protocols spoken by both sides, at the highest common version, with both aliases, sorted by name. */
  readonly protocols: readonly AgreedProtocol[];
}

/**
 * The agreed sets changed after the handshake, by a CapabilityUpdate.
 *
 * @category Connections
 */
export interface CapabilitiesChange extends AgreedSets {
  /** `"local"` when this node's update changed them, `"remote"` when the peer's did. */
  readonly initiator: "local" | "remote";
}

/**
 * Changes this node makes to its own capabilities and protocols on an open
 * connection (sent as a CapabilityUpdate, docs/PROTOCOL.md §7). Removals apply
 * before additions; adding a name already listed replaces its entry.
 *
 * @category Connections
 */
export interface CapabilityChanges {
  /** Optional capabilities to add (a capability cannot become required after the handshake). @default [] */
  readonly addCapabilities?: readonly {
    /** Capability name. */
    readonly name: string;
    /** Feature version. */
    readonly version: number;
  }[];
  /** Names of capabilities to remove; unknown names are ignored, required ones refused. @default [] */
  readonly removeCapabilities?: readonly string[];
  /**
   * Protocols to add, with the versions spoken (non-empty, uint32). The connection picks the alias:
   * a protocol still spoken keeps its alias, any other gets one never used on this connection.
   * @default []
   */
  readonly addProtocols?: readonly {
    /** Protocol name. */
    readonly name: string;
    /** Versions spoken. */
    readonly versions: readonly number[];
  }[];
  /** Names of protocols to remove; their aliases are retired. Unknown names are ignored. @default [] */
  readonly removeProtocols?: readonly string[];
}

/** Something that happened, for the adapter to dispatch to listeners. */
export type CoreEvent =
  | { readonly type: "state"; readonly change: StateChange }
  /** The handshake succeeded; emitted before any message (early data included). */
  | { readonly type: "open"; readonly result: HandshakeResult }
  | { readonly type: "message"; readonly message: InboundMessage }
  /** A Ping arrived and was answered (the Pong is in the same action list). */
  | { readonly type: "ping"; readonly nonce: number; readonly timestampUs: number }
  /** A Pong arrived (for keepalive). */
  | { readonly type: "pong"; readonly nonce: number; readonly timestampUs: number }
  /** A control frame for maintenance: BandwidthProbe, BandwidthReport, or a CapabilityUpdate the core applied. */
  | { readonly type: "control"; readonly frame: Frame }
  /** The agreed capabilities or protocols changed (a CapabilityUpdate sent or received). */
  | { readonly type: "capabilities"; readonly change: CapabilitiesChange }
  /** The peer said goodbye. */
  | { readonly type: "goodbye"; readonly goodbye: RemoteGoodbye }
  /** The connection is closed; the last event ever. */
  | { readonly type: "close"; readonly info: CloseInfo };

/** What the adapter must do, in order. */
export type CoreAction =
  /**
   * Write these bytes to the socket. `lone`: a Ping or a Pong, a frame that rarely has others in its turn:
   * written at once when nothing is waiting to be written, without making the turn's later frames a batch.
   */
  | { readonly type: "write"; readonly bytes: Uint8Array; readonly lone?: boolean }
  /** Flush what was written, then close the write direction (TCP FIN, or TLS close_notify + FIN). */
  | { readonly type: "half-close" }
  /** Release the socket now (destroy). */
  | { readonly type: "destroy" }
  /** Dispatch an event. */
  | { readonly type: "event"; readonly event: CoreEvent };
