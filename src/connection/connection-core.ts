/**
 * The life cycle of one peerlink connection as a sans-IO state machine:
 * transport events and the current time in; bytes to write, socket actions,
 * events and the next deadline out. No sockets or timers inside.
 *
 * @module
 */
import type { MutableConnectionStats } from "./stats.js";
import { create } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import type { CapabilityUpdate } from "../../generated/peerlink/v1/capability_pb.js";
import type { Goodbye } from "../../generated/peerlink/v1/goodbye_pb.js";
import type { Hello } from "../../generated/peerlink/v1/handshake_pb.js";
import { ErrorCode, PeerlinkError, reportedError } from "../errors.js";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, MAX_EARLY_DATA_BYTES, MAX_PREAUTH_FRAME_BYTES } from "../handshake/defaults.js";
import { errorCodeForRemoteReason, reasonForErrorCode } from "../handshake/failure-reasons.js";
import { encodeGoodbye, Handshake } from "../handshake/handshake.js";
import type {
  AgreedProtocol,
  ChannelBindingInput,
  EarlyMessage,
  HandshakeAction,
  HandshakeOptions,
  HandshakeResult,
} from "../handshake/types.js";
import { DisconnectReason, isDisconnectReason, reasonFromWire } from "../reasons.js";
import { createFrameDecoder, DEFAULT_MAX_FRAME_SIZE } from "../wire/frame-decoder.js";
import type { FrameDecoder, FrameDecoderEngine, FrameSink } from "../wire/frame-sink.js";
import { truncateUtf8 } from "../util/utf8.js";
import { encodeDataFrame, encodeFrame, encodePingFrame, encodePongFrame } from "../wire/frame-encoder.js";
import { CapabilityTable, type CapabilityUpdateInput, type DeclaredSet } from "./capability-update.js";
import { describeTrip, InboundRateMeter, inboundRateProblems, type InboundRateLimits, type InboundRateTrip } from "./inbound-rate.js";
import { DEFAULT_FAILURE_LINGER_MS, DEFAULT_GRACEFUL_CLOSE_TIMEOUT_MS, MAX_GOODBYE_DETAIL_BYTES } from "./defaults.js";
import { KeptHandshakeResult } from "../handshake/kept-result.js";
import { keepTime, readTime, type KeptTime } from "./kept-time.js";
import { emptyKeepingStore } from "../util/append.js";
import type {
  AgreedSets,
  CapabilityChanges,
  CloseInfo,
  ConnectionState,
  ConnectionStats,
  ConnectionTransition,
  CoreAction,
  CoreEvent,
  RemoteGoodbye,
} from "./types.js";

/** Handshake options as a connection takes them: role and binding follow from the transport. */
export type ConnectionHandshakeOptions = Omit<HandshakeOptions, "role" | "binding">;

/** Options of a {@link ConnectionCore}. Durations in milliseconds, times on the caller's clock. */
export interface ConnectionCoreOptions {
  /** `"outbound"` when this side dialed (handshake role dialer), `"inbound"` when it accepted. */
  readonly direction: "inbound" | "outbound";
  /** True when the transport is TLS (binding by exporter), false for plain TCP (binding by nonces). */
  readonly secure: boolean;
  /** Identity, versions, protocols, capabilities, … of the handshake. */
  readonly handshake: ConnectionHandshakeOptions;
  /** The time the connection attempt started (and the default deadline's base). */
  readonly now: number;
  /**
   * Absolute time by which the connection must be open, else it fails with HANDSHAKE_TIMEOUT.
   * @default now + 10000 ({@link DEFAULT_HANDSHAKE_TIMEOUT_MS})
   */
  readonly handshakeDeadline?: number | undefined;
  /**
   * How long `close()` waits for the peer's close after the Goodbye; `close` may override it.
   * @default 5000 ({@link DEFAULT_GRACEFUL_CLOSE_TIMEOUT_MS})
   */
  readonly gracefulCloseTimeoutMs?: number | undefined;
  /**
   * How long a connection this side failed waits for the peer's close after the Goodbye.
   * @default 1000 ({@link DEFAULT_FAILURE_LINGER_MS})
   */
  readonly failureLingerMs?: number | undefined;
  /**
   * Largest Frame body accepted (and sent), in bytes.
   * @default 1048576 (1 MiB, `DEFAULT_MAX_FRAME_SIZE`)
   */
  readonly maxFrameSize?: number | undefined;
  /**
   * Frame decoder engine.
   * @default "js" (`DEFAULT_FRAME_DECODER_ENGINE`)
   */
  readonly decoderEngine?: FrameDecoderEngine | undefined;
  /**
   * The error for a transport that closed before the peer's Hello arrived (`cause` is the socket
   * error, if any). The adapter passes the transport's `classifyEarlyClose`.
   * @default AUTHENTICATION_FAILED on a secure channel (TLS 1.3 reports a rejected client
   *   certificate only as a close), CONNECTION_CLOSED on plain TCP
   */
  readonly earlyCloseError?: ((cause?: unknown) => PeerlinkError) | undefined;
  /**
   * Bounds on the messages, bytes and Pings the peer may send per second once open; the first broken
   * ends the connection with `Goodbye{RATE_LIMITED, retry_after_ms}` (docs/PROTOCOL.md §8.3).
   * @default none: unbounded (the connection manager passes its `misbehaviour.inboundRate`)
   */
  readonly inboundRate?: InboundRateLimits | undefined;
}

/** Options of {@link ConnectionCore.close}. */
export interface CoreCloseOptions {
  /** Free text for the peer's logs, sent in `Goodbye.detail`. @default "" */
  readonly detail?: string;
  /** Asks the peer not to reconnect sooner, in milliseconds (uint32). @default 0 */
  readonly retryAfterMs?: number;
  /** Wait for the peer's close at most this long. @default the core's `gracefulCloseTimeoutMs` */
  readonly timeoutMs?: number;
}

const UINT32_MAX = 0xffff_ffff;

/** The action list outside an input: frozen, so that an action produced outside {@link ConnectionCore.#run} fails loudly. */
const NO_ACTIONS: CoreAction[] = Object.freeze([]) as unknown as CoreAction[];

/**
 * An emptied action list to hand out again (see {@link recycleActions}), shared by every core: each input
 * otherwise made a list, an array and the 17-slot store of its first push (~0.2 KiB), three per ping round trip.
 */
let spareActions: CoreAction[] | undefined;
/** Longest list kept for reuse: a longer one is dropped with its larger store. */
const MAX_SPARE_ACTIONS = 16;

/**
 * Gives back a list returned by a {@link ConnectionCore} input once every action in it was carried out: a later
 * input of any core may return it again (emptied), so the caller must not read it afterwards. For the adapter;
 * callers that keep lists simply never give them back.
 *
 * @internal
 */
export function recycleActions(actions: CoreAction[]): void {
  if (actions.length > MAX_SPARE_ACTIONS || actions === NO_ACTIONS) return;
  emptyKeepingStore(actions);
  spareActions = actions;
}
const NO_DECLARATIONS: DeclaredSet = Object.freeze({ capabilities: Object.freeze([]), protocols: Object.freeze([]) });
const NO_PROTOCOLS: readonly AgreedProtocol[] = Object.freeze([]);
/** Up to this many agreed protocols are found by a scan of the agreed list; past it, through indexes made on first use. */
const SCAN_PROTOCOLS = 8;

// The bits of ConnectionCore's #flags.
const OUTBOUND = 1;
const SECURE = 2;
/** The transport is not taking writes (see `writesBlocked`). */
const WRITES_BLOCKED = 4;
const HALF_CLOSED = 8;
/** This side sent its Goodbye: frames from the peer other than its Goodbye are discarded. */
const GOODBYE_SENT = 16;
const STOP_READING = 32;

