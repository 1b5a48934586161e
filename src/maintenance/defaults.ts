/**
 * Every default of connection maintenance (keepalive, inactivity, health
 * checks, bandwidth probes), as named constants with unit and rationale
 *. Option interfaces in this folder refer to these constants in
 * their `@default` tags; change a number here and it changes everywhere.
 *
 * @module
 */

/**
 * How long the connection may go without receiving anything before a Ping is
 * sent, in milliseconds. Application traffic proves liveness, so a busy
 * connection never pings. 15 s is what go-ethereum's devp2p uses
 * (`pingInterval = 15 * time.Second`) and sits well under common NAT idle
 * timeouts (30 s for UDP, minutes for TCP).
 */
export const DEFAULT_PING_INTERVAL_MS = 15_000;

/**
 * Consecutive unanswered pings after which a connection is declared dead.
 * Three tolerates a lost or late pong (a GC pause, a congested queue) without
 * keeping a dead peer for long; TCP keepalive's `tcp_keepalive_probes` is
 * larger (9) because its probes are cheap and unacknowledged.
 */
export const DEFAULT_MAX_MISSED_PONGS = 3;

/**
 * Shortest time to wait for a Pong, in milliseconds, however small the
 * measured RTT. 2 s covers an event-loop or GC pause on either side, which RTT
 * samples do not show (TCP's RFC 6298 floor is 1 s for the same reason; we
 * double it because a pause on the peer delays its pong, not a packet).
 */
export const DEFAULT_MIN_PONG_TIMEOUT_MS = 2_000;

/**
 * Longest time to wait for a Pong, in milliseconds; also the timeout before
 * the first RTT sample. 10 s is below the ping interval so at most one ping
 * is ever outstanding, and matches gRPC's default keepalive timeout order
 * (`GRPC_ARG_KEEPALIVE_TIMEOUT_MS` = 20 s) halved for a p2p overlay.
 */
export const DEFAULT_MAX_PONG_TIMEOUT_MS = 10_000;

/**
 * RTT multiplier of the adaptive pong timeout: `srtt + K * rttvar`, with K = 4
 * as TCP's retransmission timeout (RFC 6298, section 2).
 */
export const PONG_TIMEOUT_RTTVAR_FACTOR = 4;

/**
 * How long the connection may go without receiving any frame at all before it
 * is closed, in milliseconds. 60 s = four ping intervals: even when pongs are
 * ignored by a buggy peer, a connection that received nothing for a minute is
 * dead (go-ethereum reads with a 30 s frame timeout; we are more lenient
 * because our pings already detect silence faster).
 */
export const DEFAULT_INACTIVITY_TIMEOUT_MS = 60_000;

/**
 * How often the health of every connection is scored, in milliseconds. 10 s
 * gives the scorer a fresh RTT sample or traffic measure most of the time
 * (pings every 15 s) while a full batch of connections costs microseconds.
 */
export const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 10_000;

/**
 * Consecutive health checks that must agree before a new grade is published.
 * Two filters a single noisy sample (one slow pong) yet reacts within two
 * health-check intervals (20 s by default).
 */
export const DEFAULT_HYSTERESIS_SAMPLES = 2;

/**
 * How long a connection must stay Poor or Critical before it is a candidate
 * for replacement, in milliseconds. 60 s = six health checks: long enough to
 * ride out a transient congestion episode, short enough to move away from a
 * persistently bad peer within a minute.
 */
export const DEFAULT_DEGRADED_THRESHOLD_MS = 60_000;

// The health score's references (100 ms of RTT + jitter and 1 MB/s each score 0.5) are the scorer's:
// `DEFAULT_REFERENCE_LATENCY_MS` and `DEFAULT_REFERENCE_BANDWIDTH_BPS` in src/health/scorer.ts, the values
// `MaintenanceOptions.referenceLatencyMs` and `referenceBandwidthBps` default to.

/**
 * Time constant of the passive traffic meters, in milliseconds: a burst's
 * contribution decays by 1/e after this long. 5 s smooths per-message noise but
 * follows a change of traffic within a health-check interval.
 */
export const DEFAULT_RATE_METER_TIME_CONSTANT_MS = 5_000;

/**
 * Time between the starts of two active bandwidth probes on one connection, in
 * milliseconds. One probe a minute keeps the measurement overhead around
 * 4 KB/s with the default burst (256 KiB).
 */
export const DEFAULT_PROBE_INTERVAL_MS = 60_000;

/**
 * Delay before the first bandwidth probe of a connection, in milliseconds.
 * 5 s lets the handshake and the application's first exchange settle, and
 * still scores bandwidth before the first health checks publish a grade.
 */
export const DEFAULT_PROBE_INITIAL_DELAY_MS = 5_000;

/**
 * Frames in one probe burst. Eight gives seven inter-arrival gaps, enough to
 * average out timer and scheduling noise, while keeping the burst short.
 */
