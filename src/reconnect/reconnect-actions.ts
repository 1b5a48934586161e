/**
 * The reconnect core's contract with its adapter: what it reads
 * ({@link ReconnectView}), what it is told ({@link ReconnectClose}), and what
 * it asks for ({@link ReconnectAction}). Types and one constant only.
 *
 * @module
 */
import type { ErrorCode } from "../errors.js";
import type { DisconnectInitiator } from "../peers/peer-record.js";
import type { DisconnectReason } from "../reasons.js";
import type { ReconnectServiceEvents } from "./reconnect-events.js";

/** What the core may read of the manager and its peer database: synchronous lookups, no side effects. */
export interface ReconnectView {
  /** True when the manager keeps a connection to `peer` now. */
  isConnected(peer: string): boolean;
  /** The peer database's addresses of `peer`, best first. */
  addressesOf(peer: string): readonly string[];
  /** When a dial of `peer` at `address` last failed, if it did. */
  lastFailureAt(peer: string, address: string): number | undefined;
  /** The last disconnection recorded for `peer`, if any. */
  lastDisconnect(peer: string): { readonly reason: DisconnectReason; readonly initiator: DisconnectInitiator } | undefined;
  /** True when `peer` is banned at `now`. */
  isBanned(peer: string, now: number): boolean;
}

/** A close as the core needs it. */
export interface ReconnectClose {
  /** Why the connection ended. */
  readonly reason: DisconnectReason;
  /** Which side ended it. */
  readonly initiator: DisconnectInitiator;
  /** The peer's retry-after hint (ms), when its Goodbye carried one. */
  readonly retryAfterMs?: number | undefined;
  /** Whether the connection was healthy at the end, when known. */
  readonly wasHealthy?: boolean | undefined;
}

/** One manager event the core wants emitted. */
export type ReconnectEvent = {
  [K in keyof ReconnectServiceEvents]: { readonly type: K; readonly event: ReconnectServiceEvents[K] };
}[keyof ReconnectServiceEvents];

/** What the adapter must do, in order. */
export type ReconnectAction =
  /** Dial `peer` at `addresses`; report the outcome with `dialId`. */
  | { readonly type: "dial"; readonly peer: string; readonly dialId: number; readonly addresses: readonly string[] }
  /** Abort the dial `dialId` with a PeerlinkError of `code` (ABORTED or STOPPED); its outcome is ignored. */
  | { readonly type: "abort"; readonly peer: string; readonly dialId: number; readonly code: ErrorCode }
  /** Emit a manager event. */
  | { readonly type: "emit"; readonly emit: ReconnectEvent }
  /** Add `addresses` to `peer`'s record in the peer database (they came from `want()`: may be invalid). */
  | { readonly type: "learn_addresses"; readonly peer: string; readonly addresses: readonly string[] }
  /** Remove `address` from `peer`'s record: another identity answered there. */
  | { readonly type: "drop_address"; readonly peer: string; readonly address: string };

/** Settings of a {@link ReconnectCore}. */
export interface ReconnectCoreSettings {
  /** Also want peers that connected to us. */
  readonly redialInbound: boolean;
  /** Most implicitly wanted peers. */
  readonly maxWanted: number;
  /** At start, schedule saved wanted peers that have nothing planned. */
  readonly resumeOnStart: boolean;
  /** Track which wanted peers' backoff changed ({@link ReconnectCore.touched}), for saving. */
  readonly trackBackoff: boolean;
}

/**
 * Reasons of a close this node initiates on purpose: after such a local close an implicitly wanted
 * peer is no longer wanted (an explicit one still is, until `unwant`).
 */
export const DELIBERATE_CLOSE_REASONS: ReadonlySet<DisconnectReason> = new Set<DisconnectReason>([
  "normal",
  "network_restructure",
  "shutdown",
]);