/** What a core needs only until the connection is open; an open connection does not keep it. */
class CoreSetup {
  /** The handshake options, until the handshake is made from them. */
  options: ConnectionHandshakeOptions | undefined;
  /** Absolute time by which the connection must be open. */
  readonly deadline: number;
  /** Classifies a close before the peer's Hello; the default when not given. */
  readonly earlyCloseError: ((cause?: unknown) => PeerlinkError) | undefined;
  /** The inbound bounds the meter is made from at open; undefined when unbounded or exempt. */
  inboundRate: InboundRateLimits | undefined;
  handshake: Handshake | undefined = undefined;
  /** Frame body bytes sent as 0-RTT early data (capped at MAX_EARLY_DATA_BYTES, what peerlink listeners hold). */
  earlyBytes = 0;

  constructor(
    options: ConnectionHandshakeOptions,
    deadline: number,
    earlyCloseError: ((cause?: unknown) => PeerlinkError) | undefined,
    inboundRate: InboundRateLimits | undefined,
  ) {
    this.options = options;
    this.deadline = deadline;
    this.earlyCloseError = earlyCloseError;
    this.inboundRate = inboundRate;
  }
}

/** The parts of a core most open connections never use: made on the first write of one of them. */
class CoreRare {
  capabilities: CapabilityTable | undefined = undefined;
  agreed: AgreedSets | undefined = undefined;
  closeInfo: CloseInfo | undefined = undefined;
  remoteGoodbye: RemoteGoodbye | undefined = undefined;
  closeDeadline: number | undefined = undefined;
  unknownProtocolFrames = 0;
  discardedFrames = 0;
}

// Set in ConnectionCore's static block: the decoder's sink for a core, calling into its private frame handlers.
let sinkFor: (core: ConnectionCore) => FrameSink;

/**
 * One connection's state machine (docs/PROTOCOL.md §3.1, §5, §8). Every input
 * method takes the current time and returns the actions to perform in order;
 * call {@link ConnectionCore.tick} at {@link ConnectionCore.nextDeadline}.
 * Ping is answered with Pong automatically; a CapabilityUpdate changes the
 * agreed sets (docs/PROTOCOL.md §7, see {@link ConnectionCore.updateCapabilities});
 * Pong, bandwidth frames and applied CapabilityUpdates are emitted as events
 * for maintenance.
 *
 * @example
 * ```ts
 * const core = new ConnectionCore({ direction: "outbound", secure: false, handshake: { identity }, now: Date.now() });
 * apply(core.transportConnected(Date.now()));
 * apply(core.transportSecured({ type: "nonces" }, Date.now()));
 * socket.on("data", (chunk) => apply(core.receive(chunk, Date.now())));
 * ```
 */
export class ConnectionCore {
  /** What only the way to open needs (options, deadline, the handshake, …): let go at open. */
  #setup: CoreSetup | undefined;
  /** {@link OUTBOUND}, {@link SECURE}, {@link WRITES_BLOCKED}, … as bits: one field instead of one each. */
  #flags: number;
  /** This side's declarations (the node's own lists, shared by its connections), for a later CapabilityUpdate. */
  readonly #ownCapabilities: DeclaredSet["capabilities"];
  readonly #ownProtocols: DeclaredSet["protocols"];
  readonly #gracefulCloseTimeoutMs: number;
  readonly #failureLingerMs: number;
  readonly #maxFrameSize: number;
  readonly #decoder: FrameDecoder;
  readonly #sink: FrameSink;
  /** Made at open from {@link ConnectionCoreOptions.inboundRate}; undefined when unbounded or exempt. */
  #rate: InboundRateMeter | undefined;

  #state: ConnectionState = "connecting";
  #result: HandshakeResult | undefined;
  /**
   * The agreed protocols in force (the handshake's, shared with the connections that agreed the same, then
   * each update's): scanned by name and alias when few, else through indexes kept per list (see `indexOf`).
   */
  #protocols: readonly AgreedProtocol[] = NO_PROTOCOLS;
  /**
   * The capabilities and protocols of the peer's Hello, for the capability table made on the first
   * CapabilityUpdate; at open replaced by the equal set shared with other connections (see `internDeclared`).
   */
  #peerDeclared: DeclaredSet | undefined;
  /** What most open connections never use (updates, the close, rare counters), made on first use. */
  #rare: CoreRare | undefined;
  /** The time of the input being run (kept compactly: see `keepTime`). */
  #now: KeptTime = 0;
  #out: CoreAction[] = NO_ACTIONS;
  // The counters, flat (an object of their own cost ~150 B per connection).
  #bytesIn = 0;
  #bytesOut = 0;
  #framesIn = 0;
  #framesOut = 0;
  // Kept compactly (see `keepTime`): as plain times each would be a 16-byte heap number.
  #lastSentAt: KeptTime | undefined;
  #lastReceivedAt: KeptTime | undefined;
  #openedAt: KeptTime | undefined;