export const DEFAULT_PROBE_FRAME_COUNT = 8;

/**
 * Padding bytes in each probe frame. 32 KiB frames (two TLS records, many
 * TCP segments) measure sustained throughput rather than per-packet latency;
 * 8 of them make a 256 KiB burst.
 */
export const DEFAULT_PROBE_PADDING_BYTES = 32 * 1024;

/**
 * Hard cap on the rate at which probe frames are written, in bytes per second:
 * 20 MB/s (160 Mbit/s). Above it a link is fast enough that the bandwidth score
 * hardly moves (9 MB/s already scores 0.9), so a probe never floods a faster
 * link, and on a slower link the burst (256 KiB) occupies it for a bounded time only.
 */
export const DEFAULT_PROBE_MAX_BYTES_PER_SECOND = 20_000_000;

/**
 * How long the prober waits for the receiver's report after the last frame was
 * written, in milliseconds, before giving up on the probe.
 */
export const DEFAULT_PROBE_REPORT_TIMEOUT_MS = 10_000;

/**
 * How long the receiver waits after a probe frame for the next one before it
 * reports the incomplete burst, in milliseconds.
 */
export const DEFAULT_PROBE_RECEIVE_TIMEOUT_MS = 5_000;

/** Largest `count` this side sends in a burst: docs/PROTOCOL.md §6 says a burst MUST NOT exceed 64 frames. */
export const MAX_SENT_PROBE_FRAME_COUNT = 64;

/** Largest burst this side sends, in bytes (frames × (padding + overhead)): §6 lets a receiver refuse more than 1 MiB. */
export const MAX_PROBE_BURST_BYTES = 1024 * 1024;

/**
 * Upper estimate of the bytes a probe frame carries besides its padding
 * (length prefix, Frame and BandwidthProbe tags, ids and lengths as varints).
 * Used for pacing only; the receiver counts real bytes.
 */
export const PROBE_FRAME_OVERHEAD_BYTES = 32;

/**
 * How often the sleep/network watch runs, in milliseconds. One timer a second per node costs nothing and
 * notices a resume within a second of it.
 */
export const DEFAULT_WAKE_CHECK_INTERVAL_MS = 1_000;

/**
 * How late the watch timer must fire (or how far the wall clock must jump against the monotonic clock),
 * in milliseconds, to count as a sleep and re-check every connection. 5 s is far beyond an event-loop stall
 * or a GC pause on a busy machine, and far below what a laptop lid or a SIGSTOP causes.
 */
export const DEFAULT_WAKE_LATE_THRESHOLD_MS = 5_000;

/**
 * How often the local addresses (`os.networkInterfaces()`, a few microseconds) are compared, in
 * milliseconds: a network change is noticed within 5 s.
 */
export const DEFAULT_NETWORK_POLL_INTERVAL_MS = 5_000;

/**
 * Shortest time between two on-demand bandwidth probes of one connection, in milliseconds. A probe is
 * 256 KiB: one per 5 minutes is under 1 KB/s per connection even when every connection stays borderline.
 */
export const DEFAULT_PROBE_ON_DEMAND_MIN_INTERVAL_MS = 300_000;

/**
 * On-demand bandwidth probes the whole node starts at once, and then per minute. The per-connection interval
 * does not bound a peer that reconnects: each new connection near a grade boundary got a 256 KiB probe for a
 * few bytes of Hello and Pong (a review measured ~1,000× amplification from 4 addresses). At 8 a minute, every
 * connection of a node, however many, costs at most ~34 KB/s of probes in all.
 */
export const PROBE_ON_DEMAND_BURST = 8;
/** See {@link PROBE_ON_DEMAND_BURST}. */
export const PROBE_ON_DEMAND_PER_MINUTE = 8;

/**
 * How close (in overall score) to a grade boundary that a measured bandwidth could cross a connection must
 * be for an on-demand probe: 0.05, a quarter of a grade band. Wider, a fresh connection (whose reliability
 * is still smoothed towards 0.5 by its few samples) would be probed for nothing.
 */
export const PROBE_ON_DEMAND_MARGIN = 0.05;

/**
 * A sample further than this fraction of the smoothed RTT from it means the path changed (a route, a
 * congested hop, a 600 ms detour), not jitter: RTT pings are then sent back to back (see
 * {@link RTT_CONFIRMATION_PINGS}) so the 1/8-weight average (RFC 6298) and the grade follow within a health
 * check instead of after many ping intervals. 0.5: ordinary jitter on a stable path stays well within it.
 */
export const RTT_SHIFT_FRACTION = 0.5;

/**
 * Most RTT pings sent back to back to follow a shifted RTT, until a sample lands near the average again.
 * Eight samples move the average 66 % of the way to the new value (1 - (7/8)^8), at the cost of eight
 * 12-byte frames; a path that keeps jittering beyond the fraction gets no more until it settles.
 */
export const RTT_CONFIRMATION_PINGS = 8;
