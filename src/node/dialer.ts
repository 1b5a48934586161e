/**
 * The dialer: outbound attempts under the node core's admission. Concurrent
 * dials to one peer (or one unknown address) share an attempt; each caller's
 * signal cancels only its own wait, and an attempt every caller left is
 * aborted and forgotten at once, so a later dial starts afresh.
 *
 * @module
 */
import { lookup } from "node:dns/promises";
import type { Connection } from "../connection/index.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { DisconnectReason } from "../reasons.js";
import { PeerId } from "../identity/peer-id.js";
import { refusalToError, type ConnectionReservation, type LimitRefusal } from "../manager/connection-limits.js";
import type { DialBackoff } from "../peers/dial-backoff.js";
import { formatHostPort, isIp, normalizeIp, parseHostPort } from "../manager/ip.js";
import type { PeerDatabase } from "../peers/peer-database.js";
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
  /** Runs the peerlink handshake as dialer; `track` gets the Connection as soon as it exists. */
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

/** One dial attempt shared by every concurrent caller for the same peer or address. */
interface SharedDial {
  promise: Promise<Connection>;
  readonly controller: AbortController;
  callers: number;
  settled: boolean;
}

/** Outbound attempts. */
export class Dialer {
  readonly #host: DialerHost;
  readonly #dials = new Map<string, SharedDial>();
  /** Waits for a connection being adopted (see {@link #awaitConnection}): ended by {@link stop}. */
  readonly #waits = new Set<() => void>();
  /**
   * The controllers of the dials in progress, aborted by {@link Dialer.stop}: a set owned here rather than a
   * listener per dial on the node's stop signal (adding and removing those is linear in the listeners).
   */
  readonly #inFlight = new Set<AbortController>();

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
    for (const controller of [...this.#inFlight]) controller.abort(reason);
    for (const end of [...this.#waits]) end();
  }

  /**
   * See `ConnectionManager.dial`. `direct` is false for the services' dials, which have backoffs of their
   * own: they feed the per-address dial backoff but are not refused by it.
   */
  async dial(target: DialTarget, options: DialOptions = {}, direct = true): Promise<Connection> {
    const host = this.#host;
    const { addresses, expected } = resolveTarget(target);
    // A plain address dial pins no identity, but an address proven by an earlier dial is known to be the
    // peer's: its bans apply and its existing connection is returned.
    const known = expected ?? (typeof target === "string" ? this.#provenOwner(addresses[0]!) : undefined);
    const key = known?.toString() ?? addresses[0] ?? "";
    const refuse = (error: PeerlinkError): never => {
      host.refused(key, error, { peerId: known?.toString(), address: addresses[0] });
      throw error;
    };
    if ((options.earlyMessages?.length ?? 0) > 0 && !host.enable0Rtt) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "earlyMessages need enable0Rtt: true (0-RTT is off, they would be dropped)");
    }
    if (known?.equals(host.localId)) refuse(new PeerlinkError(ErrorCode.SELF_CONNECTION, "refusing to dial this node itself"));
    if (addresses.length === 0) refuse(new PeerlinkError(ErrorCode.PEER_ADDRESS_UNKNOWN, `no address known for ${key}`));
    if (known) {
      const ban = host.peers.findBan({ peerId: known.toString() }, host.now());
      if (ban) refuse(new PeerlinkError(ErrorCode.PEER_BANNED, `${ban.key} is banned until ${ban.expiresAt}: ${ban.reason}`));
      // A peer's Goodbye retry-after binds every redial (PROTOCOL.md §8.2, §8.3); the services keep it themselves.
      const now = host.now();
      const until = direct ? host.peers.retryAfterUntil(known.toString(), now, host.maxRetryAfterMs) : undefined;
      if (until !== undefined) refuse(retryAfterError(known.toString(), until, now));
      // Awaited only when the gater answers with a Promise: a synchronous answer keeps the dial synchronous
      // up to its first socket (its slot is reserved before dial() returns).
      const asked = host.core.gateDialPeer(known.toString());
      const gate = isPendingGate(asked) ? await this.#verdict(asked, "denyDialPeer", options.signal) : asked;
      if (!gate.allowed) refuse(gateError(gate, `dial to ${known.toString()}`));
    }
    const gates = addresses.map((address) => host.core.gateDialAddress(address, known?.toString()));
    const verdicts = gates.some(isPendingGate) ? await Promise.all(gates.map((g) => this.#verdict(g, "denyDialAddress", options.signal))) : (gates as GateVerdict[]);
    const dialable = this.#ungated(addresses, verdicts, refuse);
    if (!options.force) {
      const existing = known ? host.core.kept(known.toString()) : undefined;
      if (existing) return (existing as KeptConnection & { connection: Connection }).connection;
      const pending = this.#dials.get(key);
      if (pending && !pending.controller.signal.aborted) return this.#join(key, pending, options.signal);
    }
    const shared: SharedDial = { controller: new AbortController(), callers: 0, settled: false, promise: undefined! };
    // A name lookup is no socket, but stop() must cancel it too: nothing of the dial may outlive the node.
    if (host.signal.aborted) shared.controller.abort(host.signal.reason);
    else this.#inFlight.add(shared.controller);
    shared.promise = this.#dialAddresses(dialable, expected, options, shared.controller.signal, direct);
    const done = (): void => {
      this.#inFlight.delete(shared.controller);
      shared.settled = true;
      if (this.#dials.get(key) === shared) this.#dials.delete(key);
      host.changed();
    };
    shared.promise.then(done, done);
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
          shared.controller.abort(signal.reason);
        }
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
    direct: boolean,
  ): Promise<Connection> {
    const host = this.#host;
    const backoff = host.dialing.backoff === undefined ? undefined : host.peers.dialBackoff;
    let ordered = interleaveFamilies(addresses);
    if (backoff !== undefined && direct) {
      const now = host.now();
      const open = ordered.filter((address) => backoff.check(address, now) === undefined);
      if (open.length === 0 && ordered.length > 0) {
        const error = backoffError(ordered, backoff, now);
        host.refused(expected?.toString() ?? ordered[0]!, error, { peerId: expected?.toString(), address: ordered[0] });
        throw error;
      }
      ordered = open;
    }
    // Refusals before a socket (bans, limits) are journaled where they happen and are no dial failure for the services.
    const refusals = new WeakSet<PeerlinkError>();
    const result = await raceAddresses({
      addresses: ordered,
      staggerMs: host.dialing.staggerMs,
      signal,
      attempt: (address, attemptSignal, claim) => this.#attempt(address, expected, options, attemptSignal, claim, refusals),
      // Identity, abort, protocol failures and bans are final; connection failures and limits try the next address.
      isFinal: (e) =>
        e.code !== ErrorCode.CONNECT_FAILED && e.code !== ErrorCode.HANDSHAKE_TIMEOUT && e.code !== ErrorCode.CONNECTION_LIMIT && e.code !== ErrorCode.TOO_MANY_PENDING,
    });
    if (result.ok) return result.value;
    if (!refusals.has(result.error)) host.dialFailed({ peerId: expected?.toString(), address: result.address }, result.error);
    throw result.error;
  }

  /** One attempt of a race: resolves `address`, checks bans and limits, dials it; records how it went. */
  async #attempt(
    address: string,
    expected: PeerId | undefined,
    options: DialOptions,
    signal: AbortSignal,
    claim: () => boolean,
    refusals: WeakSet<PeerlinkError>,
  ): Promise<Connection> {
    const host = this.#host;
    const { host: name, port } = parseHostPort(address);
    let ip: string;
    try {
      ip = isIp(name) ? normalizeIp(name) : await resolveHost(name, [signal]);
    } catch (error) {
      throw PeerlinkError.from(error, ErrorCode.CONNECT_FAILED);
    }
    const ban = host.peers.findBan({ peerId: expected?.toString(), ip }, host.now());
    if (ban) {
      const error = new PeerlinkError(ErrorCode.PEER_BANNED, `${ban.key} is banned until ${ban.expiresAt}: ${ban.reason}`);
      host.refused(expected?.toString() ?? address, error, { peerId: expected?.toString(), address });
      refusals.add(error);
      throw error;
    }
    const admission = host.core.reserveDial(ip, expected?.toString());
    if (!admission.ok) {
      host.journalLimit(address, admission.refusal);
      const error = refusalToError(admission.refusal);
      host.refused(expected?.toString() ?? address, error, undefined);
      refusals.add(error);
      throw error;
    }
    try {
      const connection = await this.#dialOne({ host: ip, port }, address, expected, admission.reservation, options, signal, claim);
      host.peers.dialBackoff.succeeded(address);
      return connection;
    } catch (error) {
      const lastError = PeerlinkError.from(error);
      const cancelled = lastError.code === ErrorCode.ABORTED || lastError.code === ErrorCode.STOPPED;
      const refusedHere = lastError.code === ErrorCode.PEER_BANNED || lastError.code === ErrorCode.GATED;
      if (expected && !cancelled && lastError.code !== ErrorCode.GATED) safely(() => host.peers.recordDialFailure(expected.toString(), address, host.now()));
      // A peer reached and then refused as banned or gated is a refusal (journaled on adoption); anything else failed on the way.
      if (refusedHere) host.refused(address, lastError, undefined);
      else if (!cancelled) host.failed(address, lastError);
      if (!cancelled && !refusedHere && host.dialing.backoff !== undefined) {
        const now = host.now();
        host.peers.dialBackoff.failed(address, now);
        // Refused in place of a Hello with a retry-after (a listener at capacity): the address waits that long.
        const retryAfterMs = remoteRetryAfterMs(lastError);
        if (retryAfterMs !== undefined) host.peers.dialBackoff.hold(address, now + Math.min(retryAfterMs, host.maxRetryAfterMs));
      }
      throw lastError;
    }
  }

  /**
   * Dials one address. The slot is freed here when connect or TLS fails, once the socket is closed when the
   * handshake fails, and by the manager after adoption. When the peer ends this connection as a duplicate
   * (a simultaneous dial), the surviving connection to that peer is returned instead.
   */
  async #dialOne(
    target: { host: string; port: number },
    address: string,
    expected: PeerId | undefined,
    reservation: ConnectionReservation,
    options: DialOptions,
    signal: AbortSignal,
    claim: () => boolean,
  ): Promise<Connection> {
    const host = this.#host;
    const deadline = Date.now() + host.handshakeTimeoutMs;
    const release = (): void => {
      if (reservation.release()) host.changed();
    };
    let channel: SecureChannel;
    try {
      channel = await dialChannel({ ...target, tls: host.tls(), signal, deadline, localAddress: options.localAddress });
    } catch (error) {
      release();
      throw error;
    }
    let created: Connection | undefined;
    let connection: Connection;
    try {
      connection = await host.handshake(channel, { signal, deadline, expected, early: options.earlyMessages }, (c) => {
        created = c;
      });
    } catch (error) {
      if (created && created.state !== "closed") host.closing(created, release);
      else release();
      const remote = created?.handshake?.remotePeerId;
      if (remote && PeerlinkError.from(error).code === ErrorCode.ALREADY_CONNECTED) {
        const survivor = await this.#awaitConnection(remote.toString(), deadline);
        if (survivor) return survivor;
      }
      throw error;
    }
    if (!claim()) {
      // Another address of the peer won the race meanwhile: this connection is the duplicate.
      host.closing(connection, release);
      void connection.close(DisconnectReason.ALREADY_CONNECTED).catch(() => undefined);
      throw new PeerlinkError(ErrorCode.ABORTED, "another address of the peer answered first", { initiator: "local" });
    }
    return host.adopt(connection, reservation, address);
  }

  /** The kept connection to `peer`, waiting (until `deadline`, epoch ms) for one still being adopted. */
  #awaitConnection(peer: string, deadline: number): Promise<Connection | undefined> {
    const existing = this.#host.core.kept(peer) as (KeptConnection & { connection: Connection }) | undefined;
    if (existing) return Promise.resolve(existing.connection);
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
    });
  }

  /** The addresses the gater lets this dial try (`verdicts[i]` for `addresses[i]`); none left refuses the dial. */
  #ungated(addresses: readonly string[], verdicts: readonly GateVerdict[], refuse: (error: PeerlinkError) => never): string[] {
    let denied: PeerlinkError | undefined;
    const out = addresses.filter((address, i) => {
      const gate = verdicts[i]!;
      if (!gate.allowed) denied = gateError(gate, `dial to ${address}`);
      return gate.allowed;
    });
    if (out.length === 0 && denied !== undefined) refuse(denied);
    return out;
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

