/**
 * Carries out the node core's adoption verdicts on real connections: closes a
 * refused one with its Goodbye, resolves duplicates, relays a kept one's
 * messages, records it in the peer database, tells the services and the
 * application, and does the same bookkeeping when a kept connection closes.
 *
 * @module
 */
import { tapMessages, type Connection } from "../connection/connection.js";
import type { MessageTap } from "../connection/inbox.js";
import type { CloseInfo, InboundMessage } from "../connection/types.js";
import { keepTime, readTime, type KeptTime } from "../connection/kept-time.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { gradeIndex, HealthGrade, type HealthScore } from "../health/types.js";
import type { ConnectionReservation } from "../manager/connection-limits.js";
import type { ManagedClose, ManagedConnection, ManagerService } from "../manager/services.js";
import type { PeerDatabase } from "../peers/peer-database.js";
import { originGroup } from "../peers/origin-groups.js";
import { DisconnectReason } from "../reasons.js";
import { errorCodeForRemoteReason } from "../handshake/failure-reasons.js";
import { addressesToRecord } from "./core/adoption.js";
import type { KeptConnection, NodeCore } from "./core/node-core.js";
import { safely } from "./dialer.js";
import type { NodeEvents } from "./events.js";
import type { NodeJournal } from "./node-journal.js";
import type { ProtocolHandlers } from "./protocol-handlers.js";
import { awaitGate } from "./gate-wait.js";
import { isPendingGate, type GateVerdict } from "./policy/gater.js";

/** A kept connection, as the core and the services see it. */
export interface Managed extends KeptConnection, ManagedConnection {
  readonly connection: Connection;
  /** True once `connection:open` was emitted for it (so `connection:close` must follow). */
  announced: boolean;
}

/**
 * A {@link Managed} as a class: its getters live on the prototype. An object literal with getters is kept by
 * V8 as a dictionary (~0.8 KiB of property table) plus a closure per getter, for every connection held.
 */
class KeptEntry implements Managed {
  announced = false;
  /** Kept compactly (see `keepTime`): a plain time would be a 16-byte heap number. */
  readonly #openedAt: KeptTime;

  constructor(
    readonly connection: Connection,
    readonly peer: string,
    openedAt: number,
    readonly reservation: ConnectionReservation,
  ) {
    this.#openedAt = keepTime(openedAt);
  }

  get openedAt(): number {
    return readTime(this.#openedAt);
  }

  /** Read from the connection, not copied: the id bytes are read once, at adoption (a kept copy was ~0.2 KiB). */
  get peerBytes(): Uint8Array {
    return this.connection.remotePeer.bytes;
  }

  get direction(): "inbound" | "outbound" {
    return this.connection.direction;
  }

  get remoteAddress(): string {
    return this.connection.remoteAddress;
  }

  get isOpen(): boolean {
    return this.connection.state === "open";
  }

  get health(): HealthScore | undefined {
    return this.connection.health;
  }

  get healthScore(): number | undefined {
    return this.connection.health?.overall;
  }
}

/** What the adopter needs from the manager. */
export interface AdopterHost {
  readonly core: NodeCore<Managed>;
  readonly peers: PeerDatabase;
  readonly journal: NodeJournal;
  /** The core's clock (ms). */
  now(): number;
  /** The watermarks, for the journal's trim entries. */
  readonly watermarks: { readonly low: number; readonly high: number };
  emit<K extends keyof NodeEvents>(type: K, event: NodeEvents[K]): void;
  /** Calls a hook on every service. */
  notify(hook: (service: ManagerService) => void): void;
  /** Something changed: re-arm the timer, wake `settled()` waiters. */
  changed(): void;
  /** A refused connection is closing: hold it as the node's until `onClosed`. */
  closing(connection: Connection, onClosed: () => void): void;
  /** The application's per-protocol handlers, run beside the `message` event. */
  readonly handlers: ProtocolHandlers;
  /** Fires when the node stops (ends a wait for the gater's answer). */
  readonly signal: AbortSignal;
}

/** Adoption and close bookkeeping. */
export class Adopter {
  readonly #host: AdopterHost;

  constructor(host: AdopterHost) {
    this.#host = host;
  }

