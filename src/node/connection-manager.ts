/**
 * The ConnectionManager: the object users hold. A facade over the sans-IO node
 * core (admission, adoption, pruning), the inbound and dial adapters, one timer
 * set to the core's next deadline, the peer database (the one owner of bans,
 * protection and health) and the services (maintenance, reconnect, yours).
 *
 * @module
 */
import { setMaxListeners } from "node:events";
import type { Connection } from "../connection/index.js";
import { metricsOf } from "../connection/metrics.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { Identity } from "../identity/identity.js";
import { PeerId } from "../identity/peer-id.js";
import type { BanEntry, BanTarget } from "../manager/ban-list.js";
import type { ConnectionCounts, RefusalReason } from "../manager/connection-limits.js";
import { formatHostPort, ipOf, normalizeIp, parseHostPort } from "../manager/ip.js";
import { DecisionJournal, type JournalEntry, type JournalQuery } from "../manager/journal.js";
import { resolveManagerOptions, type ConnectionManagerOptions, type ResolvedManagerOptions } from "../manager/manager-options.js";
import type { ManagerHost, ManagerService } from "../manager/services.js";
import type { MaintenanceService } from "../maintenance/maintenance-service.js";
import { observeNode, type NodeObserver } from "../observability/observe.js";
import { PeerDatabase } from "../peers/peer-database.js";
import type { ReconnectService, ReconnectServiceEvents } from "../reconnect/reconnect-service.js";
import type { MeshService, MeshServiceEvents } from "../mesh/mesh-service.js";
import { resolveTls } from "../transport/tls-config.js";
import { prepareHello } from "../handshake/handshake.js";
import type { ResolvedTls } from "../transport/types.js";
import { MAX_TIMER_DELAY_MS, monotonicNow } from "../util/timers.js";
import { TypedEmitter } from "../util/typed-emitter.js";
import { ArrivalClock } from "./arrival-clock.js";
import { Adopter, type Managed } from "./adopter.js";
import { ClosingConnections } from "./closing-connections.js";
import { ListenerSet } from "./listener-set.js";
import { NodeJournal } from "./node-journal.js";
import { BanControl } from "./ban-control.js";
import { dialerHost, inboundHost, type NodeParts } from "./adapter-hosts.js";
import { NodeCore, type KeptConnection } from "./core/node-core.js";
import { createNodeServices } from "./default-services.js";
import { Dialer } from "./dialer.js";
import type { BanOptions, DialOptions, DialTarget, NodeEvents } from "./events.js";
import { InboundAdapter } from "./inbound.js";
import { MisbehaviourGuard } from "./misbehaviour-guard.js";
import type { MisbehaviourEvidence } from "../peers/strike-ledger.js";
import { ProtocolHandlers, type ProtocolHandler } from "./protocol-handlers.js";
import { isPendingGate } from "./policy/gater.js";
import type { PeerTag, TagOptions } from "../peers/peer-tags.js";
import { SettledWaiters } from "./settled-waiters.js";
import { closeAllConnections, stopServices } from "./shutdown.js";
import { nodeSettings } from "./node-settings.js";
import { keepListening } from "../util/abort-waiters.js";

/**
 * Events of a {@link ConnectionManager}: the node's own and those of its default services.
 *
 * @category Manager
 */
export interface ConnectionManagerEvents extends NodeEvents, ReconnectServiceEvents, MeshServiceEvents {}

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
 *
 * @category Manager
 */
