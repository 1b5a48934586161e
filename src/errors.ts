/**
 * The one error class peerlink throws, with a closed set of codes users can
 * switch on. Modelled on connect-es `ConnectError` + `Code`.
 *
 * @module
 */

/**
 * Every reason a peerlink operation can fail. The string value is stable and
 * appears in `PeerlinkError.code`, in logs and in the CLI's JSON output.
 *
 * @category Errors
 */
export const ErrorCode = {
  /** An argument or option was invalid (bad address, contradictory config, …). */
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  /** A printable or binary peer id could not be parsed. */
  INVALID_PEER_ID: "INVALID_PEER_ID",
  /** TCP connect did not complete (refused, unreachable, reset). */
  CONNECT_FAILED: "CONNECT_FAILED",
  /** TCP connect + TLS + protocol handshake did not finish within the handshake timeout. */
  HANDSHAKE_TIMEOUT: "HANDSHAKE_TIMEOUT",
  /** The TLS layer failed (bad certificate, protocol error, alert). */
  TLS_FAILED: "TLS_FAILED",
  /** The peer's identity proof did not verify, or the peer rejected ours (e.g. a rejected TLS client certificate). */
  AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
  /** The peer proved an identity other than the one the dialer expected. */
  IDENTITY_MISMATCH: "IDENTITY_MISMATCH",
  /** The connection reached this node itself. */
  SELF_CONNECTION: "SELF_CONNECTION",
  /** No common wire version, or a required capability is missing on one side. */
  PROTOCOL_MISMATCH: "PROTOCOL_MISMATCH",
  /** A frame's length prefix exceeds the configured maximum frame size. */
  FRAME_TOO_LARGE: "FRAME_TOO_LARGE",
  /** A frame's length prefix or body could not be decoded. */
  MALFORMED_FRAME: "MALFORMED_FRAME",
  /** The peer sent a well-formed frame that is not allowed in the current state. */
  PROTOCOL_VIOLATION: "PROTOCOL_VIOLATION",
  /** Data was sent for a protocol the two peers did not agree on. */
  UNKNOWN_PROTOCOL: "UNKNOWN_PROTOCOL",
  /** The peer stopped answering (keepalive or inactivity timeout). */
  TIMEOUT: "TIMEOUT",
  /** The connection is closing or closed; the operation cannot proceed. */
  CONNECTION_CLOSED: "CONNECTION_CLOSED",
  /**
   * A send that had to wait for the connection's send buffer to drain would have taken the bytes buffered and
   * waiting past `sendBufferLimitBytes` (the peer is not reading as fast as the application sends).
   */
  SEND_BUFFER_FULL: "SEND_BUFFER_FULL",
  /** The operation was cancelled through its AbortSignal. */
  ABORTED: "ABORTED",
  /** Too many connections are pending their handshake. */
  TOO_MANY_PENDING: "TOO_MANY_PENDING",
  /** A connection limit (inbound, outbound, total, per IP, per subnet) is reached. */
  CONNECTION_LIMIT: "CONNECTION_LIMIT",
  /** The peer id, IP address or subnet is banned. */
  PEER_BANNED: "PEER_BANNED",
  /** The remote IP opened connections faster than the inbound rate limit. */
  RATE_LIMITED: "RATE_LIMITED",
  /** The application's connection gater denied the connection (by address or peer id, either direction). */
  GATED: "GATED",
  /** A connection to this peer already exists and was kept instead. */
  ALREADY_CONNECTED: "ALREADY_CONNECTED",
  /** No address is known for the peer. */
  PEER_ADDRESS_UNKNOWN: "PEER_ADDRESS_UNKNOWN",
  /**
   * A direct dial was not attempted: every address is in its failure backoff (recent consecutive failures, or
   * a listener's capacity refusal with a retry-after), `cause` `{ address, failures, retryAt, retryAfterMs }`
   * (the earliest retry); or the peer's last Goodbye asked not to be redialed yet (its retry-after, e.g.
   * RATE_LIMITED), `cause` `{ peerId, retryAt, retryAfterMs }`.
   */
  DIAL_BACKOFF: "DIAL_BACKOFF",
  /** The peer database file is corrupt or unreadable. */
  DATABASE_CORRUPT: "DATABASE_CORRUPT",
  /** The WebAssembly core failed to load or trapped. */
  WASM_FAILURE: "WASM_FAILURE",
  /** The component was stopped; no new operations are accepted. */
  STOPPED: "STOPPED",
  /** An unexpected internal failure; a bug in peerlink. */
  INTERNAL: "INTERNAL",
} as const;

/** Union of every {@link ErrorCode} value. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Optional details attached to a {@link PeerlinkError}.
 *
 * @category Errors
 */
export interface PeerlinkErrorOptions {
  /** The underlying error, kept for debugging. */
  cause?: unknown;
  /** `"local"` when this node decided to fail, `"remote"` when the peer did. */
  initiator?: "local" | "remote";
}

/**
 * Error thrown or emitted by every peerlink API. Switch on {@link PeerlinkError.code}.
 *
 * @example
 * ```ts
 * try { await manager.dial("127.0.0.1:4001"); }
 * catch (e) {
 *   const err = PeerlinkError.from(e);
 *   if (err.code === ErrorCode.PEER_BANNED) { … }
 * }
 * ```
 *
 * @category Errors
 */
export class PeerlinkError extends Error {
  /** What went wrong, from the closed set {@link ErrorCode}. */
  readonly code: ErrorCode;
  /** The message without the `[CODE]` prefix. */
  readonly rawMessage: string;
  /** Which side decided the failure, when known. */
  readonly initiator: "local" | "remote" | undefined;

  constructor(code: ErrorCode, message: string, options: PeerlinkErrorOptions = {}) {
    super(`[${code}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PeerlinkError";
    this.code = code;
    this.rawMessage = message;
    this.initiator = options.initiator;
  }

  /**
   * Wraps any thrown value: a PeerlinkError is returned as is, an AbortError
   * becomes {@link ErrorCode.ABORTED}, anything else {@link ErrorCode.INTERNAL}
   * (or `fallback`) with the original kept as `cause`.
   */
  static from(reason: unknown, fallback: ErrorCode = ErrorCode.INTERNAL): PeerlinkError {
    if (reason instanceof PeerlinkError) return reason;
    if (reason instanceof Error && (reason.name === "AbortError" || reason.name === "TimeoutError")) {
      return new PeerlinkError(ErrorCode.ABORTED, reason.message, { cause: reason });
    }
    const message = reason instanceof Error ? reason.message : String(reason);
    return new PeerlinkError(fallback, message, { cause: reason });
  }
}

/**
 * True when `value` is a {@link PeerlinkError}, optionally with the given code.
 *
 * @category Errors
 */
export function isPeerlinkError(value: unknown, code?: ErrorCode): value is PeerlinkError {
  return value instanceof PeerlinkError && (code === undefined || value.code === code);
}

/**
 * A {@link PeerlinkError} without a stack trace, for a failure that is reported as data (a connection's close
 * information), not thrown at a caller: a socket that ended, a connection aborted. Its stack would show only
 * the event plumbing that noticed the failure, and capturing it cost about 30 µs per closed connection on the
 * benchmark's close path (two such errors per connection, one at each end). Internal: not exported from the
 * package.
 */
export function reportedError(code: ErrorCode, message: string, options?: PeerlinkErrorOptions): PeerlinkError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new PeerlinkError(code, message, options);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
