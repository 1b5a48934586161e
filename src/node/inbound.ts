/**
 * The inbound adapter: turns accepted sockets into handshaken connections
 * under the node core's admission. It owns the sockets and the promise chains;
 * every decision (admit, refuse, evict, expire, capacity) is the core's.
 *
 * @module
 */
import type { Socket } from "node:net";
import type { Connection } from "../connection/index.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { encodeGoodbye } from "../handshake/handshake.js";
import { refusalToError, type ConnectionReservation, type LimitRefusal } from "../manager/connection-limits.js";
import { formatHostPort } from "../manager/ip.js";
import { DisconnectReason } from "../reasons.js";
import { secureInbound } from "../transport/secure-inbound.js";
import type { ResolvedTls, SecureChannel } from "../transport/types.js";
import type { KeptConnection, NodeCore } from "./core/node-core.js";
import { PendingStage, type PendingExpiry } from "./core/pending-pool.js";
import { gatedRefusal } from "./core/adoption.js";
import { awaitGate } from "./gate-wait.js";
import type { GateVerdict } from "./policy/gater.js";

/** What the inbound adapter needs from the manager. */
export interface InboundHost {
  /** The node core (admission and capacity). */
  readonly core: NodeCore<KeptConnection>;
  /** When a socket handed over now arrived, on the core's clock (ms): earlier than now on a busy loop. */
  arrival(): number;
  /** The core's clock (ms). */
  now(): number;
  /** TLS settings, or undefined for plain TCP. */
  tls(): ResolvedTls | undefined;
  /** Aborts every handshake when the node stops. */
  readonly signal: AbortSignal;
  /** Handshake deadline (ms from arrival). */
  readonly handshakeTimeoutMs: number;
  /** First-flight deadline (ms from arrival). */
  readonly firstFlightTimeoutMs: number;
  /** Retry-after (ms) sent with a capacity refusal. */
  readonly capacityRetryAfterMs: number;
  /** Sockets refused for capacity that may wait for the dialer's close at once (beyond: closed once written). */
  readonly maxLingering: number;
  /** Runs the peerlink handshake as listener; `track` gets the Connection as soon as it exists. */
  handshake(channel: SecureChannel, deadline: number, track: (connection: Connection) => void): Promise<Connection>;
  /** A connection that failed its handshake is closing: hold it as the node's until `onClosed`. */
  closing(connection: Connection, onClosed: () => void): void;
  /** Adopts a handshaken connection; throws the refusal (the connection is then closing). */
  adopt(connection: Connection, reservation: ConnectionReservation): void;
  /** A socket was refused (journal + `inbound:refused`). */
  refused(address: string, refusal: LimitRefusal, error: PeerlinkError, peer?: string): void;
  /** A handshake failed or ran out of time (journal + `handshake:failed`). */
  failed(address: string, error: PeerlinkError): void;
  /** A pending socket was evicted to make room. */
  evicted(address: string): void;
  /** Pending state changed: re-arm the timer, wake `settled()` waiters. */
  changed(): void;
}

/** An accepted socket from admission to adoption. */
class PendingSocket {
  connection: Connection | undefined = undefined;
  #address: string | undefined;

  constructor(
    /** Its key in the pending map and the core. */
    readonly id: number,
    readonly socket: Socket,
    readonly reservation: ConnectionReservation,
  ) {}

  /** `"host:port"` of the peer, written when a report needs it (most sockets are adopted without one). */
  get address(): string {
    return (this.#address ??= formatHostPort(this.socket.remoteAddress as string, this.socket.remotePort as number));
  }
}

/** Accepted sockets from arrival to adoption. */
export class InboundAdapter {
  readonly #host: InboundHost;
  readonly #pending = new Map<number, PendingSocket>();
  /** Sockets past the pool (refused with a Goodbye, lingering to flush it). */
  readonly #lingering = new Set<Socket>();
  #nextId = 1;

  constructor(host: InboundHost) {
    this.#host = host;
  }

  /** Sockets and connections this adapter holds (pending or lingering). */
  get size(): number {
    return this.#pending.size + this.#lingering.size;
  }

