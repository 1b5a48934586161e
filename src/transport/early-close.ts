/**
 * How transport failures become {@link PeerlinkError} codes, including the
 * TLS 1.3 case where a rejected client certificate shows up only as a close.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { SecureChannel } from "./types.js";

/**
 * OpenSSL error codes (as Node reports them in `err.code`) of TLS alerts
 * *received* from the peer that say it rejected our certificate.
 */
const CERTIFICATE_REJECTED_ALERT =
  /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(?:BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|CERTIFICATE_[A-Z_]+|UNKNOWN_CA|ACCESS_DENIED)$/;

/** True when `error` is a TLS alert from the peer saying it rejected our certificate (bad, unknown CA, required, …). */
export function isCertificateRejectedAlert(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && CERTIFICATE_REJECTED_ALERT.test(code);
}

/**
 * The error for a channel that closed or errored **before the peer's first
 * handshake frame** (its Hello) arrived. The handshake layer calls this from its
 * `'close'`/`'error'` handlers while it still waits for the peer's Hello:
 *
 * - a received TLS alert rejecting our certificate → AUTHENTICATION_FAILED;
 * - a secure **outbound** channel on which nothing arrived since our TLS finished → CONNECTION_CLOSED:
 *   in TLS 1.3 the client is done one flight before the server, and a server sends its session tickets as
 *   soon as it has read the client's Finished (with it our certificate). A listener silent since then closed
 *   while its own side of TLS was unfinished, without having judged our certificate or identity: it dropped
 *   a pending connection (pool full, deadline passed, PROTOCOL.md §3.1) or stopped;
 * - any other close or error of a **secure** channel → AUTHENTICATION_FAILED: in TLS 1.3
 *   the client's `secureConnect` fires before the server has checked the client
 *   certificate, and a server that rejects it (Node destroys the socket) is seen by
 *   the client only as a bare close or ECONNRESET; likewise a dialer that rejects the
 *   listener's certificate or ALPN after its own `Finished` just closes. A peerlink
 *   peer that accepted the TLS session always sends its Hello at once (PROTOCOL.md §3.2);
 * - on a plain TCP channel → CONNECTION_CLOSED.
 *
 * The error's initiator is `"remote"`; `cause` is kept.
 */
export function classifyEarlyClose(channel: SecureChannel, cause?: unknown): PeerlinkError {
  const options = { cause, initiator: "remote" as const };
  const peer = `${channel.remoteAddress}:${channel.remotePort}`;
  if (isCertificateRejectedAlert(cause)) {
    return new PeerlinkError(ErrorCode.AUTHENTICATION_FAILED, `peer ${peer} rejected our TLS certificate: ${describe(cause)}`, options);
  }
  if (channel.secure && channel.direction === "outbound" && channel.receivedSinceSecure?.() === 0) {
    return new PeerlinkError(
      ErrorCode.CONNECTION_CLOSED,
      `TLS listener ${peer} closed the connection before finishing its side of the TLS handshake, without judging our ` +
        `certificate (a pending connection dropped: its pool full or its deadline passed)` +
        (cause === undefined ? "" : ` (${describe(cause)})`),
      options,
    );
  }
  if (channel.secure) {
    const side = channel.direction === "outbound" ? "listener" : "dialer";
    return new PeerlinkError(
      ErrorCode.AUTHENTICATION_FAILED,
      `TLS ${side} ${peer} closed the connection before its Hello; it most likely rejected our certificate` +
        (cause === undefined ? "" : ` (${describe(cause)})`),
      options,
    );
  }
  return new PeerlinkError(
    ErrorCode.CONNECTION_CLOSED,
    `peer ${peer} closed the connection before its Hello` + (cause === undefined ? "" : ` (${describe(cause)})`),
    options,
  );
}

/** CONNECT_FAILED for a TCP connect error (refused, unreachable, reset, DNS). */
export function connectFailed(what: string, cause: unknown): PeerlinkError {
  return new PeerlinkError(ErrorCode.CONNECT_FAILED, `${what}: ${describe(cause)}`, { cause, initiator: "remote" });
}

/**
 * The error for a failure during the TLS handshake: AUTHENTICATION_FAILED when the
 * peer sent an alert rejecting our certificate, TLS_FAILED otherwise.
 */
export function tlsFailed(what: string, cause: unknown): PeerlinkError {
  if (isCertificateRejectedAlert(cause)) {
    return new PeerlinkError(ErrorCode.AUTHENTICATION_FAILED, `${what}: peer rejected our certificate: ${describe(cause)}`, {
      cause,
      initiator: "remote",
    });
  }
  return new PeerlinkError(ErrorCode.TLS_FAILED, `${what}: ${describe(cause)}`, { cause });
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code !== undefined && !cause.message.includes(code) ? `${code} ${cause.message}` : cause.message;
  }
  return String(cause);
}
