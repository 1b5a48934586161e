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
 * Bytes a connection may hold unsent (its socket's write buffer) before `writable` turns false and
 * `send` waits for a drain, in bytes. 1 MiB = one maximum-size frame, or 16 of the 64 KiB messages a bulk
 * transfer keeps in flight; Node's own socket high-water mark (16 KiB) would stall a fast link between turns.
 */
export const DEFAULT_SEND_BUFFER_HIGH_WATER_BYTES = 1_048_576;

/**
 * Most bytes a connection holds unsent, buffered and waiting for a drain together, before a send that has
 * to wait is refused with SEND_BUFFER_FULL, in bytes. 8× the high-water mark: room for a burst of
 * unawaited sends, a bound on what a peer that stops reading costs this node.
 */
export const DEFAULT_SEND_BUFFER_LIMIT_BYTES = 8 * 1_048_576;

/**
 * Most distinct protocol aliases a peer may bind over one connection's life,
 * retired aliases included (docs/PROTOCOL.md §7, "peerlink: 4,096"). A retired
 * alias stays bound to its protocol so that reusing it for another protocol
 * can be detected; this bounds that memory against a peer that churns
 * protocols. 16 full Hellos' worth (256 protocols each) is far above any real
 * node; more is a protocol violation.
 */
export const MAX_PEER_PROTOCOL_ALIASES = 4_096;

export { MAX_GOODBYE_DETAIL_BYTES } from "../handshake/defaults.js";

/**
 * Bytes of messages a connection keeps for a late `message` listener while the node layer's tap is already
 * served (64 KiB): enough for what a peer sends around the open (a listener attached right after
 * `await dial()` sees it), small enough that a node whose application listens only on the manager does not
 * keep a megabyte per busy connection for a listener that never comes.
 */
export const TAP_REPLAY_BYTES = 64 * 1024;

/**
 * Inbound messages per second a peer may sustain on one connection (refill of a token bucket; every frame
 * after open but Ping). An application that needs more raises it. A hard bound, so it sits far above
 * the throttles it is compared with: CometBFT reads at most 5 MB/s per connection in 1 KiB packets (about
 * 5,000 packets/s, `p2p.recv_rate`), Bitcoin Core relays at most 7 inventory items/s per peer
 * (`INVENTORY_BROADCAST_PER_SECOND`).
 */
export const DEFAULT_INBOUND_MESSAGES_PER_SECOND = 20_000;

/**
 * Inbound messages a peer may send on one connection in a burst (the bucket's capacity): a client that
 * writes 100,000 small messages at once (what the test suite's fastest streams do, far below this) is not
 * limited; a sustained flood is, within seconds. Bitcoin Core's address-relay bucket holds 1,000 tokens
 * (`MAX_ADDR_PROCESSING_TOKEN_BUCKET`).
 */
export const DEFAULT_INBOUND_MESSAGE_BURST = 100_000;

/**
 * Inbound bytes per second a peer may sustain on one connection (64 MiB/s, about 540 Mbit/s): more than a
 * single TCP stream usually carries across a WAN, 12× CometBFT's per-connection receive rate of 5 MB/s
 * (`p2p.recv_rate`, a throttle there, a disconnect here).
 */
export const DEFAULT_INBOUND_BYTES_PER_SECOND = 64 * 1_048_576;

/**
 * Inbound bytes a peer may send on one connection in a burst (256 MiB): a bulk transfer of that size at
 * loopback speed passes untouched. Bitcoin Core pauses reading a peer past 5 MB of unprocessed input
 * (`-maxreceivebuffer`), geth refuses a single message above 10 MiB; peerlink bounds the rate instead.
 */
export const DEFAULT_INBOUND_BYTE_BURST = 256 * 1_048_576;

/**
 * Inbound Pings per second a peer may sustain on one connection (a Pong counts as a message: it costs no
 * write). Keepalive needs one every 15 s (geth pings every 15 s, Bitcoin Core every 2 min); each Ping costs
 * this side a Pong, so a ping flood is also a write flood.
 */
export const DEFAULT_INBOUND_PINGS_PER_SECOND = 100;

/**
 * Inbound Pings a peer may send on one connection in a burst: ten times the 1,000 back-to-back pings the
 * interop suite exchanges with the Go and Python peers, so an application measuring RTT in a tight loop is
 * not limited, while 10,000 Pongs (about 200 KB of writes) are all a flood can extract at once.
 */
export const DEFAULT_INBOUND_PING_BURST = 10_000;

/**
 * Retry-after (ms) sent with the RATE_LIMITED Goodbye of a peer that broke an inbound rate bound: it should
 * not come back within the minute (twice the capacity refusal's 30 s; geth lets one IP try again after 30 s,
 * `inboundThrottleTime`). The dialer's reconnect honours it as a floor.
 */
export const DEFAULT_RATE_LIMITED_RETRY_AFTER_MS = 60_000;
