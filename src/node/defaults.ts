/**
 * Defaults of the node layer that are not user options.
 *
 * @module
 */

/**
 * Retry-after (ms) a node at capacity sends with its RESOURCE_CONSTRAINT Goodbye: long enough that a
 * refused dialer does not hammer a full node, short enough that a freed slot is soon used (js-libp2p's
 * dial backoff is 5 s; Bitcoin Core waits 60 s between tries of one address).
 */
export const CAPACITY_RETRY_AFTER_MS = 30_000;

/** Fallback of `limits.maxPendingPerIp` (pending inbound handshakes from one IP). */
export const MAX_PENDING_PER_IP = 4;
/** Fallback of `limits.maxPendingPerSubnet` (pending inbound handshakes from one subnet). */
export const MAX_PENDING_PER_SUBNET = 8;
/** Fallback of `limits.firstFlightTimeoutMs` (ms from arrival for the peer's first bytes). */
export const FIRST_FLIGHT_TIMEOUT_MS = 3_000;
