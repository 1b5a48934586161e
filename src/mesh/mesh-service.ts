/**
 * The target mesh service: a {@link ManagerService} that keeps `targetOutbound` outbound connections by
 * dialing candidates of the peer database, with the sans-IO {@link MeshCore} deciding which and when
 * (ranking, failure backoff, flap dampening, outbound diversity, the shared global budget), and peer exchange
 * (docs/PROTOCOL.md §7.1) feeding the database with peers this node never connected to.
 *
 * This module is the thin adapter: one timer set to the core's next deadline (none while the target is
 * held), dials through the manager, the PeerAddresses frames of each connection that agreed the capability,
 * and events. The manager creates it from its `mesh` option and exposes it as `manager.mesh`.
 *
 * Events (emitted on the manager): `mesh:dial` ({@link MeshDialEvent}) for every dial the mesh starts, and
 * `mesh:learned` ({@link MeshLearnedEvent}) when peer exchange added peers to the database.
 *
 * @example
 * ```ts
 * const manager = new ConnectionManager({
 *   listen: ["0.0.0.0:4001"],
 *   mesh: { targetOutbound: 8, bootstrap: ["boot1.example.org:4001", "boot2.example.org:4001"] },
 * });
 * await manager.start(); // dials the bootstraps, learns peers from them, keeps 8 outbound connections
 * ```
 *
 * @module
 */
import type { Connection } from "../connection/connection.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { DisconnectReason } from "../reasons.js";
import type { ManagedClose, ManagedConnection, ManagerHost, ManagerService } from "../manager/services.js";
import type { PeerAddresses } from "../../generated/peerlink/v1/peer_exchange_pb.js";
import type { PeerRecord } from "../peers/peer-record.js";
import { isLocalLimitRefusal, remoteRefusalOf } from "../reconnect/redial-failure.js";
import { MAX_TIMER_DELAY_MS } from "../util/timers.js";
import { PEER_EXCHANGE_CAPABILITY } from "./defaults.js";
import { type MeshBudget, type MeshCandidate, MeshCore, type MeshDial, type MeshDialOutcome, type MeshSnapshot } from "./mesh-core.js";
import type { ResolvedMeshOptions } from "./mesh-options.js";
import { buildPeerAddresses, ExchangeGate, readPeerAddresses, type SharedPeer } from "./peer-exchange.js";
import { originGroup } from "../peers/origin-groups.js";
import { answeredBy, isUnproven, UNPROVEN_RETRY_AFTER_MAX_MS } from "../handshake/proven-failures.js";

/** Least time between two ticks, in ms (see `MeshService.#queueTick`). */
const MIN_TICK_INTERVAL_MS = 50;

/**
 * Payload of `mesh:dial`: the mesh started a dial to fill its target.
 *
 * @category Mesh
 */
export interface MeshDialEvent {
  /** The peer dialed; undefined for an unpinned bootstrap address. */
  readonly peer: string | undefined;
  /** Addresses tried, best first. */
  readonly addresses: readonly string[];
  /** True when a bootstrap address was dialed because the database had no candidate left. */
  readonly bootstrap: boolean;
}

/**
 * Payload of `mesh:learned`: peer exchange added or refreshed peers in the database.
 *
 * @category Mesh
 */
export interface MeshLearnedEvent {
  /** The peer that sent them. */
  readonly from: string;
  /** How many peers were recorded. */
  readonly peers: number;
}

/**
 * Events the mesh service emits on the manager.
 *
 * @category Mesh
 */
export interface MeshServiceEvents {
  /** The mesh started a dial. */
  "mesh:dial": MeshDialEvent;
  /** Peer exchange recorded peers. */
  "mesh:learned": MeshLearnedEvent;
}

/**
 * Where the mesh stands.
 *
 * @category Mesh
 */
export interface MeshStatus {
  /** Outbound connections kept now. */
  readonly outbound: number;
  /** The target. */
  readonly target: number;
  /** Mesh dials in flight. */
  readonly dialing: number;
}

/**
 * The mesh service: the {@link ManagerService} hooks plus its status.
 *
 * @category Mesh
 */
export interface MeshService extends ManagerService {
  /** The resolved options. */
  readonly options: ResolvedMeshOptions;
  /** Outbound connections, target and dials in flight. */
  status(): MeshStatus;
  /** When the service's timer fires next (manager clock, ms); undefined when nothing is planned (target held). */
  readonly nextWakeAt: number | undefined;
}