  /**
   * Takes a handshaken connection: the core decides (stopping, banned, gated, duplicate, capacity) before
   * anything of it is visible; only a kept connection gets its message relay, `connection:open` and the
   * services. A refused connection is closed with its Goodbye (its slot freed once it is) and the refusal
   * thrown. Returns the peer's kept connection (the existing one when this one lost a duplicate tie-break);
   * a Promise of it (rejecting with the refusal) when the gater answers with a Promise.
   */
  adopt(connection: Connection, reservation: ConnectionReservation): Connection | Promise<Connection> {
    const core = this.#host.core;
    const asked =
      connection.state === "open" && core.running
        ? core.gatePeer({ peer: connection.remotePeer.toString(), direction: connection.direction, remoteAddress: connection.remoteAddress })
        : undefined;
    if (asked === undefined || !isPendingGate(asked)) return this.#adoptNow(connection, reservation, asked);
    // The gater answers later: the connection waits unseen (its slot held, its messages kept), bounded; a node
    // that stops meanwhile refuses it as stopping.
    return Promise.resolve(awaitGate(asked, "denyPeer", this.#host.signal, () => ({ allowed: true }))).then((gate) =>
      this.#adoptNow(connection, reservation, gate),
    );
  }

  /** {@link Adopter.adopt} once the gater's verdict is known (`undefined`: not asked, the node is stopping or the connection closed). */
  #adoptNow(connection: Connection, reservation: ConnectionReservation, gate: GateVerdict | undefined): Connection {
    const host = this.#host;
    const peer = connection.remotePeer.toString();
    const now = host.now();
    const managed: Managed = new KeptEntry(connection, peer, now, reservation);
    if (connection.state !== "open") {
      // The peer refused us right after its Hello (its Goodbye came in the same read): a refusal, not a
      // connection that opens and ends at once.
      host.closing(connection, () => {
        reservation.release();
        host.changed();
      });
      const goodbye = connection.remoteGoodbye;
      if (goodbye === undefined) throw new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "connection closed before it was adopted", { initiator: "remote" });
      const detail = goodbye.detail === "" ? "" : `: ${goodbye.detail}`;
      throw new PeerlinkError(errorCodeForRemoteReason(goodbye.reason), `peer refused the connection (${goodbye.reason})${detail}`, {
        cause: goodbye,
        initiator: "remote",
      });
    }
    const verdict = host.core.adopt(managed, now, gate);
    if (verdict.kind === "refuse") {
      // Closing first: from here the connection delivers nothing (0-RTT data included) to anyone.
      void connection.close(verdict.reason, {
        ...(verdict.goodbyeDetail ? { detail: verdict.goodbyeDetail } : {}),
        ...(verdict.retryAfterMs !== undefined ? { retryAfterMs: verdict.retryAfterMs } : {}),
      });
      host.closing(connection, () => {
        reservation.release();
        host.changed();
      });
      host.journal.record("refused", { peerId: peer, address: connection.remoteAddress, code: verdict.refusal?.reason ?? verdict.code, detail: verdict.detail });
      const error = new PeerlinkError(verdict.code, verdict.detail, { initiator: "local" });
      if (connection.direction === "inbound" && verdict.code !== ErrorCode.STOPPED) {
        host.emit("inbound:refused", { address: connection.remoteAddress, reason: verdict.refusal?.reason ?? "banned", error, peer });
      }
      throw error;
    }
    connection.on("close", this.#closeListener(managed));
    if (verdict.kind === "duplicate") {
      host.journal.record("closed", { peerId: peer, code: DisconnectReason.ALREADY_CONNECTED, detail: "duplicate connection; kept the existing one" });
      void connection.close(DisconnectReason.ALREADY_CONNECTED);
      return host.core.kept(peer)!.connection;
    }
    if (verdict.close !== undefined) {
      host.journal.record("closed", { peerId: peer, code: DisconnectReason.ALREADY_CONNECTED, detail: `duplicate connection; kept the new ${managed.direction} one` });
      void verdict.close.connection.close(DisconnectReason.ALREADY_CONNECTED);
    }
    // A tap, not a listener: the connection keeps holding messages for the application's own first
    // `conn.on("message")`, attached after `await dial()`.
    tapMessages(connection, messageRelay(host, connection, peer));
    const handshake = connection.handshake;
    safely(() =>
      host.peers.update(
        peer,
        {
          lastSeen: now,
          addresses: addressesToRecord(
            peer,
            handshake?.remoteListenAddrs ?? [],
            connection,
            (a) => host.peers.resolvePeerId(a),
            // The owner's claim holds when a dial reached it there or it ever connected here (see addressesToRecord).
            (owner, a) => host.peers.hasProvenAddress(owner, a) || host.peers.get(owner)?.lastSeen !== undefined,
          ),
          capabilities: (handshake?.capabilities ?? []).map((c) => c.name),
          // An identity new to the database that connected here: it makes room for others of its kind first.
          origin: connection.direction === "inbound" && !host.peers.has(peer) ? { kind: "inbound", group: originGroup(connection.remoteAddress) } : undefined,
        },
        now,
      ),
    );
    managed.announced = true;
    host.notify((s) => s.onOpen?.(managed));
    host.journal.record("opened", { peerId: peer, address: connection.remoteAddress, code: "open", detail: connection.direction });
    host.emit("connection:open", { connection });
    this.trim(host.core.trim(now));
    host.changed();
    return connection;
  }

