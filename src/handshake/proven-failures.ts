/**
 * Which handshake failures the peer dialed is answerable for.
 *
 * @module
 */
import type { PeerlinkError } from "../errors.js";
import type { PeerId } from "../identity/peer-id.js";

const proven = new WeakSet<PeerlinkError>();

/**
 * Marks `error` as a handshake failure that came after the peer proved the identity it was expected to have
 * (its proof verified, and no other peer was expected): what it says (a Goodbye's reason, a version or
 * capability mismatch) is that peer's verdict. Anything before that point, a Goodbye in place of the Hello
 * included, may come from whoever answered at the address: an address a third peer planted through peer
 * exchange, say. Returns `error`.
 */
export function markFromProvenPeer(error: PeerlinkError): PeerlinkError {
  proven.add(error);
  return error;
}

/** True when {@link markFromProvenPeer} marked `error` (read by the dialer, which marks the others {@link markUnproven}). */
export function isFromProvenPeer(error: PeerlinkError): boolean {
  return proven.has(error);
}

const unproven = new WeakSet<PeerlinkError>();

/**
 * Marks `error` as a dial's failure at an address whose answering node did not prove it is the peer dialed (TLS
 * failed, the connection closed, or the handshake failed before the peer's proof, its Goodbye in place of the Hello
 * included, or another identity answered): it speaks for that address only, never for the peer. Returns `error`.
 */
export function markUnproven(error: PeerlinkError): PeerlinkError {
  unproven.add(error);
  return error;
}

/** True when {@link markUnproven} marked `error`. */
export function isUnproven(error: PeerlinkError): boolean {
  return unproven.has(error);
}

const answered = new WeakMap<PeerlinkError, PeerId>();

/**
 * Marks an IDENTITY_MISMATCH `error` with the identity that answered in place of the one expected. That
 * identity proved its key on this very connection: the dialer takes the address as that peer's (the peer dialed
 * is no longer there; a node restarted with a new key, say). Returns `error`.
 */
export function markAnsweredBy(error: PeerlinkError, peerId: PeerId): PeerlinkError {
  answered.set(error, peerId);
  return error;
}

/** The identity {@link markAnsweredBy} recorded on `error`, if any. */
export function answeredBy(error: PeerlinkError): PeerId | undefined {
  return answered.get(error);
}

/** Longest retry-after heard from a node that did not prove it is the peer dialed (its address's hold included). */
export const UNPROVEN_RETRY_AFTER_MAX_MS = 10 * 60_000;
