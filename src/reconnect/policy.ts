/**
 * The reconnect policy: which strategy each {@link DisconnectReason} gets
 * (docs/PROTOCOL.md §8), and
 * the backoff delay computation. Pure: no clock, no timers, randomness passed in.
 *
 * | reason | strategy (default) |
 * | --- | --- |
 * | `normal`, `network_restructure` | immediate (the manager only reports peers it still wants) |
 * | `shutdown` | backoff 10 s … 5 min: the peer said it is going away, an immediate redial would fail |
 * | `timeout` | backoff, full jitter: attempt n waits uniformly 0 … min(5 min, 1 s · 2ⁿ) (the first 0–1 s) |
 * | `connection_lost` | backoff, full jitter, 1 s floor: the first 1–5 s, caps 5 s … 5 min (a crash, reset or EOF without Goodbye; never an immediate redial) |
 * | `protocol_violation` | backoff, full jitter: 15 s floor, caps 30 s … 1 h |
 * | `resource_constraint` (local) | after {@link ReconnectScheduler.resourcesAvailable}, at most 60 s |
 * | `resource_constraint` (remote) | backoff 5 s … 5 min: the peer is full, our resources do not matter; its `retry_after_ms` is the floor |
 * | `rate_limited` | backoff 5 s … 10 min |
 * | `authentication_failed` | backoff 5 min … 6 h (certificate rotation may fix it) |
 * | `peer_banned`, `incompatible_version`, `self_connection` | never: retrying cannot succeed until something else changes (a ban lifted, an upgrade); the manager may still `schedule()` explicitly |
 * | `unexpected_identity` | never *at that address*: the reconnect service drops, for this peer, the address where another identity answered and retries its other addresses (dial-failure backoff); this "never" applies when none is left |
 * | `already_connected` | none: another connection to the peer is alive (the reconnect service treats it as `normal` when none is) |
 *
 * A peer's `retry_after_ms` is a floor on every delay (at most {@link DEFAULT_MAX_RETRY_AFTER_MS}, 24 h).
 * The same strategies apply to a redial that fails in its handshake: the
 * peer's Goodbye reason (or this node's own incompatible / authentication /
 * violation verdict) selects the strategy of the next attempt.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { DisconnectReason, isDisconnectReason } from "../reasons.js";
import type { DisconnectInitiator } from "../peers/peer-record.js";
import {
  DEFAULT_AUTH_FAILED_BACKOFF,
  DEFAULT_CONNECTION_LOST_BACKOFF,
  DEFAULT_MAX_RETRY_AFTER_MS,
  DEFAULT_RATE_LIMITED_BACKOFF,
  DEFAULT_REMOTE_RESOURCE_BACKOFF,
  DEFAULT_RESOURCE_MAX_WAIT_MS,
  DEFAULT_SHUTDOWN_BACKOFF,
  DEFAULT_TIMEOUT_BACKOFF,
  DEFAULT_VIOLATION_BACKOFF,
} from "./defaults.js";

export type { BackoffConfig } from "./backoff-config.js";
import type { BackoffConfig } from "./backoff-config.js";

/**
 * What to do about a lost peer.
 *
 * @category Reconnection
 */
export type ReconnectStrategy =
  /** Redial now (still subject to the budget and flap dampening). */
  | {
      /** Redial now. */
      readonly kind: "immediate";
    }
  /** Redial after an exponential backoff delay. */
  | {
      /** Redial after a backoff. */
      readonly kind: "backoff";
      /** The backoff's base, growth, bounds and jitter. */
      readonly backoff: BackoffConfig;
    }
  /** Redial when local resources free up, or after `maxWaitMs` at the latest. */
  | {
      /** Redial when a connection slot frees up. */
      readonly kind: "after_resources";
      /** Longest wait for a freed slot, in ms. */
      readonly maxWaitMs: number;
    }
  /** Do not redial. */
  | {
      /** Never redial. */
      readonly kind: "never";
    }
  /** Nothing to do: we are still connected to the peer. */
  | {
      /** Nothing to do. */
      readonly kind: "none";
    };

/**
 * Options of a {@link ReconnectPolicy}; every field has a default (see the module table).
 *
 * @category Reconnection
 */
export interface ReconnectPolicyOptions {
  /** Strategies that replace the defaults, by reason (for a locally ended connection, and remote except `resource_constraint`). */
  strategies?: Partial<Record<DisconnectReason, ReconnectStrategy>>;
  /**
   * Strategy when the peer ended the connection with `resource_constraint`.
   * @default backoff {@link DEFAULT_REMOTE_RESOURCE_BACKOFF} (5 s … 5 min)
   */
  remoteResourceConstraint?: ReconnectStrategy;
  /**
   * Backoff after a failed reconnect dial of a peer whose strategy has no
   * backoff of its own (immediate, after_resources, or an explicit schedule).
   * @default {@link DEFAULT_TIMEOUT_BACKOFF} (1 s … 5 min, full jitter)
   */
  dialFailureBackoff?: BackoffConfig;
  /** Largest peer retry-after honoured, in milliseconds. @default {@link DEFAULT_MAX_RETRY_AFTER_MS} (24 h) */
  maxRetryAfterMs?: number;
}