  /** Closes trimmed connections (NETWORK_RESTRUCTURE), journaling each. */
  trim(victims: readonly Managed[]): void {
    const host = this.#host;
    for (const victim of victims) {
      host.journal.record("trimmed", {
        peerId: victim.peer,
        code: DisconnectReason.NETWORK_RESTRUCTURE,
        detail: `above highWatermark ${host.watermarks.high}; trimming to ${host.watermarks.low}`,
        limit: "highWatermark",
        value: host.core.keptConnections().length,
      });
      void victim.connection.close(DisconnectReason.NETWORK_RESTRUCTURE);
    }
  }

  /**
   * The kept connection's close listener. Made here, not in {@link Adopter.#adoptNow}: a closure there would
   * keep that call's whole scope for the connection's life.
   */
  #closeListener(managed: Managed): (info: CloseInfo) => void {
    // Bound, not a closure: ~30 B less per connection (no context object of its own).
    return this.#onClosed.bind(this, managed);
  }

  #onClosed(managed: Managed, info: CloseInfo): void {
    const host = this.#host;
    host.core.closed(managed);
    if (managed.announced) {
      host.journal.record("closed", { peerId: managed.peer, code: info.reason, detail: `${info.initiator} closed${info.error ? `: ${info.error.message}` : ""}` });
      const goodbye = managed.connection.remoteGoodbye;
      const retryAfterMs = goodbye && goodbye.retryAfterMs > 0 ? goodbye.retryAfterMs : undefined;
      const grade = managed.health?.grade;
      // Not for a record evicted meanwhile: made again here it would lack the origin it was recorded with, and
      // peers cycling connections could turn their places into records no remote party seems to have put there.
      if (host.peers.has(managed.peer)) safely(() => {
        host.peers.recordDisconnection(managed.peer, {
          reason: info.reason,
          direction: managed.direction,
          initiator: info.initiator,
          at: host.now(),
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        });
        // The peer database ranks replacement candidates by their last connection's health.
        if (grade !== undefined) host.peers.recordHealth(managed.peer, grade);
      });
      // Fields named, not `...info`: a spread of the close info took most of this listener's time (V8's
      // generic object-clone path).
      const close: ManagedClose = {
        reason: info.reason,
        initiator: info.initiator,
        ...(info.error !== undefined ? { error: info.error } : {}),
        remoteRetryAfterMs: retryAfterMs,
        wasHealthy: grade === undefined ? undefined : gradeIndex(grade) >= gradeIndex(HealthGrade.GOOD),
      };
      host.notify((s) => s.onClose?.(managed, close));
      host.emit("connection:close", { connection: managed.connection, peer: managed.peer, reason: info.reason, initiator: info.initiator, error: info.error });
    }
    host.notify((s) => s.onSlotFreed?.());
    host.changed();
  }
}

/**
 * The node's tap on a kept connection: its handlers and the `message` event. Bound to a module function, not a
 * closure: a closure made in the adoption would keep that call's whole scope for the connection's life, and a
 * bound function is ~30 B smaller than a closure with a context of its own.
 */
function messageRelay(host: AdopterHost, connection: Connection, peer: string): MessageTap {
  return relay.bind(undefined, host, connection, peer);
}

function relay(host: AdopterHost, connection: Connection, peer: string, m: InboundMessage): void {
  host.handlers.deliver(m.protocol, m.data, connection, peer);
  host.emit("message", { connection, peer, protocol: m.protocol, data: m.data });
}
