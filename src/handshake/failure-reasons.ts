/**
 * How handshake and connection failures map between {@link ErrorCode} (what
 * the application sees) and {@link DisconnectReason} (what the Goodbye says).
 *
 * @module
 */
import { ErrorCode } from "../errors.js";
import { DisconnectReason } from "../reasons.js";

/**
 * The Goodbye reason a side sends when it fails a connection with `code`
 * (docs/PROTOCOL.md §3.4 and §8). Codes without a dedicated reason map to
 * `protocol_violation` when they blame the peer's bytes and to `normal` otherwise.
 */
export function reasonForErrorCode(code: ErrorCode): DisconnectReason {
  switch (code) {
    case ErrorCode.IDENTITY_MISMATCH:
      return DisconnectReason.UNEXPECTED_IDENTITY;
    case ErrorCode.SELF_CONNECTION:
      return DisconnectReason.SELF_CONNECTION;
    case ErrorCode.PROTOCOL_MISMATCH:
      return DisconnectReason.INCOMPATIBLE_VERSION;
    case ErrorCode.AUTHENTICATION_FAILED:
    case ErrorCode.TLS_FAILED:
      return DisconnectReason.AUTHENTICATION_FAILED;
    case ErrorCode.PROTOCOL_VIOLATION:
    case ErrorCode.MALFORMED_FRAME:
    case ErrorCode.FRAME_TOO_LARGE:
    case ErrorCode.UNKNOWN_PROTOCOL:
      return DisconnectReason.PROTOCOL_VIOLATION;
    case ErrorCode.HANDSHAKE_TIMEOUT:
    case ErrorCode.TIMEOUT:
      return DisconnectReason.TIMEOUT;
    case ErrorCode.PEER_BANNED:
      return DisconnectReason.PEER_BANNED;
    case ErrorCode.RATE_LIMITED:
      return DisconnectReason.RATE_LIMITED;
    case ErrorCode.ALREADY_CONNECTED:
      return DisconnectReason.ALREADY_CONNECTED;
    case ErrorCode.CONNECTION_LIMIT:
    case ErrorCode.TOO_MANY_PENDING:
      return DisconnectReason.RESOURCE_CONSTRAINT;
    case ErrorCode.STOPPED:
      return DisconnectReason.SHUTDOWN;
    default:
      return DisconnectReason.NORMAL;
  }
}

/**
 * The error code a side reports when the peer ended the handshake with a
 * Goodbye carrying `reason`: the peer's verdict, seen from this side (the peer
 * rejected our proof → AUTHENTICATION_FAILED, we were not who it expected →
 * IDENTITY_MISMATCH, …). Graceful reasons become CONNECTION_CLOSED.
 */
export function errorCodeForRemoteReason(reason: DisconnectReason): ErrorCode {
  switch (reason) {
    case DisconnectReason.UNEXPECTED_IDENTITY:
      return ErrorCode.IDENTITY_MISMATCH;
    case DisconnectReason.SELF_CONNECTION:
      return ErrorCode.SELF_CONNECTION;
    case DisconnectReason.INCOMPATIBLE_VERSION:
      return ErrorCode.PROTOCOL_MISMATCH;
    case DisconnectReason.AUTHENTICATION_FAILED:
      return ErrorCode.AUTHENTICATION_FAILED;
    case DisconnectReason.PROTOCOL_VIOLATION:
      return ErrorCode.PROTOCOL_VIOLATION;
    case DisconnectReason.TIMEOUT:
      return ErrorCode.HANDSHAKE_TIMEOUT;
    case DisconnectReason.PEER_BANNED:
      return ErrorCode.PEER_BANNED;
    case DisconnectReason.RATE_LIMITED:
      return ErrorCode.RATE_LIMITED;
    case DisconnectReason.ALREADY_CONNECTED:
      return ErrorCode.ALREADY_CONNECTED;
    case DisconnectReason.RESOURCE_CONSTRAINT:
      return ErrorCode.CONNECTION_LIMIT;
    default:
      return ErrorCode.CONNECTION_CLOSED;
  }
}
