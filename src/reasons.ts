/**
 * Why a connection ended, as seen by the application. Each value maps one to
 * one onto the wire's `GoodbyeReason` (proto/peerlink/v1/goodbye.proto).
 * `connection_lost` is the one reason a Goodbye never carries: it is what a
 * side reports when the connection ended without the peer's Goodbye
 * (docs/PROTOCOL.md §8).
 *
 * @module
 */
import { GoodbyeReason } from "../generated/peerlink/v1/goodbye_pb.js";

/**
 * Why a connection ended. Values are stable strings (used in events, logs and CLI output).
 *
 * @category Errors
 */
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
  /**
   * The connection ended without a Goodbye from the peer: it crashed, the
   * connection was reset, or it closed its direction (EOF) without saying
   * why. Never sent in a Goodbye. Keepalive death is `timeout`, not this:
   * there this side decided the peer was gone and said so.
   */
  CONNECTION_LOST: "connection_lost",
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
  connection_lost: GoodbyeReason.CONNECTION_LOST,
};

const fromWire = new Map<GoodbyeReason, DisconnectReason>(
  Object.entries(toWire).map(([k, v]) => [v, k as DisconnectReason]),
);
// A Goodbye that arrived says the connection was not lost (PROTOCOL.md §8).
fromWire.set(GoodbyeReason.CONNECTION_LOST, DisconnectReason.NORMAL);

/**
 * The reason a Goodbye carries for a close with `reason`. Every reason maps to
 * its own wire value except `connection_lost`, which PROTOCOL.md §8 forbids in
 * a Goodbye: a side closing with it (it has no peer left to tell) sends
 * `NORMAL` should it still write one.
 */
export function reasonToWire(reason: DisconnectReason): GoodbyeReason {
  return reason === DisconnectReason.CONNECTION_LOST ? GoodbyeReason.NORMAL : toWire[reason];
}

/**
 * Converts a received wire `GoodbyeReason` to a {@link DisconnectReason}.
 * Unknown or unspecified values (a newer peer) are read as `normal`, as
 * PROTOCOL.md says; so is `CONNECTION_LOST`, which a Goodbye must not carry:
 * the peer did say goodbye.
 */
export function reasonFromWire(reason: GoodbyeReason): DisconnectReason {
  return fromWire.get(reason) ?? DisconnectReason.NORMAL;
}

/**
 * True when `value` is one of the {@link DisconnectReason} strings.
 *
 * @category Errors
 */
export function isDisconnectReason(value: unknown): value is DisconnectReason {
  return typeof value === "string" && Object.prototype.hasOwnProperty.call(toWire, value);
}
