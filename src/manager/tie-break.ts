/**
 * The simultaneous-dial rule: when two peers dial each other at the same time
 * and both connections complete, both sides must close the same one. The
 * connection dialed by the peer with the lexicographically smaller id (unsigned
 * byte compare) survives; both sides compute the same answer from the same two
 * ids without any extra message (as hyperswarm does with public keys).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { ConnectionDirection } from "./connection-limits.js";

/**
 * Compares two byte strings lexicographically as unsigned bytes: -1 when
 * `a < b`, 0 when equal, 1 when `a > b`. A proper prefix sorts first.
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * Whose dial survives a simultaneous dial: `"local"` when the local id is the
 * smaller one (keep the connection we dialed, our outbound one), `"remote"`
 * when the remote id is smaller (keep the one it dialed, our inbound one).
 *
 * @throws PeerlinkError SELF_CONNECTION when both ids are equal.
 */
export function keepConnectionDialedBy(localId: Uint8Array, remoteId: Uint8Array): "local" | "remote" {
  const order = compareBytes(localId, remoteId);
  if (order === 0) throw new PeerlinkError(ErrorCode.SELF_CONNECTION, "local and remote peer ids are equal");
  return order < 0 ? "local" : "remote";
}

/** Which of two duplicate connections to keep, and which to close. */
export interface SurvivorChoice<T> {
  /** The connection to keep. */
  keep: T;
  /** The connection to close (with reason `already_connected`). */
  close: T;
}

/**
 * Chooses between an existing and an incoming connection to the same peer.
 * When their directions differ (a simultaneous dial), the one dialed by the
 * peer with the smaller id survives, so both sides keep the same physical
 * connection whatever order they saw them in. When both have the same
 * direction (a plain duplicate, not a race), the incoming one is kept: the
 * peer dialed again, so it considers the older connection dead (a silently
 * broken path), or it forced a redial on purpose.
 *
 * @throws PeerlinkError SELF_CONNECTION when both ids are equal.
 */
export function chooseSurvivor<
  E extends { readonly direction: ConnectionDirection },
  I extends { readonly direction: ConnectionDirection },
>(localId: Uint8Array, remoteId: Uint8Array, existing: E, incoming: I): SurvivorChoice<E | I> {
  const dialer = keepConnectionDialedBy(localId, remoteId);
  if (existing.direction === incoming.direction) return { keep: incoming, close: existing };
  const survivingDirection: ConnectionDirection = dialer === "local" ? "outbound" : "inbound";
  return existing.direction === survivingDirection ? { keep: existing, close: incoming } : { keep: incoming, close: existing };
}
