/**
 * Inbound transport: the server side of TLS 1.3 on an accepted TCP socket.
 *
 * @module
 */
import type { Socket } from "node:net";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { SecureChannel, SecureInboundOptions } from "./types.js";

/**
 * Turns an accepted TCP socket (from `listenTcp`'s `onSocket`) into a
 * {@link SecureChannel}: runs the TLS 1.3 server handshake when `tls` is given,
 * else wraps the plain socket.
 */
export function secureInbound(socket: Socket, options: SecureInboundOptions = {}): Promise<SecureChannel> {
  void socket;
  void options;
  return Promise.reject(new PeerlinkError(ErrorCode.INTERNAL, "secureInbound: not implemented yet"));
}
