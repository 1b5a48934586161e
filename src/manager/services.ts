/**
 * The seam between the ConnectionManager and the services that run beside it
 * (maintenance: keepalive and health; reconnection). Services see the manager
 * only through {@link ManagerHost} and are told about connections through the
 * hooks of {@link ManagerService}, so each is written and tested on its own.
 * This module imports no implementation (the manager depends on it, never the
 * other way round).
 *
 * @module
 */
import type { Connection } from "../connection/connection.js";
import type { CloseInfo } from "../connection/types.js";
import type { HealthScore } from "../health/types.js";
import type { PeerId } from "../identity/peer-id.js";
import type { PeerDatabase } from "../peers/peer-database.js";
import type { NodeEvents } from "../node/events.js";
import type { JournalEntry } from "./journal.js";

/**
 * A connection the manager keeps, as services see it.
 *
 * @category Services
 */
export interface ManagedConnection {
  /** The connection. */
  readonly connection: Connection;
  /** Printable peer id of the remote side. */
  readonly peer: string;
  /** When the manager adopted it (manager clock, ms). */
  readonly openedAt: number;
  /** Latest health score set by maintenance, if any. */
  readonly health: HealthScore | undefined;
}

/**
 * Why and how a kept connection ended, as services see it.
 *
 * @category Services
 */
export interface ManagedClose extends CloseInfo {
  /** The peer's Goodbye, when it sent one (reason, detail, retry hint). */
  readonly remoteRetryAfterMs: number | undefined;
  /** Whether the last health grade of the connection was good or excellent. */
  readonly wasHealthy: boolean | undefined;
}

/**
 * What a service may use of the manager. `E` is the event map the service emits through it: the node's
 * events plus the service's own (the manager's event map composes them).
 *
 * @category Services
 */
export interface ManagerHost<E extends object = NodeEvents> {
  /** The manager's clock (ms). */
  readonly clock: () => number;
  /** This node's peer id. */
  readonly peerId: PeerId;
  /** The peer database (addresses, disconnection history, backoff state). */
  readonly peers: PeerDatabase;
  /** The connections kept right now. */
  managed(): readonly ManagedConnection[];
  /** True when the peer is protected (never trimmed or replaced). */
  isProtected(peer: string): boolean;
  /**
   * False when the application's gater denies dialing `peer` (`gater.denyDialPeer`): a service choosing whom
   * to dial skips such a peer rather than be refused with GATED on every try. Older managers lack it.
   */
  mayDial?(peer: string): boolean;
  /**
   * Dials a peer through the manager (limits, bans and coalescing apply); a bare `"host:port"` dials an
   * address without pinning the identity. `localAddress` picks the local IP to dial from.
   */
  dial(target: { peerId: string; addresses: readonly string[] } | string, options?: { signal?: AbortSignal; localAddress?: string }): Promise<Connection>;
  /**
   * Records the latest health score of a connection (used for trimming and `connection.health`), or a
   * function that makes it when first read (lazy publication: nothing allocated until someone looks).
   */
  setHealth(connection: Connection, score: HealthScore | (() => HealthScore | undefined)): void;
  /**
   * A clock in ms that never jumps, for timing (keepalive, inactivity, health checks): a system clock
   * stepped forward or back would otherwise make live peers look silent or stop maintenance for the length
   * of the step. The manager gives `monotonicNow` unless its own `clock` option was set (then that clock,
   * so tests stay deterministic). Services written for older managers may find it missing: use `clock` then.
   */
  readonly monotonicClock?: () => number;
  /** Appends to the decision journal. */
  journal(kind: JournalEntry["kind"], entry: Omit<JournalEntry, "at" | "kind">): void;
  /** Emits a manager event with its payload type. */
  emit<K extends keyof E & string>(type: K, event: E[K]): void;
  /** True while the manager runs (not stopping or stopped). */
  readonly running: boolean;
}

/**
 * A service that runs beside the manager. Every hook is optional and must not throw.
 *
 * @category Services
 */
export interface ManagerService {
  /** Called once the manager has started (listeners bound, peer database loaded). */
  start?(): void;
  /** A connection was adopted (after duplicate resolution). */
  onOpen?(managed: ManagedConnection): void;
  /** A kept connection closed. */
  onClose?(managed: ManagedConnection, close: ManagedClose): void;
  /** A dial attempt failed (after any retries over addresses); `address` is the last one tried, whose failure is `error`. */
  onDialFailed?(target: { peerId: string | undefined; address: string }, error: Error): void;
  /** A connection slot became free (a connection closed or a pending one failed). */
  onSlotFreed?(): void;
  /** Called when the manager stops; must release every timer. */
  stop?(): Promise<void> | void;
}
