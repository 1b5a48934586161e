/**
 * One-line explanations of handshake failures an operator can fix, above all
 * a TLS node meeting a plain-TCP one (`--no-tls` on one side only), which
 * otherwise shows as an OpenSSL record dump or a malformed first frame.
 *
 * @module
 */
import { ErrorCode, type PeerlinkError } from "../errors.js";

const FIX = "start both nodes with --no-tls or neither";

/**
 * The message of a failed handshake as the CLI prints it: a one-line diagnosis for a TLS/plain mismatch,
 * else the library's own message (first line only: OpenSSL appends source locations).
 */
export function explainHandshakeError(error: PeerlinkError, tls: boolean): string {
  const cause = error.cause as { code?: unknown } | undefined;
  if (tls && error.code === ErrorCode.TLS_FAILED && (cause?.code === "ERR_SSL_WRONG_VERSION_NUMBER" || /wrong version number/.test(error.rawMessage))) {
    return `TLS/plain mismatch: the peer speaks plain TCP (--no-tls) and this node TLS; ${FIX}`;
  }
  // A TLS record starts with 0x16 (handshake), which a plain-TCP node reads as a frame of 22 bytes.
  if (!tls && error.code === ErrorCode.MALFORMED_FRAME && /\(22 bytes\)/.test(error.rawMessage)) {
    return `TLS/plain mismatch: the peer sent a TLS ClientHello to this plain-TCP (--no-tls) node; ${FIX}`;
  }
  if (!tls && error.code === ErrorCode.CONNECTION_CLOSED && /before its Hello/.test(error.rawMessage)) {
    return `${error.rawMessage} (a TLS node does this to a --no-tls one: a TLS/plain mismatch? ${FIX})`;
  }
  return error.rawMessage.split("\n")[0] ?? "";
}