const backoff = (config: BackoffConfig): ReconnectStrategy => ({ kind: "backoff", backoff: config });

/**
 * The default strategy of every reason (for a locally ended connection). Backoffs are full jitter: the
 * delay is uniform in [min, cap], the cap doubling (×4 for authentication) from the base up to the max.
 *
 * | reason | strategy | base … max (min) |
 * | --- | --- | --- |
 * | `normal`, `network_restructure` | immediate | |
 * | `shutdown` | backoff | 10 s … 5 min (1 s) |
 * | `timeout` | backoff | 1 s … 5 min |
 * | `connection_lost` (no Goodbye) | backoff | 5 s … 5 min (1 s) |
 * | `protocol_violation` | backoff | 30 s … 1 h (15 s) |
 * | `rate_limited` | backoff | 5 s … 10 min (1 s) |
 * | `authentication_failed` | backoff | 5 min … 6 h (1 min) |
 * | `resource_constraint` | after resources free up | at most 60 s |
 * | `peer_banned`, `incompatible_version`, `self_connection`, `unexpected_identity` | never | |
 * | `already_connected` | none (still connected) | |
 *
 * A peer's own `resource_constraint` Goodbye uses `remoteResourceConstraint` (5 s … 5 min) and its
 * retry-after; a failed redial uses `dialFailureBackoff` (1 s … 5 min).
 *
 * @category Reconnection
 */
export const DEFAULT_STRATEGIES: Readonly<Record<DisconnectReason, ReconnectStrategy>> = Object.freeze({
  [DisconnectReason.NORMAL]: { kind: "immediate" },
  [DisconnectReason.NETWORK_RESTRUCTURE]: { kind: "immediate" },
  [DisconnectReason.SHUTDOWN]: backoff(DEFAULT_SHUTDOWN_BACKOFF),
  [DisconnectReason.TIMEOUT]: backoff(DEFAULT_TIMEOUT_BACKOFF),
  [DisconnectReason.PROTOCOL_VIOLATION]: backoff(DEFAULT_VIOLATION_BACKOFF),
  [DisconnectReason.RESOURCE_CONSTRAINT]: { kind: "after_resources", maxWaitMs: DEFAULT_RESOURCE_MAX_WAIT_MS },
  [DisconnectReason.PEER_BANNED]: { kind: "never" },
  [DisconnectReason.ALREADY_CONNECTED]: { kind: "none" },
  [DisconnectReason.INCOMPATIBLE_VERSION]: { kind: "never" },
  [DisconnectReason.SELF_CONNECTION]: { kind: "never" },
  [DisconnectReason.UNEXPECTED_IDENTITY]: { kind: "never" },
  [DisconnectReason.RATE_LIMITED]: backoff(DEFAULT_RATE_LIMITED_BACKOFF),
  [DisconnectReason.AUTHENTICATION_FAILED]: backoff(DEFAULT_AUTH_FAILED_BACKOFF),
  [DisconnectReason.CONNECTION_LOST]: backoff(DEFAULT_CONNECTION_LOST_BACKOFF),
});

/**
 * The validated reconnect policy. Construct once; {@link ReconnectPolicy.strategyFor}
 * is a pure lookup.
 *
 * @category Reconnection
 */
export class ReconnectPolicy {
  /** Backoff after a failed dial of a peer whose strategy has none. */
  readonly dialFailureBackoff: BackoffConfig;
  /** Largest peer retry-after honoured, in milliseconds. */
  readonly maxRetryAfterMs: number;
  readonly #strategies: Record<DisconnectReason, ReconnectStrategy>;
  readonly #remoteResource: ReconnectStrategy;