  // The fields of #rare, read and written as if they were the core's own.
  get #capabilities(): CapabilityTable | undefined {
    return this.#rare?.capabilities;
  }
  set #capabilities(table: CapabilityTable | undefined) {
    (this.#rare ??= new CoreRare()).capabilities = table;
  }
  /** The agreed sets after an update changed them (or first read); until then the handshake's result holds them. */
  get #agreed(): AgreedSets | undefined {
    return this.#rare?.agreed;
  }
  set #agreed(agreed: AgreedSets | undefined) {
    (this.#rare ??= new CoreRare()).agreed = agreed;
  }
  get #closeInfo(): CloseInfo | undefined {
    return this.#rare?.closeInfo;
  }
  set #closeInfo(info: CloseInfo | undefined) {
    (this.#rare ??= new CoreRare()).closeInfo = info;
  }
  get #remoteGoodbye(): RemoteGoodbye | undefined {
    return this.#rare?.remoteGoodbye;
  }
  set #remoteGoodbye(goodbye: RemoteGoodbye | undefined) {
    (this.#rare ??= new CoreRare()).remoteGoodbye = goodbye;
  }
  get #closeDeadline(): number | undefined {
    return this.#rare?.closeDeadline;
  }
  set #closeDeadline(deadline: number | undefined) {
    (this.#rare ??= new CoreRare()).closeDeadline = deadline;
  }
  get #unknownProtocolFrames(): number {
    return this.#rare?.unknownProtocolFrames ?? 0;
  }
  set #unknownProtocolFrames(count: number) {
    (this.#rare ??= new CoreRare()).unknownProtocolFrames = count;
  }
  get #discardedFrames(): number {
    return this.#rare?.discardedFrames ?? 0;
  }
  set #discardedFrames(count: number) {
    (this.#rare ??= new CoreRare()).discardedFrames = count;
  }

  /** Validates options (INVALID_ARGUMENT) and creates the frame decoder; starts in `connecting`. */
  constructor(options: ConnectionCoreOptions) {
    this.#flags = (options.direction === "outbound" ? OUTBOUND : 0) | (options.secure ? SECURE : 0);
    this.#ownCapabilities = options.handshake.capabilities ?? NO_DECLARATIONS.capabilities;
    this.#ownProtocols = options.handshake.protocols ?? NO_DECLARATIONS.protocols;
    this.#now = keepTime(options.now);
    const handshakeDeadline = options.handshakeDeadline ?? options.now + DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.#gracefulCloseTimeoutMs = nonNegative("gracefulCloseTimeoutMs", options.gracefulCloseTimeoutMs, DEFAULT_GRACEFUL_CLOSE_TIMEOUT_MS);
    this.#failureLingerMs = nonNegative("failureLingerMs", options.failureLingerMs, DEFAULT_FAILURE_LINGER_MS);
    if (!Number.isFinite(handshakeDeadline)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "handshakeDeadline must be a finite time");
    }
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    // Checked now (the meter is made at open), so bad limits fail here, not on the peer's first frame.
    const rateProblems = options.inboundRate === undefined ? [] : inboundRateProblems(options.inboundRate);
    if (rateProblems.length > 0) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `inboundRate: ${rateProblems.join("; ")}`);
    // Until the peer is authenticated only handshake-sized frames are accepted (docs/PROTOCOL.md §1);
    // #onOpen raises the limit.
    this.#decoder = createFrameDecoder({
      maxFrameSize: this.#maxFrameSize,
      frameLimit: Math.min(MAX_PREAUTH_FRAME_BYTES, this.#maxFrameSize),
      engine: options.decoderEngine,
    });
    this.#setup = new CoreSetup(options.handshake, handshakeDeadline, options.earlyCloseError, options.inboundRate);
    this.#sink = sinkFor(this);
  }

  static {
    /** The frame sink of one core: an object with one field, its methods on the prototype. */
    class CoreSink implements FrameSink {
      readonly #core: ConnectionCore;
      constructor(core: ConnectionCore) {
        this.#core = core;
      }
      onData(alias: number, payload: Uint8Array): void {
        this.#core.#onData(alias, payload);
      }
      onPing(nonce: number, timestampUs: number): void {
        this.#core.#onPing(nonce, timestampUs);
      }
      onPong(nonce: number, timestampUs: number): void {
        this.#core.#onPong(nonce, timestampUs);
      }
      onControl(frame: Frame, bytes: Uint8Array, items: number): void {
        this.#core.#onControl(frame, bytes, items);
      }
    }
    sinkFor = (core) => new CoreSink(core);
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** `"outbound"` or `"inbound"`. */
  get direction(): "inbound" | "outbound" {
    return (this.#flags & OUTBOUND) !== 0 ? "outbound" : "inbound";
  }

  /** True when the transport is TLS. */
  get secure(): boolean {
    return (this.#flags & SECURE) !== 0;
  }

  /** The handshake result, once open (kept after close). */
  get result(): HandshakeResult | undefined {
    return this.#result;
  }

  /**
   * The capabilities and protocols in force now, once open (kept after close):
   * the handshake's result, changed by every CapabilityUpdate since.
   */
  get agreed(): AgreedSets | undefined {
    if (this.#agreed !== undefined) return this.#agreed;
    const result = this.#result;
    // Made on first read (the adapter reads the lists through the getters below), then the same object.
    return result === undefined ? undefined : (this.#agreed = { capabilities: result.capabilities, protocols: result.protocols });
  }

  /** {@link ConnectionCore.agreed}'s protocols, without making an object. */
  get agreedProtocols(): readonly AgreedProtocol[] | undefined {
    return this.#agreed?.protocols ?? this.#result?.protocols;
  }

  /** {@link ConnectionCore.agreed}'s capabilities, without making an object. */
  get agreedCapabilities(): AgreedSets["capabilities"] | undefined {
    return this.#agreed?.capabilities ?? this.#result?.capabilities;
  }

  /** Why the connection ended (set at the first terminal event: Goodbye sent or received, failure, abort). */
  get closeInfo(): CloseInfo | undefined {
    return this.#closeInfo;
  }

  /** The peer's Goodbye, if it sent one. */
  get remoteGoodbye(): RemoteGoodbye | undefined {
    return this.#remoteGoodbye;
  }

  /**
   * Bytes of reassembly buffer the frame decoder holds now: grows with the bytes of an incomplete frame
   * received, bounded by the pre-authentication limit until open (see `FrameDecoder.bufferCapacity`).
   */
  get decoderBufferCapacity(): number {
    return this.#decoder.bufferCapacity;
  }

  /** A snapshot of the counters. */
  get stats(): ConnectionStats {
    return this.readStats({} as MutableConnectionStats);
  }

  /** Copies the counters into `into` (the fields of {@link ConnectionStats}) without allocating; returns `into`. */
  readStats<T extends MutableConnectionStats>(into: T): T {
    into.bytesIn = this.#bytesIn;
    into.bytesOut = this.#bytesOut;
    into.framesIn = this.#framesIn;
    into.framesOut = this.#framesOut;
    into.lastSentAt = this.#lastSentAt === undefined ? undefined : readTime(this.#lastSentAt);
    into.lastReceivedAt = this.#lastReceivedAt === undefined ? undefined : readTime(this.#lastReceivedAt);
    into.openedAt = this.#openedAt === undefined ? undefined : readTime(this.#openedAt);
    into.unknownProtocolFrames = this.#unknownProtocolFrames;
    into.discardedFrames = this.#discardedFrames;
    return into;
  }

  /** True when `send` accepts application data now (open, or a 0-RTT dialer during its handshake). */
  get canSend(): boolean {
    return this.#state === "open" || (this.#state === "handshaking" && this.#setup?.handshake?.sendsEarlyData === true);
  }

  /** The next time {@link ConnectionCore.tick} must be called, or `undefined` when no deadline is pending. */
  nextDeadline(): number | undefined {
    switch (this.#state) {
      case "connecting":
      case "securing":
      case "handshaking":
        return this.#setup?.deadline;
      case "closing":
        return this.#closeDeadline;
      default:
        return undefined;
    }
  }

  /** TCP is established: connecting → securing. */
  transportConnected(now: number): CoreAction[] {
    return this.#run(now, () => {
      if (this.#state === "connecting") this.#transition("securing", "transport-connected");
    });
  }

  /**
   * The transport is ready (TLS finished, or plain TCP): securing → handshaking,
   * and the own Hello is written. `binding` must be `tls` exactly when the core is secure.
   */
  transportSecured(binding: ChannelBindingInput, now: number): CoreAction[] {
    return this.#run(now, () => {
      if (this.#state === "connecting") this.#transition("securing", "transport-connected");
      if (this.#state !== "securing") return;
      const secure = (this.#flags & SECURE) !== 0;
      if ((binding.type === "tls") !== secure) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `binding ${binding.type} does not match a ${secure ? "TLS" : "plain TCP"} transport`);
      }
      const setup = this.#setup;
      const handshakeOptions = setup?.options;
      if (setup === undefined || handshakeOptions === undefined) return; // made once, on the way to handshaking
      const handshake = new Handshake(handshakeOptions, (this.#flags & OUTBOUND) !== 0 ? "dialer" : "listener", binding);
      setup.handshake = handshake;
      // The per-connection options (listen addresses, expected peer, …) live on in the handshake only.
      setup.options = undefined;
      this.#transition("handshaking", "transport-secured");
      this.#applyHandshake(handshake.start());
    });
  }

  /**
   * Bytes arrived from the peer. `owned`: no one writes `chunk` again (a socket's read), so the decoder may keep
   * views of it instead of copying (see FrameDecoder.pushOwned).
   */
  receive(chunk: Uint8Array, now: number, owned = false): CoreAction[] {
    // #run's steps written out: no closure per chunk received.
    const outer = this.#out;
    const out = this.#begin(now);
    try {
      this.#receive(chunk, now, owned);
    } finally {
      this.#out = outer;
    }
    return out;
  }

  /** The body of {@link ConnectionCore.receive}. */
  #receive(chunk: Uint8Array, now: number, owned: boolean): void {
    if (this.#state === "closed" || this.#state === "connecting" || this.#state === "securing") return;
    this.#bytesIn += chunk.length;
    this.#lastReceivedAt = keepTime(now);
    if ((this.#flags & STOP_READING) !== 0) return;
    if (this.#overRate(this.#rate?.bytes(chunk.length, now))) return;
    try {
      if (owned) this.#decoder.pushOwned(chunk, this.#sink);
      else this.#decoder.push(chunk, this.#sink);
    } catch (cause) {
      this.#flags |= STOP_READING;
      const error = PeerlinkError.from(cause);
      if (error.code === ErrorCode.FRAME_TOO_LARGE && this.#result === undefined) {
        this.#failLocal(error.code, `before authentication frames are limited to ${this.#decoder.frameLimit} bytes: ${error.rawMessage}`, cause);
      } else if (error.code === ErrorCode.INTERNAL) {
        this.#abort(new PeerlinkError(ErrorCode.INTERNAL, `connection core failed: ${error.rawMessage}`, { cause }));
      } else {
        this.#failLocal(error.code, error.rawMessage, cause);
      }
    }
  }

  /** The peer closed its direction (TCP FIN / TLS close_notify): the socket's `'end'`. */
  transportEnded(now: number): CoreAction[] {
    return this.#run(now, () => this.#onTransportGone(undefined));
  }

  /** The socket failed (`'error'`). */
  transportError(cause: unknown, now: number): CoreAction[] {
    return this.#run(now, () => this.#onTransportGone(cause ?? new Error("socket error")));
  }

  /** The socket is closed (`'close'`), possibly destroyed from outside. */
  transportClosed(now: number): CoreAction[] {
    return this.#run(now, () => this.#onTransportGone(undefined));
  }

  /** The clock advanced: fires the handshake or close deadline if it passed. */
  tick(now: number): CoreAction[] {
    return this.#run(now, () => {
      const s = this.#state;
      const setup = this.#setup;
      if ((s === "connecting" || s === "securing" || s === "handshaking") && setup !== undefined && now >= setup.deadline) {
        if (s === "handshaking" && setup.handshake !== undefined) {
          this.#applyHandshake(setup.handshake.timeout());
        } else {
          this.#closeInfo ??= {
            reason: DisconnectReason.TIMEOUT,
            initiator: "local",
            error: new PeerlinkError(ErrorCode.HANDSHAKE_TIMEOUT, "transport was not ready before the handshake deadline", {
              initiator: "local",
            }),
          };
          this.#transition("closed", "handshake-timed-out");
        }
      } else if (s === "closing" && this.#closeDeadline !== undefined && now >= this.#closeDeadline) {
        this.#transition("closed", "close-timed-out");
      }
    });
  }

  /**
   * Sends one application message of `protocol` (its name). Throws
   * UNKNOWN_PROTOCOL when the protocol is not agreed (or, before open, not
   * declared by this 0-RTT dialer), FRAME_TOO_LARGE when the frame would exceed
   * the maximum frame size, CONNECTION_CLOSED when not open (closing, closed, or
   * still handshaking without early data).
   */
  send(protocol: string, payload: Uint8Array, now: number): CoreAction[] {
    return [{ type: "write", bytes: this.sendData(protocol, payload, now), lone: false }];
  }

  /**
   * The allocation-light form of {@link ConnectionCore.send} for the adapter's hot path: the same checks,
   * counters and errors, and the frame to write returned directly (a Data frame changes no deadline and
   * emits no event, so there is nothing else to act on).
   */
  sendData(protocol: string, payload: Uint8Array, now: number): Uint8Array {
    if (!(payload instanceof Uint8Array)) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "payload must be a Uint8Array");
    let alias: number | undefined;
    if (this.#state === "open") {
      alias = this.#protocolNamed(protocol)?.localAlias;
      if (alias === undefined) throw new PeerlinkError(ErrorCode.UNKNOWN_PROTOCOL, `protocol ${JSON.stringify(protocol)} was not agreed with the peer`);
    } else if (this.#state === "handshaking" && this.#setup?.handshake?.sendsEarlyData === true) {
      alias = this.#setup.handshake.localAliasFor(protocol);
      if (alias === undefined) throw new PeerlinkError(ErrorCode.UNKNOWN_PROTOCOL, `protocol ${JSON.stringify(protocol)} is not declared for early data`);
    } else {
      throw this.#notOpen();
    }
    const bytes = encodeDataFrame(alias, payload);
    const body = bytes.length - prefixLength(bytes);
    if (body > this.#maxFrameSize) {
      throw new PeerlinkError(ErrorCode.FRAME_TOO_LARGE, `a ${payload.length}-byte message exceeds the maximum frame size ${this.#maxFrameSize}`);
    }
    const setup = this.#setup;
    if (this.#state === "handshaking" && setup !== undefined) {
      // A peerlink listener holds at most this much early data and fails the connection beyond it.
      if (setup.earlyBytes + body > MAX_EARLY_DATA_BYTES) {
        throw new PeerlinkError(
          ErrorCode.FRAME_TOO_LARGE,
          `early data is limited to ${MAX_EARLY_DATA_BYTES} bytes of frames (${setup.earlyBytes} sent): send the rest after open`,
        );
      }
      setup.earlyBytes += body;
    }
    this.#bytesOut += bytes.length;
    this.#framesOut++;
    this.#lastSentAt = keepTime(now);
    return bytes;
  }

  /** Sends `Ping{nonce, timestampUs}` (uint32 each) for keepalive. Throws CONNECTION_CLOSED when not open. */
  sendPing(nonce: number, timestampUs: number, now: number): CoreAction[] {
    if (this.#state !== "open") throw this.#notOpen();
    const bytes = encodePingFrame(nonce, timestampUs);
    const outer = this.#out;
    const out = this.#begin(now);
    this.#write(bytes, true);
    this.#out = outer;
    return out;
  }

  /**
   * Sends a control frame for a service: CapabilityUpdate, BandwidthProbe,
   * BandwidthReport or PeerAddresses (INVALID_ARGUMENT for any other kind). Throws CONNECTION_CLOSED when not open.
   * A CapabilityUpdate is applied to this side's view as well, like
   * {@link ConnectionCore.updateCapabilities}, with the aliases it carries;
   * one that breaks the rules of docs/PROTOCOL.md §7 throws INVALID_ARGUMENT.
   */
  sendControl(frame: Frame, now: number): CoreAction[] {
    const kind = frame.kind;
    if (kind.case !== "capabilityUpdate" && kind.case !== "bandwidthProbe" && kind.case !== "bandwidthReport" && kind.case !== "peerAddresses") {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `sendControl cannot send a ${String(kind.case)} frame`);
    }
    if (this.#state !== "open") throw this.#notOpen();
    if (kind.case === "capabilityUpdate") {
      const problem = this.#capabilityTable().check(kind.value, "local");
      if (problem !== undefined) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `bad capability update: ${problem}`);
    }
    const bytes = encodeFrame(frame);
    if (bytes.length - prefixLength(bytes) > this.#maxFrameSize) {
      throw new PeerlinkError(ErrorCode.FRAME_TOO_LARGE, `control frame exceeds the maximum frame size ${this.#maxFrameSize}`);
    }
    return this.#run(now, () => {
      this.#write(bytes);
      if (kind.case === "capabilityUpdate") this.#applyCapabilityUpdate(kind.value, "local");
    });
  }

  /**
   * Changes this side's capabilities and protocols on the open connection
   * (docs/PROTOCOL.md §7): writes one CapabilityUpdate and applies it to this
   * side's view at once, so `send` accepts a newly agreed protocol right away
   * and refuses a removed one with UNKNOWN_PROTOCOL. New protocols get an alias
   * never used on this connection. Emits a `capabilities` event when the
   * agreed sets change; an empty request writes nothing. Throws
   * INVALID_ARGUMENT (bad request, a required capability removed, more than
   * 256 entries), FRAME_TOO_LARGE, or CONNECTION_CLOSED when not open; on a
   * throw nothing changed.
   */
  updateCapabilities(changes: CapabilityChanges, now: number): CoreAction[] {
    if (this.#state !== "open") throw this.#notOpen();
    const update = this.#capabilityTable().plan(changes);
    if (update.added.length + update.removed.length + update.protocolsAdded.length + update.protocolsRemoved.length === 0) return [];
    const bytes = encodeFrame(
      create(FrameSchema, {
        kind: {
          case: "capabilityUpdate",
          value: {
            added: update.added.map((c) => ({ name: c.name, version: c.version })),
            removed: [...update.removed],
            protocolsAdded: update.protocolsAdded.map((p) => ({ name: p.name, versions: [...p.versions], alias: p.alias })),
            protocolsRemoved: [...update.protocolsRemoved],
          },
        },
      }),
    );
    if (bytes.length - prefixLength(bytes) > this.#maxFrameSize) {
      throw new PeerlinkError(ErrorCode.FRAME_TOO_LARGE, `capability update exceeds the maximum frame size ${this.#maxFrameSize}`);
    }
    return this.#run(now, () => {
      this.#write(bytes);
      this.#applyCapabilityUpdate(update, "local");
    });
  }

  /**
   * Ends the connection gracefully: sends `Goodbye{reason}`, stops accepting
   * sends, half-closes and waits for the peer's close (up to `timeoutMs`).
   * Before the transport is ready there is nothing to say goodbye on: the
   * connection closes at once. No-op when already closing or closed.
   */
  close(reason: DisconnectReason, options: CoreCloseOptions, now: number): CoreAction[] {
    if (!isDisconnectReason(reason)) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `unknown close reason ${String(reason)}`);
    const retryAfterMs = options.retryAfterMs ?? 0;
    if (!Number.isInteger(retryAfterMs) || retryAfterMs < 0 || retryAfterMs > UINT32_MAX) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "retryAfterMs must be a uint32");
    }
    const timeoutMs = nonNegative("timeoutMs", options.timeoutMs, this.#gracefulCloseTimeoutMs);
    return this.#run(now, () => {
      const s = this.#state;
      if (s === "closing" || s === "closed") return;
      const error =
        s === "open"
          ? undefined
          : new PeerlinkError(ErrorCode.CONNECTION_CLOSED, `closed locally (${reason}) before the connection was open`, { initiator: "local" });
      this.#closeInfo ??= error === undefined ? { reason, initiator: "local" } : { reason, initiator: "local", error };
      if (s === "connecting" || s === "securing") {
        this.#transition("closed", "aborted");
        return;
      }
      this.#write(encodeGoodbye(reason, truncateUtf8(options.detail ?? "", MAX_GOODBYE_DETAIL_BYTES), retryAfterMs));
      this.#startClosing("goodbye-sent", timeoutMs);
    });
  }

  /**
   * Lifts the inbound rate bounds of this connection (an allow-listed peer): from now on nothing the peer
   * sends is metered.
   */
  exemptFromInboundRate(): void {
    if (this.#setup !== undefined) this.#setup.inboundRate = undefined;
    this.#rate = undefined;
  }

  /** Ends the connection at once, without a Goodbye. No-op when already closed. */
  abort(error: PeerlinkError | undefined, now: number): CoreAction[] {
    return this.#run(now, () => {
      this.#abort(error ?? reportedError(ErrorCode.ABORTED, "connection aborted", { initiator: "local" }));
    });
  }

  #abort(error: PeerlinkError): void {
    if (this.#state === "closed") return;
    this.#closeInfo ??= { reason: abortReason(error), initiator: "local", error };
    this.#transition("closed", "aborted");
  }

  #notOpen(): PeerlinkError {
    const s = this.#state;
    return new PeerlinkError(
      ErrorCode.CONNECTION_CLOSED,
      s === "closing" || s === "closed" ? `connection is ${s}` : `connection is not open yet (${s})`,
    );
  }

  /** Runs one input with an action list of its own (see {@link ConnectionCore.#begin}); always returns the list. */
  #run(now: number, body: () => void): CoreAction[] {
    const outer = this.#out;
    const out = this.#begin(now);
    try {
      body();
    } finally {
      this.#out = outer;
    }
    return out;
  }

  /** Starts an input at `now`: its action list (a given-back one if any) becomes the current one; returns it. */
  #begin(now: number): CoreAction[] {
    const out = spareActions ?? [];
    spareActions = undefined;
    this.#out = out;
    this.#now = keepTime(now);
    return out;
  }

  /**
   * Input from the adapter: the transport is not taking writes (its buffer is above the high-water mark:
   * the peer is not reading). While set, Pings are not answered; everything else is written as usual.
   */
  set writesBlocked(blocked: boolean) {
    this.#flags = blocked ? this.#flags | WRITES_BLOCKED : this.#flags & ~WRITES_BLOCKED;
  }

  get writesBlocked(): boolean {
    return (this.#flags & WRITES_BLOCKED) !== 0;
  }

  #emit(event: CoreEvent): void {
    this.#out.push({ type: "event", event });
  }

  #write(bytes: Uint8Array, lone = false): void {
    this.#out.push({ type: "write", bytes, lone });
    this.#bytesOut += bytes.length;
    this.#framesOut++;
    this.#lastSentAt = this.#now;
  }

  #transition(to: ConnectionState, transition: ConnectionTransition): void {
    const from = this.#state;
    this.#state = to;
    if (to === "closed") {
      this.#out.push({ type: "destroy" });
      this.#decoder.dispose();
      this.#closeDeadline = undefined;
    }
    this.#out.push(stateAction(from, to, transition));
    if (to === "closed") {
      this.#closeInfo ??= { reason: DisconnectReason.NORMAL, initiator: "local" };
      this.#emit({ type: "close", info: this.#closeInfo });
    }
  }

  #startClosing(transition: "goodbye-sent" | "goodbye-received", waitMs: number): void {
    if (transition === "goodbye-sent") this.#flags |= GOODBYE_SENT;
    this.#transition("closing", transition);
    if ((this.#flags & HALF_CLOSED) === 0) {
      this.#flags |= HALF_CLOSED;
      this.#out.push({ type: "half-close" });
    }
    this.#closeDeadline = readTime(this.#now) + waitMs;
  }

  #applyHandshake(actions: readonly HandshakeAction[]): void {
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i] as HandshakeAction;
      switch (action.type) {
        case "send":
          this.#write(action.bytes);
          break;
        case "open":
          this.#onOpen(action.result, action.earlyData);
          break;
        case "fail": {
          const remote = action.error.initiator === "remote";
          this.#closeInfo ??= { reason: action.reason, initiator: remote ? "remote" : "local", error: action.error };
          if (remote) this.#startClosing("goodbye-received", this.#gracefulCloseTimeoutMs);
          else this.#startClosing("goodbye-sent", this.#failureLingerMs);
          break;
        }
      }
    }
  }

  #onOpen(handshakeResult: HandshakeResult, earlyData: readonly EarlyMessage[]): void {
    const result = keptResult(handshakeResult);
    this.#result = result;
    // The handshake (its transcript, nonces, decoded Hello) is of no use to an open connection: let it go.
    const inboundRate = this.#setup?.inboundRate;
    this.#setup = undefined;
    // The capability table (both sides' declarations, six maps) is made on the first CapabilityUpdate: most
    // connections never see one, and their agreed sets are the handshake's result.
    if (this.#peerDeclared !== undefined) this.#peerDeclared = internDeclared(this.#peerDeclared);
    this.#indexProtocols(result.protocols);
    // The peer is authenticated: from the next frame on, the full maximum frame size applies.
    this.#decoder.setFrameLimit(this.#maxFrameSize);
    this.#openedAt = this.#now;
    if (inboundRate !== undefined) this.#rate = new InboundRateMeter(inboundRate, readTime(this.#now));
    this.#transition("open", "handshake-succeeded");
    this.#emit({ type: "open", result });
    for (let i = 0; i < earlyData.length; i++) this.#deliver((earlyData[i] as EarlyMessage).alias, (earlyData[i] as EarlyMessage).payload);
  }

  #indexProtocols(protocols: readonly AgreedProtocol[]): void {
    this.#protocols = protocols;
  }

  #protocolNamed(name: string): AgreedProtocol | undefined {
    const protocols = this.#protocols;
    if (protocols.length <= SCAN_PROTOCOLS) {
      // Indexed, not for-of: V8 allocates an iterator for each for-of over these lists, i.e. per message.
      for (let i = 0; i < protocols.length; i++) if ((protocols[i] as AgreedProtocol).name === name) return protocols[i];
      return undefined;
    }
    return indexOf(protocols).byName.get(name);
  }

  #protocolOfRemoteAlias(alias: number): AgreedProtocol | undefined {
    const protocols = this.#protocols;
    if (protocols.length <= SCAN_PROTOCOLS) {
      for (let i = 0; i < protocols.length; i++) if ((protocols[i] as AgreedProtocol).remoteAlias === alias) return protocols[i];
      return undefined;
    }
    return indexOf(protocols).byRemoteAlias.get(alias);
  }

  #capabilityTable(): CapabilityTable {
    if (this.#result === undefined) throw new PeerlinkError(ErrorCode.INTERNAL, "capability table before open");
    if (this.#capabilities === undefined) {
      this.#capabilities = new CapabilityTable({ capabilities: this.#ownCapabilities, protocols: this.#ownProtocols }, this.#peerDeclared ?? NO_DECLARATIONS);
      this.#peerDeclared = undefined;
    }
    return this.#capabilities;
  }

  /** Applies a checked update; re-indexes the protocols and emits `capabilities` when the agreed sets changed. */
  #applyCapabilityUpdate(update: CapabilityUpdateInput, sender: "local" | "remote"): void {
    const table = this.#capabilityTable();
    if (!table.apply(update, sender)) return;
    const agreed = table.agreed;
    this.#agreed = agreed;
    this.#indexProtocols(agreed.protocols);
    this.#emit({ type: "capabilities", change: { capabilities: agreed.capabilities, protocols: agreed.protocols, initiator: sender } });
  }

  #onCapabilityUpdate(update: CapabilityUpdate, frame: Frame): void {
    if (this.#result === undefined) return;
    const table = this.#capabilityTable();
    const problem = table.check(update, "remote");
    if (problem !== undefined) {
      this.#failLocal(ErrorCode.PROTOCOL_VIOLATION, `bad CapabilityUpdate: ${problem}`);
      return;
    }
    this.#applyCapabilityUpdate(update, "remote");
    this.#emit({ type: "control", frame });
  }

  #deliver(alias: number, payload: Uint8Array): void {
    const protocol = this.#protocolOfRemoteAlias(alias);
    if (protocol === undefined) {
      this.#unknownProtocolFrames++;
      return;
    }
    this.#emit({ type: "message", message: { protocol: protocol.name, data: payload } });
  }

  /** Local failure: through the handshake while handshaking, else Goodbye + closing. */
  #failLocal(code: ErrorCode, message: string, cause?: unknown, retryAfterMs = 0): void {
    const handshake = this.#setup?.handshake;
    if (this.#state === "handshaking" && handshake !== undefined) {
      this.#applyHandshake(handshake.fail(code, message, cause));
      return;
    }
    if (this.#state !== "open") return;
    const reason = reasonForErrorCode(code);
    const error = new PeerlinkError(code, message, { cause, initiator: "local" });
    this.#closeInfo ??= { reason, initiator: "local", error };
    this.#write(encodeGoodbye(reason, truncateUtf8(message, MAX_GOODBYE_DETAIL_BYTES), retryAfterMs));
    this.#flags |= STOP_READING;
    this.#startClosing("goodbye-sent", this.#failureLingerMs);
  }

  #onTransportGone(cause: unknown): void {
    const s = this.#state;
    if (s === "closed") return;
    if (s === "closing") {
      this.#transition("closed", cause === undefined ? "peer-closed" : "transport-lost");
      return;
    }
    if (this.#closeInfo === undefined) {
      let error: PeerlinkError;
      if (s === "handshaking" && this.#setup?.handshake?.peerHelloReceived !== true) {
        error = this.#setup?.earlyCloseError?.(cause) ?? defaultEarlyCloseError((this.#flags & SECURE) !== 0, cause);
      } else if (s === "connecting" || s === "securing") {
        error = reportedError(ErrorCode.CONNECTION_CLOSED, `transport closed while ${s}`, { cause, initiator: "remote" });
      } else {
        const what = s === "open" ? "without a Goodbye" : "during the handshake";
        const how = cause instanceof Error ? ` (${cause.message})` : "";
        error = reportedError(ErrorCode.CONNECTION_CLOSED, `peer closed the connection ${what}${how}`, { cause, initiator: "remote" });
      }
      // No Goodbye came: the peer crashed, reset or just closed (PROTOCOL.md §8, CONNECTION_LOST).
      const reason = error.code === ErrorCode.CONNECTION_CLOSED ? DisconnectReason.CONNECTION_LOST : reasonForErrorCode(error.code);
      this.#closeInfo = { reason, initiator: "remote", error };
    }
    this.#transition("closed", "transport-lost");
  }

  // ---- frames from the decoder ----

  #countFrame(): void {
    this.#framesIn++;
  }

  /** True (and the connection failing with RATE_LIMITED) when `trip` says the peer broke an inbound bound. */
  #overRate(trip: InboundRateTrip | undefined): boolean {
    if (trip === undefined || this.#state !== "open" || (this.#flags & GOODBYE_SENT) !== 0) return false;
    this.#failLocal(ErrorCode.RATE_LIMITED, describeTrip(trip), undefined, trip.retryAfterMs);
    return true;
  }

  /**
   * True (and the frame counted as discarded) when this side already sent its Goodbye: the peer's frames
   * are then read only to find its Goodbye or its close; none reaches the application or maintenance.
   */
  #discardAfterGoodbye(): boolean {
    if ((this.#flags & GOODBYE_SENT) === 0 || this.#state === "closed") return false;
    this.#discardedFrames++;
    return true;
  }

  /** True while frames from the peer are still read: handshaking, open, or closing without the peer's Goodbye. */
  #reading(): boolean {
    return (this.#flags & STOP_READING) === 0 && this.#remoteGoodbye === undefined && this.#state !== "closed";
  }

  #onData(alias: number, payload: Uint8Array): void {
    this.#countFrame();
    if (!this.#reading() || this.#discardAfterGoodbye()) return;
    if (this.#state === "handshaking") {
      this.#applyHandshake(this.#setup?.handshake?.receiveData(alias, payload) ?? []);
    } else if (this.#result !== undefined && !this.#overRate(this.#rate?.message(readTime(this.#now)))) {
      this.#deliver(alias, payload);
    }
  }

  #onPing(nonce: number, timestampUs: number, weight = 1): void {
    this.#countFrame();
    if (!this.#reading() || this.#discardAfterGoodbye()) return;
    if (this.#state === "handshaking") {
      this.#failLocal(ErrorCode.PROTOCOL_VIOLATION, "Ping during the handshake");
    } else if (this.#state === "open") {
      if (this.#overRate(this.#rate?.ping(readTime(this.#now), weight))) return;
      // A peer that pings without reading would make unsent Pongs pile up: none while writes are blocked.
      if ((this.#flags & WRITES_BLOCKED) === 0) this.#write(encodePongFrame(nonce, timestampUs), true);
      this.#emit({ type: "ping", nonce, timestampUs });
    }
  }

  #onPong(nonce: number, timestampUs: number, weight = 1): void {
    this.#countFrame();
    if (!this.#reading() || this.#discardAfterGoodbye()) return;
    if (this.#state === "handshaking") {
      this.#failLocal(ErrorCode.PROTOCOL_VIOLATION, "Pong during the handshake");
    } else if (this.#result !== undefined && !this.#overRate(this.#rate?.message(readTime(this.#now), weight))) {
      this.#emit({ type: "pong", nonce, timestampUs });
    }
  }

  #onControl(frame: Frame, bytes: Uint8Array, items: number): void {
    this.#countFrame();
    if (!this.#reading()) return;
    const kind = frame.kind;
    if (kind.case === "goodbye") {
      this.#onGoodbye(kind.value, frame, bytes);
      return;
    }
    if (this.#discardAfterGoodbye()) return;
    if (this.#state === "handshaking") {
      if (kind.case === "hello" && this.#peerDeclared === undefined) this.#peerDeclared = declaredBy(kind.value);
      this.#applyHandshake(this.#setup?.handshake?.receive(frame, bytes) ?? []);
      return;
    }
    if (this.#result === undefined) return;
    // Every frame counts for the work it caused: its decoding (frames here came through the generic decoder), and a
    // CapabilityUpdate's renegotiation. Ping and Pong are metered in #onPing and #onPong, at this weight.
    const weight = this.#rate === undefined ? 1 : controlWeight(items, kind.case === "capabilityUpdate" ? this.#capabilityTable().updateWeight(kind.value) : 1);
    if (kind.case !== "ping" && kind.case !== "pong" && this.#overRate(this.#rate?.message(readTime(this.#now), weight))) return;
    switch (kind.case) {
      case "capabilityUpdate":
        this.#onCapabilityUpdate(kind.value, frame);
        return;
      case "bandwidthProbe":
      case "bandwidthReport":
      case "peerAddresses":
        this.#emit({ type: "control", frame });
        return;
      case "hello":
      case "auth":
        this.#failLocal(ErrorCode.PROTOCOL_VIOLATION, `${kind.case} frame after the handshake`);
        return;
      case "data":
        this.#deliver(kind.value.protocol, kind.value.payload);
        return;
      case "ping":
        this.#framesIn--;
        this.#onPing(kind.value.nonce, kind.value.timestampUs, weight);
        return;
      case "pong":
        this.#framesIn--;
        this.#onPong(kind.value.nonce, kind.value.timestampUs, weight);
        return;
      case undefined:
        // A kind from a later minor version is ignored (§1.1); a Frame with nothing at all is a violation (§1).
        // (Unknown fields are skipped unread, so an empty body is what tells the two apart.)
        if (bytes.length === 0) this.#failLocal(ErrorCode.PROTOCOL_VIOLATION, "empty frame");
        return;
    }
  }

  #onGoodbye(goodbye: Goodbye, frame: Frame, bytes: Uint8Array): void {
    const reason = reasonFromWire(goodbye.reason);
    // The peer's free text, cut as peerlink cuts its own: it is kept with the connection and copied into errors,
    // the journal and logs, where a peer could otherwise park up to a frame's size of it per connection.
    const detail = truncateUtf8(goodbye.detail, MAX_GOODBYE_DETAIL_BYTES);
    this.#remoteGoodbye = { reason, detail, retryAfterMs: goodbye.retryAfterMs };
    this.#emit({ type: "goodbye", goodbye: this.#remoteGoodbye });
    const handshake = this.#setup?.handshake;
    if (this.#state === "handshaking" && handshake !== undefined) {
      this.#applyHandshake(handshake.receive(frame, bytes));
      return;
    }
    if (this.#state === "open") {
      const code = errorCodeForRemoteReason(reason);
      const graceful = code === ErrorCode.CONNECTION_CLOSED;
      const error = graceful
        ? undefined
        : new PeerlinkError(code, `peer closed the connection (${reason})${detail ? `: ${detail}` : ""}`, {
            initiator: "remote",
          });
      this.#closeInfo ??= error === undefined ? { reason, initiator: "remote" } : { reason, initiator: "remote", error };
      this.#startClosing("goodbye-received", this.#gracefulCloseTimeoutMs);
    }
    // closing: our Goodbye is out and we already half-closed; the peer's FIN ends it.
  }
}

const STATE_INDEX: Readonly<Record<ConnectionState, number>> = { connecting: 0, securing: 1, handshaking: 2, open: 3, closing: 4, closed: 5 };
const TRANSITION_INDEX: Readonly<Record<ConnectionTransition, number>> = {
  "transport-connected": 0,
  "transport-secured": 1,
  "handshake-succeeded": 2,
  "goodbye-sent": 3,
  "goodbye-received": 4,
  "peer-closed": 5,
  "close-timed-out": 6,
  "transport-lost": 7,
  "handshake-timed-out": 8,
  aborted: 9,
};
/** The action of each state change, made on first use and shared, frozen: at most 6 × 6 × 10 of them. */
const stateActions: (CoreAction | undefined)[] = new Array<CoreAction | undefined>(6 * 6 * 10).fill(undefined);

/** The action emitting the state change `from` → `to` by `transition` (shared, frozen, like the change it carries). */
function stateAction(from: ConnectionState, to: ConnectionState, transition: ConnectionTransition): CoreAction {
  const k = (STATE_INDEX[from] * 6 + STATE_INDEX[to]) * 10 + TRANSITION_INDEX[transition];
  return (stateActions[k] ??= Object.freeze({
    type: "event",
    event: Object.freeze({ type: "state", change: Object.freeze({ from, to, transition }) }),
  }) as CoreAction);
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${name} must be a non-negative number of milliseconds`);
  }
  return v;
}

/** The error for a transport closed before the peer's Hello, when the adapter gave no classifier. */
function defaultEarlyCloseError(secure: boolean, cause: unknown): PeerlinkError {
  return secure
    ? reportedError(ErrorCode.AUTHENTICATION_FAILED, "TLS peer closed the connection before its Hello; it most likely rejected our certificate", { cause, initiator: "remote" })
    : reportedError(ErrorCode.CONNECTION_CLOSED, "peer closed the connection before its Hello", { cause, initiator: "remote" });
}

const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_CAPABILITIES: HandshakeResult["capabilities"] = Object.freeze([]);
/** Distinct agent strings (`Hello.agent`), shared by the results that carry them; bounded like {@link interned}. */
const agents = new Map<string, string>();

/**
 * The handshake result as the connection keeps it for its life: the same values, with empty lists and the
 * peer's agent string shared between connections instead of one copy each, the key kept compactly.
 */
function keptResult(result: HandshakeResult): HandshakeResult {
  let agent = agents.get(result.remoteAgent);
  if (agent === undefined) {
    agent = result.remoteAgent;
    if (agent.length <= 256) {
      if (agents.size >= INTERNED_MAX_ENTRIES) agents.clear();
      agents.set(agent, agent);
    }
  }
  const protocols = shared(agreedProtocols, result.protocols);
  const capabilities = result.capabilities.length === 0 ? NO_CAPABILITIES : shared(agreedCapabilities, result.capabilities);
  const listenAddrs = result.remoteListenAddrs.length === 0 ? NO_STRINGS : result.remoteListenAddrs;
  // The handshake's own result (the usual case) is kept, its lists swapped for the shared ones: no second object.
  if (result instanceof KeptHandshakeResult) {
    result.keepShared(protocols, capabilities, listenAddrs, agent);
    return result;
  }
  return new KeptHandshakeResult(
    result.remotePeerId,
    result.remotePublicKey,
    result.version,
    protocols,
    capabilities,
    listenAddrs,
    agent,
    result.earlyData,
    result.binding,
    result.peerProof,
  );
}

/**
 * Distinct agreed lists (from handshakes), shared and frozen: most connections of a node agree the same. The
 * list shared last is found by a field-by-field comparison (`same`), without building a key.
 */
interface SharedLists<T extends object> {
  readonly table: Map<string, readonly T[]>;
  last: readonly T[] | undefined;
  readonly same: (a: T, b: T) => boolean;
}
const agreedProtocols: SharedLists<AgreedProtocol> = {
  table: new Map(),
  last: undefined,
  same: (a, b) => a.name === b.name && a.version === b.version && a.localAlias === b.localAlias && a.remoteAlias === b.remoteAlias,
};
const agreedCapabilities: SharedLists<HandshakeResult["capabilities"][number]> = {
  table: new Map(),
  last: undefined,
  same: (a, b) => a.name === b.name && a.version === b.version,
};

/**
 * The shared, frozen equal of `list` from `lists` (bounded like {@link interned}); a list too large to key is
 * kept as it is.
 */
function shared<T extends object>(lists: SharedLists<T>, list: readonly T[]): readonly T[] {
  const last = lists.last;
  if (last !== undefined && last.length === list.length) {
    let i = 0;
    while (i < list.length && lists.same(last[i] as T, list[i] as T)) i++;
    if (i === list.length) return last;
  }
  const key = JSON.stringify(list);
  if (key.length > INTERNED_MAX_KEY_CHARS) return list;
  const table = lists.table;
  let known = table.get(key);
  if (known === undefined) {
    if (table.size >= INTERNED_MAX_ENTRIES) table.clear();
    known = Object.freeze(list.map((item) => Object.freeze({ ...item })));
    table.set(key, known);
  }
  lists.last = known;
  return known;
}

/** Name and alias indexes of the agreed protocol lists longer than {@link SCAN_PROTOCOLS}, made on first lookup, kept per list. */
const indexes = new WeakMap<readonly AgreedProtocol[], { byName: Map<string, AgreedProtocol>; byRemoteAlias: Map<number, AgreedProtocol> }>();

function indexOf(protocols: readonly AgreedProtocol[]): { byName: Map<string, AgreedProtocol>; byRemoteAlias: Map<number, AgreedProtocol> } {
  let index = indexes.get(protocols);
  if (index === undefined) {
    index = { byName: new Map(), byRemoteAlias: new Map() };
    for (const p of protocols) {
      index.byName.set(p.name, p);
      index.byRemoteAlias.set(p.remoteAlias, p);
    }
    indexes.set(protocols, index);
  }
  return index;
}

/** Distinct peer declarations shared by the connections that opened with them (most peers of a network send the same). */
const interned = new Map<string, DeclaredSet>();
/** Bounds of {@link interned}: entries (cleared when full) and the key length of an entry. */
const INTERNED_MAX_ENTRIES = 64;
const INTERNED_MAX_KEY_CHARS = 4096;

/**
 * The shared, frozen equal of `declared` (a peer's Hello declarations, checked by the handshake): kept for
 * the connection's life in case of a CapabilityUpdate, and equal in most connections of a node. A set too
 * large to key cheaply is kept as it is.
 */
function internDeclared(declared: DeclaredSet): DeclaredSet {
  if (declared === lastDeclared) return declared;
  const key = JSON.stringify(declared);
  if (key.length > INTERNED_MAX_KEY_CHARS) return declared;
  const known = interned.get(key);
  if (known !== undefined) return known;
  if (interned.size >= INTERNED_MAX_ENTRIES) interned.clear();
  const frozen: DeclaredSet = Object.freeze({
    capabilities: Object.freeze(declared.capabilities.map((c) => Object.freeze({ ...c }))),
    protocols: Object.freeze(declared.protocols.map((p) => Object.freeze({ ...p, versions: Object.freeze([...p.versions]) }))),
  });
  interned.set(key, frozen);
  lastDeclared = frozen;
  return frozen;
}

/** The declarations interned last: a Hello that declares the same is given them at once (see {@link declaredBy}). */
let lastDeclared: DeclaredSet | undefined;

/** True when `hello` declares exactly the capabilities and protocols of `set`, in the same order. */
function declaresSame(hello: Hello, set: DeclaredSet): boolean {
  const caps = hello.capabilities;
  const protocols = hello.protocols;
  if (caps.length !== set.capabilities.length || protocols.length !== set.protocols.length) return false;
  for (let i = 0; i < caps.length; i++) {
    const a = caps[i] as Hello["capabilities"][number];
    const b = set.capabilities[i] as DeclaredSet["capabilities"][number];
    if (a.name !== b.name || a.version !== b.version || a.required !== b.required) return false;
  }
  for (let i = 0; i < protocols.length; i++) {
    const a = protocols[i] as Hello["protocols"][number];
    const b = set.protocols[i] as DeclaredSet["protocols"][number];
    if (a.name !== b.name || a.alias !== b.alias || a.versions.length !== b.versions.length) return false;
    for (let j = 0; j < a.versions.length; j++) if (a.versions[j] !== b.versions[j]) return false;
  }
  return true;
}

/** The capabilities and protocols a Hello declares (checked by the handshake before it opens). */
function declaredBy(hello: Hello): DeclaredSet {
  const last = lastDeclared;
  if (last !== undefined && declaresSame(hello, last)) return last;
  return {
    capabilities: hello.capabilities.map((c) => ({ name: c.name, version: c.version, required: c.required })),
    protocols: hello.protocols.map((p) => ({ name: p.name, versions: [...p.versions], alias: p.alias })),
  };
}

function prefixLength(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && ((bytes[i] as number) & 0x80) !== 0) i++;
  return i + 1;
}

function abortReason(error: PeerlinkError): DisconnectReason {
  return error.code === ErrorCode.ABORTED || error.code === ErrorCode.CONNECTION_CLOSED || error.code === ErrorCode.INTERNAL
    ? DisconnectReason.NORMAL
    : reasonForErrorCode(error.code);
}

/** Builds a control frame for {@link ConnectionCore.sendControl} (a convenience for maintenance). */
export function controlFrame(init: Parameters<typeof create<typeof FrameSchema>>[1]): Frame {
  return create(FrameSchema, init);
}

/** Items of a frame's encoding (fields, list entries, messages) decoded for about the cost of one message. */
const DECODED_ITEMS_PER_MESSAGE = 4;

/**
 * What a frame the generated decoder read counts for against the rate bounds: one, plus one per
 * {@link DECODED_ITEMS_PER_MESSAGE} items its encoding held, or `work` (a CapabilityUpdate's renegotiation) when
 * that is more. The generated decoder spends ~0.05–0.3 µs on an item and 1–3 µs on a message: a frame within every
 * bound of the walk still costs up to ~5 ms (the largest Hello), so a peer within the sustained rate sends such a
 * frame only every few seconds. An honest PeerAddresses (32 peers of 4 addresses) counts 49, a Goodbye or a probe
 * frame 2, a plain Data, Ping or Pong (the fast path's) 1.
 */
function controlWeight(items: number, work: number): number {
  return Math.max(work, 1 + Math.floor(items / DECODED_ITEMS_PER_MESSAGE));
}
