/**
 * Every default of the peer database, as named constants with unit and
 * rationale. Option interfaces in this folder refer to these
 * constants in their `@default` tags.
 *
 * @module
 */

/**
 * Most peers the database keeps. Beyond it, the least recently seen
 * unprotected peer is evicted. 1000 records of a few hundred bytes each keep
 * the file well under a megabyte, and are ~20x a typical connection target
 * (go-ethereum's node table holds 16 x 17 buckets = 272 entries; libp2p's
 * peer store is unbounded, which we avoid).
 */
export const DEFAULT_MAX_PEERS = 1000;

/**
 * Most addresses kept per peer. A peer rarely listens on more than a couple
 * of addresses; gossip may tell us many stale ones. The worst (most failures,
 * oldest success) is dropped first.
 */
export const DEFAULT_MAX_ADDRESSES_PER_PEER = 8;

/**
 * Length of each peer's disconnection history. 32 entries cover the flaps of
 * a bad hour at the default flap-dampening half-life without growing the file.
 */
export const DEFAULT_MAX_DISCONNECTIONS = 32;

/**
 * Consecutive dial failures after which an address sorts behind every address
 * with fewer failures, whatever its last success. Three failures in a row tells
 * a moved peer apart from one lost packet (the same count as the keepalive's
 * missed-pong limit).
 */
export const DEFAULT_ADDRESS_FAILURE_DEMOTION = 3;

/**
 * A peer not seen for this long (and, if never seen, recorded this long ago), in milliseconds: 30 days. Such a
 * peer, or one never reached or not seen for {@link FAILING_PEER_MS} whose every address failed at least
 * `addressFailureDemotion` times in a row, may make room for a newcomer a remote party put in a full database
 * when no peer of that kind may (Bitcoin Core's address manager forgets such addresses the same way). Without it,
 * a database filled with the node's own and reached peers would never record a remote newcomer again.
 */
export const STALE_PEER_MS = 30 * 24 * 3600 * 1000;

/** How long a reached peer whose addresses all fail stays out of reach of {@link STALE_PEER_MS}'s rule: 7 days (a brief outage does not make it stale). */
export const FAILING_PEER_MS = 7 * 24 * 3600 * 1000;

/** How long a scan for stale peers that found none is trusted, in milliseconds, unless a dial failed since. */
export const STALE_SCAN_INTERVAL_MS = 60_000;

/**
 * Delay between the first unsaved change and the automatic save, in
 * milliseconds. Changes within the window are written together; the window is
 * not extended by later changes, so the file is at most this stale (plus one
 * write) under constant churn. One second bounds what a crash loses while
 * keeping writes rare during a reconnect storm.
 */
export const DEFAULT_FLUSH_DELAY_MS = 1000;

/** Longest accepted peer id string, in characters (a printable id is 52). */
export const MAX_PEER_ID_LENGTH = 256;

/**
 * Wait after an address's first failed dial before it may be dialed directly again, in milliseconds; it
 * doubles with each further consecutive failure. One second stops an application's tight retry loop at
 * once without delaying a deliberate retry much (js-libp2p's dial backoff starts at 5 s for a peer).
 */
export const DEFAULT_DIAL_BACKOFF_INITIAL_MS = 1_000;

/**
 * Longest wait of the per-address dial backoff, in milliseconds: 5 minutes, reached after 9 failures in a
 * row (Bitcoin Core waits at least 60 s between tries of one address; a peer down for longer is usually
 * back on a new address).
 */
export const DEFAULT_DIAL_BACKOFF_MAX_MS = 300_000;

/** Most addresses the dial backoff remembers at once (a bound against a flood of bogus addresses). */
export const DEFAULT_DIAL_BACKOFF_MAX_ENTRIES = 4_096;

/**
 * Peers and addresses whose recent violations (strikes, the evidence of automatic bans) are remembered at
 * once. Bounds memory when an attacker rotates identities or addresses (at the default threshold a subject
 * holds at most 4 strikes of about 200 bytes: under 4 MB in all); when full, the subject struck least
 * recently is forgotten. Like the rate limiter's bound on tracked IPs, and Bitcoin Core's fixed-size
 * discouragement filter.
 */
export const MAX_STRIKE_SUBJECTS = 4_096;

/**
 * Strikes remembered per peer or address, the newest ones: at least the largest automatic-ban threshold
 * accepted (`misbehaviour.autoBan.strikes` is at most this).
 */
export const MAX_STRIKES_PER_SUBJECT = 64;