  /** Handles a socket accepted by a listener. */
  onSocket(socket: Socket): void {
    const host = this.#host;
    if (!host.core.running || socket.remoteAddress === undefined || socket.remotePort === undefined) {
      socket.destroy();
      return;
    }
    // Progress decides which pending socket gives way from a full pool: read it fresh then (the deadlines
    // read it when they come due).
    if (host.core.pendingFull) this.refreshProgress();
    const id = this.#nextId++;
    const arrivedAt = host.arrival();
    const decision = host.core.arrive(id, socket.remoteAddress, arrivedAt, host.now(), socket.remotePort);
    if (!decision.ok) {
      // Abuse-class refusal, before any TLS work: a reset frees the slot on both sides fastest.
      socket.resetAndDestroy();
      host.refused(formatHostPort(socket.remoteAddress, socket.remotePort), decision.refusal, refusalToError(decision.refusal));
      return;
    }
    if (decision.evicted !== undefined) this.#kill(decision.evicted.id, "evicted");
    const entry = new PendingSocket(id, socket, decision.reservation);
    this.#pending.set(id, entry);
    host.changed();
    // The transports get the same deadline, counted from the arrival too.
    const deadline = Date.now() - (host.now() - arrivedAt) + host.handshakeTimeoutMs;
    const secure = (): Promise<SecureChannel> => secureInbound(socket, { tls: host.tls(), signal: host.signal, deadline });
    // A gater answering with a Promise is awaited first, the socket holding its pending slot and deadlines.
    const secured = decision.gate === undefined ? secure() : this.#afterGate(id, entry, decision.gate).then((go) => (go ? secure() : undefined));
    // One step per stage, each with its own failure handler: a step returning the handshake's promise would
    // have the next one wait two more microtask turns for it to be adopted, between the handshake and
    // adoption (where the first message waits).
    const fail = (error: unknown): void => this.#failed(id, entry, error);
    void secured.then((channel) => {
      try {
        if (channel !== undefined) this.#secured(id, entry, channel, deadline, fail);
      } catch (error) {
        fail(error);
      }
    }, fail);
  }

  /** TLS is done (or plain TCP): capacity, then the handshake. */
  #secured(id: number, entry: PendingSocket, channel: SecureChannel, deadline: number, fail: (error: unknown) => void): void {
    const host = this.#host;
    if (this.#pending.get(id) !== entry) {
      channel.socket.destroy();
      return;
    }
    // Only TLS is progress here. On plain TCP nothing was received yet (the Hello is the first flight):
    // bytes read are reported by refreshProgress, so a silent socket still meets the first-flight deadline.
    if (channel.secure) host.core.progress(id, PendingStage.SECURED);
    const full = host.core.inboundCapacity(entry.reservation.ip ?? "");
    if (full !== undefined) {
      this.#refuseForCapacity(id, entry, channel, full);
      return;
    }
    void host
      .handshake(channel, deadline, (connection) => {
        entry.connection = connection;
      })
      .then((connection) => this.#handshaken(id, entry, connection), fail);
  }

  /** The handshake is done: adoption (a refusal is reported by the manager, the connection closing). */
  #handshaken(id: number, entry: PendingSocket, connection: Connection): void {
    const host = this.#host;
    if (this.#pending.get(id) !== entry) {
      connection.abort();
      return;
    }
    this.#pending.delete(id);
    host.core.settle(id, false);
    try {
      host.adopt(connection, entry.reservation);
    } catch {
      // Refused after the handshake: the manager reported it and the connection is closing.
    }
    host.changed();
  }

  /** TLS or the handshake failed, or ran out of time. */
  #failed(id: number, entry: PendingSocket, error: unknown): void {
    if (this.#pending.get(id) !== entry) return; // evicted or expired: already reported
    const host = this.#host;
    this.#pending.delete(id);
    host.core.settle(id, false);
    const created = entry.connection;
    if (created !== undefined && created.state !== "closed") {
      // The slot is freed once the socket is closed (after the Goodbye is flushed).
      host.closing(created, () => {
        entry.reservation.release();
        host.changed();
      });
    } else {
      entry.socket.destroy();
      entry.reservation.release();
    }
    host.failed(entry.address, PeerlinkError.from(error));
    host.changed();
  }

