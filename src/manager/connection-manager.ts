/**
 * The ConnectionManager: the object users hold (seed §4.1). It owns the
 * listeners, the limits, the ban list, the journal and every connection, and
 * decides — before any work is done — which connections may exist.
 *
 * The parts it composes are separate, named and tested on their own:
 * `ConnectionLimiter` (pending, per-IP, per-subnet, rate, capacity),
 * `BanList` (expiring, escalating), `selectConnectionsToTrim` (watermarks),
 * `chooseSurvivor` (simultaneous dial), `DecisionJournal`.
 *
 * @module
 */
import type { Socket } from "node:net";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { Identity } from "../identity/identity.js";
import { PeerId } from "../identity/peer-id.js";
import { DisconnectReason } from "../reasons.js";
import { dialChannel } from "../transport/dial.js";
import { listenTcp } from "../transport/listen.js";
import { secureInbound } from "../transport/secure-inbound.js";
import { resolveTls } from "../transport/tls-config.js";
import type { ResolvedTls, SecureChannel, TcpListener } from "../transport/types.js";
import { openConnection, type Connection } from "../connection/index.js";
import { MAX_TIMER_DELAY_MS, monotonicNow } from "../util/timers.js";
import { TypedEmitter } from "../util/typed-emitter.js";
import type { HealthScore } from "../health/types.js";
import { BanList, type BanEntry, type BanTarget } from "./ban-list.js";
import {
  ConnectionLimiter,
  describeRefusal,
  refusalToError,
  type ConnectionReservation,
  type LimitRefusal,
  type RefusalReason,
} from "./connection-limits.js";
import { DecisionJournal, type JournalEntry, type JournalQuery } from "./journal.js";
import { mayAdvertise } from "./address-scope.js";
import { formatHostPort, isIp, normalizeIp, parseHostPort } from "./ip.js";
import { isHostPort } from "../peers/peer-record.js";
import { lookup } from "node:dns/promises";
import { resolveManagerOptions, type ConnectionManagerOptions, type ResolvedManagerOptions } from "./manager-options.js";
import { chooseSurvivor } from "./tie-break.js";
import { PeerDatabase } from "../peers/peer-database.js";
import { metricsOf } from "../connection/metrics.js";
import type { CloseInfo } from "../connection/types.js";
import { gradeIndex, HealthGrade } from "../health/types.js";
import type { ManagedClose, ManagedConnection, ManagerHost, ManagerService } from "./services.js";
import { createReconnectService, type ReconnectService, type ReconnectServiceEvents } from "../reconnect/reconnect-service.js";
import { setMaxListeners } from "node:events";
import { createMaintenanceService, type MaintenanceService } from "../maintenance/maintenance-service.js";
import type { HealthChangeEvent } from "../maintenance/maintenance-types.js";
import { selectConnectionsToTrim } from "./trim.js";

/** Where to dial: `"host:port"`, or a peer id with its known addresses. */
export type DialTarget = string | { readonly peerId: PeerId | string; readonly addresses?: readonly string[] };

/** Options of {@link ConnectionManager.dial}. */
export interface DialOptions {
  /** Cancels the dial: it rejects with ABORTED and nothing stays open. */
  readonly signal?: AbortSignal;
  /** Open a new connection even when one to the peer exists. @default false */
  readonly force?: boolean;
  /**
   * Application messages sent right after the Hello (0-RTT, `enable0Rtt`); the listener delivers them only
   * after verifying this node. @default []
   */
  readonly earlyMessages?: readonly { readonly protocol: string; readonly data: Uint8Array }[];
  /** Local IP address to dial from (multihomed hosts). @default chosen by the OS */
  readonly localAddress?: string;
}

/** Options of {@link ConnectionManager.ban}. */
export interface BanOptions {
  /** Why (free text, journaled). @default "banned by the application" */
  readonly reason?: string;
  /** Ban duration (ms); `Infinity` for permanent. @default escalating: 10 min, 1 h, then 24 h for repeat offenders */
  readonly durationMs?: number;
}

/** Payload of `connection:close`. */
export interface ConnectionCloseEvent {
  readonly connection: Connection;
  /** Printable peer id. */
  readonly peer: string;
  readonly reason: DisconnectReason;
  readonly initiator: "local" | "remote";
  readonly error: PeerlinkError | undefined;
}

/** Events of a {@link ConnectionManager}. */
export interface ConnectionManagerEvents extends ReconnectServiceEvents {
  /** Listeners are bound; `addresses` are `"host:port"` with real ports. */
  "listening": { readonly addresses: readonly string[] };
  /** A connection finished its handshake and is kept. */
  "connection:open": { readonly connection: Connection };
  /** A kept connection ended. */
  "connection:close": ConnectionCloseEvent;
  /** An application message arrived on any connection. */
  "message": { readonly connection: Connection; readonly peer: string; readonly protocol: string; readonly data: Uint8Array };
  /**
   * A dial was refused: before any socket was opened (limits, bans, self), or right after the handshake
   * when the peer an address dial reached turned out to be banned (that connection is closed with a
   * PEER_BANNED goodbye).
   */
  "dial:refused": { readonly target: string; readonly error: PeerlinkError };
  /** A dial or an inbound connection failed during connect, TLS or handshake. */
  "handshake:failed": { readonly address: string; readonly direction: "inbound" | "outbound"; readonly error: PeerlinkError };
  /**
   * An inbound connection was refused and closed: before the handshake by a limit or an IP ban (closed at
   * once), or right after it when the peer id it proved is banned (closed with a PEER_BANNED goodbye).
   */
  "inbound:refused": {
    readonly address: string;
    readonly reason: RefusalReason;
    readonly error: PeerlinkError;
    /** The peer id the connection proved, when it was refused after its handshake (a banned peer id). */
    readonly peer?: string;
  };
  /** A peer, IP or subnet was banned. */
  "peer:banned": { readonly entry: BanEntry };
  /** A ban expired or was lifted. */
  "peer:unbanned": { readonly entry: BanEntry };
  /** A connection's published health grade changed (hysteresis applied). */
  "health:change": HealthChangeEvent;
  /** The peer database file was corrupt or unreadable; the previous good copy (or an empty one) was used. */
  "database:recovered": { readonly from: "prev" | "empty"; readonly error: PeerlinkError };
}

