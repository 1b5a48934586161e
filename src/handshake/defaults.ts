/**
 * Defaults and fixed values of the peerlink handshake (docs/PROTOCOL.md §3),
 * as named constants with unit and rationale.
 *
 * @module
 */

/**
 * The wire version this implementation speaks (docs/PROTOCOL.md, table at the top).
 *
 * @category Connections
 */
export const WIRE_VERSION = 1;

/**
 * How long TCP connect + TLS + the peerlink handshake may take together, in
 * milliseconds (docs/PROTOCOL.md §3.1). 10 s covers a few lost SYNs on a slow
 * link (Linux retransmits the first SYN after 1 s, then 2 s, then 4 s) while a
 * peer that never answers holds a pending slot only briefly. libp2p uses the
 * same order (`dialTimeout` 5 s + upgrade timeouts).
 */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Most early-data (0-RTT) bytes a listener holds for an unverified dialer,
 * counted as encoded Frame body bytes (docs/PROTOCOL.md §3.5, "peerlink:
 * 64 KiB"). Bounds the memory an unauthenticated peer can pin; more is a
 * protocol violation.
 *
 * @category Connections
 */
export const MAX_EARLY_DATA_BYTES = 64 * 1024;

/**
 * Most early-data (0-RTT) messages a listener holds for an unverified dialer (docs/PROTOCOL.md §3.5). Holding a
 * message costs ~240 bytes of heap whatever its size, so 64 KiB of empty Data frames (16,384 of them) pinned
 * 3.7 MiB per pending connection; 1,024 keep that under 0.3 MiB. More is a protocol violation.
 *
 * @category Connections
 */
export const MAX_EARLY_DATA_MESSAGES = 1024;

/**
 * Longest Goodbye `detail` this side sends, and keeps of one received, in UTF-8 bytes (longer text is cut at a
 * character boundary): enough for a human-readable reason; a Goodbye never approaches the peer's maximum frame
 * size, and a peer's text never takes more than this in errors, the journal or logs.
 */
export const MAX_GOODBYE_DETAIL_BYTES = 1024;

/**
 * Largest Frame body accepted before the peer is authenticated (until the connection is open), in bytes
 * (docs/PROTOCOL.md §1, "peerlink: 64 KiB"). The full maximum frame size (1 MiB by default) applies
 * only once the peer proved its identity, so an unauthenticated peer cannot make this node reserve
 * more than this per connection by declaring a large frame. 64 KiB fits every frame of a handshake:
 * one early-data frame, which {@link MAX_EARLY_DATA_BYTES} already caps at 64 KiB, and a Hello, which
 * is a few hundred bytes for a real node (this side refuses to build one above the limit). A larger
 * length prefix before open fails the handshake with FRAME_TOO_LARGE.
 */
export const MAX_PREAUTH_FRAME_BYTES = MAX_EARLY_DATA_BYTES;

/** Length of `Hello.nonce`, in bytes (docs/PROTOCOL.md §3.2). */
export const NONCE_LENGTH = 32;

/** Length of an Ed25519 signature (the identity proof), in bytes. */
export const PROOF_LENGTH = 64;

/** Longest capability name a Hello may carry, in UTF-8 bytes (capability.proto). */
export const MAX_CAPABILITY_NAME_BYTES = 64;

/** Longest protocol name a Hello may carry, in UTF-8 bytes (capability.proto). */
export const MAX_PROTOCOL_NAME_BYTES = 128;

/**
 * Most protocols, capabilities or listen addresses one Hello may list. Far
 * above any real node (a handful each), low enough that negotiation work on a
 * hostile Hello stays trivial.
 */
export const MAX_HELLO_LIST_ENTRIES = 256;

/** Domain-separation prefix of the TLS channel-binding proof (docs/PROTOCOL.md §3.3). */
export const TLS_BINDING_LABEL = "peerlink-v1-tls-binding";

/** Domain-separation prefix of the nonce-binding proof (docs/PROTOCOL.md §3.3). */
export const NONCE_BINDING_LABEL = "peerlink-v1-nonce-binding";

/** Length of the RFC 9266 tls-exporter value the TLS proof signs, in bytes. */
export const TLS_EXPORTER_BYTES = 32;

/**
 * The `agent` string sent in Hello when the caller gives none.
 *
 * @category Connections
 */
export const DEFAULT_AGENT = "peerlink/0.1.0";
