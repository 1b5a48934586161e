/**
 * Defaults of a peerlink connection's life cycle, as named constants with
 * unit and rationale.
 *
 * @module
 */

/**
 * How long a graceful close waits for the peer to close its direction after
 * our Goodbye, in milliseconds (docs/PROTOCOL.md §8, "peerlink: 5 s"). Enough
 * for a peer to flush a few megabytes on a slow link; short enough that a
 * shutdown is not held up by a dead peer. Comparable to nginx's
 * `lingering_timeout` (5 s).
 */
export const DEFAULT_GRACEFUL_CLOSE_TIMEOUT_MS = 5_000;

/**
 * How long a connection this side failed (handshake failure, protocol
 * violation) waits for the peer's close after its Goodbye before destroying
 * the socket, in milliseconds. A well-behaved peer closes within one round
 * trip of reading the Goodbye; a misbehaving one is given little more, since
 * it already broke the rules. Bounds how long a failed handshake holds a slot.
 */
export const DEFAULT_FAILURE_LINGER_MS = 1_000;

/**
 * Bytes of received messages buffered for a slow async-iterator consumer
 * before the socket stops reading (TCP flow control then slows the peer), in
 * bytes. 1 MiB = one maximum-size frame; reading resumes below half of it.
 */
export const DEFAULT_MESSAGE_QUEUE_HIGH_WATER_BYTES = 1_048_576;

/**
 * Most distinct protocol aliases a peer may bind over one connection's life,
 * retired aliases included (docs/PROTOCOL.md §7, "peerlink: 4,096"). A retired
 * alias stays bound to its protocol so that reusing it for another protocol
 * can be detected; this bounds that memory against a peer that churns
 * protocols. 16 full Hellos' worth (256 protocols each) is far above any real
 * node; more is a protocol violation.
 */
export const MAX_PEER_PROTOCOL_ALIASES = 4_096;

/**
 * Longest Goodbye `detail` this side sends, in UTF-8 bytes (longer text is cut at a character boundary):
 * enough for a human-readable reason, and a Goodbye never approaches the peer's maximum frame size.
 */
export const MAX_GOODBYE_DETAIL_BYTES = 1024;

/**
 * Bytes of messages a connection keeps for a late `message` listener while the node layer's tap is already
 * served (64 KiB): enough for what a peer sends around the open (a listener attached right after
 * `await dial()` sees it), small enough that a node whose application listens only on the manager does not
 * keep a megabyte per busy connection for a listener that never comes.
 */
export const TAP_REPLAY_BYTES = 64 * 1024;
