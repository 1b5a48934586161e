/**
 * The dialer: outbound attempts under the node core's admission. Concurrent
 * dials to one peer (or one unknown address) share an attempt; each caller's
 * signal cancels only its own wait, and an attempt every caller left is
 * aborted and forgotten at once, so a later dial starts afresh.
 *
 * @module
 */
import type { Connection } from "../connection/index.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { DisconnectReason } from "../reasons.js";
import { PeerId } from "../identity/peer-id.js";
import { answeredBy, isFromProvenPeer, isUnproven, markUnproven, UNPROVEN_RETRY_AFTER_MAX_MS } from "../handshake/proven-failures.js";
import { refusalToError, type ConnectionReservation, type LimitRefusal } from "../manager/connection-limits.js";
import { isIp, normalizeHostPort, normalizeIp, parseHostPort } from "../manager/ip.js";
import type { PeerDatabase } from "../peers/peer-database.js";
import { originGroup } from "../peers/origin-groups.js";
import { dialChannel } from "../transport/dial.js";
import type { ResolvedTls, SecureChannel } from "../transport/types.js";
import type { KeptConnection, NodeCore } from "./core/node-core.js";
import type { DialOptions, DialTarget } from "./events.js";
import { raceAddresses } from "./address-race.js";
import { interleaveFamilies } from "./dial-race.js";
import type { ResolvedDialing } from "./node-settings.js";
import { awaitGate } from "./gate-wait.js";
import { linkSignals } from "../util/linked-signal.js";
import { gateError, isPendingGate, type GateOutcome, type GateVerdict } from "./policy/gater.js";
import { dialAborted, RacedAttempt, SharedDial, type AttemptControl } from "./dial-run.js";
import { backoffError, refusals, remoteRetryAfterMs, resolveHost, retryAfterError } from "./dial-steps.js";

/** What the dialer needs from the manager. */
export interface DialerHost {
  readonly core: NodeCore<KeptConnection>;
  readonly peers: PeerDatabase;
  /** This node's id. */
  readonly localId: PeerId;
  /** The core's clock (ms). */
  now(): number;
  tls(): ResolvedTls | undefined;
  /** Aborted when the node stops, just before {@link Dialer.stop}: its reason ends the dials; gater waits end with it. */
  readonly signal: AbortSignal;
  readonly handshakeTimeoutMs: number;
  /** Address racing and the direct-dial backoff. */
  readonly dialing: ResolvedDialing;
  /** The largest peer retry-after honoured (the reconnect policy's cap). */
  readonly maxRetryAfterMs: number;
  /** Whether 0-RTT early messages may be sent. */
  readonly enable0Rtt: boolean;
  /**
   * Runs the peerlink handshake as dialer; `track` gets the Connection as soon as it exists. `bounds.signal`
   * is the node's stop signal (a raced attempt's own signal when a dial races addresses): the dialer aborts a
   * tracked connection still in its handshake itself when the dial is cancelled otherwise.
   */
  handshake(
    channel: SecureChannel,
    bounds: { signal: AbortSignal; deadline: number; expected: PeerId | undefined; early: DialOptions["earlyMessages"] },
    track: (connection: Connection) => void,
  ): Promise<Connection>;
  /** Adopts a handshaken outbound connection; returns the kept connection to the peer or throws the refusal. */
  adopt(connection: Connection, reservation: ConnectionReservation, dialedAddress: string): Connection | Promise<Connection>;
  /** Subscribes to `connection:open`; returns the unsubscribe function. */
  onOpen(listener: (connection: Connection) => void): () => void;
  /** A dial was refused (journal unless `journaled`, `dial:refused`). */
  refused(target: string, error: PeerlinkError, journal: { peerId?: string | undefined; address?: string | undefined } | undefined): void;
  /** Journals a limit refusal. */
  journalLimit(address: string, refusal: LimitRefusal): void;
  /** A dial failed on the way (`handshake:failed`). */
  failed(address: string, error: PeerlinkError): void;
  /** Every address of a dial failed (services: `onDialFailed`). */
  dialFailed(target: { peerId: string | undefined; address: string }, error: PeerlinkError): void;
  /** A slot was freed or a dial ended (wake waiters). */
  changed(): void;
  /** A connection that failed its handshake is closing: hold it as the node's until `onClosed`. */
  closing(connection: Connection, onClosed: () => void): void;
}

