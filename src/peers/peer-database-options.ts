/**
 * The option and input shapes of the peer database.
 *
 * @module
 */
import type { PeerlinkError } from "../errors.js";
import type { DisconnectReason } from "../reasons.js";
import type { BanListOptions } from "../manager/ban-list.js";
import type { ConnectionDirection, DisconnectInitiator, PeerOrigin, PeerRecord } from "./peer-record.js";
import type { PeerStore } from "./peer-store.js";
import type { DialBackoffOptions } from "./dial-backoff.js";
import { DEFAULT_ADDRESS_FAILURE_DEMOTION, DEFAULT_FLUSH_DELAY_MS, DEFAULT_MAX_ADDRESSES_PER_PEER, DEFAULT_MAX_DISCONNECTIONS, DEFAULT_MAX_PEERS } from "./defaults.js";

/** Options of a `PeerDatabase`. */
export interface PeerDatabaseOptions {
  /** Where the database persists. */
  store: PeerStore;
  /**
   * Most peers kept; beyond it an unprotected peer is evicted: one never reached by a dial first, then the
   * least recently seen. @default {@link DEFAULT_MAX_PEERS} (1000)
   */
  maxPeers?: number;
  /** Most addresses kept per peer; beyond it the worst is dropped. @default {@link DEFAULT_MAX_ADDRESSES_PER_PEER} (8) */
  maxAddressesPerPeer?: number;
  /** Length of each peer's disconnection history; the oldest entries are dropped. @default {@link DEFAULT_MAX_DISCONNECTIONS} (32) */
  maxDisconnections?: number;
  /**
   * Consecutive dial failures that sort an address behind all addresses with
   * fewer failures. @default {@link DEFAULT_ADDRESS_FAILURE_DEMOTION} (3)
   */
  addressFailureDemotion?: number;
  /**
   * Delay in milliseconds between the first unsaved change and the automatic
   * save (not extended by later changes). `0` disables automatic saves: only
   * {@link PeerDatabase.flush} writes. @default {@link DEFAULT_FLUSH_DELAY_MS} (1000 ms)
   */
  flushDelayMs?: number;
  /** Called when an automatic save fails (a {@link PeerDatabase.flush} call rejects instead). */
  onError?: (error: PeerlinkError) => void;
  /** Bounds and escalation of the ban list. @default 10,000 entries; 10 min, 1 h, then 24 h; offences remembered 7 days */
  bans?: BanListOptions;
  /** Per-address failure backoff of dials. @default 1 s doubling to 5 min, 4096 addresses */
  dialBackoff?: DialBackoffOptions;
}


/**
 * Fields `PeerDatabase.upsert` may set; absent fields are left unchanged.
 *
 * @category Peer database
 */
export interface PeerUpsert {
  /** Addresses to add (existing ones keep their history). */
  addresses?: readonly string[];
  /** Replaces the capabilities. */
  capabilities?: readonly string[];
  /** Sets protection. */
  protected?: boolean;
  /** Sets the health of the last connection. */
  healthy?: boolean;
  /** Sets when the peer was last seen. */
  lastSeen?: number;
  /**
   * How a remote party put the peer here; used only when this call makes the record (see `PeerRecord.origin`).
   * Its group is kept as given (`originGroup` makes one from an address).
   */
  origin?: PeerOrigin | undefined;
}

/**
 * One disconnection, as reported to `PeerDatabase.recordDisconnection`.
 *
 * @category Peer database
 */
export interface DisconnectionInput {
  /** Why the connection ended. */
  reason: DisconnectReason;
  /** Which side had opened it. */
  direction: ConnectionDirection;
  /** Which side ended it. */
  initiator: DisconnectInitiator;
  /** When it ended, epoch milliseconds. */
  at: number;
  /** The peer's retry-after hint, milliseconds. */
  retryAfterMs?: number;
}

/**
 * Options of `PeerDatabase.candidates`.
 *
 * @category Peer database
 */
export interface CandidateOptions {
  /** Current time, epoch milliseconds (bans and backoff are checked against it). */
  now: number;
  /** Peers to leave out (typically the connected and the pending ones). */
  exclude?: Iterable<string>;
  /** Most candidates returned. @default all */
  limit?: number;
  /**
   * Extra test a record must pass, e.g. to skip peers whose last disconnect
   * reason means "never reconnect" (`self_connection`, `incompatible_version`).
   * @default accept all
   */
  accept?: (record: Readonly<PeerRecord>) => boolean;
}

/**
 * A peer worth dialing, with its addresses best-first.
 *
 * @category Peer database
 */
export interface PeerCandidate {
  /** The peer's id. */
  peerId: string;
  /** Its addresses, best first (see `PeerDatabase.addressesOf`). */
  addresses: string[];
}
