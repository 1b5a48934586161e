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
