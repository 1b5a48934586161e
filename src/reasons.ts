/**
 * Why a connection ended, as seen by the application. Each value maps one to
 * one onto the wire's `GoodbyeReason` (proto/peerlink/v1/goodbye.proto).
 *
 * @module
 */
import { GoodbyeReason } from "../generated/peerlink/v1/goodbye_pb.js";

/** Why a connection ended. Values are stable strings (used in events, logs and CLI output). */
export const DisconnectReason = {
  /** Graceful close of one connection. */
  NORMAL: "normal",
  /** The node is shutting down. */
  SHUTDOWN: "shutdown",
  /** No answer in time (keepalive, handshake or inactivity). */
  TIMEOUT: "timeout",
  /** The peer broke the protocol. */
  PROTOCOL_VIOLATION: "protocol_violation",
  /** Out of connection slots or other resources. */
  RESOURCE_CONSTRAINT: "resource_constraint",
  /** The peer is banned. */
  PEER_BANNED: "peer_banned",
  /** Replaced for a better topology (trim, degraded replacement). */
  NETWORK_RESTRUCTURE: "network_restructure",
  /** A duplicate connection; the other one was kept. */
  ALREADY_CONNECTED: "already_connected",
  /** No common wire version or a required capability missing. */
  INCOMPATIBLE_VERSION: "incompatible_version",
  /** The connection reached this node itself. */
  SELF_CONNECTION: "self_connection",
  /** The peer is not the one the dialer expected. */
  UNEXPECTED_IDENTITY: "unexpected_identity",
  /** The peer exceeded a rate limit. */
  RATE_LIMITED: "rate_limited",
  /** The identity proof did not verify. */
  AUTHENTICATION_FAILED: "authentication_failed",
} as const;

/** Union of every {@link DisconnectReason} value. */
export type DisconnectReason = (typeof DisconnectReason)[keyof typeof DisconnectReason];

const toWire: Record<DisconnectReason, GoodbyeReason> = {
  normal: GoodbyeReason.NORMAL,
  shutdown: GoodbyeReason.SHUTDOWN,
  timeout: GoodbyeReason.TIMEOUT,
  protocol_violation: GoodbyeReason.PROTOCOL_VIOLATION,
  resource_constraint: GoodbyeReason.RESOURCE_CONSTRAINT,
  peer_banned: GoodbyeReason.PEER_BANNED,
  network_restructure: GoodbyeReason.NETWORK_RESTRUCTURE,
  already_connected: GoodbyeReason.ALREADY_CONNECTED,
  incompatible_version: GoodbyeReason.INCOMPATIBLE_VERSION,
  self_connection: GoodbyeReason.SELF_CONNECTION,
  unexpected_identity: GoodbyeReason.UNEXPECTED_IDENTITY,
  rate_limited: GoodbyeReason.RATE_LIMITED,
  authentication_failed: GoodbyeReason.AUTHENTICATION_FAILED,
};

const fromWire = new Map<GoodbyeReason, DisconnectReason>(
  Object.entries(toWire).map(([k, v]) => [v, k as DisconnectReason]),
);

/** Converts a {@link DisconnectReason} to the wire enum. */
export function reasonToWire(reason: DisconnectReason): GoodbyeReason {
  return toWire[reason];
}

/**
 * Converts a wire `GoodbyeReason` to a {@link DisconnectReason}. Unknown or
 * unspecified values (a newer peer) are read as `normal`, as PROTOCOL.md says.
 */
export function reasonFromWire(reason: GoodbyeReason): DisconnectReason {
  return fromWire.get(reason) ?? DisconnectReason.NORMAL;
}

/** True when `value` is one of the {@link DisconnectReason} strings. */
export function isDisconnectReason(value: unknown): value is DisconnectReason {
  return typeof value === "string" && Object.prototype.hasOwnProperty.call(toWire, value);
}
