/**
 * Outbound transport: TCP connect, then TLS 1.3 as the client when configured.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { DialOptions, SecureChannel } from "./types.js";

/**
 * Opens a TCP connection to `host:port` and, when `tls` is given, runs the TLS 1.3
 * client handshake on it (ALPN `peerlink/1`, own certificate presented, session
 * ticket from the cache offered). Resolves once the channel is ready for the
 * peerlink handshake.
 *
 * Errors (always {@link PeerlinkError}; the socket is destroyed and every listener
 * and timer removed): CONNECT_FAILED (refused, unreachable, reset before TLS),
 * HANDSHAKE_TIMEOUT (`deadline` passed), ABORTED (`signal`), TLS_FAILED (TLS error,
 * wrong ALPN, no or untrusted server certificate), AUTHENTICATION_FAILED (the
 * server rejected our certificate with an alert), INVALID_ARGUMENT (bad host/port).
 */
export function dialChannel(options: DialOptions): Promise<SecureChannel> {
  void options;
  return Promise.reject(new PeerlinkError(ErrorCode.INTERNAL, "dialChannel: not implemented yet"));
}