/** Creates the mesh service factory with `budget`, the global dial budget it shares with the reconnect service. */
export function createMeshService(options: ResolvedMeshOptions, budget: MeshBudget): (host: ManagerHost) => MeshService {
  return (host) => new MeshServiceImpl(host, options, budget);
}

interface Attached {
  readonly gate: ExchangeGate;
  readonly off: () => void;
}

class MeshServiceImpl implements MeshService {
  readonly options: ResolvedMeshOptions;
  readonly #host: ManagerHost;
  readonly #core: MeshCore;
  readonly #controllers = new Map<number, AbortController>();
  readonly #attached = new Map<Connection, Attached>();
  #state: "new" | "running" | "stopped" = "new";
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  /** Cancels the queued tick, if one is queued. */
  #kick: (() => void) | undefined;
  /** When the last tick ran (`performance.now()`, ms). */
  #tickedAt = -Infinity;

  constructor(host: ManagerHost, options: ResolvedMeshOptions, budget: MeshBudget) {
    this.options = options;
    this.#host = host;
    this.#core = new MeshCore(options, budget);
  }

  get nextWakeAt(): number | undefined {
    return this.#timerAt;
  }

  status(): MeshStatus {
    const outbound = this.#host.managed().filter((m) => m.connection.direction === "outbound").length;
    return { outbound, target: this.options.targetOutbound, dialing: this.#core.inFlight };
  }

  // ---- ManagerService hooks ----

  start(): void {
    if (this.#state !== "new") return;
    this.#state = "running";
    const now = this.#host.clock();
    for (const peer of this.options.bootstrap) {
      if (peer.peerId === undefined) continue;
      try {
        this.#host.peers.upsert(peer.peerId, { addresses: [peer.address] }, now);
      } catch (error) {
        this.#host.journal("refused", { peerId: peer.peerId, code: PeerlinkError.from(error).code, detail: `mesh bootstrap: ${String(error)}` });
      }
    }
    this.#tick();
  }

  onOpen(managed: ManagedConnection): void {
    if (this.#state !== "running") return;
    this.#core.onOpen(managed.peer);
    const connection = managed.connection;
    if (this.options.peerExchange !== false && !this.#attached.has(connection) && connection.capabilities.some((c) => c.name === PEER_EXCHANGE_CAPABILITY)) {
      const gate = new ExchangeGate();
      const off = connection.on("control", (frame) => {
        if (frame.kind.case === "peerAddresses") this.#onPeerAddresses(connection, managed.peer, gate, frame.kind.value);
      });
      this.#attached.set(connection, { gate, off });
      this.#share(connection, managed.peer, false);
    }
  }

  onClose(managed: ManagedConnection, close: ManagedClose): void {
    const attached = this.#attached.get(managed.connection);
    if (attached !== undefined) {
      attached.off();
      this.#attached.delete(managed.connection);
    }
    if (this.#state !== "running" || !this.#host.running) return;
    this.#core.onClose(managed.peer, close.reason, this.#host.clock());
    this.#queueTick();
  }

  onSlotFreed(): void {
    if (this.#state === "running" && this.#host.running) this.#queueTick();
  }

  stop(): void {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    this.#clearTimer();
    this.#kick?.();
    this.#kick = undefined;
    for (const controller of this.#controllers.values()) controller.abort(new PeerlinkError(ErrorCode.STOPPED, "the mesh service is stopping"));
    this.#controllers.clear();
    for (const attached of this.#attached.values()) attached.off();
    this.#attached.clear();
    this.#core.stop();
  }

  // ---- the loop ----

  /**
   * Coalesces the ticks asked for within one loop turn (a mass disconnect frees many slots at once), and runs at
   * most one per {@link MIN_TICK_INTERVAL_MS}: a tick reads every candidate of the database, and connections that
   * open and close (a flood of refused handshakes, each freeing a slot) would otherwise ask for one per turn.
   */
  #queueTick(): void {
    if (this.#kick !== undefined) return;
    const run = (): void => {
      this.#kick = undefined;
      this.#tick();
    };
    const wait = this.#tickedAt + MIN_TICK_INTERVAL_MS - performance.now();
    if (wait > 0) {
      const timer = setTimeout(run, wait);
      timer.unref();
      this.#kick = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(run);
      this.#kick = () => clearImmediate(immediate);
    }
  }

  #tick(): void {
    if (this.#state !== "running" || !this.#host.running) return;
    this.#tickedAt = performance.now();
    const now = this.#host.clock();
    const snapshot = this.#snapshot(now);
    for (const dial of this.#core.tick(now, snapshot)) this.#dial(dial);
    if (this.options.peerExchange !== false) this.#closeFetched();
    // Still short and out of candidates: ask the connected peers for theirs.
    if (this.#core.deficit > 0 && this.#core.spareCandidates === 0 && this.options.peerExchange !== false) {
      for (const [connection, attached] of this.#attached) {
        if (connection.state === "open" && attached.gate.mayRequest(now)) this.#share(connection, connection.remotePeer.toString(), true);
      }
    }
    this.#arm();
  }

  #snapshot(now: number): MeshSnapshot {
    const host = this.#host;
    const managed = host.managed();
    const connected = new Set(managed.map((m) => m.peer));
    const outbound = managed.filter((m) => m.connection.direction === "outbound").map((m) => m.connection.remoteAddress);
    const candidates: MeshCandidate[] = [];
    const self = host.peerId.toString();
    // Read from the records in place (`accept` sees them), not from a copy of each: a tick reads every candidate.
    const facts = new Map<string, Readonly<PeerRecord>>();
    const accept = (record: Readonly<PeerRecord>): boolean => {
      facts.set(record.peerId, record);
      return record.peerId !== self;
    };
    for (const c of host.peers.candidates({ now, exclude: connected, accept })) {
      const record = facts.get(c.peerId) as Readonly<PeerRecord>;
      const best = record.addresses.find((a) => a.address === c.addresses[0]);
      candidates.push({
        peerId: c.peerId,
        addresses: c.addresses,
        healthy: record.healthy,
        succeeded: record.addresses.some((a) => a.lastSuccess !== undefined),
        failures: best?.failures ?? 0,
      });
    }
    return { outbound, connected, candidates, ownerOf: (address) => host.peers.resolvePeerId(address) };
  }

  #dial(dial: MeshDial): void {
    const host = this.#host;
    const controller = new AbortController();
    this.#controllers.set(dial.dialId, controller);
    this.#emit("mesh:dial", { peer: dial.peerId, addresses: dial.addresses, bootstrap: dial.bootstrap });
    const target = dial.peerId === undefined ? dial.addresses[0]! : { peerId: dial.peerId, addresses: dial.addresses };
    const options = { signal: controller.signal, ...(this.options.localAddress !== undefined ? { localAddress: this.options.localAddress } : {}) };
    let attempt: Promise<Connection>;
    try {
      attempt = host.dial(target, options);
    } catch (error) {
      attempt = Promise.reject(error);
    }
    attempt.then(
      (connection) => this.#settled(dial.dialId, { kind: "connected", peer: (connection as Connection).remotePeer.toString() }),
      (error: unknown) => this.#settled(dial.dialId, this.#outcome(PeerlinkError.from(error))),
    );
  }

  /**
   * Another identity answered at one of the addresses of a peer the mesh dials (a node restarted with a new
   * key, or the address was handed to another host): the address no longer reaches the peer, so it is taken
   * from its record (the dialer has recorded it under the identity that answered, unless that one is banned).
   * Kept, the mesh would keep dialing the old identity there. Identities that keep changing at the address back
   * it off (`MeshCore.onAnsweredByAnother`). The manager names the address whose attempt failed: the addresses
   * of a dial are raced, so another of them may have failed within the same dial (a peer down at its own
   * address) and must stay.
   */
  onDialFailed(target: { peerId: string | undefined; address: string }, error: Error): void {
    // Only the mesh's own dials, which the manager reports before their promise settles (the core still
    // holds them in flight).
    if (target.peerId === undefined || !this.#core.isDialing(target.peerId)) return;
    // Only an identity that proved its key there: a Goodbye UNEXPECTED_IDENTITY in place of a Hello is anyone's to send.
    const failure = PeerlinkError.from(error);
    if (failure.code !== ErrorCode.IDENTITY_MISMATCH || answeredBy(failure) === undefined) return;
    this.#host.peers.removeAddress(target.peerId, target.address);
    this.#core.onAnsweredByAnother(target.address, this.#host.clock());
  }

  #outcome(error: PeerlinkError): MeshDialOutcome {
    if (this.#state !== "running" || !this.#host.running || error.code === ErrorCode.STOPPED) return { kind: "aborted" };
    if (error.code === ErrorCode.ALREADY_CONNECTED) return { kind: "connected" };
    if (isLocalLimitRefusal(error)) return { kind: "local_limit" };
    // Whoever answered without proving it is the peer speaks for its address only (see proven-failures.ts).
    const unproven = isUnproven(error);
    if (error.code === ErrorCode.SELF_CONNECTION && !unproven) return { kind: "never" };
    const refusal = remoteRefusalOf(error);
    if (refusal === undefined || refusal.retryAfterMs <= 0) return { kind: "failed" };
    return { kind: "failed", retryAfterMs: unproven ? Math.min(refusal.retryAfterMs, UNPROVEN_RETRY_AFTER_MAX_MS) : refusal.retryAfterMs };
  }

  #settled(dialId: number, outcome: MeshDialOutcome): void {
    this.#controllers.delete(dialId);
    if (this.#state !== "running") return;
    this.#core.onDialSettled(dialId, outcome, this.#host.clock());
    this.#queueTick();
  }

  // ---- peer exchange ----

  /** Sends this node's PeerAddresses on `connection` (droppable: never queued for a peer that does not read). */
  #share(connection: Connection, receiver: string, request: boolean): void {
    const exchange = this.options.peerExchange;
    if (exchange === false) return;
    const host = this.#host;
    const connected: SharedPeer[] = [];
    for (const m of host.managed()) {
      if (m.peer !== receiver) connected.push({ peerId: m.peer, addresses: host.peers.addressesOf(m.peer) });
    }
    const others = host.peers.candidates({ now: host.clock(), limit: 4 * exchange.maxPeers, exclude: [receiver] });
    try {
      connection.sendControl(buildPeerAddresses({ connected, others }, receiver, exchange.maxPeers, request, this.options.random), { droppable: true });
    } catch {
      // Closed meanwhile: nothing to share with.
    }
  }

  #onPeerAddresses(connection: Connection, sender: string, gate: ExchangeGate, message: PeerAddresses): void {
    if (this.#state !== "running" || !this.#host.running) return;
    const host = this.#host;
    const now = host.clock();
    const verdict = gate.receive(message.request, now);
    if (verdict.use) {
      const peers = readPeerAddresses(message, {
        self: host.peerId.toString(),
        sender,
        senderAddress: connection.remoteAddress,
        ownerOf: (address) => host.peers.resolvePeerId(address),
      });
      const database = host.peers;
      // Recorded with their origin: peers put here by remote parties make room for each other, by the reporter's
      // network group, before any other peer is evicted (PeerDatabase).
      const origin = { kind: "exchange" as const, group: originGroup(connection.remoteAddress) };
      let recorded = 0;
      for (const peer of peers) {
        if (database.isBanned?.(peer.peerId, now) === true) continue;
        // A report adds addresses only to a peer that reports put here: the addresses of a peer this node
        // recorded, met or reached are its own, and the per-peer bound would drop them for claims.
        if (database.has(peer.peerId) && database.originOf(peer.peerId)?.kind !== "exchange") continue;
        try {
          database.update(peer.peerId, { addresses: peer.addresses, origin }, now);
          recorded++;
        } catch {
          // An address the database refuses: skipped, like any malformed entry (§7.1).
        }
      }
      if (recorded > 0) {
        this.#emit("mesh:learned", { from: sender, peers: recorded });
        this.#queueTick();
      }
      gate.fetched = true;
    }
    if (verdict.answer) this.#share(connection, sender, false);
  }

  /**
   * Closes the address-fetch connections (outbound, to a peer met at an unpinned bootstrap address) whose list
   * arrived, while other candidates exist: the mesh dials those instead.
   */
  #closeFetched(): void {
    let spare = this.#core.spareCandidates;
    for (const [connection, attached] of this.#attached) {
      if (spare <= 0) return;
      const peer = connection.remotePeer.toString();
      if (!attached.gate.fetched || connection.direction !== "outbound" || connection.state !== "open" || !this.#core.isFetchPeer(peer)) continue;
      spare--;
      this.#host.journal("closed", { peerId: peer, code: DisconnectReason.NORMAL, detail: "mesh: address fetch from a bootstrap peer done" });
      void connection.close(DisconnectReason.NORMAL).catch(() => {});
    }
  }

  // ---- timer and events ----

  #arm(): void {
    const at = this.#core.nextDeadline();
    if (at === this.#timerAt && (at === undefined || this.#timer !== undefined)) return;
    this.#clearTimer();
    if (at === undefined) return;
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = undefined;
        this.#tick();
      },
      Math.min(MAX_TIMER_DELAY_MS, Math.max(0, at - this.#host.clock())),
    );
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
  }

  #emit<K extends keyof MeshServiceEvents>(type: K, event: MeshServiceEvents[K]): void {
    // The host's event map is the manager's, which composes the mesh events.
    (this.#host.emit as (this: ManagerHost, type: string, event: unknown) => void).call(this.#host, type, event);
  }
}