export class ConnectionManager extends TypedEmitter<ConnectionManagerEvents> {
  /** The validated options. */
  readonly options: ResolvedManagerOptions;
  /** The decision journal: every refusal, trim, ban and close, with the reason. */
  readonly journal: DecisionJournal;
  /** The peer database: addresses, history, backoff — and the one owner of bans, protection and health. */
  readonly peers: PeerDatabase;
  /** The maintenance service (`rttOf`, `healthOf`, `inspect`), unless `maintenance: false`. */
  readonly maintenance: MaintenanceService | undefined;
  /** The reconnect service (`want`, `unwant`, `schedule`, `cancel`, `status`), unless `reconnect: false`. */
  readonly reconnect: ReconnectService | undefined;
  /** The target mesh (`status`), when the `mesh` option turns it on. */
  readonly mesh: MeshService | undefined;
  readonly #core: NodeCore<Managed>;
  readonly #inbound: InboundAdapter;
  readonly #dialer: Dialer;
  readonly #adopter: Adopter;
  /** Counts violations and issues automatic bans (misbehaviour policy); the first service told of closes. */
  readonly #guard: MisbehaviourGuard;
  readonly #handlers: ProtocolHandlers;
  readonly #log: NodeJournal;
  readonly #bans: BanControl;
  readonly #services: readonly ManagerService[];
  readonly #abort = new AbortController();
  readonly #settings: ReturnType<typeof nodeSettings>;
  readonly #monotonicClock: () => number;
  /** Dates socket arrivals (see ArrivalClock): runs while listening. */
  readonly #arrivals: ArrivalClock;
  readonly #listeners = new ListenerSet();
  #tls: ResolvedTls | undefined;
  #state: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  /** The one timer: set to the core's next deadline. */
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  /** The timer fired and its work waits for the end of the loop turn (see #onTimer). */
  #dueQueued = false;
  #stopping: Promise<void> | undefined;
  /** Connections refused after their handshake or that failed it, still closing. */
  readonly #closing = new ClosingConnections();
  readonly #settled = new SettledWaiters(() => this.#isSettled());
  /** Metrics and logs (options `metrics`, `logger`, and the DEBUG output); undefined when none is on. */
  readonly #observer: NodeObserver | undefined;