interface Managed extends ManagedConnection {
  readonly connection: Connection;
  readonly direction: "inbound" | "outbound";
  readonly reservation: ConnectionReservation;
  readonly peer: string;
  readonly openedAt: number;
  /** Latest health score, written by maintenance (read from the connection's metrics slot). */
  readonly health: HealthScore | undefined;
  /** True once `connection:open` was emitted for it (so `connection:close` must follow). */
  announced: boolean;
}

/** One dial attempt shared by every concurrent caller for the same peer or address. */
interface SharedDial {
  promise: Promise<Connection>;
  readonly controller: AbortController;
  callers: number;
  settled: boolean;
}

/**
 * Keeps a bounded, authenticated set of connections.
 *
 * @example
 * ```ts
 * const manager = new ConnectionManager({ listen: ["127.0.0.1:0"], protocols: [{ name: "/chat" }] });
 * manager.on("message", ({ peer, data }) => console.log(peer, new TextDecoder().decode(data)));
 * await manager.start();
 * const conn = await manager.dial("127.0.0.1:4001");
 * await conn.send("/chat", new TextEncoder().encode("hello"));
 * await manager.stop();
 * ```
 */
export class ConnectionManager extends TypedEmitter<ConnectionManagerEvents> {
  /** The validated options. */
  readonly options: ResolvedManagerOptions;
  /** The decision journal: every refusal, trim, ban and close, with the reason. */
  readonly journal: DecisionJournal;
  readonly #limiter: ConnectionLimiter;
  readonly #bans: BanList;
  readonly #connections = new Map<string, Managed>();
  readonly #all = new Set<Managed>();
  readonly #dials = new Map<string, SharedDial>();
  readonly #protected = new Set<string>();
  /** The peer database: addresses, disconnection history, bans and backoff state. */
  readonly peers: PeerDatabase;
  readonly #services: ManagerService[];
  /** The maintenance service (`rttOf`, `healthOf`, `inspect`), unless `maintenance: false`. */
  readonly maintenance: MaintenanceService | undefined;
  /** The reconnect service (`want`, `unwant`, `schedule`, `cancel`, `status`), unless `reconnect: false`. */
  readonly reconnect: ReconnectService | undefined;
  /** Inbound sockets accepted but not yet wrapped in a Connection (during TLS). */
  readonly #inflight = new Set<Socket>();
  /** Connections created but not adopted: handshaking, or failed and flushing their Goodbye. */
  readonly #handshaking = new Set<Connection>();
  readonly #abort = new AbortController();
  #listeners: TcpListener[] = [];
  #tls: ResolvedTls | undefined;
  #state: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  #banTimer: NodeJS.Timeout | undefined;
  /** Re-runs trimming when connections spared for their grace period come of age. */
  #trimTimer: NodeJS.Timeout | undefined;
  /** The one stop in progress or done (see stop()). */
  #stopping: Promise<void> | undefined;
  /** What services time with (ManagerHost.monotonicClock). */
  readonly #monotonicClock: () => number;
  #settledWaiters: (() => void)[] = [];

