/**
 * What observability reads of a node: a structural view of the
 * ConnectionManager, so this layer depends on the node's shapes (events,
 * journal, peer database, services) and never on the manager class (no import
 * cycle; any object of this shape can be observed, a test double included).
 *
 * @module
 */
import type { Registry } from "prom-client";
import type { Connection } from "../connection/connection.js";
import type { ConnectionCounts } from "../manager/connection-limits.js";
import type { DecisionJournal } from "../manager/journal.js";
import type { MaintenanceService } from "../maintenance/maintenance-service.js";
import type { NodeEvents } from "../node/events.js";
import type { PeerDatabase } from "../peers/peer-database.js";
import type { ReconnectServiceEvents } from "../reconnect/reconnect-events.js";
import type { ReconnectService } from "../reconnect/reconnect-service.js";

/**
 * The events observability listens to: the node's own and the reconnect service's.
 *
 * @category Observability
 */
export type ObservedEvents = NodeEvents & ReconnectServiceEvents;

/**
 * The parts of a `ConnectionManager` that metrics, logs and the status page read.
 *
 * @category Observability
 */
export interface ObservedNode {
  /** This node's peer id. */
  readonly peerId: {
    /** The printable peer id. */
    toString(): string;
  };
  /** Bound listen addresses, `"host:port"`. */
  readonly addresses: readonly string[];
  /** Pending and open connections per direction. */
  readonly counts: ConnectionCounts;
  /** Every kept connection. */
  connections(): Connection[];
  /** The decision journal. */
  readonly journal: DecisionJournal;
  /** The peer database (for the active bans). */
  readonly peers: Pick<PeerDatabase, "activeBans">;
  /** The maintenance service, when enabled. */
  readonly maintenance: Pick<MaintenanceService, "inspect"> | undefined;
  /** The reconnect service, when enabled. */
  readonly reconnect: Pick<ReconnectService, "wanted" | "status"> | undefined;
  /** The node's clock (ms), the one its journal dates entries with, and the registry its metrics are on. */
  readonly options: {
    /** The node's clock (ms). */
    readonly clock: () => number;
    /** The registry given as the node's `metrics` option, if any. */
    readonly metrics?: Registry | undefined;
  };
  /** Subscribes to a node event; returns the function that removes the listener. */
  on<K extends keyof ObservedEvents>(type: K, listener: (event: ObservedEvents[K]) => void): () => void;
}
