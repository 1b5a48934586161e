/**
 * The views of the node that its two socket adapters get: the inbound adapter
 * (accepting, first flight, handshake, refusals) and the dialer. Built from the
 * manager's parts once, at construction.
 *
 * @module
 */
import type { ResolvedManagerOptions } from "../manager/manager-options.js";
import type { ManagerService } from "../manager/services.js";
import type { PeerDatabase } from "../peers/peer-database.js";
import type { ResolvedTls } from "../transport/types.js";
import type { Connection } from "../connection/index.js";
import type { Adopter } from "./adopter.js";
import type { NodeEvents } from "./events.js";
import type { ArrivalClock } from "./arrival-clock.js";
import type { ClosingConnections } from "./closing-connections.js";
import type { KeptConnection, NodeCore } from "./core/node-core.js";
import { ipOf } from "../manager/ip.js";
import { safely, type DialerHost } from "./dialer.js";
import type { InboundHost } from "./inbound.js";
import type { MisbehaviourGuard } from "./misbehaviour-guard.js";
import type { NodeJournal } from "./node-journal.js";
import type { nodeSettings } from "./node-settings.js";
import { maxRetryAfterOf } from "../reconnect/policy.js";
import { runHandshake } from "./run-handshake.js";

/** The manager's parts the adapters' views are made of. */
export interface NodeParts {
  readonly options: ResolvedManagerOptions;
  readonly core: NodeCore<KeptConnection>;
  readonly peers: PeerDatabase;
  readonly arrivals: ArrivalClock;
  readonly settings: ReturnType<typeof nodeSettings>;
  readonly adopter: Adopter;
  readonly closing: ClosingConnections;
  readonly log: NodeJournal;
  /** The misbehaviour guard (made after the adapters, so read late). */
  guard(): MisbehaviourGuard;
  readonly signal: AbortSignal;
  tls(): ResolvedTls | undefined;
  addresses(): readonly string[];
  emit<K extends keyof NodeEvents>(type: K, event: NodeEvents[K]): void;
  on(type: "connection:open", listener: (event: { connection: Connection }) => void): () => void;
  notify(hook: (service: ManagerService) => void): void;
  changed(): void;
}

/** The inbound adapter's view of the node. */
export function inboundHost(c: NodeParts): InboundHost {
  return {
    core: c.core,
    arrival: () => c.arrivals.arrival(),
    now: () => c.options.clock(),
    tls: () => c.tls(),
    signal: c.signal,
    handshakeTimeoutMs: c.options.limits.handshakeTimeoutMs,
    firstFlightTimeoutMs: c.settings.firstFlightTimeoutMs,
    capacityRetryAfterMs: c.settings.capacityRetryAfterMs,
    maxLingering: c.options.limits.maxPendingInbound,
    handshake: (channel, deadline, track) => runHandshake(c.options, c.addresses(), channel, "listener", { signal: c.signal, deadline }, track),
    // A refusal is thrown (synchronously, or by the Promise when the gater answers later) and reported by the adopter.
    adopt: (connection, reservation) => {
      const kept = c.adopter.adopt(connection, reservation);
      if (kept instanceof Promise) kept.catch(() => undefined);
    },
    closing: (connection, onClosed) => c.closing.add(connection, onClosed),
    refused: (address, refusal, error, peer) => {
      c.log.refusal(address, refusal);
      c.emit("inbound:refused", { address, reason: refusal.reason, error, ...(peer !== undefined ? { peer } : {}) });
    },
    failed: (address, error) => {
      c.log.record("refused", { address, code: error.code, detail: `inbound handshake failed: ${error.rawMessage}` });
      c.emit("handshake:failed", { address, direction: "inbound", error });
      c.guard().handshakeFailed(address, error);
    },
    evicted: (address) => {
      c.log.record("refused", { address, code: "evicted", detail: "pending pool full: evicted the pending connection with the least progress" });
      c.emit("inbound:evicted", { address });
    },
    changed: () => c.changed(),
  };
}

/** The dialer's view of the node. */
export function dialerHost(c: NodeParts): DialerHost {
  return {
    core: c.core,
    peers: c.peers,
    localId: c.options.identity.peerId,
    now: () => c.options.clock(),
    tls: () => c.tls(),
    signal: c.signal,
    handshakeTimeoutMs: c.options.limits.handshakeTimeoutMs,
    dialing: c.options.dialing,
    maxRetryAfterMs: maxRetryAfterOf(c.options.reconnect),
    enable0Rtt: c.options.enable0Rtt,
    handshake: (channel, bounds, track) => runHandshake(c.options, c.addresses(), channel, "dialer", bounds, track),
    adopt: (connection, reservation, address) => {
      if (!c.peers.findBan({ peerId: connection.remotePeer.toString(), ip: ipOf(connection.remoteAddress) }, c.options.clock())) {
        safely(() => c.peers.recordDialSuccess(connection.remotePeer.toString(), address, c.options.clock()));
      }
      return c.adopter.adopt(connection, reservation);
    },
    onOpen: (listener) => c.on("connection:open", ({ connection }) => listener(connection)),
    closing: (connection, onClosed) => c.closing.add(connection, onClosed),
    refused: (target, error, journal) => {
      if (journal !== undefined) c.log.record("refused", { ...journal, code: error.code, detail: error.rawMessage });
      c.emit("dial:refused", { target, error });
    },
    journalLimit: (address, refusal) => c.log.refusal(address, refusal),
    failed: (address, error) => c.emit("handshake:failed", { address, direction: "outbound", error }),
    dialFailed: (target, error) => c.notify((s) => s.onDialFailed?.(target, error)),
    changed: () => {
      c.notify((s) => s.onSlotFreed?.());
      c.changed();
    },
  };
}