  /**
   * Waits (bounded) for the gater's answer on a pending socket. Returns true to go on with TLS; false when
   * the socket is gone meanwhile (expired, evicted, the node stopping: already handled) or the gater denied
   * it, which is then reset and reported like a denial at arrival.
   */
  async #afterGate(id: number, entry: PendingSocket, gate: Promise<GateVerdict>): Promise<boolean> {
    const host = this.#host;
    const verdict = await awaitGate(gate, "denyInboundAddress", host.signal, () => ({ allowed: true }));
    if (this.#pending.get(id) !== entry) return false;
    if (verdict.allowed) return true;
    this.#pending.delete(id);
    host.core.settle(id, true);
    entry.socket.resetAndDestroy();
    const refusal = gatedRefusal("inbound", `ip:${entry.reservation.ip ?? "?"}`, verdict.reason);
    host.refused(entry.address, refusal, refusalToError(refusal));
    host.changed();
    return false;
  }

  /** Reports sockets whose peer has sent bytes (their first flight) to the core. */
  refreshProgress(): void {
    // Runs over every pending socket (an arrival to a full pool, each due deadline): values, not [id, entry] pairs made for each.
    for (const entry of this.#pending.values()) {
      if (entry.socket.bytesRead > 0) this.#host.core.progress(entry.id, PendingStage.FIRST_FLIGHT);
    }
  }

  /** The core expired pending socket `id` (its slot is already free): close it and report why. */
  expire(id: number, expiry: PendingExpiry): void {
    const entry = this.#pending.get(id);
    if (entry === undefined) return;
    this.#kill(id, "expired");
    const host = this.#host;
    const error =
      expiry === "first_flight"
        ? new PeerlinkError(ErrorCode.HANDSHAKE_TIMEOUT, `${entry.address}: nothing received within ${host.firstFlightTimeoutMs} ms of arrival`, { initiator: "local" })
        : new PeerlinkError(ErrorCode.HANDSHAKE_TIMEOUT, `${entry.address}: handshake not done within ${host.handshakeTimeoutMs} ms of arrival`, { initiator: "local" });
    host.failed(entry.address, error);
  }

  /** Closes every pending and lingering socket (the node stops); returns the connections being aborted. */
  destroyAll(): Connection[] {
    const connections: Connection[] = [];
    for (const [id, entry] of [...this.#pending]) {
      this.#pending.delete(id);
      this.#host.core.settle(id, true);
      if (entry.connection !== undefined) {
        entry.connection.abort();
        connections.push(entry.connection);
      }
      entry.socket.destroy();
    }
    for (const socket of this.#lingering) socket.destroy();
    this.#lingering.clear();
    return connections;
  }

  /** Connections still handshaking. */
  handshaking(): Connection[] {
    const out: Connection[] = [];
    for (const entry of this.#pending.values()) if (entry.connection !== undefined) out.push(entry.connection);
    return out;
  }

  #kill(id: number, why: "evicted" | "expired"): void {
    const entry = this.#pending.get(id);
    if (entry === undefined) return;
    this.#pending.delete(id);
    entry.reservation.release();
    if (entry.connection !== undefined) entry.connection.abort();
    entry.socket.resetAndDestroy();
    if (why === "evicted") this.#host.evicted(entry.address);
    this.#host.changed();
  }

  /**
   * The node is full: a Goodbye RESOURCE_CONSTRAINT with a retry-after in place of our Hello, so the dialer
   * learns why and when to come back, then the socket is ended (destroyed if the peer does not close).
   * In place of the Hello, not after it: a dialer that verified our Hello would count itself open before
   * the Goodbye arrived, and its dial would resolve with a connection that ends at once. Capacity does not
   * depend on who the dialer is, so nothing is lost by not running the handshake (and no signature is
   * spent on a connection that is refused anyway).
   */
  #refuseForCapacity(id: number, entry: PendingSocket, channel: SecureChannel, refusal: LimitRefusal): void {
    const host = this.#host;
    this.#pending.delete(id);
    host.core.settle(id, true);
    const socket = channel.socket;
    // Waiting for the dialer to close is a courtesy with a cap: past it (a flood of refused dialers) the
    // socket is destroyed as soon as the Goodbye is written.
    const courteous = this.#lingering.size < host.maxLingering;
    this.#lingering.add(socket);
    const done = (): void => {
      clearTimeout(timer);
      this.#lingering.delete(socket);
      socket.destroy();
      host.changed();
    };
    const timer = setTimeout(done, 1_000);
    timer.unref();
    socket.once("close", done);
    socket.on("error", () => undefined);
    socket.end(encodeGoodbye(DisconnectReason.RESOURCE_CONSTRAINT, "", host.capacityRetryAfterMs), courteous ? undefined : done);
    const error = refusalToError(refusal);
    host.refused(entry.address, refusal, error);
  }
}