/** Outbound attempts. */
export class Dialer {
  readonly #host: DialerHost;
  readonly #dials = new Map<string, SharedDial>();
  /** Waits for a connection being adopted (see {@link #awaitConnection}): ended by {@link stop}. */
  readonly #waits = new Set<() => void>();
  /**
   * The dials in progress, aborted by {@link Dialer.stop}: a set owned here rather than a listener per dial on
   * the node's stop signal (adding and removing those is linear in the listeners).
   */
  readonly #inFlight = new Set<SharedDial>();
  /** The ban lookup's query, filled in at each lookup (the database reads it and keeps nothing of it). */
  readonly #banQuery: { peerId: string | undefined; ip: string | undefined } = { peerId: undefined, ip: undefined };

  constructor(host: DialerHost) {
    this.#host = host;
  }

  /** Dials in progress. */
  get size(): number {
    return this.#dials.size;
  }

  /**
   * The node stops (right after aborting its signal): aborts every dial in progress with the signal's reason and
   * ends every wait for a connection being adopted (its timer cleared).
   */
  stop(): void {
    const reason = this.#host.signal.aborted ? this.#host.signal.reason : new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping");
    for (const dial of [...this.#inFlight]) dial.abort(reason);
    for (const end of [...this.#waits]) end();
  }

  /**
   * See `ConnectionManager.dial`. `direct` is false for the services' dials, which have backoffs of their
   * own: they feed the per-address dial backoff but are not refused by it. Not an async function: a dial
   * whose gater answers at once runs synchronously up to its first socket and returns the shared dial's
   * own promise.
   */
  dial(target: DialTarget, options: DialOptions = {}, direct = true): Promise<Connection> {
    try {
      return this.#dial(target, options, direct);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #dial(target: DialTarget, options: DialOptions, direct: boolean): Promise<Connection> {
    const host = this.#host;
    const { addresses, expected } = resolveTarget(target);
    // A plain address dial pins no identity, but an address proven by an earlier dial is known to be the
    // peer's: its bans apply and its existing connection is returned.
    const known = expected ?? (typeof target === "string" ? this.#provenOwner(addresses[0]!) : undefined);
    const peer = known?.toString();
    const key = peer ?? addresses[0] ?? "";
    if ((options.earlyMessages?.length ?? 0) > 0 && !host.enable0Rtt) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "earlyMessages need enable0Rtt: true (0-RTT is off, they would be dropped)");
    }
    if (known?.equals(host.localId)) this.#refuse(key, peer, addresses, new PeerlinkError(ErrorCode.SELF_CONNECTION, "refusing to dial this node itself"));
    if (addresses.length === 0) this.#refuse(key, peer, addresses, new PeerlinkError(ErrorCode.PEER_ADDRESS_UNKNOWN, `no address known for ${key}`));
    if (peer !== undefined) {
      const now = host.now();
      const ban = host.peers.findBan(this.#bansOf(peer, undefined), now);
      if (ban) this.#refuse(key, peer, addresses, new PeerlinkError(ErrorCode.PEER_BANNED, `${ban.key} is banned until ${ban.expiresAt}: ${ban.reason}`));
      // A peer's Goodbye retry-after binds every redial (PROTOCOL.md §8.2, §8.3); the services keep it themselves.
      const until = direct ? host.peers.retryAfterUntil(peer, now, host.maxRetryAfterMs) : undefined;
      if (until !== undefined) this.#refuse(key, peer, addresses, retryAfterError(peer, until, now));
      // Awaited only when the gater answers with a Promise: a synchronous answer keeps the dial synchronous
      // up to its first socket (its slot is reserved before dial() returns).
      const asked = host.core.gateDialPeer(peer);
      if (isPendingGate(asked)) return this.#dialPeerGated(asked, addresses, expected, peer, key, options, direct);
      if (!asked.allowed) this.#refuse(key, peer, addresses, gateError(asked, `dial to ${peer}`));
    }
    return this.#dialAddressesGated(addresses, expected, peer, key, options, direct);
  }

  /** The dial once the gater allowed its peer: asks it about the addresses, then starts (or joins) the dial. */
  #dialAddressesGated(
    addresses: readonly string[],
    expected: PeerId | undefined,
    peer: string | undefined,
    key: string,
    options: DialOptions,
    direct: boolean,
  ): Promise<Connection> {
    const core = this.#host.core;
    if (addresses.length === 1) {
      const gate = core.gateDialAddress(addresses[0]!, peer);
      if (isPendingGate(gate)) return this.#dialAddressGated([gate], addresses, expected, peer, key, options, direct);
      if (!gate.allowed) this.#refuse(key, peer, addresses, gateError(gate, `dial to ${addresses[0]!}`));
      return this.#start(addresses, expected, peer, key, options, direct);
    }
    const gates = addresses.map((address) => core.gateDialAddress(address, peer));
    if (gates.some(isPendingGate)) return this.#dialAddressGated(gates, addresses, expected, peer, key, options, direct);
    return this.#start(this.#ungated(key, peer, addresses, gates as GateVerdict[]), expected, peer, key, options, direct);
  }

  /** The dial when the gater answers for its peer with a Promise: awaited (bounded), then its addresses asked. */
  async #dialPeerGated(
    peerGate: GateOutcome,
    addresses: readonly string[],
    expected: PeerId | undefined,
    peer: string | undefined,
    key: string,
    options: DialOptions,
    direct: boolean,
  ): Promise<Connection> {
    const gate = await this.#verdict(peerGate, "denyDialPeer", options.signal);
    if (!gate.allowed) this.#refuse(key, peer, addresses, gateError(gate, `dial to ${peer ?? key}`));
    return this.#dialAddressesGated(addresses, expected, peer, key, options, direct);
  }

  /** The dial when the gater answers for an address with a Promise: every verdict awaited (bounded), then started. */
  async #dialAddressGated(
    gates: readonly GateOutcome[],
    addresses: readonly string[],
    expected: PeerId | undefined,
    peer: string | undefined,
    key: string,
    options: DialOptions,
    direct: boolean,
  ): Promise<Connection> {
    const verdicts = await Promise.all(gates.map((g) => this.#verdict(g, "denyDialAddress", options.signal)));
    return this.#start(this.#ungated(key, peer, addresses, verdicts), expected, peer, key, options, direct);
  }

  /** Returns the peer's connection, joins the dial in progress, or starts one over `dialable`. */
  #start(
    dialable: readonly string[],
    expected: PeerId | undefined,
    peer: string | undefined,
    key: string,
    options: DialOptions,
    direct: boolean,
  ): Promise<Connection> {
    const host = this.#host;
    if (!options.force) {
      const existing = peer !== undefined ? host.core.kept(peer) : undefined;
      if (existing) return Promise.resolve((existing as KeptConnection & { connection: Connection }).connection);
      const pending = this.#dials.get(key);
      if (pending && !pending.aborted) return this.#join(key, pending, options.signal);
    }
    const ordered = this.#open(dialable, expected, direct);
    const shared = new SharedDial(key);
    // A name lookup is no socket, but stop() must cancel it too: nothing of the dial may outlive the node.
    if (host.signal.aborted) shared.abort(host.signal.reason);
    else this.#inFlight.add(shared);
    shared.promise = this.#dialAddresses(ordered, expected, options, shared);
    if (!options.force) this.#dials.set(key, shared);
    return this.#join(key, shared, options.signal);
  }

  /** Waits for a shared dial on behalf of one caller; the dial is aborted and forgotten once every caller left. */
  #join(key: string, shared: SharedDial, signal: AbortSignal | undefined): Promise<Connection> {
    shared.callers++;
    if (signal === undefined) return shared.promise;
    return new Promise<Connection>((resolve, reject) => {
      const leave = (): void => {
        signal.removeEventListener("abort", onAbort);
        shared.callers--;
      };
      const onAbort = (): void => {
        leave();
        if (shared.callers === 0 && !shared.settled) {
          // Forget it now: a dial made right after must not join an attempt that is being torn down.
          if (this.#dials.get(key) === shared) this.#dials.delete(key);
          shared.abort(signal.reason);
        }
        reject(new PeerlinkError(ErrorCode.ABORTED, "dial aborted", { cause: signal.reason, initiator: "local" }));
      };
      if (signal.aborted) {
        // No handler of this caller's is attached to the shared dial, which may have no other caller: its
        // rejection is observed here, or it would be unhandled (and end the process).
        shared.promise.then(undefined, ignore);
        return onAbort();
      }
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

  /** The ban query for `peerId` and `ip`: one object reused by every lookup, not a literal per dial. */
  #bansOf(peerId: string | undefined, ip: string | undefined): { peerId: string | undefined; ip: string | undefined } {
    const query = this.#banQuery;
    query.peerId = peerId;
    query.ip = ip;
    return query;
  }

  /** The addresses a dial may try now, in race order: refused with DIAL_BACKOFF when every one waits. */
  #open(addresses: readonly string[], expected: PeerId | undefined, direct: boolean): readonly string[] {
    const host = this.#host;
    const backoff = host.dialing.backoff === undefined ? undefined : host.peers.dialBackoff;
    const ordered = addresses.length === 1 ? addresses : interleaveFamilies(addresses);
    if (backoff === undefined || !direct) return ordered;
    const now = host.now();
    if (ordered.length === 1) {
      if (backoff.check(ordered[0]!, now) === undefined) return ordered;
    } else {
      const open = ordered.filter((address) => backoff.check(address, now) === undefined);
      if (open.length > 0 || ordered.length === 0) return open;
    }
    const error = backoffError(ordered, backoff, now);
    host.refused(expected?.toString() ?? ordered[0]!, error, { peerId: expected?.toString(), address: ordered[0] });
    host.changed();
    throw error;
  }

  /** Dials `ordered`: one address directly under `shared`, several raced; a failure not refused here is the services'. */
  #dialAddresses(ordered: readonly string[], expected: PeerId | undefined, options: DialOptions, shared: SharedDial): Promise<Connection> {
    const host = this.#host;
    if (ordered.length === 1) {
      const address = ordered[0]!;
      // As a race of one: a cancelled dial ends with ABORTED "dial aborted", whatever its attempt ended with.
      const attempt = shared.aborted ? Promise.reject(dialAborted(shared.reason)) : this.#attempt(address, expected, options, shared);
      return attempt.then(
        (connection) => {
          if (shared.aborted) throw this.#failed(shared, dialAborted(shared.reason), expected, address);
          this.#ended(shared);
          return connection;
        },
        (error: unknown) => {
          throw this.#failed(shared, shared.aborted ? dialAborted(shared.reason) : PeerlinkError.from(error), expected, address);
        },
      );
    }
    return raceAddresses({
      addresses: ordered,
      staggerMs: host.dialing.staggerMs,
      signal: shared.signal,
      attempt: (address, signal, claim) => this.#attempt(address, expected, options, new RacedAttempt(signal, claim)),
      // Aborts, bans, the verdict of the peer itself (once proven) and another identity answering (its address is
      // dropped: see reconnect-core) are final; connection failures, limits and anything else from a node that did
      // not prove to be the peer try the next address.
      isFinal: (e) =>
        (!isUnproven(e) || e.code === ErrorCode.IDENTITY_MISMATCH) &&
        e.code !== ErrorCode.CONNECT_FAILED &&
        e.code !== ErrorCode.HANDSHAKE_TIMEOUT &&
        e.code !== ErrorCode.CONNECTION_LIMIT &&
        e.code !== ErrorCode.TOO_MANY_PENDING,
    }).then((result) => {
      if (!result.ok) throw this.#failed(shared, result.error, expected, result.address);
      this.#ended(shared);
      return result.value;
    });
  }

  /** A dial failed: the services are told unless it was refused before a socket (journaled where it happened). */
  #failed(shared: SharedDial, error: PeerlinkError, expected: PeerId | undefined, address: string): PeerlinkError {
    if (!refusals.has(error)) this.#host.dialFailed({ peerId: expected?.toString(), address }, error);
    this.#ended(shared);
    return error;
  }

  /** A dial ended, before its callers hear of it: forgotten, and waiters for a free slot woken. */
  #ended(shared: SharedDial): void {
    this.#inFlight.delete(shared);
    shared.settled = true;
    if (this.#dials.get(shared.key) === shared) this.#dials.delete(shared.key);
    this.#host.changed();
  }

  /**
   * One attempt: resolves `address`, checks bans and limits, dials it, runs the handshake and has the
   * connection adopted; records how it went. The slot is freed here when connect or TLS fails, once the
   * socket is closed when the handshake fails, and by the manager after adoption. When the peer ends this
   * connection as a duplicate (a simultaneous dial), the surviving connection to that peer is returned instead.
   */
  async #attempt(address: string, expected: PeerId | undefined, options: DialOptions, control: AttemptControl): Promise<Connection> {
    const host = this.#host;
    const peer = expected?.toString();
    const { host: name, port } = parseHostPort(address);
    let ip: string;
    try {
      ip = isIp(name) ? normalizeIp(name) : await resolveHost(name, control.signal);
    } catch (error) {
      throw PeerlinkError.from(error, ErrorCode.CONNECT_FAILED);
    }
    const ban = host.peers.findBan(this.#bansOf(peer, ip), host.now());
    if (ban) {
      const error = new PeerlinkError(ErrorCode.PEER_BANNED, `${ban.key} is banned until ${ban.expiresAt}: ${ban.reason}`);
      host.refused(peer ?? address, error, { peerId: peer, address });
      refusals.add(error);
      throw error;
    }
    const admission = host.core.reserveDial(ip, peer);
    if (!admission.ok) {
      host.journalLimit(address, admission.refusal);
      const error = refusalToError(admission.refusal);
      host.refused(peer ?? address, error, undefined);
      refusals.add(error);
      throw error;
    }
    const reservation = admission.reservation;
    try {
      const deadline = Date.now() + host.handshakeTimeoutMs;
      let channel: SecureChannel;
      try {
        channel = await dialChannel({ host: ip, port, tls: host.tls(), signal: control.listen, deadline, localAddress: options.localAddress }, control);
      } catch (error) {
        if (reservation.release()) host.changed();
        const failure = PeerlinkError.from(error);
        markUnproven(failure); // a TLS alert or a close is anyone's to send
        throw failure;
      }
      let connection: Connection;
      try {
        // A dial cancelled directly ends its handshake through `track`; the node's stop signal ends it too.
        connection = await host.handshake(channel, { signal: control.listen ?? host.signal, deadline, expected, early: options.earlyMessages }, (c) =>
          control.track(c),
        );
      } catch (error) {
        const created = control.connection;
        if (created && created.state !== "closed") host.closing(created, () => void (reservation.release() && host.changed()));
        else if (reservation.release()) host.changed();
        const failure = PeerlinkError.from(error);
        const remote = created?.handshake?.remotePeerId;
        if (remote && failure.code === ErrorCode.ALREADY_CONNECTED) {
          const survivor = await this.#awaitConnection(remote.toString(), deadline, control);
          if (survivor) {
            host.peers.dialBackoff.succeeded(address);
            return survivor;
          }
        }
        if (created?.handshake === undefined && !isFromProvenPeer(failure)) markUnproven(failure);
        throw failure;
      }
      if (!control.claim()) {
        // Another address of the peer won the race meanwhile (or the dial was cancelled): this connection is the duplicate.
        host.closing(connection, () => void (reservation.release() && host.changed()));
        void connection.close(DisconnectReason.ALREADY_CONNECTED).catch(() => undefined);
        throw new PeerlinkError(ErrorCode.ABORTED, "another address of the peer answered first", { initiator: "local" });
      }
      const adopted = host.adopt(connection, reservation, address);
      const kept = adopted instanceof Promise ? await adopted : adopted;
      host.peers.dialBackoff.succeeded(address);
      return kept;
    } catch (error) {
      const lastError = PeerlinkError.from(error);
      const cancelled = lastError.code === ErrorCode.ABORTED || lastError.code === ErrorCode.STOPPED;
      const refusedHere = lastError.code === ErrorCode.PEER_BANNED || lastError.code === ErrorCode.GATED;
      // Only on a record still there (see the adopter's close): an evicted one is not made again without its origin.
      if (expected && !cancelled && lastError.code !== ErrorCode.GATED && host.peers.has(peer!)) safely(() => host.peers.recordDialFailure(peer!, address, host.now()));
      const other = answeredBy(lastError);
      if (other !== undefined) safely(() => this.#answeredBy(other.toString(), address));
      // A peer reached and then refused as banned or gated is a refusal (journaled on adoption); anything else failed on the way.
      if (refusedHere) host.refused(address, lastError, undefined);
      else if (!cancelled) host.failed(address, lastError);
      if (!cancelled && !refusedHere && host.dialing.backoff !== undefined) {
        const now = host.now();
        host.peers.dialBackoff.failed(address, now);
        // Refused in place of a Hello with a retry-after (a listener at capacity): the address waits that long.
        const retryAfterMs = remoteRetryAfterMs(lastError);
        if (retryAfterMs !== undefined) {
          const cap = isUnproven(lastError) ? Math.min(UNPROVEN_RETRY_AFTER_MAX_MS, host.maxRetryAfterMs) : host.maxRetryAfterMs;
          host.peers.dialBackoff.hold(address, now + Math.min(retryAfterMs, cap));
        }
      }
      throw lastError;
    }
  }

  /**
   * Another identity proved itself at `address`: the address is that peer's now. It is recorded under the
   * identity that answered (and so leaves the record of the one expected), so that the mesh can dial the peer
   * there, and peer exchange, which never hands out an address another known peer owns, cannot give the address
   * back to the identity that left: a node restarted with a new key would otherwise stay unknown at its own
   * address for as long as others kept gossiping its old identity there. An identity new to the database is
   * recorded as one that put itself here (as an identity that connected does), in the answering address's
   * network group: a host that answers with fresh identities makes room for its own first. Its claim on the
   * address is unconfirmed until a dial reaches it there, and the identity that proves itself from that IP
   * takes it back (see `addressesToRecord`). A banned identity is not recorded.
   */
  #answeredBy(other: string, address: string): void {
    const peers = this.#host.peers;
    const now = this.#host.now();
    if (peers.isBanned(other, now)) return;
    peers.update(other, { addresses: [address], origin: { kind: "inbound", group: originGroup(address) } }, now);
  }

  /**
   * The kept connection to `peer`, waiting (until `deadline`, epoch ms) for one still being adopted; the wait
   * is the dial's step in progress, so a dial every caller left ends it (and its timer) at once.
   */
  #awaitConnection(peer: string, deadline: number, control: AttemptControl): Promise<Connection | undefined> {
    const existing = this.#host.core.kept(peer) as (KeptConnection & { connection: Connection }) | undefined;
    if (existing) return Promise.resolve(existing.connection);
    if (control.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const end = (connection: Connection | undefined): void => {
        clearTimeout(timer);
        off();
        this.#waits.delete(give);
        resolve(connection);
      };
      const give = (): void => end(undefined);
      const timer = setTimeout(give, Math.max(0, deadline - Date.now()));
      const off = this.#host.onOpen((connection) => {
        if (connection.remotePeer.toString() === peer) end(connection);
      });
      this.#waits.add(give);
      control.step = { cancel: give };
    });
  }

  /** The addresses the gater lets this dial try (`verdicts[i]` for `addresses[i]`); none left refuses the dial. */
  #ungated(key: string, peer: string | undefined, addresses: readonly string[], verdicts: readonly GateVerdict[]): string[] {
    let denied: PeerlinkError | undefined;
    const out = addresses.filter((address, i) => {
      const gate = verdicts[i]!;
      if (!gate.allowed) denied = gateError(gate, `dial to ${address}`);
      return gate.allowed;
    });
    if (out.length === 0 && denied !== undefined) this.#refuse(key, peer, addresses, denied);
    return out;
  }

  /** A dial refused before any attempt: reported (journal, `dial:refused`) and thrown. */
  #refuse(key: string, peer: string | undefined, addresses: readonly string[], error: PeerlinkError): never {
    this.#host.refused(key, error, { peerId: peer, address: addresses[0] });
    throw error;
  }

  /**
   * A gater verdict for this dial: at once when known, else awaited (bounded; the dial holds no slot yet).
   * Throws STOPPED or ABORTED when the node stops or the caller gives up while waiting.
   */
  async #verdict(outcome: GateOutcome, hook: string, signal: AbortSignal | undefined): Promise<GateVerdict> {
    if (!isPendingGate(outcome)) return outcome;
    const host = this.#host;
    const stop = signal === undefined ? undefined : linkSignals(host.signal, signal);
    let verdict: GateVerdict;
    try {
      verdict = await awaitGate(outcome, hook, stop?.signal ?? host.signal, () => ({ allowed: true }));
    } finally {
      stop?.unlink();
    }
    if (host.signal.aborted) throw new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping", { initiator: "local" });
    if (signal?.aborted) throw new PeerlinkError(ErrorCode.ABORTED, "dial aborted", { cause: signal.reason, initiator: "local" });
    return verdict;
  }

  /** The peer a successful dial to `address` proved to be there, if any. */
  #provenOwner(address: string): PeerId | undefined {
    const peers = this.#host.peers;
    const id = peers.resolvePeerId(address);
    if (id === undefined || !peers.hasProvenAddress(id, address)) return undefined;
    try {
      return PeerId.parse(id);
    } catch {
      return undefined;
    }
  }
}

/** The addresses and the pinned identity of a dial target. */
function resolveTarget(target: DialTarget): { addresses: string[]; expected: PeerId | undefined } {
  if (typeof target === "string") {
    // A plain address dial pins no identity: whoever answers there and proves its key is the result.
    return { addresses: [normalizeHostPort(target)], expected: undefined };
  }
  if (!target || typeof target !== "object") throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "dial target must be an address or { peerId, addresses }");
  const expected = target.peerId instanceof PeerId ? target.peerId : PeerId.parse(target.peerId);
  const addresses = (target.addresses ?? []).map((a) => normalizeHostPort(a));
  return { addresses, expected };
}

/** The handler of a rejection observed elsewhere. */
function ignore(): void {}

/** Runs a peer-database update; a failure (bad input from a peer, I/O) is reported, never thrown. */
export function safely(update: () => void): void {
  try {
    update();
  } catch (error) {
    process.emitWarning(`peerlink: peer database update failed: ${String(error)}`, "PeerlinkDatabaseWarning");
  }
}