  /** Validates `options`; throws INVALID_ARGUMENT on a bad strategy or backoff. */
  constructor(options: ReconnectPolicyOptions = {}) {
    const strategies = { ...DEFAULT_STRATEGIES };
    for (const [reason, strategy] of Object.entries(options.strategies ?? {})) {
      if (!isDisconnectReason(reason)) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `unknown disconnect reason ${JSON.stringify(reason)}`);
      }
      if (strategy !== undefined) strategies[reason] = validateStrategy(strategy, `strategies.${reason}`);
    }
    this.#strategies = strategies;
    this.#remoteResource = validateStrategy(
      options.remoteResourceConstraint ?? backoff(DEFAULT_REMOTE_RESOURCE_BACKOFF),
      "remoteResourceConstraint",
    );
    this.dialFailureBackoff = validateBackoff(options.dialFailureBackoff ?? DEFAULT_TIMEOUT_BACKOFF, "dialFailureBackoff");
    const maxRetry = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    if (!Number.isFinite(maxRetry) || maxRetry < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "maxRetryAfterMs must be a finite number >= 0");
    }
    this.maxRetryAfterMs = maxRetry;
  }

  /**
   * The strategy for a connection that ended with `reason`. `initiator` only
   * matters for `resource_constraint`: local → wait for resources, remote →
   * backoff. Throws INVALID_ARGUMENT for an unknown reason.
   */
  strategyFor(reason: DisconnectReason, initiator: DisconnectInitiator = "local"): ReconnectStrategy {
    if (!isDisconnectReason(reason)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `unknown disconnect reason ${JSON.stringify(reason)}`);
    }
    if (reason === DisconnectReason.RESOURCE_CONSTRAINT && initiator === "remote") return this.#remoteResource;
    return this.#strategies[reason];
  }

  /**
   * A peer's retry-after hint made safe: not a finite number or negative → 0,
   * above {@link ReconnectPolicy.maxRetryAfterMs} → that maximum.
   */
  clampRetryAfter(retryAfterMs: number | undefined): number {
    if (retryAfterMs === undefined || !(retryAfterMs > 0)) return 0;
    return Math.min(retryAfterMs, this.maxRetryAfterMs);
  }
}

/**
 * The delay of backoff attempt `attempt` (0 = first), in whole milliseconds:
 * `cap = min(maxMs, baseMs · factor^attempt)`; full jitter gives
 * `floor(random() · cap)`, none gives `cap`; then at least `minMs`.
 * `random` should return [0, 1); other values are clamped (NaN counts as 1).
 */
export function backoffDelay(config: BackoffConfig, attempt: number, random: () => number): number {
  const exp = Math.max(0, Math.floor(attempt));
  const cap = Math.min(config.maxMs, config.baseMs * Math.pow(config.factor, exp));
  let delay = cap;
  if (config.jitter === "full") {
    const r = random();
    const unit = Number.isNaN(r) ? 1 : Math.min(1, Math.max(0, r));
    delay = Math.floor(unit * cap);
  }
  return Math.max(config.minMs, delay);
}

function validateStrategy(strategy: ReconnectStrategy, where: string): ReconnectStrategy {
  switch (strategy?.kind) {
    case "immediate":
    case "never":
    case "none":
      return { kind: strategy.kind };
    case "backoff":
      return { kind: "backoff", backoff: validateBackoff(strategy.backoff, `${where}.backoff`) };
    case "after_resources":
      if (!Number.isFinite(strategy.maxWaitMs) || strategy.maxWaitMs < 0) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${where}.maxWaitMs must be a finite number >= 0`);
      }
      return { kind: "after_resources", maxWaitMs: strategy.maxWaitMs };
    default:
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${where}: unknown strategy kind`);
  }
}

/** Checks a {@link BackoffConfig}; throws INVALID_ARGUMENT naming the bad field. Returns a frozen copy. */
export function validateBackoff(config: BackoffConfig, where = "backoff"): BackoffConfig {
  const bad = (msg: string): PeerlinkError => new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${where}: ${msg}`);
  if (typeof config !== "object" || config === null) throw bad("must be an object");
  const { baseMs, factor, maxMs, minMs, jitter } = config;
  if (!Number.isFinite(baseMs) || baseMs <= 0) throw bad("baseMs must be > 0");
  if (!Number.isFinite(factor) || factor < 1) throw bad("factor must be >= 1");
  if (!Number.isFinite(maxMs) || maxMs < baseMs) throw bad("maxMs must be >= baseMs");
  if (!Number.isFinite(minMs) || minMs < 0 || minMs > maxMs) throw bad("minMs must be in [0, maxMs]");
  if (jitter !== "full" && jitter !== "none") throw bad('jitter must be "full" or "none"');
  return Object.freeze({ baseMs, factor, maxMs, minMs, jitter });
}

/**
 * The largest peer retry-after a node honours, as its reconnect options set it (the default when reconnection
 * is off): the node's own direct dials are held by the same cap as its redials.
 */
export function maxRetryAfterOf(reconnect: { readonly policy?: ReconnectPolicy | ReconnectPolicyOptions } | false): number {
  const policy = reconnect === false ? undefined : reconnect.policy;
  return policy instanceof ReconnectPolicy ? policy.maxRetryAfterMs : (policy?.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS);
}
