/**
 * Every default limit of the connection manager, in one place. Each constant
 * says its unit, why the number was chosen and a comparable number from a
 * system users know (js-libp2p, go-libp2p, geth, Bitcoin Core). Options in
 * `ConnectionLimitsOptions` (config.ts) fall back to these; `resolveLimits`
 * checks that the combination makes sense.
 *
 * @module
 */

/**
 * Time allowed for TCP connect + TLS + protocol handshake, in milliseconds
 * (10 s). Long enough for a slow intercontinental link (a few RTTs of ~300 ms
 * plus certificate checks), short enough that a stalled peer frees its
 * pending slot quickly.
 * Comparable: geth `handshakeTimeout` 5 s, Bitcoin Core `-timeout` 5 s
 * (connect only), js-libp2p `inboundUpgradeTimeout` 10 s (30 s in some releases).
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Time from a socket's arrival until the peer's first handshake flight (the
 * TLS ClientHello, or the Hello on plain TCP) must have arrived, in
 * milliseconds (3 s). A peer that connects and sends nothing is dropped then,
 * instead of holding a pending slot for the whole handshake timeout; an honest
 * dialer sends its first flight one round trip after connecting.
 * Comparable: nginx `client_header_timeout` 60 s; Bitcoin Core drops a peer
 * that sent no `version` message within `-peertimeout` (60 s).
 */
export const FIRST_FLIGHT_TIMEOUT_MS = 3_000;

/**
 * Inbound connections that may be in the handshake at once (count). Bounds
 * the work an attacker can make us do with half-open connections.
 * Comparable: js-libp2p `maxIncomingPendingConnections` 10; geth
 * `MaxPendingPeers` 50 per direction.
 */
export const MAX_PENDING_INBOUND = 10;

/**
 * Outbound dials that may be in progress at once (count). Enough to refill
 * the outbound slots quickly after a network change without a dial storm.
 * Comparable: geth ran 16 concurrent dial tasks (`maxActiveDialTasks`) for
 * years; js-libp2p `maxParallelDials` 100 (Node).
 */
export const MAX_PENDING_OUTBOUND = 16;

/**
 * Open inbound connections, pending ones included (count). Three quarters of
 * {@link MAX_CONNECTIONS}: most slots serve peers who find us, while the
 * outbound share (which we choose, so an attacker cannot fill it) stays
 * reserved. Comparable: geth keeps 2/3 of `MaxPeers` (50) for inbound
 * (`DialRatio` 3); Bitcoin Core 125 total of which 11 outbound.
 */
export const MAX_INBOUND_CONNECTIONS = 96;

/**
 * Open outbound connections, pending dials included (count). Outbound peers
 * are chosen by us and are the eclipse-attack defence, so they get their own
 * budget. Comparable: Bitcoin Core 8 full-relay + 2 block-relay-only
 * outbound; geth `MaxPeers / DialRatio` ≈ 16.
 */
export const MAX_OUTBOUND_CONNECTIONS = 32;

/**
 * Open connections of both directions, pending ones included (count).
 * Comparable: Bitcoin Core `-maxconnections` 125, js-libp2p `maxConnections`
 * 300 (Node), geth `MaxPeers` 50.
 */
export const MAX_CONNECTIONS = 128;

/**
 * Inbound connections (pending + open) from one IP address (count). Allows a
 * few nodes behind one NAT, refuses one host taking many slots.
 * Comparable: go-libp2p resource manager 8 connections per IPv4 address /
 * per IPv6 /56; geth accepts one inbound attempt per IP every 30 s.
 */
export const MAX_CONNECTIONS_PER_IP = 4;

/**
 * Inbound connections (pending + open) from one subnet (count, see
 * {@link IPV4_SUBNET_PREFIX} and {@link IPV6_SUBNET_PREFIX}). Makes a Sybil
 * attack need many networks, not many addresses in one rented block.
 * Comparable: go-libp2p 64 connections per IPv6 /48; geth's discovery table
 * keeps at most 10 nodes per IPv4 /24.
 */
export const MAX_CONNECTIONS_PER_SUBNET = 16;

/**
 * Inbound connections from one IP address that may be in the handshake at once
 * (count). Checked before the global pending cap ({@link MAX_PENDING_INBOUND}),
 * so one host cannot take every pending slot with silent sockets; four lets a
 * few nodes behind one NAT connect together. Comparable: go-libp2p's resource
 * manager bounds connections per IP (8); nginx `limit_conn` per address.
 */
export const MAX_PENDING_PER_IP = 4;

/**
 * Inbound connections from one subnet (see {@link IPV4_SUBNET_PREFIX} and
 * {@link IPV6_SUBNET_PREFIX}) that may be in the handshake at once (count).
 * Checked before the global pending cap, so an attacker renting one address
 * block cannot fill the pending pool by rotating addresses within it.
 */
export const MAX_PENDING_PER_SUBNET = 8;

/**
 * Prefix length (bits) that groups IPv4 addresses into one subnet: /24, the
 * smallest block usually routed and rented as a unit.
 * Comparable: geth `tableSubnet` 24 (discovery), Bitcoin Core groups IPv4
 * peers by /16 for outbound diversity.
 */
export const IPV4_SUBNET_PREFIX = 24;

/**
 * Prefix length (bits) that groups IPv6 addresses into one subnet: /56, the
 * usual allocation to one home or small site (a single host controls a /64
 * or more, so per-address limits alone are useless on IPv6).
 * Comparable: go-libp2p resource manager limits per IPv6 /56.
 */
