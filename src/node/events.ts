/**
 * The events and option types of a connection manager, in a module that
 * imports no implementation: services and applications depend on these shapes,
 * not on the manager class.
 *
 * @module
 */
import type { PeerlinkError } from "../errors.js";
import type { PeerId } from "../identity/peer-id.js";
import type { DisconnectReason } from "../reasons.js";
import type { Connection } from "../connection/connection.js";
import type { BanEntry } from "../manager/ban-list.js";
import type { MisbehaviourEvidence } from "../peers/strike-ledger.js";
import type { RefusalReason } from "../manager/connection-limits.js";
import type { HealthChangeEvent, NetworkChangedEvent, NodeResumedEvent } from "../maintenance/maintenance-types.js";
import type { HandlerFailedEvent } from "./protocol-handlers.js";

/**
 * Where to dial: `"host:port"`, or a peer id with its known addresses.
 *
 * @category Manager
 */
export type DialTarget =
  | string
  | {
      /** The peer to reach; the connection must prove this identity. */
      readonly peerId: PeerId | string;
      /** `"host:port"` addresses to try; the peer database's known ones are added. */
      readonly addresses?: readonly string[];
    };

/**
 * Options of `ConnectionManager.dial`.
 *
 * @category Manager
 */
export interface DialOptions {
  /** Cancels this caller's wait: it rejects with ABORTED; the attempt stops when every caller gave up. */
  readonly signal?: AbortSignal;
  /** Open a new connection even when one to the peer exists. @default false */
  readonly force?: boolean;
  /**
   * Application messages sent right after the Hello (0-RTT); the listener delivers them only after
   * verifying this node. Needs `enable0Rtt` (else the dial is refused with INVALID_ARGUMENT). @default []
   */
  readonly earlyMessages?: readonly {
    /** Application protocol, one of the node's `protocols`. */
    readonly protocol: string;
    /** The message bytes. */
    readonly data: Uint8Array;
  }[];
  /** Local IP address to dial from (multihomed hosts). @default chosen by the OS */
  readonly localAddress?: string;
}

/**
 * Options of `ConnectionManager.ban`.
 *
 * @category Manager
 */
export interface BanOptions {
  /** Why (free text, journaled; stays local, never sent to the peer). @default "banned by the application" */
  readonly reason?: string;
  /** Text the banned peer is told in its PEER_BANNED Goodbye. @default none (the Goodbye carries no detail) */
  readonly publicReason?: string;
  /** Ban duration (ms); `Infinity` for permanent. @default escalating: 10 min, 1 h, then 24 h for repeat offenders */
  readonly durationMs?: number;
}

/**
 * Payload of `connection:close`.
 *
 * @category Manager
 */
export interface ConnectionCloseEvent {
  /** The connection that ended. */
  readonly connection: Connection;
  /** Printable peer id. */
  readonly peer: string;
  /** Why it ended. */
  readonly reason: DisconnectReason;
  /** Which side ended it. */
  readonly initiator: "local" | "remote";
  /** The error that ended it, if any. */
  readonly error: PeerlinkError | undefined;
}

/**
 * Payload of `inbound:refused`.
 *
 * @category Manager
 */
export interface InboundRefusedEvent {
  /** `"host:port"` of the refused socket. */
  readonly address: string;
  /** Which check refused it. */
  readonly reason: RefusalReason;
  /** The typed error (code and message naming the limit). */
  readonly error: PeerlinkError;
  /** The peer id the connection proved, when it was refused after its handshake (banned, full). */
  readonly peer?: string;
}

/**
 * Events of the node itself (services add their own: see `ConnectionManagerEvents`).
 *
 * @category Manager
 */
export interface NodeEvents {
  /** Listeners are bound; `addresses` are `"host:port"` with real ports. */
  "listening": {
    /** Bound addresses, `"host:port"` with the real ports. */
    readonly addresses: readonly string[];
  };
  /** A connection finished its handshake and is kept. */
  "connection:open": {
    /** The new connection, open and kept by the manager. */
    readonly connection: Connection;
  };
  /** A kept connection ended. */
  "connection:close": ConnectionCloseEvent;
  /** An application message arrived on a kept connection. */
  "message": {
    /** The connection it arrived on. */
    readonly connection: Connection;
    /** Printable peer id of the sender. */
    readonly peer: string;
    /** Its application protocol. */
    readonly protocol: string;
    /** Its bytes. */
    readonly data: Uint8Array;
  };
  /** A handler set with `handle()` threw or rejected (the message still reached the `message` event). */
  "handler:failed": HandlerFailedEvent;
  /**
   * A dial was refused: before any socket was opened (limits, bans, self, the gater), or right after the handshake
   * when the peer an address dial reached turned out to be banned (that connection is closed with a
   * PEER_BANNED goodbye).
   */
  "dial:refused": {
    /** The dial target as given (`"host:port"` or a peer id). */
    readonly target: string;
    /** Why (CONNECTION_LIMIT, PEER_BANNED, SELF_CONNECTION, …). */
    readonly error: PeerlinkError;
  };
  /** A dial or an inbound connection failed during connect, TLS or handshake (deadlines included). */
  "handshake:failed": {
    /** Remote `"host:port"`. */
    readonly address: string;
    /** Who dialed. */
    readonly direction: "inbound" | "outbound";
    /** What failed (CONNECT_FAILED, TLS_FAILED, HANDSHAKE_TIMEOUT, IDENTITY_MISMATCH, …). */
    readonly error: PeerlinkError;
  };
  /**
   * An inbound connection was refused: before TLS by an abuse bound or the gater (reset: IP ban, gated
   * address, pending per IP or subnet, per IP, per subnet, rate), or after its handshake (Goodbye: banned
   * peer id, gated peer id, capacity).
   */
  "inbound:refused": InboundRefusedEvent;
  /** A pending inbound connection was closed to make room for a newcomer (the pending pool was full). */
  "inbound:evicted": {
    /** Remote `"host:port"` of the evicted socket. */
    readonly address: string;
  };
  /** A peer, IP or subnet was banned: by the application, or by the node itself for repeated violations. */
  "peer:banned": {
    /** The ban (target, reason, expiry, offence count). */
    readonly entry: BanEntry;
    /** Set when the node banned on its own (`misbehaviour.autoBan`): the violations counted, the window, the threshold. */
    readonly evidence?: MisbehaviourEvidence;
  };
  /** A ban expired or was lifted. */
  "peer:unbanned": {
    /** The ban that ended. */
    readonly entry: BanEntry;
  };
  /** A connection's published health grade changed (hysteresis applied). */
  "health:change": HealthChangeEvent;
  /** This node did not run for a while (sleep, SIGSTOP): every connection was re-checked at once (maintenance). */
  "node:resumed": NodeResumedEvent;
  /** The local addresses changed: every connection was re-checked at once (maintenance). */
  "network:changed": NetworkChangedEvent;
  /** The peer database file was corrupt or unreadable; the previous good copy (or an empty one) was used. */
  "database:recovered": {
    /** What was loaded instead: the previous good copy, or nothing. */
    readonly from: "prev" | "empty";
    /** What was wrong with the file. */
    readonly error: PeerlinkError;
  };
}