  constructor(options: ConnectionManagerOptions = {}) {
    super();
    this.options = resolveManagerOptions(options);
    const o = this.options;
    this.#settings = nodeSettings(o.limits);
    this.#monotonicClock = options.clock === undefined ? monotonicNow : o.clock;
    this.#arrivals = new ArrivalClock(o.clock);
    this.journal = new DecisionJournal(o.limits.journalCapacity);
    this.#log = new NodeJournal(this.journal, o.clock);
    this.peers = new PeerDatabase({
      store: o.peerStore,
      bans: { maxSize: o.limits.banListMaxSize, durationsMs: o.limits.banDurationsMs, offenceMemoryMs: o.limits.offenceMemoryMs },
      dialBackoff: o.dialing.backoff ?? {},
    });
    this.#core = new NodeCore<Managed>({ limits: o.limits, peers: this.peers, localId: this.peerId.bytes, ...this.#settings, allowList: o.allowList, gater: o.gater });
    this.#bans = new BanControl({
      peers: this.peers,
      journal: this.#log,
      clock: o.clock,
      bannedConnections: (now) => this.#core.bannedConnections(now),
      emit: (type, event) => this.emit(type, event as never),
      changed: () => this.#arm(),
    });
    this.#handlers = new ProtocolHandlers(o.protocols.map((p) => p.name), (e) => this.listenerCount("handler:failed") > 0 && (this.emit("handler:failed", e), true));
    // One abort listener per pending dial or handshake: the count is bounded by the pending limits.
    setMaxListeners(0, this.#abort.signal);
    // The transport steps and handshakes wait on this signal through one listener, kept on it until the node
    // stops rather than added and removed around each connection.
    keepListening(this.#abort.signal);
    this.#adopter = new Adopter({
      core: this.#core,
      peers: this.peers,
      journal: this.#log,
      now: () => this.options.clock(),
      watermarks: { low: o.limits.lowWatermark, high: o.limits.highWatermark },
      emit: (type, event) => this.emit(type, event as ConnectionManagerEvents[typeof type]),
      notify: (hook) => this.#notify(hook),
      changed: () => this.#changed(),
      closing: (connection, onClosed) => this.#closing.add(connection, onClosed),
      handlers: this.#handlers,
      signal: this.#abort.signal,
    });
    const parts: NodeParts = {
      options: o,
      core: this.#core as unknown as NodeCore<KeptConnection>,
      peers: this.peers,
      arrivals: this.#arrivals,
      settings: this.#settings,
      adopter: this.#adopter,
      closing: this.#closing,
      log: this.#log,
      guard: () => this.#guard,
      signal: this.#abort.signal,
      tls: () => this.#tls,
      addresses: () => this.#listeners.addresses,
      emit: (type, event) => this.emit(type, event as never),
      on: (type, listener) => this.on(type, listener),
      notify: (hook) => this.#notify(hook),
      changed: () => this.#changed(),
    };
    this.#inbound = new InboundAdapter(inboundHost(parts));
    this.#dialer = new Dialer(dialerHost(parts));
    // No automatic ban once stopping: the peer database may already be closed.
    const autoBan = (t: BanTarget, b: BanOptions, evidence: MisbehaviourEvidence): void => void (this.#state === "running" && this.#bans.ban(t, b, evidence));
    this.#guard = new MisbehaviourGuard({ peers: this.peers, now: o.clock, exemptions: () => o.allowList, ban: autoBan }, o.misbehaviour);
    const services = createNodeServices(o, this.#serviceHost());
    this.maintenance = services.maintenance;
    this.reconnect = services.reconnect;
    this.mesh = services.mesh;
    this.#services = [this.#guard, ...services.all];
    this.#observer = observeNode(this, { metrics: o.metrics, logger: o.logger });
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
    return [...this.#listeners.addresses];
  }

  /** Current counters (pending and open, per direction). */
  get counts(): ConnectionCounts {
    return this.#core.limiter.counts();
  }

  /** Sockets the manager holds right now (pending handshakes plus adopted connections). */
  get socketCount(): number {
    const c = this.#core;
    return this.#inbound.size + this.#closing.inbound + c.adoptedConnections().length + c.limiter.counts().pendingOutbound;
  }

  /** Pending (handshaking) inbound connections now, in all or from one IP. */
  pendingInbound(ip?: string): number {
    return this.#core.pendingInbound(ip);
  }

  /** Starts listening on `options.listen`. Resolves once every address is bound. */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#state !== "new") throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "start() may be called once");
    this.#state = "starting";
    // stop() may run while start() awaits: after every await, give up if it did.
    const stillStarting = (): void => {
      if (this.#state !== "starting") throw new PeerlinkError(ErrorCode.STOPPED, "stop() was called during start()");
    };
    const signal = options.signal ? { signal: options.signal } : {};
    try {
      const loaded = await this.peers.load(signal);
      stillStarting();
      if (loaded.recovered) this.emit("database:recovered", loaded.recovered);
      if (this.options.tls !== false) this.#tls = await resolveTls(this.identity, this.options.tls);
      stillStarting();
      for (const address of this.options.listen) {
        await this.#listeners.listen(address, (socket) => this.#inbound.onSocket(socket), options.signal);
        stillStarting();
      }
    } catch (error) {
      await this.#listeners.discard();
      if (this.#state === "starting") {
        this.#state = "stopped";
        await this.peers.close().catch(() => undefined);
      }
      throw error;
    }
    this.#state = "running";
    // The Hello layout every handshake of this node uses, made now rather than on the first connection. A bad
    // list is reported by each handshake, as it was before this step.
    try {
      const o = this.options;
      prepareHello({ protocols: o.protocols, capabilities: o.capabilities, listenAddrs: this.#listeners.addresses, agent: o.agent });
    } catch {
      // reported by the handshakes
    }
    this.#core.start();
    if (this.#listeners.size > 0) this.#arrivals.start();
    this.#arm();
    this.#notify((s) => s.start?.());
    this.emit("listening", { addresses: this.addresses });
  }

  /** Every kept connection. */
  connections(): Connection[] {
    return this.#core.keptConnections().map((m) => m.connection);
  }

  /** The kept connection to `peer`, if any. */
  getConnection(peer: PeerId | string): Connection | undefined {
    return this.#core.kept(String(peer))?.connection;
  }

  /**
   * Which limit would refuse an inbound connection from `remoteAddr` now (`"host:port"` or an IP), or
   * `undefined` if none would (always for an allow-listed address).
   */
  connectionLimitsReached(remoteAddr: string): RefusalReason | undefined {
    const ip = ipOf(remoteAddr);
    return this.options.allowList.allowsAddress(ip) ? undefined : this.#core.limiter.connectionLimitsReached(ip);
  }

  /** Queries the decision journal. */
  decisions(query: JournalQuery = {}): JournalEntry[] {
    return this.journal.query(query);
  }

  /**
   * Dials `target` and resolves with an open, authenticated connection. Refused with a typed error before
   * any socket is opened when a limit is reached, the peer, its IP or subnet is banned (an address counts as
   * the peer's once a dial to it proved that peer's identity), the target is this node, or `earlyMessages`
   * are given with `enable0Rtt: false`.
   *
   * Concurrent dials to the same peer (or the same unknown address) share one attempt; each caller's
   * `signal` cancels only that caller's wait, and the attempt itself stops when every caller gave up (a dial
   * made after that starts a new attempt). An existing connection to the peer is returned unless `force`
   * is set. A peer at capacity refuses with CONNECTION_LIMIT, its retry-after in the error's cause.
   *
   * A peer's addresses are raced (`dialing.staggerMs` apart, IPv6 and IPv4 interleaved); the first to
   * complete its handshake wins and the others are aborted. An address that failed lately is not dialed
   * again before its backoff ends: when every address waits, the dial rejects at once with DIAL_BACKOFF,
   * `retryAfterMs` in the error's cause (`clearDialBackoff()` lifts it).
   */
  dial(target: DialTarget, options: DialOptions = {}): Promise<Connection> {
    if (this.#state !== "running") {
      return Promise.reject(new PeerlinkError(ErrorCode.STOPPED, this.#state === "new" ? "call start() first" : "the manager is stopped"));
    }
    return this.#dialer.dial(target, options);
  }

  /**
   * Forgets the per-address dial backoff of `address` (`"host:port"`), or of every address: the next
   * `dial()` tries it at once. Returns how many addresses were cleared.
   */
  clearDialBackoff(address?: string): number {
    if (address === undefined) return this.peers.dialBackoff.clear();
    const { host, port } = parseHostPort(address);
    return this.peers.dialBackoff.clear(formatHostPort(host, port));
  }

  /** Marks `peer` as protected: never trimmed, replaced or evicted from the peer database. */
  protect(peer: PeerId | string): void {
    this.peers.setProtected(String(peer), true, this.options.clock());
  }

  /** Removes the protection of `peer`. */
  unprotect(peer: PeerId | string): void {
    if (this.peers.has(String(peer))) this.peers.setProtected(String(peer), false, this.options.clock());
  }

  /** True when `peer` is protected. */
  isProtected(peer: PeerId | string): boolean {
    return this.peers.isProtected(String(peer));
  }

  /** Sets (or replaces) a weighted tag on `peer`: trimming and replacement take the lowest sum first. */
  tagPeer(peer: PeerId | string, tag: string, options: TagOptions = {}): void {
    this.peers.tags.tag(String(peer), tag, options, this.options.clock());
  }

  /** Removes a tag from `peer`; true when it had it. */
  untagPeer(peer: PeerId | string, tag: string): boolean {
    return this.peers.tags.untag(String(peer), tag);
  }

  /** The live tags of `peer` now (values after decay). */
  peerTags(peer: PeerId | string): PeerTag[] {
    return this.peers.tags.tagsOf(String(peer), this.options.clock());
  }

  /**
   * Runs `handler` for every message of `protocol`, before the `message` event; a failure is `handler:failed`.
   * @throws PeerlinkError INVALID_ARGUMENT for a protocol the node does not speak or that already has a handler.
   */
  handle(protocol: string, handler: ProtocolHandler): void {
    this.#handlers.handle(protocol, handler);
  }

  /** Removes the handler of `protocol`; true when there was one. */
  unhandle(protocol: string): boolean {
    return this.#handlers.unhandle(protocol);
  }

  /**
   * Bans a peer id, an IP or a subnet (`{ peerId }`, `{ ip }`, `{ subnet: "10.0.0.0/24" }`). Connections it
   * covers deliver nothing more to the application and are closed with PEER_BANNED (the Goodbye carries
   * only `publicReason`); later dials and inbound connections are refused until it expires.
   */
  ban(target: BanTarget | PeerId, options: BanOptions = {}): BanEntry {
    return this.#bans.ban(target, options);
  }

  /** Lifts a ban. Returns the removed entry, if there was one. */
  unban(target: BanTarget | PeerId): BanEntry | undefined {
    return this.#bans.unban(target);
  }

  /** True when the peer id or IP (or the IP's subnet) is banned now. */
  isBanned(query: { peerId?: PeerId | string; ip?: string }): boolean {
    const ip = query.ip === undefined ? undefined : normalizeIp(query.ip);
    return this.peers.findBan({ peerId: query.peerId === undefined ? undefined : String(query.peerId), ip }, this.options.clock()) !== undefined;
  }

  /**
   * Resolves when no dial or inbound handshake is pending (for tests and orderly shutdown), or rejects
   * with ABORTED when `signal` fires.
   */
  settled(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#settled.wait(options.signal);
  }

  /**
   * Stops the node: stops listening, cancels pending dials and handshakes, says goodbye (SHUTDOWN) to
   * every peer and waits for them up to `timeoutMs`, then aborts what is left, stops the services and
   * closes the peer database. Idempotent. Every `connection:close` fires before it resolves; afterwards no
   * event fires and every listener is removed.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options);
    return this.#stopping;
  }

  async #stop(options: { timeoutMs?: number }): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopping";
    this.#core.stop();
    this.#arrivals.stop();
    const timeoutMs = options.timeoutMs ?? this.options.limits.stopDeadlineMs;
    await this.#listeners.close();
    this.#abort.abort(new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping"));
    this.#dialer.stop();
    await closeAllConnections(this.#core, this.#inbound, () => this.#closing.all(), timeoutMs);
    this.#disarm();
    await stopServices(this.#services);
    this.#observer?.close();
    await this.peers.close().catch((error: unknown) => {
      process.emitWarning(`peerlink: peer database close failed: ${String(error)}`, "PeerlinkServiceWarning");
    });
    this.#state = "stopped";
    this.#settled.check();
    this.removeAllListeners();
  }

  /** Sets the one timer to the core's next deadline. */
  #arm(): void {
    if (this.#state !== "running" || this.#dueQueued) return; // a queued #runDue re-arms when done
    const next = this.#core.nextDeadline();
    // A timer already due earlier stays: firing early finds nothing due and re-arms, where moving it at every
    // handshake's end cost a clearTimeout and a setTimeout per connection.
    if (this.#timer !== undefined && next !== undefined && next >= (this.#timerAt as number)) return;
    this.#disarm();
    if (next === undefined) return;
    this.#timerAt = next;
    const delay = Math.max(0, Math.min(next - this.options.clock(), MAX_TIMER_DELAY_MS));
    this.#timer = setTimeout(() => this.#onTimer(), delay);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = undefined;
    // The due work runs after this loop turn's I/O poll, not in the timer phase before it: a socket handed
    // over late (after the loop stalled) may have its first flight in the kernel already, and only a poll
    // reads it; judged before that poll, it would be taken for silence.
    this.#dueQueued = true;
    setImmediate(() => {
      this.#dueQueued = false;
      if (this.#state !== "stopped") this.#runDue();
    });
  }

  #runDue(): void {
    this.#inbound.refreshProgress();
    const due = this.#core.onTimeout(this.options.clock());
    for (const { id, expiry } of due.expired) this.#inbound.expire(id, expiry);
    this.#bans.expired(due.unbanned);
    this.#adopter.trim(due.trim);
    this.#changed();
  }

  /** Something pending changed: re-arm the timer and wake `settled()` waiters. */
  #changed(): void {
    this.#arm();
    this.#settled.check();
  }

  #isSettled(): boolean {
    const c = this.#core.limiter.counts();
    if (c.pendingInbound !== 0 || c.pendingOutbound !== 0 || this.#inbound.size !== 0 || this.#dialer.size !== 0) return false;
    // Connections refused after their handshake (duplicates, stopping) are still closing.
    return this.#core.adoptedConnections().every((m) => m.announced);
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

  /** The view of this manager that services get. */
  #serviceHost(): ManagerHost {
    const manager = this;
    return {
      clock: this.options.clock,
      // Services time keepalive and health on a clock that never jumps, unless a test clock was given.
      monotonicClock: this.#monotonicClock,
      peerId: this.peerId,
      peers: this.peers,
      managed: () => this.#core.keptConnections(),
      isProtected: (peer) => this.peers.isProtected(peer),
      mayDial: (peer) => {
        const gate = this.#core.gateDialPeer(peer);
        return isPendingGate(gate) || gate.allowed; // an answer still to come is the dial's to await
      },
      // Services have backoffs of their own: the per-address dial backoff does not refuse them.
      dial: (target, options = {}) => (this.#state === "running" ? this.#dialer.dial(target, options, false) : this.dial(target, options)),
      setHealth: (connection, score) => {
        metricsOf(connection).health = score;
      },
      journal: (kind, entry) => this.#log.record(kind, entry),
      emit: (type, event) => this.emit(type as keyof ConnectionManagerEvents, event as never),
      get running() {
        return manager.#state === "running";
      },
    };
  }

}