export const IPV6_SUBNET_PREFIX = 56;

/**
 * Burst of the inbound rate limit per source IP (connection attempts, the
 * token bucket capacity). A legitimate peer reconnecting after a blip needs
 * one or two; five absorbs a NAT with a few nodes restarting together.
 * Comparable: js-libp2p `inboundConnectionThreshold` 5 per second per host.
 */
export const INBOUND_RATE_BURST = 5;

/**
 * Refill of the inbound rate limit per source IP (connection attempts per
 * second). Sustained, one attempt a second per IP is far more than any honest
 * peer needs. Comparable: js-libp2p 5/s per host; geth 1 per 30 s per IP
 * (`inboundThrottleTime`).
 */
export const INBOUND_RATE_PER_SECOND = 1;

/**
 * Source IPs whose rate-limit buckets are remembered at once (count). Bounds
 * memory under a flood from many spoofed or rented addresses (~100 bytes a
 * bucket, so about 1 MB); when full, full buckets are forgotten first, then the
 * least recently used. Comparable: Bitcoin Core bounds its address-relay and
 * discouragement filters to a fixed size (50 000 entries) for the same reason.
 */
export const RATE_LIMITER_MAX_TRACKED_IPS = 10_000;

/**
 * Connection count that trimming brings the node back down to (count).
 * Comparable: go-libp2p connection manager low water 160 (high 192), Kubo
 * 32 (high 96).
 */
export const LOW_WATERMARK = 96;

/**
 * Connection count above which trimming starts (count). Between the low
 * watermark and {@link MAX_CONNECTIONS} so that trimming is rare and frees a
 * useful batch of slots at once. Comparable: go-libp2p high water 192,
 * Kubo 96.
 */
export const HIGH_WATERMARK = 112;

/**
 * Age below which a connection is never trimmed, in milliseconds (20 s):
 * new connections get time to prove their health score.
 * Comparable: Kubo `GracePeriod` 20 s; go-libp2p connection manager 1 min.
 */
export const TRIM_GRACE_PERIOD_MS = 20_000;

/**
 * Ban durations by offence, in milliseconds: 10 min for the first offence,
 * 1 h for the second, 24 h for the third and every later one (the last entry
 * is the cap). Short first bans forgive honest misconfigured peers; repeat
 * offenders pay more. Comparable: Bitcoin Core's default ban is 24 h
 * (`-bantime` 86 400 s), which is our cap.
 */
export const BAN_DURATIONS_MS: readonly number[] = Object.freeze([10 * 60_000, 60 * 60_000, 24 * 60 * 60_000]);

/**
 * Entries the ban list holds at most (count), active bans and remembered
 * offences together. Bounds memory when an attacker rotates identities;
 * when full, the entry that expires soonest is dropped.
 * Comparable: Bitcoin Core's discouragement filter holds 50 000 addresses.
 */
export const BAN_LIST_MAX_SIZE = 10_000;

/**
 * How long an offence is remembered after its ban expired, in milliseconds
 * (7 days): a peer banned again within this window gets the next, longer
 * ban duration. Comparable: Bitcoin Core remembers discouraged addresses in a
 * rolling filter until it fills up (no time window, no escalation); geth has
 * no escalation either.
 */
export const OFFENCE_MEMORY_MS = 7 * 24 * 60 * 60_000;

/**
 * Decisions (refused, trimmed, banned, …) the journal keeps, newest ones win
 * (count). Enough to explain the last few minutes of a busy node in
 * `peerlink why`, about 200 KB of memory.
 * Comparable: the Linux kernel `dmesg` ring buffer, rather than a log file.
 */
export const JOURNAL_CAPACITY = 1024;

/**
 * How long `stop()` waits for goodbyes to flush and connections to close
 * gracefully before destroying the rest, in milliseconds (5 s).
 * Comparable: js-libp2p's TCP transport waits 2 s (`CLOSE_TIMEOUT`) per
 * socket; systemd sends SIGKILL 90 s after SIGTERM.
 */
export const STOP_DEADLINE_MS = 5_000;

/**
 * Violations (protocol violations, failed identity proofs, rate-limit trips) within
 * {@link AUTO_BAN_WINDOW_MS} that ban their source automatically (count). One bad frame can be a bug or
 * a corrupted link; five in ten minutes is a pattern. Comparable: fail2ban's `maxretry` 5; Bitcoin Core
 * discourages a peer at a misbehaviour score of 100, which most violations reach at once (stricter).
 */
export const AUTO_BAN_STRIKES = 5;

/**
 * Window (ms) in which {@link AUTO_BAN_STRIKES} violations must fall to count as a pattern (10 min).
 * Comparable: fail2ban's `findtime` 10 min.
 */
export const AUTO_BAN_WINDOW_MS = 10 * 60_000;

/**
 * Duration (ms) of a source's first automatic ban (10 min); each further automatic ban of the same source,
 * while the ban list still remembers its last offence ({@link OFFENCE_MEMORY_MS}), lasts twice as long.
 * Comparable: fail2ban's `bantime` 10 min with `bantime.increment` (doubling); the first manual ban here.
 */
export const AUTO_BAN_BASE_MS = 10 * 60_000;

/**
 * Longest automatic ban (ms, 24 h): the doubling stops here. Comparable: Bitcoin Core's default ban,
 * `-bantime` 86 400 s; the cap of manual bans here ({@link BAN_DURATIONS_MS}).
 */
export const AUTO_BAN_MAX_MS = 24 * 60 * 60_000;
