/**
 * A peerlink connection over a {@link SecureChannel}: the thin adapter that
 * feeds socket events and the clock into a {@link ConnectionCore} and performs
 * what it returns (writes, half-close, destroy, events, one timer).
 *
 * @module
 */
import type { MutableConnectionStats } from "./stats.js";
import type { Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { HandshakeResult, AgreedCapability, AgreedProtocol, ChannelBindingInput } from "../handshake/types.js";
import type { PeerId } from "../identity/peer-id.js";
import { DisconnectReason } from "../reasons.js";
import { classifyEarlyClose } from "../transport/early-close.js";
import type { SecureChannel } from "../transport/types.js";
import { MAX_TIMER_DELAY_MS } from "../util/timers.js";
import { TypedEmitter } from "../util/typed-emitter.js";
import type { FrameDecoderEngine } from "../wire/frame-sink.js";
import { ConnectionCore, recycleActions, type ConnectionHandshakeOptions } from "./connection-core.js";
import { DEFAULT_MESSAGE_QUEUE_HIGH_WATER_BYTES, DEFAULT_SEND_BUFFER_HIGH_WATER_BYTES, DEFAULT_SEND_BUFFER_LIMIT_BYTES } from "./defaults.js";
import { Inbox, type InboxHost, type MessageTap } from "./inbox.js";
import { PingWaiter } from "./ping-waiter.js";
import { SendBacklog } from "./send-backlog.js";
import { WriteBatcher, type SendSettler } from "./write-batcher.js";
import { atTurnEnd } from "./turn-end.js";
import type { InboundRateLimits } from "./inbound-rate.js";
import { readHealth, type ConnectionMetrics } from "./metrics.js";
import { keepTime, readTime, type KeptTime } from "./kept-time.js";
import type { HealthScore } from "../health/types.js";
import type {
  AgreedSets,
  CapabilitiesChange,
  CapabilityChanges,
  CloseInfo,
  ConnectionState,
  ConnectionStats,
  CoreAction,
  CoreEvent,
  InboundMessage,
  RemoteGoodbye,
  StateChange,
} from "./types.js";

/**
 * Events of a {@link Connection}, by name. Nothing fires after `close`.
 *
 * @category Connections
 */
export interface ConnectionEvents {
  /** A state change (e.g. open → closing, `goodbye-sent`). */
  state: StateChange;
  /** The handshake succeeded (fires before the connection is handed out; see {@link Connection.transitions}). */
  open: HandshakeResult;
  /** An application message of an agreed protocol. */
  message: InboundMessage;
  /** The peer pinged; the Pong was already sent. */
  ping: {
    /** The Ping's nonce, echoed in the Pong. */
    readonly nonce: number;
    /** The sender's timestamp (µs), echoed in the Pong. */
    readonly timestampUs: number;
  };
  /** The peer answered a Ping (for keepalive). */
  pong: {
    /** The nonce of the Ping it answers. */
    readonly nonce: number;
    /** The timestamp (µs) of the Ping it answers. */
    readonly timestampUs: number;
  };
  /** A BandwidthProbe or BandwidthReport frame, or a CapabilityUpdate from the peer once applied (for maintenance). */
  control: Frame;
  /**
   * The agreed capabilities or protocols changed after the handshake: the peer's CapabilityUpdate
   * or this node's {@link Connection.updateCapabilities} (docs/PROTOCOL.md §7).
   */
  capabilities: CapabilitiesChange;
  /** The peer sent a Goodbye. */
  goodbye: RemoteGoodbye;
  /**
   * The send buffer was full (a send waited, or {@link Connection.writable} turned false) and is now below
   * its high-water mark with nothing waiting: {@link Connection.writable} is true again.
   */
  "send:drain": {
    /** Bytes still buffered unsent (below the high-water mark). */
    readonly bufferedBytes: number;
  };
  /** The connection is closed and released; the last event. */
  close: CloseInfo;
}

/** Options of a {@link Connection} (see `openConnection`, internal). Durations in milliseconds. */
export interface ConnectionOptions {
  /** Handshake settings: identity, versions, protocols, capabilities, listen addresses, expected peer, 0-RTT. */
  readonly handshake: ConnectionHandshakeOptions;
  /**
   * Absolute `Date.now()` time by which the connection must be open, else it fails with
   * HANDSHAKE_TIMEOUT. Pass the same deadline as to the transport, so TCP + TLS + handshake share it.
   * @default Date.now() + 10000 (`DEFAULT_HANDSHAKE_TIMEOUT_MS`)
   */
  readonly deadline?: number | undefined;
  /**
   * Largest Frame body accepted and sent, in bytes.
   * @default 1048576 (1 MiB)
   */
  readonly maxFrameSize?: number | undefined;
  /**
   * Default wait for the peer's close after a graceful Goodbye; equivalent to a lingering timeout.
   * @default 5000 (`DEFAULT_GRACEFUL_CLOSE_TIMEOUT_MS`)
   */
  readonly gracefulTimeoutMs?: number | undefined;
  /**
   * Wait for the peer's close after a Goodbye that fails the connection (handshake failure, violation).
   * @default 1000 (`DEFAULT_FAILURE_LINGER_MS`)
   */
  readonly failureLingerMs?: number | undefined;
  /**
   * Frame decoder engine, `"js"` or `"wasm"`.
   * @default "js"
   */
  readonly engine?: FrameDecoderEngine | undefined;
  /**
   * Bytes buffered for a slow async-iterator consumer before the socket stops reading.
   * @default 1048576 (`DEFAULT_MESSAGE_QUEUE_HIGH_WATER_BYTES`)
   */
  readonly messageQueueHighWaterBytes?: number | undefined;
  /**
   * Bounds on the messages, bytes and Pings the peer may send per second once open (a RATE_LIMITED Goodbye
   * beyond them).
   * @default none: unbounded (the connection manager passes its own)
   */
  readonly inboundRate?: InboundRateLimits | undefined;
  /**
   * Bytes held unsent at or above which {@link Connection.writable} is false and sends wait (raised to the
   * socket's own `writableHighWaterMark` if below it).
   * @default 1048576 (`DEFAULT_SEND_BUFFER_HIGH_WATER_BYTES`)
   */
  readonly sendBufferHighWaterBytes?: number | undefined;
  /**
   * Most bytes held unsent, buffered and waiting, before a send that has to wait is refused with SEND_BUFFER_FULL.
   * @default 8388608 (`DEFAULT_SEND_BUFFER_LIMIT_BYTES`)
   */
  readonly sendBufferLimitBytes?: number | undefined;
}

/**
 * Options of {@link Connection.close}.
 *
 * @category Connections
 */
export interface CloseOptions {
  /** Free text for the peer's logs (`Goodbye.detail`). @default "" */
  readonly detail?: string;
  /** Asks the peer not to reconnect sooner than this, in milliseconds. @default 0 */
  readonly retryAfterMs?: number;
  /** Wait at most this long for the peer's close, then destroy. @default the connection's `gracefulTimeoutMs` (5000) */
  readonly timeoutMs?: number | undefined;
}

/**
 * Options of {@link Connection.send}.
 *
 * @category Connections
 */
export interface SendOptions {
  /**
   * Rejects with ABORTED if aborted before the message is queued, including while it waits for the send buffer
   * to drain (it is then never sent); a message handed to the socket cannot be recalled.
   */
  readonly signal?: AbortSignal | undefined;
}

const noop = (): void => undefined;

/**
 * Longer timer delays are rounded down to a multiple of this (the timer then fires early and is set again for
 * the rest): Node keeps one list of timers per distinct duration, made and dropped with its timers, so the
 * handshake deadlines of connections opened within the same second (10 s away, less a few milliseconds each)
 * share one list instead of each making and dropping its own.
 */
const TIMER_GRAIN_MS = 1024;

/** The connection a socket feeds (its listeners are module functions, called with the socket as `this`). */
const CONNECTION = Symbol("peerlink.connection");
type ConnectionSocket = SecureChannel["socket"] & { [CONNECTION]?: Connection };
// Set in Connection's static block: the socket listeners, shared by every connection.
let onSocketData: (this: ConnectionSocket, chunk: Buffer) => void;
let onSocketEnd: (this: ConnectionSocket) => void;
let onSocketError: (this: ConnectionSocket, error: Error) => void;
let onSocketClose: (this: ConnectionSocket) => void;
let inboxHostOf: (connection: Connection) => InboxHost & SendSettler;

// The bits of Connection's #flags.
const SESSION_REUSED = 1;
/** The socket was let go (timer cleared, socket destroyed). */
const RELEASED = 2;
/** The core's close was dispatched: nothing more reaches the application. */
const CLOSE_EMITTED = 4;
/** Set by the socket's 'close' event (its listener stays after release: see the "close" case of #dispatch). */
const SOCKET_CLOSED = 8;
/** `close` was emitted and the socket released: `closed` resolves at once. */
const FINISHED = 16;

/** The parts of a connection most never use, made on first use of one of them. */
class RareParts {
  /** The application's pings waiting for their Pong (made on the first `ping()`). */
  pings: PingWaiter | undefined = undefined;
  /** Made on first use of `closed`. */
  closed: Promise<CloseInfo> | undefined = undefined;
  resolveClosed: ((info: CloseInfo) => void) | undefined = undefined;
}

/**
 * `Date.now()` for the sends of one turn: read by the first, cleared by a microtask. Reading the clock
 * cost about as much as encoding a 64 B message; the time only stamps `stats.lastSentAt` (informational),
 * and the frames a turn queues are written at its end anyway.
 */
let turnNow: number | undefined;
function sendClock(): number {
  if (turnNow === undefined) {
    turnNow = Date.now();
    atTurnEnd(clearSendClock);
  }
  return turnNow;
}
function clearSendClock(): void {
  turnNow = undefined;
}

/** The settlers of the promise made last by {@link Connection.send}, read right after it is made. */
let capturedResolve: () => void = noop;
let capturedReject: (error: unknown) => void = noop;
function captureSettlers(resolve: () => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * Every distinct state change seen in this process (a few dozen at most: states × transitions), frozen and
 * shared; a connection keeps the indexes of its own as the characters of a string.
 */
const stateChanges: StateChange[] = [];
const stateChangeIndex = new Map<string, string>();

/** The codes of the change objects seen (the core's are shared: one lookup by identity per change). */
const stateChangeCodes = new WeakMap<StateChange, string>();

function stateChangeCode(change: StateChange): string {
  const known = stateChangeCodes.get(change);
  if (known !== undefined) return known;
  const key = `${change.from}>${change.to}:${change.transition}`;
  let code = stateChangeIndex.get(key);
  if (code === undefined) {
    code = String.fromCharCode(stateChanges.length);
    stateChanges.push(Object.freeze({ from: change.from, to: change.to, transition: change.transition }));
    stateChangeIndex.set(key, code);
  }
  stateChangeCodes.set(change, code);
  return code;
}

/**
 * Distinct histories of state changes (the `#transitions` strings), shared by the connections that went the
 * same way: most went connecting → securing → handshaking → open. Bounded: cleared when full.
 */
const histories = new Map<string, string>();
const MAX_HISTORIES = 256;

/** `history` with `change` appended, as the string shared with the connections that have the same history. */
function appendStateChange(history: string, change: StateChange): string {
  const next = history + stateChangeCode(change);
  const known = histories.get(next);
  if (known !== undefined) return known;
  if (histories.size >= MAX_HISTORIES) histories.clear();
  histories.set(next, next);
  return next;
}

/** The early-close classifier of `channel`, in a scope of its own (the core drops it at open, and the channel with it). */
function earlyCloseOf(channel: SecureChannel): (cause?: unknown) => PeerlinkError {
  return (cause) => classifyEarlyClose(channel, cause);
}

/** The number of write actions in `actions`. */
function writesIn(actions: readonly CoreAction[]): number {
  let count = 0;
  for (let i = 0; i < actions.length; i++) if ((actions[i] as CoreAction).type === "write") count++;
  return count;
}

/**
 * Uncorks `socket` in a microtask queued now: after the write batchers' flush of this turn, queued by the
 * first write of the turn (the Hello), so the frames queued behind it join it in one write.
 */
function uncorkAfterFlush(socket: SecureChannel["socket"]): void {
  atTurnEnd(() => {
    if (!socket.destroyed) socket.uncork();
  });
}

/**
 * What reads the exporter of `channel` when a proof needs it (in a scope of its own, like {@link earlyCloseOf}):
 * on a TLS channel reading it computes it, which most connections under certificate binding never need.
 */
function exporterOf(channel: SecureChannel): () => Uint8Array {
  return () => channel.tlsExporter as Uint8Array;
}

// Set in Connection's static block: module-internal access to its private state, for the functions below.
let tapConnection: (connection: Connection, fn: MessageTap) => () => void;
let decoderBufferOf: (connection: Connection) => number;
let exemptConnection: (connection: Connection) => void;

/** What is told of each state change of a connection still opening (see {@link watchOpening}). */
export interface OpeningWatcher {
  /** Called after each `state` event, until removed. */
  stateChanged(): void;
}

/**
 * The watchers of connections still opening, by connection: a map of the few handshakes in progress rather
 * than a field in every connection (kept for its life) or an emitter listener each.
 */
const opening = new Map<Connection, OpeningWatcher>();

/**
 * Sets (or with `undefined` removes) the watcher told of `connection`'s state changes while it opens
 * (`openConnection`).
 *
 * @internal
 */
export function watchOpening(connection: Connection, watcher: OpeningWatcher | undefined): void {
  if (watcher === undefined) opening.delete(connection);
  else opening.set(connection, watcher);
}

/**
 * An authenticated, negotiated peerlink connection. Obtain one from
 * the connection manager (or the internal `openConnection`); it is open when handed out.
 *
 * Events are typed (`on("message", …)`); a listener that throws is reported with
 * `process.emitWarning` and cannot break the connection; nothing fires after
 * `close`. Like a paused stream, messages that arrive before the first
 * `message` listener or iterator exists are held (up to the high-water mark,
 * then the socket stops reading) and handed to the first consumer, so nothing
 * received at open (0-RTT data included) is lost. `close()` and `abort()` are idempotent; afterwards `send` rejects
 * with CONNECTION_CLOSED. On close the socket, the timer and every listener are released.
 *
 * Sending is bounded the same way: `send` resolves once the bytes are handed to the operating system; past
 * `sendBufferHighWaterBytes` held unsent, {@link Connection.writable} is false and sends wait for the socket
 * to drain (`send:drain` fires when they may go on), and past `sendBufferLimitBytes` a send is refused with
 * SEND_BUFFER_FULL (see {@link Connection.send}).
 *
 * Once this side has started closing (`close()` sent its Goodbye, a local failure did, or `abort()`), the
 * application gets nothing more: no `message` event, no iterator item; held messages and those buffered
 * for iterators are dropped, and iterators end. What the peer still sends is read and discarded (counted in
 * `stats.discardedFrames`), so it neither reaches anyone nor holds up the close.
 *
 * Internally the node layer observes messages through a tap (`tapMessages`, not part of the public API),
 * which is not a consumer: a tap sees each message once, the ones held when it is added (in a microtask)
 * and then each as it arrives, before the connection's own consumers; it does not end holding, so a
 * `message` listener added right after `manager.dial()` resolves still gets what arrived at open. While a
 * tap exists and no connection-level consumer does, holding is a bounded replay instead of a paused
 * stream: above the high-water mark the oldest held messages are dropped rather than reads paused, so an
 * application that listens only through the tap never stalls, and a late listener sees the latest run of
 * messages without a hole. Backpressure from the connection's own consumers stays: an iterator that falls
 * behind still pauses reads, for the tap too. Taps get nothing once this side has started closing either.
 *
 * @example
 * ```ts
 * const conn = await openConnection(channel, { identity, protocols: [{ name: "/chat", versions: [1], alias: 1 }] });
 * conn.on("message", ({ protocol, data }) => console.log(protocol, data));
 * await conn.send("/chat", new TextEncoder().encode("hi"));
 * await conn.close();
 * ```
 *
 * @category Connections
 */
export class Connection extends TypedEmitter<ConnectionEvents> {
  readonly #socket: ConnectionSocket;
  // What is read of the channel later, copied: the channel itself (exporter, closures) is not kept. Its
  // direction and security are the core's.
  readonly #remoteAddress: string;
  readonly #core: ConnectionCore;
  readonly #highWater: number;
  readonly #inbox: Inbox;
  readonly #writes: WriteBatcher;
  readonly #sendHighWater: number;
  readonly #sendLimit: number;
  /** Sends waiting for the socket to drain (made the first time the send buffer fills). */
  #backlog: SendBacklog | undefined;
  /** The state changes so far, as indexes into `stateChanges`. */
  #transitions = "";
  /** What most connections never use (pings, `closed`), made on first use. */
  #rare: RareParts | undefined;
  /** Written by maintenance (on by default: a field of its own, not in {@link RareParts}); made on first use. */
  #metrics: ConnectionMetrics | undefined;
  /** See {@link Connection.createdAt}; kept compactly (see `keepTime`). */
  readonly #createdAt: KeptTime;
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  /** {@link SESSION_REUSED}, {@link RELEASED}, … as bits: one field instead of one each. */
  #flags: number;

  /**
   * Takes ownership of `channel`, attaches to its socket and writes the own
   * Hello at once. Use the internal `openConnection` instead unless you need the
   * connection before it is open.
   *
   * @internal
   */
  constructor(channel: SecureChannel, options: ConnectionOptions);
  /**
   * The same with the handshake settings apart (`openConnection`: no copy of its options per connection).
   *
   * @internal
   */
  constructor(channel: SecureChannel, options: Omit<ConnectionOptions, "handshake">, handshake: ConnectionHandshakeOptions);
  constructor(
    channel: SecureChannel,
    options: Omit<ConnectionOptions, "handshake"> & { readonly handshake?: ConnectionHandshakeOptions },
    handshake: ConnectionHandshakeOptions = options.handshake as ConnectionHandshakeOptions,
  ) {
    super();
    this.#socket = channel.socket;
    this.#flags = channel.sessionReused ? SESSION_REUSED : 0;
    const host = channel.remoteAddress;
    // Joined, not concatenated: a concatenation of 13 characters or more is a rope of two parts.
    this.#remoteAddress = (host.includes(":") ? ["[", host, "]:", channel.remotePort] : [host, ":", channel.remotePort]).join("");
    const connectionHost = inboxHostOf(this);
    this.#writes = new WriteBatcher(channel.socket, connectionHost);
    this.#highWater = options.messageQueueHighWaterBytes ?? DEFAULT_MESSAGE_QUEUE_HIGH_WATER_BYTES;
    // Never below the socket's own mark: a buffer this full must end with the socket's 'drain'.
    this.#sendHighWater = Math.max(options.sendBufferHighWaterBytes ?? DEFAULT_SEND_BUFFER_HIGH_WATER_BYTES, channel.socket.writableHighWaterMark);
    this.#sendLimit = Math.max(options.sendBufferLimitBytes ?? DEFAULT_SEND_BUFFER_LIMIT_BYTES, this.#sendHighWater);
    this.#inbox = new Inbox(this.#highWater, connectionHost);
    const now = Date.now();
    this.#createdAt = keepTime(now);
    this.#core = new ConnectionCore({
      direction: channel.direction,
      secure: channel.secure,
      handshake,
      now,
      handshakeDeadline: options.deadline,
      maxFrameSize: options.maxFrameSize,
      gracefulCloseTimeoutMs: options.gracefulTimeoutMs,
      failureLingerMs: options.failureLingerMs,
      decoderEngine: options.engine,
      earlyCloseError: earlyCloseOf(channel),
      inboundRate: options.inboundRate,
    });
    this.#socket[CONNECTION] = this;
    this.#socket.on("data", onSocketData);
    this.#socket.on("end", onSocketEnd);
    this.#socket.on("error", onSocketError);
    this.#socket.on("close", onSocketClose);
    const binding: ChannelBindingInput = channel.secure
      ? {
          type: "tls",
          exporter: exporterOf(channel),
          certificate: channel.certificateBinding ? { own: channel.ownCertificateKey, peer: channel.peerCertificateKey } : undefined,
        }
      : { type: "nonces" };
    this.#apply(this.#core.transportConnected(now));
    // A 0-RTT dialer's early messages follow its Hello in this turn (openConnection sends them): corked, the
    // Hello and they leave in one write (one TLS record, one syscall) once this turn's writes are flushed.
    const early = channel.direction === "outbound" && handshake.earlyData === true && !this.#socket.destroyed;
    if (early) this.#socket.cork();
    this.#apply(this.#core.transportSecured(binding, now));
    if (early) uncorkAfterFlush(this.#socket);
    if (this.#socket.destroyed) this.#apply(this.#core.transportClosed(Date.now()));
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#core.state;
  }

  /** True when {@link Connection.send} accepts messages now (open, or a 0-RTT dialer still handshaking). */
  get canSend(): boolean {
    return this.#core.canSend;
  }

  /**
   * True when a {@link Connection.send} now goes out without waiting: the connection can send, fewer than
   * `sendBufferHighWaterBytes` are held unsent and no earlier send waits. When false, unawaited senders stop
   * and resume on `send:drain`; awaited sends simply wait.
   */
  get writable(): boolean {
    if (!this.#core.canSend) return false;
    if (this.#backlog?.mustWait ?? this.#buffered() >= this.#sendHighWater) {
      this.#backlogOf()?.full();
      return false;
    }
    return true;
  }

  /** Bytes of messages accepted by {@link Connection.send} and not yet handed to the operating system (waiting ones included). */
  get sendBufferedBytes(): number {
    return this.#buffered() + (this.#backlog?.waitingBytes ?? 0);
  }

  /** Every state change so far, oldest first (including those before the connection was handed out). */
  get transitions(): readonly StateChange[] {
    return Array.from(this.#transitions, (code) => stateChanges[code.charCodeAt(0)] as StateChange);
  }

  /** `"outbound"` when this node dialed, `"inbound"` when it accepted. */
  get direction(): "inbound" | "outbound" {
    return this.#core.direction;
  }

  /** True when the connection runs inside TLS 1.3. */
  get secure(): boolean {
    return this.#core.secure;
  }

  /** True when the TLS session was resumed from a cached ticket. */
  get sessionReused(): boolean {
    return (this.#flags & SESSION_REUSED) !== 0;
  }

  /** The remote node's verified peer id. Throws CONNECTION_CLOSED if the handshake never succeeded. */
  get remotePeer(): PeerId {
    return this.#requireResult().remotePeerId;
  }

  /** The peer's address as `host:port` (IPv6 in brackets). */
  get remoteAddress(): string {
    return this.#remoteAddress;
  }

  /** The agreed wire version. */
  get protocolVersion(): number {
    return this.#requireResult().version;
  }

  /** Capabilities in force now (after any CapabilityUpdate), sorted by name. */
  get capabilities(): readonly AgreedCapability[] {
    return this.#core.agreedCapabilities ?? this.#requireResult().capabilities;
  }

  /** Protocols both sides speak now (after any CapabilityUpdate), with the agreed version and both aliases, sorted by name. */
  get protocols(): readonly AgreedProtocol[] {
    return this.#core.agreedProtocols ?? this.#requireResult().protocols;
  }

  /** The full handshake result (peer id and key, listen addresses, agent, …), once open. */
  get handshake(): HandshakeResult | undefined {
    return this.#core.result;
  }

  /** Why the connection ended; `undefined` while it has not started to end. */
  get closeInfo(): CloseInfo | undefined {
    return this.#core.closeInfo;
  }

  /** The peer's Goodbye (reason, detail, retryAfterMs), if it sent one. */
  get remoteGoodbye(): RemoteGoodbye | undefined {
    return this.#core.remoteGoodbye;
  }

  /**
   * Latest health score (latency, reliability, bandwidth, overall, grade) published by the manager's
   * maintenance; `undefined` until the first health check or when maintenance is off.
   */
  get health(): HealthScore | undefined {
    return this.#metrics === undefined ? undefined : readHealth(this.#metrics);
  }

  /** Smoothed round-trip time in milliseconds from keepalive pings; `undefined` before the first pong. */
  get rtt(): number | undefined {
    return this.#metrics?.rttMs;
  }

  /** @internal Measurements written by maintenance (behind {@link Connection.health} and {@link Connection.rtt}). */
  get metrics(): ConnectionMetrics {
    // Made on first use: with maintenance off nothing writes it.
    return (this.#metrics ??= {});
  }
  /**
   * When this object was made (`Date.now()` ms): the channel was secured and the peerlink handshake began.
   * `stats.openedAt - createdAt` is the handshake's duration.
   */
  get createdAt(): number {
    return readTime(this.#createdAt);
  }

  /** A snapshot of the counters (bytes and frames in/out and discarded, last sent/received, opened at). */
  get stats(): ConnectionStats {
    return this.#core.stats;
  }

  /** Copies the counters of {@link Connection.stats} into `into` without allocating (for periodic readers); returns `into`. */
  readStats<T extends MutableConnectionStats>(into: T): T {
    return this.#core.readStats(into);
  }

  /**
   * Resolves (never rejects) with the close information once the connection is
   * closed and released: the socket's handle is closed and no timer is left.
   */
  get closed(): Promise<CloseInfo> {
    const rare = (this.#rare ??= new RareParts());
    if (rare.closed === undefined) {
      const info = (this.#flags & FINISHED) !== 0 ? this.#core.closeInfo : undefined;
      rare.closed = info !== undefined ? Promise.resolve(info) : new Promise((resolve) => (rare.resolveClosed = resolve));
    }
    return rare.closed;
  }

  /**
   * Sends one message of the agreed `protocol` (by name). Resolves once the bytes are handed to the operating
   * system, so awaiting each send respects backpressure.
   *
   * The send buffer is bounded. While the bytes held unsent are below `sendBufferHighWaterBytes` (1 MiB) the
   * message is written at once; at or above it ({@link Connection.writable} false) the message waits, in
   * order, until the socket drains, and `signal` can withdraw it meanwhile. A send that would have to wait
   * when the bytes buffered and waiting plus its own exceed `sendBufferLimitBytes` (8 MiB) is refused with
   * SEND_BUFFER_FULL, so unawaited sends to a peer that stops reading cannot grow memory without bound: a
   * connection holds at most the limit, or the high-water mark plus one message. A graceful
   * {@link Connection.close} still writes the messages waiting (before its Goodbye); any other end of the
   * connection rejects them with CONNECTION_CLOSED.
   *
   * Rejects with UNKNOWN_PROTOCOL (not agreed), FRAME_TOO_LARGE, CONNECTION_CLOSED (closing, closed, or the
   * socket failed before the write completed), SEND_BUFFER_FULL or ABORTED.
   *
   * @example
   * ```ts
   * for (const chunk of chunks) await conn.send("/files", chunk); // waits whenever the peer is slower
   *
   * // or, without awaiting each send:
   * for (const chunk of chunks) {
   *   if (!conn.writable) await new Promise((resume) => conn.once("send:drain", resume));
   *   void conn.send("/files", chunk).catch(report);
   * }
   * ```
   */
  send(protocol: string, data: Uint8Array, options?: SendOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) {
      return Promise.reject(new PeerlinkError(ErrorCode.ABORTED, "send aborted", { cause: signal.reason }));
    }
    if (this.#core.canSend && (this.#backlog?.mustWait ?? this.#buffered() >= this.#sendHighWater)) {
      const backlog = this.#backlogOf();
      if (backlog !== undefined) return backlog.wait(protocol, data, signal);
    }
    // The executor is a module function, not a closure over this call: no closure and context per message.
    const promise = new Promise<void>(captureSettlers);
    const resolve = capturedResolve;
    const reject = capturedReject;
    capturedResolve = capturedReject = noop; // keep no settled promise alive
    try {
      this.#write(protocol, data, resolve, reject);
      if (this.#buffered() >= this.#sendHighWater) this.#backlogOf()?.full();
    } catch (error) {
      reject(error);
    }
    return promise;
  }

  /**
   * Measures the round-trip time: sends a Ping and resolves with the milliseconds until its Pong (timed with
   * `performance.now()`, so it includes both event loops). Rejects with CONNECTION_CLOSED when the
   * connection is not open or closes first, and with ABORTED when `signal` aborts (set a timeout with
   * `AbortSignal.timeout(ms)`). A peer that is not reading answers no Ping until it reads again.
   *
   * @example
   * ```ts
   * const rttMs = await conn.ping({ signal: AbortSignal.timeout(5000) });
   * ```
   */
  ping(options: { readonly signal?: AbortSignal | undefined } = {}): Promise<number> {
    const pings = ((this.#rare ??= new RareParts()).pings ??= new PingWaiter());
    const timestampUs = Math.floor(performance.now() * 1000) >>> 0;
    return pings.start((nonce) => this.sendPing(nonce, timestampUs), options.signal);
  }

  /** Sends `Ping{nonce, timestampUs}` (both uint32) for keepalive. Throws CONNECTION_CLOSED when not open. */
  sendPing(nonce: number, timestampUs: number): void {
    this.#apply(this.#core.sendPing(nonce, timestampUs, Date.now()));
  }

  /**
   * Sends a CapabilityUpdate, BandwidthProbe, BandwidthReport or PeerAddresses frame (services). Throws CONNECTION_CLOSED when
   * not open. A CapabilityUpdate also changes this side's view (prefer {@link Connection.updateCapabilities}).
   * With `droppable`, the frame is not sent while the peer is not reading (the socket's write buffer above the
   * high-water mark). Returns whether it was sent.
   */
  sendControl(frame: Frame, options: { droppable?: boolean } = {}): boolean {
    // Probes and reports are pointless to a peer that is not reading, and must not pile up for it.
    if (options.droppable === true && this.#peerNotReading()) return false;
    this.#apply(this.#core.sendControl(frame, Date.now()));
    return true;
  }

  /**
   * Adds or removes this node's optional capabilities and protocols on the open connection
   * (docs/PROTOCOL.md §7): sends one CapabilityUpdate and updates this side's view at once, and
   * returns the agreed sets now. A protocol becomes usable with {@link Connection.send} as soon as
   * both sides list it (the peer's messages on it arrive once it applied the update); a removed
   * protocol's `send` rejects with UNKNOWN_PROTOCOL and the peer drops what it still sends on it.
   * The connection picks aliases, never reusing a retired one. Fires `capabilities` when the agreed
   * sets change. Throws INVALID_ARGUMENT (bad request, required capability removed, more than 256
   * entries), FRAME_TOO_LARGE or CONNECTION_CLOSED; on a throw nothing changed.
   *
   * @example
   * ```ts
   * conn.updateCapabilities({ addProtocols: [{ name: "/files", versions: [1, 2] }] });
   * if (conn.protocols.some((p) => p.name === "/files")) await conn.send("/files", bytes);
   * ```
   */
  updateCapabilities(changes: CapabilityChanges): AgreedSets {
    this.#apply(this.#core.updateCapabilities(changes, Date.now()));
    return { capabilities: this.capabilities, protocols: this.protocols };
  }

  /**
   * Ends the connection gracefully: sends `Goodbye{reason}`, stops accepting
   * sends, flushes, half-closes, waits for the peer's close up to `timeoutMs`,
   * then releases the socket. Idempotent: later calls just wait for the close.
   * Rejects only on a bad argument (INVALID_ARGUMENT).
   */
  async close(reason: DisconnectReason = DisconnectReason.NORMAL, options: CloseOptions = {}): Promise<void> {
    // Messages accepted and waiting for room go out ahead of the Goodbye.
    if (this.#core.canSend) this.#backlog?.flushAll();
    const actions = this.#core.close(
      reason,
      {
        ...(options.detail === undefined ? {} : { detail: options.detail }),
        ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs }),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      },
      Date.now(),
    );
    this.#apply(actions);
    await this.closed;
  }

  /** Ends the connection at once, without a Goodbye; `error` becomes {@link CloseInfo.error}. Idempotent. */
  abort(error?: PeerlinkError): void {
    this.#apply(this.#core.abort(error, Date.now()));
  }

  /**
   * Iterates over received messages from now on, buffering up to the high-water
   * mark (then the socket stops reading until the consumer catches up). Ends
   * after the connection closes and the buffer is drained; ends at once, dropping
   * the buffer, when this side closes or aborts it.
   */
  messages(): AsyncIterableIterator<InboundMessage> {
    return this.#inbox.iterator();
  }

  /**
   * Adds a listener (typed by {@link ConnectionEvents}). The first `message` listener
   * (or iterator) also receives, in a microtask, the messages that arrived before
   * any consumer existed (e.g. 0-RTT data released at open).
   */
  override on<K extends keyof ConnectionEvents>(type: K, listener: (event: ConnectionEvents[K]) => void): () => void {
    const off = super.on(type, listener);
    if (type === "message") this.#inbox.consumerAdded();
    return off;
  }

  /** Same as {@link Connection.messages}. */
  [Symbol.asyncIterator](): AsyncIterableIterator<InboundMessage> {
    return this.messages();
  }

  static {
    onSocketData = function (chunk) {
      const connection = this[CONNECTION] as Connection;
      connection.#core.writesBlocked = connection.#peerNotReading();
      // Node (checked on 20.x, TCP and TLS) hands each read its own buffer of exactly its size, written by no one
      // afterwards: the decoder may keep views of it. Checked per read all the same (two getters, per read, not
      // per message): a read that shares its buffer is copied as before. A socket read through `onread` emits
      // no 'data'.
      const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
      connection.#apply(connection.#core.receive(chunk, Date.now(), owned));
    };
    onSocketEnd = function () {
      const connection = this[CONNECTION] as Connection;
      connection.#apply(connection.#core.transportEnded(Date.now()));
    };
    onSocketError = function (error) {
      const connection = this[CONNECTION] as Connection;
      connection.#apply(connection.#core.transportError(error, Date.now()));
    };
    // A TLS socket can emit 'close' while its `closed` is still false (its TCP socket destroyed under it):
    // the event itself is remembered first, so the "close" dispatch never waits for one that already happened.
    onSocketClose = function () {
      const connection = this[CONNECTION] as Connection;
      connection.#flags |= SOCKET_CLOSED;
      if ((connection.#flags & RELEASED) === 0) connection.#apply(connection.#core.transportClosed(Date.now()));
    };
    /** The connection as its inbox and its write batcher see it: one object for both, its methods on the prototype. */
    class ConnectionInboxHost implements InboxHost, SendSettler {
      readonly #connection: Connection;
      constructor(connection: Connection) {
        this.#connection = connection;
      }
      emit(message: InboundMessage): void {
        this.#connection.emit("message", message);
      }
      sendsWritten(resolves: readonly (() => void)[], rejects: readonly ((error: unknown) => void)[], error: Error | null | undefined): void {
        // Node calls back without an error for writes still pending when the socket is destroyed: a write
        // that completes only after the connection was released was not written.
        if ((error === undefined || error === null) && (this.#connection.#flags & RELEASED) === 0) {
          for (let i = 0; i < resolves.length; i++) (resolves[i] as () => void)();
          return;
        }
        for (let i = 0; i < rejects.length; i++) {
          (rejects[i] as (error: unknown) => void)(
            new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "connection closed before the message was written", { cause: error }),
          );
        }
      }
      setPaused(paused: boolean): void {
        const connection = this.#connection;
        if ((connection.#flags & RELEASED) !== 0) return;
        if (paused) connection.#socket.pause();
        else connection.#socket.resume();
      }
    }
    inboxHostOf = (connection) => new ConnectionInboxHost(connection);
    tapConnection = (connection, fn) => connection.#inbox.tap(fn);
    decoderBufferOf = (connection) => connection.#core.decoderBufferCapacity;
    exemptConnection = (connection) => connection.#core.exemptFromInboundRate();
  }

  /** Bytes written and not yet handed to the operating system: the socket's buffer and this turn's batch. */
  #buffered(): number {
    return this.#socket.writableLength + this.#writes.queuedBytes;
  }

  /** The send backlog, made on first use; `undefined` once the connection is released. */
  #backlogOf(): SendBacklog | undefined {
    if ((this.#flags & RELEASED) !== 0) return undefined;
    return (this.#backlog ??= new SendBacklog(
      {
        socket: this.#socket,
        buffered: () => this.#buffered(),
        write: (protocol, data, resolve, reject) => this.#write(protocol, data, resolve, reject),
        drained: () => this.emit("send:drain", { bufferedBytes: this.#buffered() }),
      },
      this.#sendHighWater,
      this.#sendLimit,
    ));
  }

  /** Sends one Data frame now; exactly one of `resolve`/`reject` is called, once the write completed or failed. */
  #write(protocol: string, data: Uint8Array, resolve: () => void, reject: (error: unknown) => void): void {
    let bytes: Uint8Array;
    try {
      bytes = this.#core.sendData(protocol, data, sendClock());
    } catch (error) {
      reject(error);
      return;
    }
    if (this.#socket.destroyed || !this.#socket.writable) {
      reject(new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "connection closed before the message was written", { cause: new Error("socket is not writable") }));
    } else {
      this.#writes.queueSend(bytes, resolve, reject);
    }
  }

  /** Our write buffer is above the high-water mark: the peer is not reading what we send. */
  #peerNotReading(): boolean {
    return this.#socket.writableLength > this.#highWater;
  }

  #requireResult(): HandshakeResult {
    const result = this.#core.result;
    if (result === undefined) throw new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "the connection never opened");
    return result;
  }

  /** Carries out `actions` (a list a core input returned: given back to the core after). */
  #apply(actions: CoreAction[], onWritten?: (error?: Error | null) => void): void {
    let pendingCallback = onWritten;
    // Indexed, not for-of: an iterator per call otherwise, and this runs on every input.
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i] as CoreAction;
      switch (action.type) {
        case "write": {
          const cb = pendingCallback;
          pendingCallback = undefined;
          if (this.#socket.destroyed || !this.#socket.writable) {
            cb?.(new Error("socket is not writable"));
          } else if (action.lone === true && writesIn(actions) === 1) {
            // A lone Ping or Pong (a flood of Pings read at once is answered in one batch, as before).
            this.#writes.queueLone(action.bytes, cb);
          } else {
            this.#writes.queue(action.bytes, cb);
          }
          break;
        }
        case "half-close":
          this.#writes.flush();
          if (!this.#socket.destroyed) this.#socket.end();
          break;
        case "destroy":
          this.#writes.flush();
          this.#release();
          break;
        case "event":
          this.#dispatch(action.event);
          break;
      }
    }
    pendingCallback?.(new Error("nothing was written"));
    this.#schedule();
    recycleActions(actions);
  }

  #dispatch(event: CoreEvent): void {
    if ((this.#flags & CLOSE_EMITTED) !== 0) return;
    switch (event.type) {
      case "state":
        this.#transitions = appendStateChange(this.#transitions, event.change);
        // This side said Goodbye or aborted: the application gets nothing more (held and buffered messages included).
        if (event.change.transition === "goodbye-sent" || event.change.transition === "aborted") this.#inbox.stop();
        if (event.change.to === "closing" || event.change.to === "closed") this.#disposeBacklog();
        this.emit("state", event.change);
        if (opening.size !== 0) opening.get(this)?.stateChanged();
        break;
      case "open":
        this.emit("open", event.result);
        break;
      case "message":
        this.#inbox.arrive(event.message);
        break;
      case "ping":
        this.emit("ping", { nonce: event.nonce, timestampUs: event.timestampUs });
        break;
      case "pong":
        this.#rare?.pings?.pong(event.nonce);
        this.emit("pong", { nonce: event.nonce, timestampUs: event.timestampUs });
        break;
      case "control":
        this.emit("control", event.frame);
        break;
      case "capabilities":
        this.emit("capabilities", event.change);
        break;
      case "goodbye":
        this.emit("goodbye", event.goodbye);
        break;
      case "close": {
        this.#flags |= CLOSE_EMITTED;
        this.#inbox.end();
        this.#rare?.pings?.close();
        const finish = (): void => {
          this.emit("close", event.info);
          this.removeAllListeners();
          this.#inbox.endIterators();
          // From now on `closed` resolves at once, with the core's close information (event.info).
          this.#flags |= FINISHED;
          const rare = this.#rare;
          if (rare !== undefined) {
            rare.resolveClosed?.(event.info);
            rare.resolveClosed = undefined;
          }
        };
        // Announce the close once the socket's handle is really gone, so `closed` means "released".
        if (this.#socket.closed || (this.#flags & SOCKET_CLOSED) !== 0) finish();
        else this.#socket.once("close", finish);
        break;
      }
    }
  }

  /** Rejects the sends still waiting for room: the connection no longer sends. */
  #disposeBacklog(): void {
    this.#backlog?.dispose(new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "the connection closed before the message could be sent"));
  }

  #schedule(): void {
    if ((this.#flags & RELEASED) !== 0) return;
    const at = this.#core.nextDeadline();
    if (at === this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === undefined) return;
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMER_DELAY_MS);
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = undefined;
        this.#apply(this.#core.tick(Date.now()));
      },
      // Fires early, ticks nothing, re-arms for the rest.
      delay < TIMER_GRAIN_MS ? delay : delay - (delay % TIMER_GRAIN_MS),
    );
  }

  #release(): void {
    if ((this.#flags & RELEASED) !== 0) return;
    this.#flags |= RELEASED;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
    // The 'close' listener stays: it only records the socket's close from now on.
    this.#socket.off("data", onSocketData);
    this.#socket.off("end", onSocketEnd);
    this.#socket.off("error", onSocketError);
    this.#disposeBacklog();
    // A destroyed socket can still report a late write error; never let it become an uncaught 'error'.
    this.#socket.on("error", noop);
    this.#socket.destroy();
  }
}

/**
 * Observes every message of `connection` without consuming it, for the node layer (internal: not exported
 * from the package). `fn` is called once per message: in a microtask for the messages held when the tap
 * is added, then synchronously as each arrives, before the connection's own `message` listeners and
 * iterators. It does not end the connection's holding for its first consumer; see {@link Connection} for
 * how holding is then bounded. Nothing reaches `fn` once this side has started closing or the connection
 * closed. An `fn` that throws is reported with `process.emitWarning`. Returns the function that removes the
 * tap (idempotent).
 *
 * @internal
 * @example
 * ```ts
 * const untap = tapMessages(connection, (m) => manager.emit("message", { connection, peer, ...m }));
 * ```
 */
export function tapMessages(connection: Connection, fn: MessageTap): () => void {
  return tapConnection(connection, fn);
}

/**
 * Bytes of reassembly buffer the connection's frame decoder holds now (see `FrameDecoder.bufferCapacity`):
 * for tests and diagnostics of what a peer makes this node allocate.
 *
 * @internal
 */
export function decoderBufferBytes(connection: Connection): number {
  return decoderBufferOf(connection);
}

/**
 * Lifts the inbound rate bounds of `connection` (the node layer's allow-list): nothing the peer sends is
 * metered from now on.
 *
 * @internal
 */
export function exemptFromInboundRate(connection: Connection): void {
  exemptConnection(connection);
}
