/**
 * Every default of the target mesh (the `mesh` option of a ConnectionManager), as named constants with unit
 * and the anchor each follows. The option interfaces in this folder refer to these constants in their
 * `@default` tags.
 *
 * @module
 */

/**
 * Outbound connections the mesh keeps, in connections: 8, Bitcoin Core's full-relay outbound slots
 * (`MAX_OUTBOUND_FULL_RELAY_CONNECTIONS`). Enough that an attacker must win most of eight independent dials to
 * eclipse a node, few enough that a mesh of N nodes carries about 8·N connections.
 *
 * @category Mesh
 */
export const DEFAULT_MESH_TARGET_OUTBOUND = 8;

/**
 * Prefix length grouping IPv4 outbound peers for diversity: /16, Bitcoin Core's netgroup for IPv4 (one
 * operator rarely holds addresses in many /16s). No two outbound peers share a group while a candidate in
 * another group exists. On loopback every address is in 127.0.0.0/16: tests and harnesses on 127.x pick a
 * longer prefix (e.g. 24) or turn diversity off.
 *
 * @category Mesh
 */
export const DEFAULT_MESH_IPV4_PREFIX = 16;

/** Prefix length grouping IPv6 outbound peers: /32, Bitcoin Core's netgroup for IPv6 (an allocation to one ISP). @category Mesh */
export const DEFAULT_MESH_IPV6_PREFIX = 32;

/**
 * How often the mesh looks for peers while below its target, in ms: 1 s. Bitcoin Core's connection thread
 * wakes every 500 ms; geth's dial scheduler reacts to events. The mesh also reacts at once to a close, a failed
 * dial and newly learned peers, so the period only bounds how late a peer whose backoff ended is used.
 * Nothing is scheduled while the target is held.
 *
 * @category Mesh
 */
export const DEFAULT_MESH_CHECK_INTERVAL_MS = 1_000;

/**
 * Most mesh dials in flight at once, in dials: 2. Bitcoin Core makes one outbound attempt at a time; a second
 * keeps one slow or black-holed peer (a 10 s handshake timeout) from stalling the node. Measured with
 * `npm run mesh` (200 nodes on 2 loaded cores, BENCHMARKS.md): 2 filled the mesh faster than 1, 4 or 8, since
 * with the CPU saturated every extra handshake in flight makes all of them slower and more of them time out.
 * The global reconnect budget bounds their rate as well.
 *
 * @category Mesh
 */
export const DEFAULT_MESH_MAX_CONCURRENT_DIALS = 2;

/**
 * Time after which a mesh dial in flight stops counting against `maxConcurrentDials`, in ms: 3 s. A peer whose
 * SYNs are dropped (down, or across a partition) holds a dial for the whole 10 s handshake timeout; after 3 s
 * another candidate is tried beside it, as RFC 8305 staggers a slow address (Bitcoin Core gives up a connect
 * after 5 s). Longer than a TLS handshake on a busy machine, so that a loaded node does not pile handshakes up.
 *
 * @category Mesh
 */
export const DEFAULT_MESH_SLOW_DIAL_MS = 3_000;

/**
 * Backoff of a candidate (a peer or a bootstrap address) after a failed mesh dial: 2 s doubling to 5 min,
 * jittered to 50–100 % of the step (a dead peer is retried about 10 times in its first 20 min). The 5 min
 * ceiling is the reconnect service's and libp2p's dial backoff ceiling; a success clears it.
 *
 * @category Mesh
 */
export const DEFAULT_MESH_FAILURE_BACKOFF: {
  /** First delay, in ms: 2 s. */
  readonly baseMs: number;
  /** Largest delay, in ms: 5 min. */
  readonly maxMs: number;
} = Object.freeze({ baseMs: 2_000, maxMs: 5 * 60_000 });

/** Peers put in one PeerAddresses frame, in peers: 16 (about two targets' worth; the receiver uses at most 32). @category Mesh */
export const DEFAULT_PEER_EXCHANGE_MAX_PEERS = 16;

/** Most peers a receiver takes from one PeerAddresses frame (docs/PROTOCOL.md §7.1). @category Mesh */
export const PEER_EXCHANGE_MAX_PEERS_RECEIVED = 32;

/** Most addresses a receiver takes of one KnownPeer (docs/PROTOCOL.md §7.1). @category Mesh */
export const PEER_EXCHANGE_MAX_ADDRESSES = 4;

/** Least time between two PeerAddresses frames used from one connection, in ms (docs/PROTOCOL.md §7.1). @category Mesh */
export const PEER_EXCHANGE_MIN_RECEIVE_INTERVAL_MS = 10_000;

/** Least time between two requests sent, or answered, on one connection, in ms (docs/PROTOCOL.md §7.1): 10 s, the receive bound. @category Mesh */
export const PEER_EXCHANGE_MIN_REQUEST_INTERVAL_MS = 10_000;

/** The capability name that enables peer exchange on a connection (docs/PROTOCOL.md §7.1). @category Mesh */
export const PEER_EXCHANGE_CAPABILITY = "peerlink.peer-exchange";