/** Resolves a host name to one IP address (limits and bans are per IP); rejects with ABORTED when a signal fires first. */
async function resolveHost(host: string, signals: readonly AbortSignal[]): Promise<string> {
  const aborted = (signal: AbortSignal): PeerlinkError =>
    new PeerlinkError(ErrorCode.ABORTED, `resolving ${host}: aborted`, { cause: signal.reason, initiator: "local" });
  const fired = signals.find((s) => s.aborted);
  if (fired) throw aborted(fired);
  const cleanups: (() => void)[] = [];
  const abort = new Promise<never>((_, reject) => {
    for (const signal of signals) {
      const onAbort = (): void => reject(aborted(signal));
      signal.addEventListener("abort", onAbort, { once: true });
      cleanups.push(() => signal.removeEventListener("abort", onAbort));
    }
  });
  try {
    const { address } = await Promise.race([lookup(host), abort]);
    return normalizeIp(address);
  } catch (cause) {
    if (cause instanceof PeerlinkError && cause.code === ErrorCode.ABORTED) throw cause;
    throw new PeerlinkError(ErrorCode.CONNECT_FAILED, `cannot resolve ${host}`, { cause });
  } finally {
    for (const cleanup of cleanups) cleanup();
  }
}

/** The DIAL_BACKOFF refusal of a dial whose every address waits: says when the first may be dialed again. */
/** The retry-after of the peer's Goodbye that ended a handshake, when it gave one. */
function remoteRetryAfterMs(error: PeerlinkError): number | undefined {
  const cause = error.cause as { retryAfterMs?: unknown } | undefined;
  const ms = error.initiator === "remote" ? cause?.retryAfterMs : undefined;
  return typeof ms === "number" && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** DIAL_BACKOFF for a peer whose Goodbye asked not to be redialed before `until`. */
function retryAfterError(peerId: string, until: number, now: number): PeerlinkError {
  const retryAfterMs = Math.max(0, until - now);
  return new PeerlinkError(
    ErrorCode.DIAL_BACKOFF,
    `${peerId} asked not to be redialed before ${until} (the retry-after of its Goodbye): dial again in ${Math.ceil(retryAfterMs)} ms`,
    { cause: { peerId, retryAt: until, retryAfterMs }, initiator: "local" },
  );
}

function backoffError(addresses: readonly string[], backoff: DialBackoff, now: number): PeerlinkError {
  let first: { address: string; failures: number; retryAt: number } | undefined;
  for (const address of addresses) {
    const state = backoff.check(address, now);
    if (state !== undefined && (first === undefined || state.retryAt < first.retryAt)) first = { address, ...state };
  }
  const f = first ?? { address: addresses[0] ?? "", failures: 0, retryAt: now };
  const retryAfterMs = Math.max(0, f.retryAt - now);
  return new PeerlinkError(
    ErrorCode.DIAL_BACKOFF,
    `${f.address} failed ${f.failures} time(s) in a row: dial again in ${Math.ceil(retryAfterMs)} ms (or clearDialBackoff())`,
    { cause: { address: f.address, failures: f.failures, retryAt: f.retryAt, retryAfterMs }, initiator: "local" },
  );
}

/** Runs a peer-database update; a failure (bad input from a peer, I/O) is reported, never thrown. */
export function safely(update: () => void): void {
  try {
    update();
  } catch (error) {
    process.emitWarning(`peerlink: peer database update failed: ${String(error)}`, "PeerlinkDatabaseWarning");
  }
}
