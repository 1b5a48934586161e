/**
 * TCP listener that hands out raw sockets before any TLS work.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { ListenOptions, TcpListener } from "./types.js";

/** Binds TCP listening sockets (IPv4 and/or IPv6) and hands every accepted socket to `onSocket`. */
export function listenTcp(options: ListenOptions): Promise<TcpListener> {
  void options;
  return Promise.reject(new PeerlinkError(ErrorCode.INTERNAL, "listenTcp: not implemented yet"));
}
