/**
 * Every default of reconnect scheduling, as named constants with unit and
 * rationale. Option interfaces in this folder refer to these
 * constants in their `@default` tags.
 *
 * @module
 */
import type { BackoffConfig } from "./backoff-config.js";

/**
 * Backoff after a `timeout` disconnect and after any failed reconnect dial:
 * 1 s doubling to 5 min, full jitter (delay = random · min(max, base · 2^attempt)),
 * as in docs/PROTOCOL.md §8 and AWS's "Exponential Backoff and Jitter"
 * (full jitter spreads a herd of reconnecting peers best). 5 min matches
 * libp2p's dial backoff ceiling order and keeps a recovered peer found
 * within minutes.
 */
export const DEFAULT_TIMEOUT_BACKOFF: BackoffConfig = Object.freeze({
  baseMs: 1_000,
  factor: 2,
  maxMs: 5 * 60_000,
  minMs: 0,
  jitter: "full",
});

/**
 * Backoff after `connection_lost` (the connection ended without the peer's
 * Goodbye: a crash, a reset, an EOF): 5 s doubling to 5 min, full jitter,
 * with a 1 s floor. Not an immediate redial: a crashed process is usually
 * still down for the next second or so (a redial would only be refused and
 * cost an attempt), and when a node with many peers dies they all lose it at
 * the same moment; full jitter over 1–5 s spreads their redials when it comes
 * back instead of meeting it with one burst of handshakes. A reset on a live
 * path (a NAT rebinding, a flapping link) is still redialed within seconds.
 * The first delay is larger than `timeout`'s 0–1 s: keepalive death is this
 * side's own verdict on a silent path, a lost connection is the peer (or the
 * path) going away.
 */
export const DEFAULT_CONNECTION_LOST_BACKOFF: BackoffConfig = Object.freeze({
  baseMs: 5_000,
  factor: 2,
  maxMs: 5 * 60_000,
  minMs: 1_000,
  jitter: "full",
});

/**
 * Backoff after a `protocol_violation`: 30 s doubling to 1 h (PROTOCOL.md §8),
 * full jitter with a 15 s floor so a misbehaving peer is never redialed at
 * once. Repeat offenders are also suppressed by flap dampening (their
 * disconnects weigh double) and, beyond that, are the ban scorer's job.
 */
export const DEFAULT_VIOLATION_BACKOFF: BackoffConfig = Object.freeze({
  baseMs: 30_000,
  factor: 2,
  maxMs: 60 * 60_000,
  minMs: 15_000,
  jitter: "full",
});

/**
 * Backoff after the peer said `shutdown`: its node is stopping, so an
 * immediate redial would only fail. 10 s doubling to 5 min with a 1 s floor:
 * a restarting node (deploy, crash loop) is usually back within 10–60 s.
 */
export const DEFAULT_SHUTDOWN_BACKOFF: BackoffConfig = Object.freeze({
  baseMs: 10_000,
  factor: 2,
  maxMs: 5 * 60_000,
  minMs: 1_000,
  jitter: "full",
});

/**
 * Backoff after `rate_limited`: 5 s doubling to 10 min with a 1 s floor; the
 * peer's `retry_after_ms` is a floor on top (PROTOCOL.md §8).
 */
export const DEFAULT_RATE_LIMITED_BACKOFF: BackoffConfig = Object.freeze({
  baseMs: 5_000,
  factor: 2,
  maxMs: 10 * 60_000,
  minMs: 1_000,
  jitter: "full",
});

/**
 * Backoff after the *peer* ended the connection with `resource_constraint`
 * (it is out of slots; our own resources freeing up does not help):
 * 5 s doubling to 5 min with a 1 s floor.
 */
export const DEFAULT_REMOTE_RESOURCE_BACKOFF: BackoffConfig = Object.freeze({
  baseMs: 5_000,
  factor: 2,
  maxMs: 5 * 60_000,
  minMs: 1_000,
  jitter: "full",
});

/**
 * Backoff after `authentication_failed`: 5 min quadrupling to 6 h with a
 * 1 min floor. Retrying at all covers certificate rotation and clock skew;
 * retrying often would only repeat an expensive handshake that fails.
 */
export const DEFAULT_AUTH_FAILED_BACKOFF: BackoffConfig = Object.freeze({
  baseMs: 5 * 60_000,
  factor: 4,
  maxMs: 6 * 60 * 60_000,
  minMs: 60_000,
  jitter: "full",
});

/**
 * Longest wait for `ReconnectScheduler.resourcesAvailable` after a local
 * `resource_constraint` before the peer is redialed anyway, in milliseconds.
 * One minute: a missed signal must not strand a wanted peer for long.
 */
export const DEFAULT_RESOURCE_MAX_WAIT_MS = 60_000;

/**
 * Largest peer `retry_after_ms` honoured, in milliseconds (24 h). Larger
 * values are clamped so a hostile or buggy hint cannot park a wanted peer
 * forever; the peer can still refuse us again.
 */
export const DEFAULT_MAX_RETRY_AFTER_MS = 24 * 60 * 60_000;

/**
 * Reconnect budget burst: at most this many reconnect dials at once. With the
 * refill below, 200 peers dropped together (a network blip) come back over
 * ~40 s instead of one spike of TLS handshakes.
 */
export const DEFAULT_RECONNECT_BURST = 10;

/** Reconnect budget refill, in dials per second (see {@link DEFAULT_RECONNECT_BURST}). */
export const DEFAULT_RECONNECT_PER_SECOND = 5;

/**
 * Flap-dampening penalty added per disconnect. The scheme and its defaults
 * follow BGP route flap damping (RFC 2439; Cisco: penalty 1000, suppress
 * 2000, reuse 750), with a half-life of seconds instead of BGP's 15 min.
 */
export const DEFAULT_FLAP_PENALTY = 1000;

/**
 * Penalty weights by disconnect reason that differ from
 * {@link DEFAULT_FLAP_PENALTY}: a protocol violation counts double, so a
 * second one within about a minute suppresses reconnects.
 */
export const DEFAULT_FLAP_PENALTY_BY_REASON: Readonly<Partial<Record<"protocol_violation", number>>> = Object.freeze({ protocol_violation: 2000 });

/** Penalty half-life, in milliseconds: one minute of good behaviour halves it. */
export const DEFAULT_FLAP_HALF_LIFE_MS = 60_000;

/** Penalty above which reconnects are suppressed: three quick flaps (1000 each) trip it. */
export const DEFAULT_FLAP_SUPPRESS_THRESHOLD = 2000;

/** Penalty below which a suppressed peer may reconnect again (from 2000: ~85 s). */
export const DEFAULT_FLAP_REUSE_THRESHOLD = 750;

/**
 * Longest suppression, in milliseconds (10 min): the penalty is capped at
 * `reuse · 2^(maxSuppress / halfLife)`, as BGP's max-suppress-time.
 */
export const DEFAULT_FLAP_MAX_SUPPRESS_MS = 10 * 60_000;
