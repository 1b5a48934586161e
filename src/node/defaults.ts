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

/**
 * Delay between the starts of two connection attempts to one peer's addresses while the earlier one is
 * still running, in milliseconds: RFC 8305's recommended "Connection Attempt Delay" (250 ms). A healthy
 * first address answers well within it, so a dial costs one socket; a dead one costs a quarter second.
 */
export const DEFAULT_DIAL_STAGGER_MS = 250;
