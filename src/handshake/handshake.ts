/**
 * The peerlink handshake of one connection as a sans-IO state machine
 * (docs/PROTOCOL.md §3): no sockets, no timers. Feed it the peer's decoded
 * frames; it returns what to send and, once, whether the connection opened
 * or failed.
 *
 * @module
 */
import type { Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { GoodbyeReason, type Goodbye } from "../../generated/peerlink/v1/goodbye_pb.js";
import { ChannelBinding, type Hello } from "../../generated/peerlink/v1/handshake_pb.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { verifySignature } from "../identity/identity.js";
import type { PeerId } from "../identity/peer-id.js";
import { reasonFromWire, reasonToWire, type DisconnectReason } from "../reasons.js";
import { pooledRandomBytes } from "../util/random-pool.js";
import { truncateUtf8 } from "../util/utf8.js";
import { decodeFrameBody } from "../wire/frame-dispatch.js";
import { keepable } from "../wire/varint.js";
import {
  DEFAULT_AGENT,
  MAX_EARLY_DATA_BYTES,
  MAX_GOODBYE_DETAIL_BYTES,
  MAX_PREAUTH_FRAME_BYTES,
  NONCE_LENGTH,
  TLS_EXPORTER_BYTES,
  WIRE_VERSION,
} from "./defaults.js";
import { EarlyDataBuffer, dataFrameBodyLength } from "./early-data.js";
import { errorCodeForRemoteReason, reasonForErrorCode } from "./failure-reasons.js";
import { encodeFrameWithBody } from "./frame-bytes.js";
import { helloTemplate, type HelloTemplate } from "./hello-template.js";
import { checkHello } from "./hello-check.js";
import { ownHelloFrame } from "./own-hello.js";
import { KeptHandshakeResult } from "./kept-result.js";
import { markAnsweredBy, markFromProvenPeer } from "./proven-failures.js";
import { isUint32, sameBytes } from "./list-checks.js";
import { negotiateCapabilities, negotiateProtocols, negotiateVersion } from "./negotiate.js";
import { nonceBindingPayload, tlsBindingPayload } from "./transcript.js";
import type {
  ChannelBindingInput,
  EarlyMessage,
  ExporterInput,
  HandshakeAction,
  HandshakeOptions,
  HandshakePhase,
  HandshakeResult,
  HandshakeRole,
  IdentityProof,
  VersionRange,
} from "./types.js";

const DEFAULT_VERSIONS: VersionRange = Object.freeze({ min: WIRE_VERSION, max: WIRE_VERSION });
const NONE: readonly never[] = Object.freeze([]);
const EMPTY_PROOF = new Uint8Array(0);
const NO_EARLY: readonly EarlyMessage[] = Object.freeze([]);

/** The Hello layout of a handshake with these options (validated, encoded, cached by `helloTemplate`). */
function templateOf(options: Pick<HandshakeOptions, "protocols" | "capabilities" | "listenAddrs" | "agent">): HelloTemplate {
  return helloTemplate(options.protocols, options.capabilities ?? NONE, options.listenAddrs ?? NONE, options.agent ?? DEFAULT_AGENT);
}

/**
 * Builds and caches the Hello layout that handshakes with these options will use, so that a node's first
 * connection does not pay for it (validating and encoding the lists is some tens of µs, on the path of the
 * first message). Throws INVALID_ARGUMENT as a Handshake would.
 */
export function prepareHello(options: Pick<HandshakeOptions, "protocols" | "capabilities" | "listenAddrs" | "agent">): void {
  templateOf(options);
}

/**
 * One side of the peerlink handshake. Call {@link Handshake.start} once the
 * transport is ready and write what it returns; pass every frame the peer
 * sends to {@link Handshake.receive} (Data frames may go to
 * {@link Handshake.receiveData}) until an `open` or `fail` action comes back.
 *
 * @example
 * ```ts
 * const hs = new Handshake({ identity, role: "dialer", binding: { type: "nonces" } });
 * for (const a of hs.start()) if (a.type === "send") socket.write(a.bytes);
 * // for each decoded frame: handle hs.receive(frame, bodyBytes)
 * ```
 */
export class Handshake {
  readonly #identity: HandshakeOptions["identity"];
  readonly #role: HandshakeRole;
  readonly #peerRole: HandshakeRole;
  /** True for a TLS binding (exporter, or certificate where agreed), false for nonces. */
  readonly #tls: boolean;
  /** The TLS exporter, or what reads it: read only when a proof needs it (see {@link ExporterInput}). */
  #exporter: ExporterInput | undefined;
  /** Certificate binding agreed (ALPN `peerlink/1+cert`): the raw keys of both certificates, if known. */
  readonly #certificateAgreed: boolean;
  readonly #ownCertificateKey: Uint8Array | undefined;
  readonly #peerCertificateKey: Uint8Array | undefined;
  readonly #versions: VersionRange;
  /** The node's protocols, capabilities, listen addresses and agent, validated and encoded (shared). */
  readonly #template: HelloTemplate;
  readonly #expectedPeerId: PeerId | undefined;
  readonly #announceEarlyData: boolean;
  readonly #randomBytes: (length: number) => Uint8Array;
  readonly #earlyCap: number;
  /** Made on the first early message held (a listener's, plain TCP). */
  #early: EarlyDataBuffer | undefined;

  #phase: HandshakePhase = "idle";
  #ownHelloBody: Uint8Array | undefined;
  #peerHello: Hello | undefined;
  #peerHelloBody: Uint8Array | undefined;
  #peerId: PeerId | undefined;
  /** The peer's key as its checks read it (a one-byte string), for the result. */
  #peerKeyText: string | undefined;
  #peerProof: IdentityProof = "signature";
  /** The peer proved the identity expected of it: a failure from here on is its verdict (see proven-failures.ts). */
  #peerProven = false;
  #result: HandshakeResult | undefined;
  #error: PeerlinkError | undefined;

  /** Validates `options`; throws INVALID_ARGUMENT on a bad one. */
  constructor(options: HandshakeOptions);
  /**
   * The same with the role and binding apart from the rest of the options (a connection's options are the
   * node's, shared by its connections: no copy of them per connection).
   */
  constructor(options: Omit<HandshakeOptions, "role" | "binding">, role: HandshakeRole, binding: ChannelBindingInput);
  constructor(
    options: Omit<HandshakeOptions, "role" | "binding"> & Partial<Pick<HandshakeOptions, "role" | "binding">>,
    role?: HandshakeRole,
    bindingInput?: ChannelBindingInput,
  ) {
    this.#identity = options.identity;
    this.#role = (role ?? options.role) as HandshakeRole;
    if (this.#role !== "dialer" && this.#role !== "listener") {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `role must be "dialer" or "listener"`);
    }
    this.#peerRole = this.#role === "dialer" ? "listener" : "dialer";
    const binding = bindingInput ?? options.binding;
    if (binding?.type === "tls") {
      const exporter = binding.exporter;
      if (typeof exporter !== "function" && !isExporter(exporter)) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `tls exporter must be ${TLS_EXPORTER_BYTES} bytes`);
      }
      const certificate = binding.certificate;
      if (certificate !== undefined && (!isCertificateKey(certificate.own) || !isCertificateKey(certificate.peer))) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "certificate keys must be 32-byte Ed25519 keys");
      }
      this.#tls = true;
      this.#exporter = exporter;
      this.#certificateAgreed = certificate !== undefined;
      this.#ownCertificateKey = certificate?.own;
      this.#peerCertificateKey = certificate?.peer;
    } else if (binding?.type === "nonces") {
      this.#tls = false;
      this.#certificateAgreed = false;
    } else {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `binding must be { type: "tls", exporter } or { type: "nonces" }`);
    }
    this.#versions = options.versions === undefined ? DEFAULT_VERSIONS : validateVersions(options.versions);
    this.#template = templateOf(options);
    this.#expectedPeerId = options.expectedPeerId;
    this.#announceEarlyData = this.#role === "dialer" && options.earlyData === true;
    this.#randomBytes = options.randomBytes ?? pooledRandomBytes;
    const cap = options.maxEarlyDataBytes ?? MAX_EARLY_DATA_BYTES;
    if (!Number.isInteger(cap) || cap < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "maxEarlyDataBytes must be a non-negative integer");
    }
    this.#earlyCap = cap;
  }

  /** Where the handshake is. */
  get phase(): HandshakePhase {
    return this.#phase;
  }

  /** This side's role. */
  get role(): HandshakeRole {
    return this.#role;
  }

  /** True when this side is a dialer that announced early data: Data frames may be sent right after `start()`. */
  get sendsEarlyData(): boolean {
    return this.#announceEarlyData;
  }

  /** True once the peer's Hello was received (whether or not it verified). */
  get peerHelloReceived(): boolean {
    return this.#peerHello !== undefined;
  }

  /** The negotiated result, once open. */
  get result(): HandshakeResult | undefined {
    return this.#result;
  }

  /** The failure, once failed. */
  get error(): PeerlinkError | undefined {
    return this.#error;
  }

  /** Early-data bytes held now (listener, before open). */
  get heldEarlyDataBytes(): number {
    return this.#early?.bytes ?? 0;
  }

  /** The alias this side declared for protocol `name`, if it declared one (for early-data sends). */
  localAliasFor(name: string): number | undefined {
    for (const p of this.#template.protocols) if (p.name === name) return p.alias;
    return undefined;
  }

  /**
   * Starts the handshake: returns the own Hello to send. With TLS the Hello
   * carries the proof; without, the proof follows in an Auth frame once the
   * peer's Hello arrives. Throws INTERNAL when called twice, INVALID_ARGUMENT when the Hello would
   * exceed the pre-authentication frame limit (64 KiB, `MAX_PREAUTH_FRAME_BYTES`), which peers refuse.
   */
  start(): HandshakeAction[] {
    if (this.#phase !== "idle") throw new PeerlinkError(ErrorCode.INTERNAL, "handshake already started");
    const tls = this.#tls;
    const byCertificate = tls && sameBytes(this.#ownCertificateKey, this.#identity.publicKey);
    const proof = tls && !byCertificate ? this.#identity.sign(tlsBindingPayload(this.#role, this.#exporterValue())) : EMPTY_PROOF;
    const nonce = this.#randomBytes(NONCE_LENGTH);
    if (nonce.length !== NONCE_LENGTH) throw new PeerlinkError(ErrorCode.INTERNAL, "randomBytes returned a wrong length");
    const binding = byCertificate ? ChannelBinding.TLS_CERTIFICATE : tls ? ChannelBinding.TLS_EXPORTER : ChannelBinding.NONCES;
    const { body, bytes } = ownHelloFrame(this.#template, this.#identity, this.#versions, binding, this.#announceEarlyData, nonce, proof);
    // Peers accept at most this much before authentication (§1): refuse to send a Hello they would refuse.
    if (body.length > MAX_PREAUTH_FRAME_BYTES) {
      throw new PeerlinkError(
        ErrorCode.INVALID_ARGUMENT,
        `the Hello would be ${body.length} bytes; frames before authentication are limited to ${MAX_PREAUTH_FRAME_BYTES} (fewer or shorter protocols, capabilities, listen addresses or agent)`,
      );
    }
    this.#ownHelloBody = body;
    this.#phase = "awaiting-hello";
    return [{ type: "send", bytes }];
  }

  /**
   * Handles one frame from the peer; `body` is the exact Frame bytes as
   * received (without length prefix), hashed into the plain-TCP transcript.
   * Frames after a failure are ignored (returns `[]`).
   */
  receive(frame: Frame, body: Uint8Array): HandshakeAction[] {
    if (this.#phase === "failed") return [];
    if (this.#phase === "idle" || this.#phase === "open") {
      throw new PeerlinkError(ErrorCode.INTERNAL, `handshake cannot receive frames when ${this.#phase}`);
    }
    const kind = frame.kind;
    switch (kind.case) {
      case "goodbye":
        return this.#onGoodbye(kind.value);
      case "hello":
        if (this.#peerHello !== undefined) return this.fail(ErrorCode.PROTOCOL_VIOLATION, "second Hello");
        return this.#onHello(kind.value, body);
      case "auth":
        if (this.#tls) return this.fail(ErrorCode.PROTOCOL_VIOLATION, "Auth frame on a TLS connection");
        if (this.#peerHello === undefined) return this.fail(ErrorCode.PROTOCOL_VIOLATION, "Auth before Hello");
        return this.#onAuth(kind.value.proof);
      case "data":
        return this.#onData(kind.value.protocol, kind.value.payload, body.length);
      case undefined:
        return this.fail(ErrorCode.PROTOCOL_VIOLATION, "frame of unknown kind during the handshake");
      default:
        return this.fail(ErrorCode.PROTOCOL_VIOLATION, `${kind.case} frame during the handshake`);
    }
  }

  /**
   * Decodes one Frame body and handles it like {@link Handshake.receive}; a
   * body that is not a valid Frame fails the handshake with MALFORMED_FRAME, one with a list over the
   * protocol's bounds with PROTOCOL_VIOLATION (checked before anything is built).
   */
  receiveBody(body: Uint8Array): HandshakeAction[] {
    let frame: Frame;
    try {
      frame = decodeFrameBody(body);
    } catch (cause) {
      const code = cause instanceof PeerlinkError ? cause.code : ErrorCode.MALFORMED_FRAME;
      return this.fail(code, code === ErrorCode.MALFORMED_FRAME ? "frame body is not a valid peerlink.v1.Frame" : (cause as PeerlinkError).rawMessage, cause);
    }
    return this.receive(frame, body);
  }

  /**
   * Handles one Data frame from the peer (the wire decoder's fast path hands
   * over alias and payload only). Held as early data when the dialer announced
   * it, else a protocol violation.
   */
  receiveData(alias: number, payload: Uint8Array): HandshakeAction[] {
    if (this.#phase === "failed") return [];
    if (this.#phase === "idle" || this.#phase === "open") {
      throw new PeerlinkError(ErrorCode.INTERNAL, `handshake cannot receive frames when ${this.#phase}`);
    }
    return this.#onData(alias, payload, dataFrameBodyLength(alias, payload.length));
  }

  /**
   * Fails the handshake locally with `code` (e.g. the decoder's MALFORMED_FRAME,
   * or HANDSHAKE_TIMEOUT): drops early data and, when the own Hello was sent,
   * returns a Goodbye with the matching reason before the `fail` action.
   * Returns `[]` when the handshake already ended.
   */
  fail(code: ErrorCode, message: string, cause?: unknown): HandshakeAction[] {
    if (this.#phase === "failed" || this.#phase === "open") return [];
    const reason = reasonForErrorCode(code);
    const error = new PeerlinkError(code, message, { cause, initiator: "local" });
    const actions: HandshakeAction[] = [];
    if (this.#phase !== "idle") {
      actions.push({ type: "send", bytes: encodeGoodbye(reason, message) });
    }
    this.#toFailed(error);
    actions.push({ type: "fail", reason, error });
    return actions;
  }

  /** Fails the handshake with HANDSHAKE_TIMEOUT (Goodbye TIMEOUT); see {@link Handshake.fail}. */
  timeout(): HandshakeAction[] {
    return this.fail(ErrorCode.HANDSHAKE_TIMEOUT, "handshake did not complete in time");
  }

  #onGoodbye(goodbye: Goodbye): HandshakeAction[] {
    const reason = reasonFromWire(goodbye.reason);
    const code = errorCodeForRemoteReason(reason);
    // Cut as peerlink cuts its own: a peer's free text must not ride along in full (up to 64 KiB) in the error,
    // the journal and logs.
    const peerDetail = truncateUtf8(goodbye.detail, MAX_GOODBYE_DETAIL_BYTES);
    const detail = peerDetail === "" ? "" : `: ${peerDetail}`;
    // The peer's verdict rides along as the cause (the RemoteGoodbye shape of a Connection's
    // `remoteGoodbye`), so a redialer can apply the reason's strategy and the peer's retry-after.
    const cause = Object.freeze({ reason, detail: peerDetail, retryAfterMs: goodbye.retryAfterMs });
    const error = new PeerlinkError(code, `peer ended the handshake (${reason})${detail}`, { cause, initiator: "remote" });
    this.#toFailed(error);
    return [{ type: "fail", reason, error }];
  }

  #onHello(hello: Hello, body: Uint8Array): HandshakeAction[] {
    const check = checkHello(hello, this.#peerRole);
    if (!check.ok) return this.#failWith(check.error);
    const tls = this.#tls;
    const byCertificate = this.#certificateAgreed && hello.binding === ChannelBinding.TLS_CERTIFICATE;
    const wanted = tls ? ChannelBinding.TLS_EXPORTER : ChannelBinding.NONCES;
    if (hello.binding !== wanted && !byCertificate) {
      const allowed = this.#certificateAgreed ? `${ChannelBinding[wanted]} or TLS_CERTIFICATE` : ChannelBinding[wanted];
      return this.fail(
        ErrorCode.AUTHENTICATION_FAILED,
        `peer binds its proof to ${ChannelBinding[hello.binding] ?? hello.binding}, the transport needs ${allowed}`,
      );
    }
    this.#peerHello = hello;
    this.#peerHelloBody = body;
    this.#peerId = check.peerId;
    this.#peerKeyText = check.keyText;
    if (byCertificate) {
      // TLS proved the certificate key (CertificateVerify over this session's handshake, or the one that
      // issued its ticket): the Hello may name only that key.
      if (hello.proof.length !== 0) return this.fail(ErrorCode.PROTOCOL_VIOLATION, "Hello.proof must be empty with TLS_CERTIFICATE");
      if (!sameBytes(this.#peerCertificateKey, hello.publicKey)) {
        return this.fail(ErrorCode.AUTHENTICATION_FAILED, "the peer's TLS certificate does not carry the identity key of its Hello");
      }
      this.#peerProof = "certificate";
      return this.#checkAndOpen();
    }
    if (tls) {
      let exporter: Uint8Array;
      try {
        exporter = this.#exporterValue();
      } catch (cause) {
        const error = PeerlinkError.from(cause);
        return this.fail(error.code, error.rawMessage, cause);
      }
      const signed = tlsBindingPayload(this.#peerRole, exporter);
      if (!verifySignature(hello.publicKey, signed, hello.proof)) {
        return this.fail(ErrorCode.AUTHENTICATION_FAILED, "identity proof does not verify for this TLS channel");
      }
      return this.#checkAndOpen();
    }
    if (hello.proof.length !== 0) return this.fail(ErrorCode.PROTOCOL_VIOLATION, "Hello.proof must be empty without TLS");
    const ownBody = this.#ownHelloBody as Uint8Array;
    const [dialerBody, listenerBody] = this.#role === "dialer" ? [ownBody, body] : [body, ownBody];
    const proof = this.#identity.sign(nonceBindingPayload(this.#role, dialerBody, listenerBody));
    this.#phase = "awaiting-auth";
    return [{ type: "send", bytes: encodeFrameWithBody({ kind: { case: "auth", value: { proof } } }).bytes }];
  }

  #onAuth(proof: Uint8Array): HandshakeAction[] {
    const hello = this.#peerHello as Hello;
    const ownBody = this.#ownHelloBody as Uint8Array;
    const peerBody = this.#peerHelloBody as Uint8Array;
    const [dialerBody, listenerBody] = this.#role === "dialer" ? [ownBody, peerBody] : [peerBody, ownBody];
    if (!verifySignature(hello.publicKey, nonceBindingPayload(this.#peerRole, dialerBody, listenerBody), proof)) {
      return this.fail(ErrorCode.AUTHENTICATION_FAILED, "identity proof does not verify for this handshake");
    }
    return this.#checkAndOpen();
  }

  #onData(alias: number, payload: Uint8Array, frameBytes: number): HandshakeAction[] {
    const hello = this.#peerHello;
    if (this.#role !== "listener" || hello === undefined || !hello.earlyData) {
      return this.fail(ErrorCode.PROTOCOL_VIOLATION, "Data frame before the connection is open");
    }
    // Held until open: kept as its own bytes, not as a view pinning a larger buffer (see `keepable`).
    if (!(this.#early ??= new EarlyDataBuffer(this.#earlyCap)).hold({ alias, payload: keepable(payload) }, frameBytes)) {
      return this.fail(ErrorCode.PROTOCOL_VIOLATION, "early data exceeds the limit");
    }
    return [];
  }

  /** The checks of docs/PROTOCOL.md §3.4, in order, after the proof verified. */
  #checkAndOpen(): HandshakeAction[] {
    const hello = this.#peerHello as Hello;
    const peerId = this.#peerId as PeerId;
    if (peerId.equals(this.#identity.peerId)) {
      return this.fail(ErrorCode.SELF_CONNECTION, "the peer is this node itself");
    }
    if (this.#expectedPeerId !== undefined && !peerId.equals(this.#expectedPeerId)) {
      const actions = this.fail(ErrorCode.IDENTITY_MISMATCH, `expected peer ${this.#expectedPeerId.toString()}, got ${peerId.toString()}`);
      for (const action of actions) if (action.type === "fail") markAnsweredBy(action.error, peerId);
      return actions;
    }
    this.#peerProven = true;
    const version = negotiateVersion(this.#versions, { min: hello.minVersion, max: hello.maxVersion });
    if (version === undefined) {
      return this.fail(
        ErrorCode.PROTOCOL_MISMATCH,
        `no common wire version: local ${this.#versions.min}..${this.#versions.max}, remote ${hello.minVersion}..${hello.maxVersion}`,
      );
    }
    const caps = negotiateCapabilities(this.#template.capabilities, hello.capabilities);
    if (!caps.ok) {
      return this.fail(
        ErrorCode.PROTOCOL_MISMATCH,
        caps.requiredBy === "local"
          ? `the peer lacks required capability ${JSON.stringify(caps.name)}`
          : `the peer requires unknown capability ${JSON.stringify(caps.name)}`,
      );
    }
    const earlyData = this.#role === "dialer" ? this.#announceEarlyData : hello.earlyData;
    // The key is read into the result's own form at once (no copy of it as a typed array).
    const result = new KeptHandshakeResult(
      peerId,
      this.#peerKeyText ?? hello.publicKey,
      version,
      negotiateProtocols(this.#template.protocols, hello.protocols),
      caps.agreed,
      hello.listenAddrs.length === 0 ? NONE : hello.listenAddrs.slice(),
      hello.agent,
      earlyData,
      this.#tls ? "tls" : "nonces",
      this.#peerProof,
    );
    this.#result = result;
    this.#phase = "open";
    const early = this.#early;
    this.#early = undefined;
    this.#exporter = undefined;
    return [{ type: "open", result, earlyData: early === undefined ? NO_EARLY : early.release() }];
  }

  /** The TLS exporter, read (and checked) on first use; throws what its reader throws (TLS_FAILED: the socket is gone). */
  #exporterValue(): Uint8Array {
    const exporter = this.#exporter;
    if (typeof exporter !== "function") return exporter as Uint8Array;
    const value = exporter();
    if (!isExporter(value)) throw new PeerlinkError(ErrorCode.TLS_FAILED, `the TLS exporter is not ${TLS_EXPORTER_BYTES} bytes`);
    this.#exporter = value;
    return value;
  }

  #failWith(error: PeerlinkError): HandshakeAction[] {
    return this.fail(error.code, error.rawMessage);
  }

  #toFailed(error: PeerlinkError): void {
    if (this.#peerProven) markFromProvenPeer(error);
    this.#phase = "failed";
    this.#error = error;
    this.#early?.drop();
    this.#early = undefined;
    this.#exporter = undefined;
  }
}

/** Encodes `Frame{goodbye: {reason, detail}}` with its length prefix. */
export function encodeGoodbye(reason: DisconnectReason, detail = "", retryAfterMs = 0): Uint8Array {
  const wire: GoodbyeReason = reasonToWire(reason);
  return encodeFrameWithBody({ kind: { case: "goodbye", value: { reason: wire, detail, retryAfterMs } } }).bytes;
}

function isExporter(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === TLS_EXPORTER_BYTES;
}

function isCertificateKey(key: unknown): boolean {
  return key === undefined || (key instanceof Uint8Array && key.length === 32);
}

function validateVersions(v: VersionRange): VersionRange {
  if (!isUint32(v.min) || !isUint32(v.max) || v.min < 1 || v.max < v.min) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `versions must satisfy 1 <= min <= max (uint32), got ${v.min}..${v.max}`);
  }
  return { min: v.min, max: v.max };
}