  constructor(options: ConnectionManagerOptions = {}) {
    super();
    this.options = resolveManagerOptions(options);
    this.#monotonicClock = options.clock === undefined ? monotonicNow : this.options.clock;
    const limits = this.options.limits;
    this.#bans = new BanList({
      maxSize: limits.banListMaxSize,
      durationsMs: limits.banDurationsMs,
      offenceMemoryMs: limits.offenceMemoryMs,
    });
    this.#limiter = new ConnectionLimiter(limits, { banList: this.#bans });
    this.journal = new DecisionJournal(limits.journalCapacity);
    this.peers = new PeerDatabase({ store: this.options.peerStore });
    // One abort listener per pending dial or handshake: the count is bounded by the pending limits.
    setMaxListeners(0, this.#abort.signal);
    const host = this.#host();
    const maintenance = this.options.maintenance;
    this.maintenance =
      maintenance === false
        ? undefined
        : createMaintenanceService(
            this.options.engine !== undefined && maintenance.engine === undefined ? { ...maintenance, engine: this.options.engine } : maintenance,
          )(host);
    this.reconnect = this.options.reconnect === false ? undefined : createReconnectService(this.options.reconnect)(host);
    this.#services = [
      ...(this.maintenance ? [this.maintenance] : []),
      ...(this.reconnect ? [this.reconnect] : []),
      ...this.options.services.map((create) => create(host)),
    ];
  }

  /** The view of this manager that services get. */
  #host(): ManagerHost {
    const manager = this;
    return {
      clock: this.options.clock,
      monotonicClock: this.#monotonicClock,
      peerId: this.peerId,
      peers: this.peers,
      managed: () => [...this.#connections.values()],
      isProtected: (peer) => this.#protected.has(peer),
      dial: (target, options = {}) => this.dial(target, options),
      // One property write: Managed.health reads the connection's slot.
      setHealth: (connection, score) => {
        metricsOf(connection).health = score;
      },
      journal: (kind, entry) => this.#journal(kind, entry),
      emit: (type, event) => this.emit(type, event),
      get running() {
        return manager.#state === "running";
      },
    };
  }

  /** Calls `hook` on every service; a throwing service is reported, never breaks the manager. */
  #notify(hook: (service: ManagerService) => void): void {
    for (const service of this.#services) {
      try {
        hook(service);
      } catch (error) {
        process.emitWarning(`peerlink: a manager service threw: ${String(error)}`, "PeerlinkServiceWarning");
      }
    }
  }

  /** This node's identity. */
  get identity(): Identity {
    return this.options.identity;
  }

  /** This node's peer id. */
  get peerId(): PeerId {
    return this.options.identity.peerId;
  }

  /** Bound listen addresses, `"host:port"`. */
  get addresses(): string[] {
    return this.#listeners.flatMap((l) => l.addresses.map((a) => formatHostPort(a.host, a.port)));
  }

  /** Current counters (pending and open, per direction). */
  get counts(): ReturnType<ConnectionLimiter["counts"]> {
    return this.#limiter.counts();
  }

  /** Sockets the manager holds right now (pending handshakes plus kept connections). */
  get socketCount(): number {
    return this.#inflight.size + this.#handshaking.size + this.#all.size;
  }

  /** Starts listening on `options.listen`. Resolves once every address is bound. */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#state !== "new") throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "start() may be called once");
    this.#state = "starting";
    // stop() may run while start() awaits: after every await, give up if it did.
    const stillStarting = (): void => {
      if (this.#state !== "starting") throw new PeerlinkError(ErrorCode.STOPPED, "stop() was called during start()");
    };
    try {
      const loaded = await this.peers.load(options.signal ? { signal: options.signal } : {});
      stillStarting();
      if (loaded.recovered) this.emit("database:recovered", loaded.recovered);
      this.#restoreBans();
      if (this.options.tls !== false) this.#tls = await resolveTls(this.identity, this.options.tls);
      stillStarting();
      for (const address of this.options.listen) {
        const { host, port } = parseHostPort(address, { allowPortZero: true });
        const listener = await listenTcp({
          host,
          port,
          onSocket: (socket) => this.#onInboundSocket(socket),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        this.#listeners.push(listener);
        stillStarting();
      }
    } catch (error) {
      const listeners = this.#listeners.splice(0);
      await Promise.all(listeners.map((l) => l.close()));
      if (this.#state === "starting") {
        this.#state = "stopped";
        await this.peers.close().catch(() => undefined);
      }
      throw error;
    }
    this.#state = "running";
    this.#scheduleBanSweep();
    this.#notify((s) => s.start?.());
    this.emit("listening", { addresses: this.addresses });
  }

  /** Every kept connection. */
  connections(): Connection[] {
    return [...this.#connections.values()].map((m) => m.connection);
  }

  /** The kept connection to `peer`, if any. */
  getConnection(peer: PeerId | string): Connection | undefined {
    return this.#connections.get(String(peer))?.connection;
  }

  /**
   * Which limit would refuse an inbound connection from `remoteAddr` now (`"host:port"` or an IP), or
   * `undefined` if none would (seed: `connection_limits_reached`).
   */
  connectionLimitsReached(remoteAddr: string): RefusalReason | undefined {
    return this.#limiter.connectionLimitsReached(ipOf(remoteAddr));
  }

  /** Queries the decision journal. */
  decisions(query: JournalQuery = {}): JournalEntry[] {
    return this.journal.query(query);
  }

  /**
   * Dials `target` and resolves with an open, authenticated connection. Refused with a typed error before
   * any socket is opened when a limit is reached, the peer, its IP or subnet is banned (an address counts as
   * the peer's once a dial to it proved that peer's identity), or the target is this node.
   *
   * Concurrent dials to the same peer (or the same unknown address) share one attempt; each caller's
   * `signal` cancels only that caller's wait, and the attempt itself stops when every caller gave up. An
   * existing connection to the peer is returned unless `force` is set; a forced dial's new connection
   * replaces the existing one (for duplicates in the same direction the newer connection is kept).
   * `earlyMessages` and `localAddress` apply only when this call opens the connection.
   */
  async dial(target: DialTarget, options: DialOptions = {}): Promise<Connection> {
    this.#assertRunning();
    const { addresses, expected } = this.#resolveTarget(target);
    // A plain address dial does not pin an identity, but an address proven by an earlier dial is known to be
    // the peer's: its bans apply and its existing connection is returned.
    const known = expected ?? (typeof target === "string" ? this.#provenOwner(addresses[0]!) : undefined);
    const key = known?.toString() ?? addresses[0] ?? "";
    const refuse = (error: PeerlinkError, journaled = false): never => {
      if (!journaled) this.#journal("refused", { peerId: known?.toString(), address: addresses[0], code: error.code, detail: error.rawMessage });
      this.emit("dial:refused", { target: key, error });
      throw error;
    };
    if (known?.equals(this.peerId)) refuse(new PeerlinkError(ErrorCode.SELF_CONNECTION, "refusing to dial this node itself"));
    if (addresses.length === 0) refuse(new PeerlinkError(ErrorCode.PEER_ADDRESS_UNKNOWN, `no address known for ${key}`));
    if (known) {
      const ban = this.#bans.findBan({ peerId: known.toString() }, this.options.clock());
      if (ban) refuse(new PeerlinkError(ErrorCode.PEER_BANNED, `${ban.key} is banned until ${ban.expiresAt}: ${ban.reason}`));
    }
    if (!options.force) {
      const existing = known ? this.#connections.get(known.toString()) : undefined;
      if (existing) return existing.connection;
      const pending = this.#dials.get(key);
      if (pending) return this.#joinDial(pending, options.signal);
    }
    const shared: SharedDial = { controller: new AbortController(), callers: 0, settled: false, promise: undefined! };
    setMaxListeners(0, shared.controller.signal);
    shared.promise = this.#dialAddresses(addresses, expected, options, shared.controller.signal, refuse);
    const done = () => {
      shared.settled = true;
      if (this.#dials.get(key) === shared) this.#dials.delete(key);
    };
    shared.promise.then(done, done);
    if (!options.force) this.#dials.set(key, shared);
    return this.#joinDial(shared, options.signal);
  }

  /** Waits for a shared dial on behalf of one caller; the dial is aborted once every caller has aborted. */
  #joinDial(shared: SharedDial, signal: AbortSignal | undefined): Promise<Connection> {
    shared.callers++;
    if (signal === undefined) return shared.promise;
    return new Promise<Connection>((resolve, reject) => {
      const leave = (): void => {
        signal.removeEventListener("abort", onAbort);
        shared.callers--;
      };
      const onAbort = (): void => {
        leave();
        if (shared.callers === 0 && !shared.settled) shared.controller.abort(signal.reason);
        reject(new PeerlinkError(ErrorCode.ABORTED, "dial aborted", { cause: signal.reason, initiator: "local" }));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      shared.promise.then(
        (connection) => {
          leave();
          resolve(connection);
        },
        (error: unknown) => {
          leave();
          reject(error);
        },
      );
    });
  }

  async #dialAddresses(
    addresses: readonly string[],
    expected: PeerId | undefined,
    options: DialOptions,
    signal: AbortSignal,
    refuse: (error: PeerlinkError, journaled?: boolean) => never,
  ): Promise<Connection> {
    let lastError: PeerlinkError | undefined;
    let lastAddress = addresses[0] ?? "";
    for (const address of addresses) {
      lastAddress = address;
      const { host, port } = parseHostPort(address);
      let ip: string;
      try {
        ip = isIp(host) ? normalizeIp(host) : await resolveHost(host, signal);
      } catch (error) {
        lastError = PeerlinkError.from(error, ErrorCode.CONNECT_FAILED);
        continue;
      }
      const ban = this.#bans.findBan({ peerId: expected?.toString(), ip }, this.options.clock());
      if (ban) refuse(new PeerlinkError(ErrorCode.PEER_BANNED, `${ban.key} is banned until ${ban.expiresAt}: ${ban.reason}`));
      const admission = this.#limiter.tryReserveOutbound(ip);
      if (!admission.ok) return refuse(this.#refusalError(admission.refusal, address), true);
      try {
        return await this.#dialOne({ host: ip, port }, address, expected, admission.reservation, options, signal);
      } catch (error) {
        lastError = PeerlinkError.from(error);
        const cancelled = lastError.code === ErrorCode.ABORTED || lastError.code === ErrorCode.STOPPED;
        if (expected && !cancelled) this.#safely(() => this.peers.recordDialFailure(expected.toString(), address, this.options.clock()));
        // A peer reached and then refused as banned (an address dial that pinned no identity) is a refusal,
        // journaled by #adopt; anything else failed on the way.
        if (lastError.code === ErrorCode.PEER_BANNED) this.emit("dial:refused", { target: address, error: lastError });
        else if (!cancelled) this.emit("handshake:failed", { address, direction: "outbound", error: lastError });
        // Identity, abort and protocol failures are final; connection failures try the next address.
        if (lastError.code !== ErrorCode.CONNECT_FAILED && lastError.code !== ErrorCode.HANDSHAKE_TIMEOUT) break;
      }
    }
    const error = lastError ?? new PeerlinkError(ErrorCode.PEER_ADDRESS_UNKNOWN, "no address to dial");
    this.#notify((s) => s.onDialFailed?.({ peerId: expected?.toString(), address: lastAddress }, error));
    throw error;
  }

  /**
   * Dials one address. The slot is released here when connect or TLS fails (the transport destroyed the
   * socket), by #handshake once the socket is closed when the handshake fails, and by #onClosed after adoption.
   * When the peer ends this connection as a duplicate (ALREADY_CONNECTED, a simultaneous dial), the surviving
   * connection to that peer is returned instead.
   */
  async #dialOne(
    target: { host: string; port: number },
    address: string,
    expected: PeerId | undefined,
    reservation: ConnectionReservation,
    options: DialOptions,
    sharedSignal: AbortSignal,
  ): Promise<Connection> {
    const signal = AbortSignal.any([sharedSignal, this.#abort.signal]);
    const deadline = Date.now() + this.options.limits.handshakeTimeoutMs;
    let channel: SecureChannel;
    try {
      channel = await dialChannel({ ...target, tls: this.#tls, signal, deadline, localAddress: options.localAddress });
    } catch (error) {
      this.#releaseSlot(reservation);
      throw error;
    }
    const attempt: { created?: Connection } = {};
    let connection: Connection;
    try {
      connection = await this.#handshake(channel, "dialer", { signal, deadline, expected, early: options.earlyMessages }, attempt, () =>
        this.#releaseSlot(reservation),
      );
    } catch (error) {
      const remote = attempt.created?.handshake?.remotePeerId;
      if (remote && PeerlinkError.from(error).code === ErrorCode.ALREADY_CONNECTED) {
        const survivor = await this.#awaitConnection(remote.toString(), deadline);
        if (survivor) return survivor;
      }
      throw error;
    }
    // A banned peer's address is not recorded as a successful dial.
    if (!this.#bans.findBan({ peerId: connection.remotePeer.toString(), ip: ipOf(connection.remoteAddress) }, this.options.clock())) {
      this.#safely(() => this.peers.recordDialSuccess(connection.remotePeer.toString(), address, this.options.clock()));
    }
    return this.#adopt(connection, reservation);
  }

  /** The kept connection to `peer`, waiting (until `deadline`) for one still being adopted. */
  #awaitConnection(peer: string, deadline: number): Promise<Connection | undefined> {
    const existing = this.#connections.get(peer);
    if (existing) return Promise.resolve(existing.connection);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(undefined);
      }, Math.max(0, deadline - Date.now()));
      const off = this.on("connection:open", ({ connection }) => {
        if (connection.remotePeer.toString() !== peer) return;
        clearTimeout(timer);
        off();
        resolve(connection);
      });
    });
  }

  /**
   * Runs the peerlink handshake on `channel`. The Connection is tracked from its creation (`attempt.created`):
   * a failed handshake keeps its socket for a short linger (to flush the Goodbye), and `release` (the slot)
   * runs only once that socket is closed, so the limits count every socket the manager really holds.
   */
  #handshake(
    channel: SecureChannel,
    role: "dialer" | "listener",
    bounds: { signal: AbortSignal; deadline: number; expected?: PeerId | undefined; early?: DialOptions["earlyMessages"] },
    attempt: { created?: Connection },
    release: () => void,
  ): Promise<Connection> {
    const o = this.options;
    const early = o.enable0Rtt && role === "dialer" ? (bounds.early ?? []) : [];
    return openConnection(
      channel,
      {
        identity: o.identity,
        protocols: o.protocols,
        capabilities: o.capabilities,
        listenAddrs: this.addresses,
        expectedPeerId: bounds.expected,
        earlyData: early.length > 0,
        ...(o.agent !== undefined ? { agent: o.agent } : {}),
      },
      {
        signal: bounds.signal,
        deadline: bounds.deadline,
        maxFrameSize: o.maxFrameSize,
        gracefulTimeoutMs: o.gracefulShutdownTimeoutMs,
        earlyMessages: early,
        onConnection: (connection) => {
          attempt.created = connection;
          this.#handshaking.add(connection);
          void connection.closed.then(() => {
            this.#handshaking.delete(connection);
            this.#notifySettled();
          });
        },
        ...(o.engine !== undefined ? { engine: o.engine } : {}),
      },
    ).then(
      (connection) => {
        this.#handshaking.delete(connection);
        return connection;
      },
      (error: unknown) => {
        const created = attempt.created;
        if (created && created.state !== "closed") void created.closed.then(release);
        else release();
        throw error;
      },
    );
  }

  #onInboundSocket(socket: Socket): void {
    const address = formatHostPort(socket.remoteAddress ?? "?", socket.remotePort ?? 0);
    if (this.#state !== "running") {
      socket.destroy();
      return;
    }
    const ip = normalizeIp(socket.remoteAddress ?? "");
    const admission = this.#limiter.tryReserveInbound(ip, this.options.clock());
    if (!admission.ok) {
      // Refused before any TLS or handshake work: close at once (RST frees the slot on both sides fastest).
      socket.resetAndDestroy();
      const error = this.#refusalError(admission.refusal, address);
      this.emit("inbound:refused", { address, reason: admission.refusal.reason, error });
      return;
    }
    const reservation = admission.reservation;
    this.#inflight.add(socket);
    const deadline = Date.now() + this.options.limits.handshakeTimeoutMs;
    const signal = this.#abort.signal;
    void secureInbound(socket, { tls: this.#tls, signal, deadline })
      .then((channel) => {
        // From here the Connection owns the socket.
        this.#inflight.delete(socket);
        return this.#handshake(channel, "listener", { signal, deadline }, {}, () => this.#releaseSlot(reservation));
      })
      .then(
        (connection) => {
          try {
            this.#adopt(connection, reservation);
          } catch (error) {
            // Refused after the handshake (banned peer id, stopping): #adopt closed it and journaled why.
            // The handshake itself succeeded, so a ban is a refusal, not a failed handshake.
            const err = PeerlinkError.from(error);
            if (err.code === ErrorCode.PEER_BANNED) {
              this.emit("inbound:refused", { address, reason: "banned", error: err, peer: connection.remotePeer.toString() });
            } else {
              this.emit("handshake:failed", { address, direction: "inbound", error: err });
            }
          }
        },
        (error: unknown) => {
          if (this.#inflight.delete(socket)) {
            // TLS failed: the transport destroyed the socket; free the slot now.
            socket.destroy();
            this.#releaseSlot(reservation);
          }
          const err = PeerlinkError.from(error);
          this.#journal("refused", { address, code: err.code, detail: `inbound handshake failed: ${err.rawMessage}` });
          this.emit("handshake:failed", { address, direction: "inbound", error: err });
          this.#notifySettled();
        },
      );
  }

  /**
   * Takes ownership of an open connection: ban check, duplicate resolution, peer database, events, trimming.
   * Every step that can refuse runs before the connection becomes visible; a refused connection is closed
   * (its slot is freed when it is) and the refusal thrown.
   */
  #adopt(connection: Connection, reservation: ConnectionReservation): Connection {
    const peer = connection.remotePeer.toString();
    const now = this.options.clock();
    reservation.open();
    const managed: Managed = {
      connection,
      direction: connection.direction,
      reservation,
      peer,
      openedAt: now,
      get health() {
        return connection.health;
      },
      announced: false,
    };
    this.#all.add(managed);
    connection.on("close", (info) => this.#onClosed(managed, info));
    connection.on("message", (m) => this.emit("message", { connection, peer, protocol: m.protocol, data: m.data }));
    if (this.#state !== "running") {
      void connection.close(DisconnectReason.SHUTDOWN);
      throw new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping");
    }
    const ban = this.#bans.findBan({ peerId: peer, ip: ipOf(connection.remoteAddress) }, now);
    if (ban) {
      void connection.close(DisconnectReason.PEER_BANNED, { detail: ban.reason });
      this.#journal("refused", { peerId: peer, address: connection.remoteAddress, code: ErrorCode.PEER_BANNED, detail: `${ban.key} is banned: ${ban.reason}` });
      throw new PeerlinkError(ErrorCode.PEER_BANNED, `${ban.key} is banned: ${ban.reason}`);
    }
    const existing = this.#connections.get(peer);
    if (existing) {
      const choice = chooseSurvivor(this.peerId.bytes, connection.remotePeer.bytes, existing, managed);
      this.#journal("closed", {
        peerId: peer,
        code: DisconnectReason.ALREADY_CONNECTED,
        detail: `duplicate connection; kept the ${choice.keep === managed ? "new" : "existing"} ${choice.keep.direction} one`,
      });
      void choice.close.connection.close(DisconnectReason.ALREADY_CONNECTED);
      if (choice.keep === existing) return existing.connection;
    }
    this.#connections.set(peer, managed);
    const handshake = connection.handshake;
    this.#safely(() =>
      this.peers.upsert(
        peer,
        {
          lastSeen: now,
          addresses: (handshake?.remoteListenAddrs ?? [])
            .map((a) => (connection.direction === "inbound" ? bindToRemoteIp(a, connection.remoteAddress) : a))
            .filter((a) => this.#mayRecordAddress(peer, a, connection.remoteAddress))
            .slice(0, 8),
          capabilities: (handshake?.capabilities ?? []).map((c) => c.name),
        },
        now,
      ),
    );
    managed.announced = true;
    this.#notify((s) => s.onOpen?.(managed));
    this.#journal("opened", { peerId: peer, address: connection.remoteAddress, code: "open", detail: connection.direction });
    this.emit("connection:open", { connection });
    this.#notifySettled();
    this.#trimIfNeeded();
    return connection;
  }

  /**
   * Whether an address a peer advertises in its Hello may be recorded for it: a valid `host:port` that is
   * not the unspecified address, whose scope is reachable from where the peer was seen (`mayAdvertise`: a
   * public peer cannot plant `127.0.0.1:22` or `10.0.0.5:6379` for this node to dial later), and not known
   * as another peer's. An advertisement never moves an address from one peer to another (a peer could
   * otherwise take every address it hears of); only a dial that reaches a peer there does.
   */
  #mayRecordAddress(peer: string, address: string, remoteAddress: string): boolean {
    // mayAdvertise also refuses the unspecified address (0.0.0.0, ::) and anything it cannot parse.
    if (!isHostPort(address) || !mayAdvertise(address, remoteAddress)) return false;
    const owner = this.peers.resolvePeerId(address);
    return owner === undefined || owner === peer;
  }

  /** The peer a successful dial to `address` proved to be there, if any. */
  #provenOwner(address: string): PeerId | undefined {
    const id = this.peers.resolvePeerId(address);
    if (id === undefined) return undefined;
    const entry = this.peers.get(id)?.addresses.find((a) => a.address === address);
    if (entry?.lastSuccess === undefined) return undefined;
    try {
      return PeerId.parse(id);
    } catch {
      return undefined;
    }
  }

  /** Runs a peer-database update; a failure (bad input from a peer, I/O) is reported, never thrown. */
  #safely(update: () => void): void {
    try {
      update();
    } catch (error) {
      process.emitWarning(`peerlink: peer database update failed: ${String(error)}`, "PeerlinkDatabaseWarning");
    }
  }

  #onClosed(managed: Managed, info: CloseInfo): void {
    managed.reservation.release();
    this.#all.delete(managed);
    if (this.#connections.get(managed.peer) === managed) this.#connections.delete(managed.peer);
    // Every connection that was announced with connection:open gets its connection:close, including one
    // replaced by a newer duplicate.
    if (managed.announced) {
      this.#journal("closed", {
        peerId: managed.peer,
        code: info.reason,
        detail: `${info.initiator} closed${info.error ? `: ${info.error.message}` : ""}`,
      });
      const now = this.options.clock();
      const goodbye = managed.connection.remoteGoodbye;
      this.#safely(() =>
        this.peers.recordDisconnection(managed.peer, {
          reason: info.reason,
          direction: managed.direction,
          initiator: info.initiator,
          at: now,
          ...(goodbye && goodbye.retryAfterMs > 0 ? { retryAfterMs: goodbye.retryAfterMs } : {}),
        }),
      );
      const close: ManagedClose = {
        ...info,
        remoteRetryAfterMs: goodbye && goodbye.retryAfterMs > 0 ? goodbye.retryAfterMs : undefined,
        wasHealthy: managed.health ? gradeIndex(managed.health.grade) >= gradeIndex(HealthGrade.GOOD) : undefined,
      };
      this.#notify((s) => s.onClose?.(managed, close));
      this.emit("connection:close", {
        connection: managed.connection,
        peer: managed.peer,
        reason: info.reason,
        initiator: info.initiator,
        error: info.error,
      });
    }
    this.#notify((s) => s.onSlotFreed?.());
    this.#notifySettled();
  }

  /** Frees a reservation (idempotent) and tells services a slot may be free. */
  #releaseSlot(reservation: ConnectionReservation): void {
    if (reservation.release()) this.#notify((s) => s.onSlotFreed?.());
    this.#notifySettled();
  }

  /** Marks `peer` as protected: never trimmed, never replaced. */
  protect(peer: PeerId | string): void {
    this.#protected.add(String(peer));
  }

  /** Removes the protection of `peer`. */
  unprotect(peer: PeerId | string): void {
    this.#protected.delete(String(peer));
  }

  /** True when `peer` is protected. */
  isProtected(peer: PeerId | string): boolean {
    return this.#protected.has(String(peer));
  }

  #trimIfNeeded(continuing = false): void {
    const limits = this.options.limits;
    if (!continuing && this.#connections.size <= limits.highWatermark) return;
    const now = this.options.clock();
    // Connections already closing (earlier victims among them) are neither counted nor chosen again.
    const open = [...this.#connections.values()].filter((m) => m.connection.state === "open");
    const candidates = open.map((m) => ({
      id: m.peer,
      direction: m.connection.direction,
      openedAt: m.openedAt,
      protected: this.#protected.has(m.peer),
      healthScore: m.health?.overall,
      managed: m,
    }));
    // A trim that started above the high watermark goes on down to the low one (continuing: when spared
    // connections come of age), even once the count is back under the high one.
    const victims = selectConnectionsToTrim(candidates, {
      lowWatermark: limits.lowWatermark,
      highWatermark: continuing ? limits.lowWatermark : limits.highWatermark,
      gracePeriodMs: limits.trimGracePeriodMs,
      now,
    });
    this.#armTrimRecheck(candidates, victims.length, now);
    for (const victim of victims) {
      this.#journal("trimmed", {
        peerId: victim.id,
        code: DisconnectReason.NETWORK_RESTRUCTURE,
        detail: `above highWatermark ${limits.highWatermark}; trimming to ${limits.lowWatermark}`,
        limit: "highWatermark",
        value: this.#connections.size,
      });
      void victim.managed.connection.close(DisconnectReason.NETWORK_RESTRUCTURE);
    }
  }

  /**
   * Still above the low watermark after a trim that had to spare connections in their grace period: goes on
   * trimming when the first of them comes of age (otherwise nothing would, until some connection opened, and
   * a burst of young connections could keep the node full).
   */
  #armTrimRecheck(candidates: readonly { protected: boolean; openedAt: number }[], trimmed: number, now: number): void {
    const limits = this.options.limits;
    if (this.#trimTimer !== undefined || candidates.length - trimmed <= limits.lowWatermark) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const c of candidates) {
      const ofAge = c.openedAt + limits.trimGracePeriodMs;
      if (!c.protected && ofAge > now && ofAge < earliest) earliest = ofAge;
    }
    if (!Number.isFinite(earliest)) return;
    this.#trimTimer = setTimeout(() => {
      this.#trimTimer = undefined;
      if (this.#state === "running") this.#trimIfNeeded(true);
    }, Math.min(earliest - now + 1, MAX_TIMER_DELAY_MS));
    this.#trimTimer.unref();
  }

  /**
   * Bans a peer id, an IP or a subnet (`{ peerId }`, `{ ip }`, `{ subnet: "10.0.0.0/24" }`). Connections it
   * covers are closed with PEER_BANNED; later dials and inbound connections are refused until it expires.
   */
  ban(target: BanTarget | PeerId, options: BanOptions = {}): BanEntry {
    const t: BanTarget = target instanceof PeerId ? { peerId: target.toString() } : target;
    const now = this.options.clock();
    const result = this.#bans.ban(t, now, {
      reason: options.reason ?? "banned by the application",
      ...(options.durationMs !== undefined ? { durationMs: options.durationMs } : {}),
    });
    const entry = result.entry;
    if (result.evicted !== undefined) {
      // The ban list is full: the entry that made room is lifted, and says so.
      this.#journal("unbanned", { ...banSubject(result.evicted), code: "evicted", detail: `${result.evicted.key} evicted from the full ban list` });
      this.emit("peer:unbanned", { entry: result.evicted });
    }
    this.#journal("banned", {
      ...banSubject(entry),
      code: ErrorCode.PEER_BANNED,
      detail: `${entry.key} until ${entry.expiresAt} (offence ${entry.offences}): ${entry.reason}`,
      value: entry.offences,
    });
    this.emit("peer:banned", { entry });
    this.#persistBans();
    for (const managed of [...this.#connections.values()]) {
      if (this.#bans.findBan({ peerId: managed.peer, ip: ipOf(managed.connection.remoteAddress) }, now)) {
        void managed.connection.close(DisconnectReason.PEER_BANNED, { detail: entry.reason });
      }
    }
    this.#scheduleBanSweep();
    return entry;
  }

  /** Lifts a ban. Returns the removed entry, if there was one. */
  unban(target: BanTarget | PeerId): BanEntry | undefined {
    const t: BanTarget = target instanceof PeerId ? { peerId: target.toString() } : target;
    const entry = this.#bans.unban(t);
    if (entry) {
      this.#persistBans();
      this.#journal("unbanned", { ...banSubject(entry), code: "unbanned", detail: `${entry.key} lifted by the application` });
      this.emit("peer:unbanned", { entry });
    }
    return entry;
  }

  /** True when the peer id or IP is banned now. */
  isBanned(query: { peerId?: PeerId | string; ip?: string }): boolean {
    return this.#bans.isBanned(
      { peerId: query.peerId === undefined ? undefined : String(query.peerId), ip: query.ip === undefined ? undefined : normalizeIp(query.ip) },
      this.options.clock(),
    );
  }

  /** Saves the ban list into the peer database so bans survive a restart. Ban times use the manager clock. */
  #persistBans(): void {
    this.peers.setExtra("bans", this.#bans.toJSON() as never);
  }

  /** Restores the saved ban list, remembered offences included (escalation survives a restart). */
  #restoreBans(): void {
    const saved = this.peers.getExtra()["bans"];
    if (saved === undefined) return;
    try {
      this.#bans.restore(saved);
    } catch (cause) {
      this.emit("database:recovered", {
        from: "empty",
        error: new PeerlinkError(ErrorCode.DATABASE_CORRUPT, "saved ban list unreadable; starting without bans", { cause }),
      });
    }
  }

  #scheduleBanSweep(): void {
    if (this.#banTimer) clearTimeout(this.#banTimer);
    this.#banTimer = undefined;
    const next = this.#bans.nextExpiry();
    if (next === undefined || !Number.isFinite(next) || this.#state === "stopping" || this.#state === "stopped") return;
    const delay = Math.max(0, Math.min(next - this.options.clock(), MAX_TIMER_DELAY_MS));
    this.#banTimer = setTimeout(() => {
      this.#banTimer = undefined;
      for (const entry of this.#bans.sweep(this.options.clock())) {
        this.#journal("unbanned", { ...banSubject(entry), code: "expired", detail: `${entry.key} expired` });
        this.emit("peer:unbanned", { entry });
      }
      this.#scheduleBanSweep();
    }, delay);
    this.#banTimer.unref();
  }

  /**
   * Resolves when no dial or inbound handshake is pending (for tests and orderly shutdown), or rejects
   * with ABORTED when `signal` fires.
   */
  settled(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#isSettled()) return Promise.resolve();
    if (options.signal?.aborted) return Promise.reject(new PeerlinkError(ErrorCode.ABORTED, "settled() aborted"));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const index = this.#settledWaiters.indexOf(waiter);
        if (index >= 0) this.#settledWaiters.splice(index, 1);
        reject(new PeerlinkError(ErrorCode.ABORTED, "settled() aborted"));
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const waiter = (): void => {
        options.signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      this.#settledWaiters.push(waiter);
    });
  }

  #isSettled(): boolean {
    const c = this.#limiter.counts();
    if (c.pendingInbound !== 0 || c.pendingOutbound !== 0 || this.#inflight.size !== 0 || this.#handshaking.size !== 0) return false;
    // Connections refused after their handshake (banned, duplicate, stopping) are still closing.
    for (const m of this.#all) if (!m.announced) return false;
    return true;
  }

  #notifySettled(): void {
    if (this.#settledWaiters.length === 0 || !this.#isSettled()) return;
    for (const waiter of this.#settledWaiters.splice(0)) waiter();
  }

  /**
   * Stops the node: stops listening, cancels pending dials and handshakes, says goodbye (SHUTDOWN) to
   * every peer and waits for them up to `timeoutMs`, then aborts what is left, stops the services and
   * closes the peer database. Idempotent. Every `connection:close` fires before it resolves; afterwards no
   * event fires and every listener is removed.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    // Every caller gets the same promise: a second stop() resolves only when the node has stopped.
    this.#stopping ??= this.#stop(options);
    return this.#stopping;
  }

  async #stop(options: { timeoutMs?: number }): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopping";
    const timeoutMs = options.timeoutMs ?? this.options.limits.stopDeadlineMs;
    await Promise.all(this.#listeners.map((l) => l.close()));
    this.#abort.abort(new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping"));
    for (const socket of this.#inflight) socket.destroy();
    const handshaking = [...this.#handshaking];
    for (const connection of handshaking) connection.abort();
    const all = [...this.#all];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([
      Promise.allSettled(all.map((m) => m.connection.close(DisconnectReason.SHUTDOWN, { timeoutMs }))),
      deadline,
    ]);
    clearTimeout(timer);
    for (const m of all) m.connection.abort();
    await Promise.all([...handshaking, ...all.map((m) => m.connection)].map((c) => c.closed.catch(() => undefined)));
    // Connections that finished their handshake while we waited (adopt() closes them) are aborted too.
    for (let round = 0; round < 3 && (this.#all.size > 0 || this.#handshaking.size > 0); round++) {
      const late = [...this.#handshaking, ...[...this.#all].map((m) => m.connection)];
      for (const connection of late) connection.abort();
      await Promise.all(late.map((c) => c.closed.catch(() => undefined)));
    }
    if (this.#banTimer) clearTimeout(this.#banTimer);
    this.#banTimer = undefined;
    if (this.#trimTimer) clearTimeout(this.#trimTimer);
    this.#trimTimer = undefined;
    for (const service of this.#services) {
      try {
        await service.stop?.();
      } catch (error) {
        process.emitWarning(`peerlink: a manager service failed to stop: ${String(error)}`, "PeerlinkServiceWarning");
      }
    }
    await this.peers.close().catch((error: unknown) => {
      process.emitWarning(`peerlink: peer database close failed: ${String(error)}`, "PeerlinkServiceWarning");
    });
    this.#state = "stopped";
    this.#notifySettled();
    this.removeAllListeners();
  }

  #assertRunning(): void {
    if (this.#state !== "running") {
      throw new PeerlinkError(ErrorCode.STOPPED, this.#state === "new" ? "call start() first" : "the manager is stopped");
    }
  }

  #resolveTarget(target: DialTarget): { addresses: string[]; expected: PeerId | undefined } {
    if (typeof target === "string") {
      // A plain address dial pins no identity: whoever answers there and proves its key is the result (the
      // database's owner of the address may be a mere claim from some peer's Hello, or a peer that moved).
      const { host, port } = parseHostPort(target);
      return { addresses: [formatHostPort(host, port)], expected: undefined };
    }
    if (!target || typeof target !== "object") throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "dial target must be an address or { peerId, addresses }");
    const expected = target.peerId instanceof PeerId ? target.peerId : PeerId.parse(target.peerId);
    const addresses = (target.addresses ?? []).map((a) => {
      const { host, port } = parseHostPort(a);
      return formatHostPort(host, port);
    });
    return { addresses, expected };
  }

  #refusalError(refusal: LimitRefusal, address: string): PeerlinkError {
    const error = refusalToError(refusal);
    this.#journal("refused", {
      address,
      code: refusal.reason,
      detail: describeRefusal(refusal),
      ...(refusal.option ? { limit: refusal.option } : {}),
      value: refusal.current,
    });
    return error;
  }

  #journal(
    kind: JournalEntry["kind"],
    entry: { peerId?: string | undefined; address?: string | undefined; code: string; detail: string; limit?: string; value?: number },
  ): void {
    this.journal.record({
      at: this.options.clock(),
      kind,
      code: entry.code,
      detail: entry.detail,
      ...(entry.peerId !== undefined ? { peerId: entry.peerId } : {}),
      ...(entry.address !== undefined ? { address: entry.address } : {}),
      ...(entry.limit !== undefined ? { limit: entry.limit } : {}),
      ...(entry.value !== undefined ? { value: entry.value } : {}),
    });
  }
}

/** Resolves a host name to one IP address (limits and bans are per IP). */
async function resolveHost(host: string, signal: AbortSignal): Promise<string> {
  if (signal.aborted) throw new PeerlinkError(ErrorCode.ABORTED, "dial aborted", { cause: signal.reason });
  try {
    const { address } = await lookup(host);
    return normalizeIp(address);
  } catch (cause) {
    throw new PeerlinkError(ErrorCode.CONNECT_FAILED, `cannot resolve ${host}`, { cause });
  }
}

/**
 * A peer listening on the unspecified address (`0.0.0.0:p`, `[::]:p`) is reachable on the IP it connected
 * from: record `thatIp:p` instead. Other addresses are returned unchanged.
 */
function bindToRemoteIp(advertised: string, remoteAddress: string): string {
  try {
    const { host, port } = parseHostPort(advertised);
    if (host !== "0.0.0.0" && host !== "::") return advertised;
    return formatHostPort(parseHostPort(remoteAddress).host, port);
  } catch {
    return advertised;
  }
}

/** The normalised IP of `"host:port"` or of a bare IP. */
function ipOf(address: string): string {
  try {
    return normalizeIp(parseHostPort(address).host);
  } catch {
    return normalizeIp(address);
  }
}

/** The journal fields naming a ban's target: the peer id of a peer ban, the IP of an IP ban (a subnet is in the detail). */
function banSubject(entry: BanEntry): { peerId?: string; address?: string } {
  if (entry.kind === "peer") return { peerId: entry.value };
  if (entry.kind === "ip") return { address: entry.value };
  return {};
}
