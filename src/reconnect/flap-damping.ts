/**
 * Flap dampening for reconnects, after BGP route flap damping (RFC 2439).
 *
 * Every disconnect adds a penalty to the peer (default 1000; a protocol
 * violation 2000). The penalty decays exponentially, halving every
 * `halfLifeMs` (60 s). When a disconnect lifts it above `suppressThreshold`
 * (2000), reconnects to the peer are suppressed until it has decayed below
 * `reuseThreshold` (750): suppression has hysteresis, so a peer is not
 * released at the first dip. The penalty is capped at
 * `reuse · 2^(maxSuppressMs / halfLifeMs)`, so no suppression lasts longer
 * than `maxSuppressMs` (10 min) after the last disconnect.
 *
 * With the defaults: one or two disconnects never suppress; a third within
 * about a minute does, for 85–120 s after the last one (from 2000–3000 down to
 * 750). A peer that connects and drops every few seconds is thus dialed about
 * once every two minutes instead of continuously.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { DisconnectReason } from "../reasons.js";
import {
  DEFAULT_FLAP_HALF_LIFE_MS,
  DEFAULT_FLAP_MAX_SUPPRESS_MS,
  DEFAULT_FLAP_PENALTY,
  DEFAULT_FLAP_PENALTY_BY_REASON,
  DEFAULT_FLAP_REUSE_THRESHOLD,
  DEFAULT_FLAP_SUPPRESS_THRESHOLD,
} from "./defaults.js";

/**
 * Options of flap dampening.
 *
 * @category Reconnection
 */
export interface FlapDampingOptions {
  /** Penalty added per disconnect. @default {@link DEFAULT_FLAP_PENALTY} (1000) */
  penalty?: number;
  /** Penalties by reason that differ from `penalty`. @default {@link DEFAULT_FLAP_PENALTY_BY_REASON} (protocol_violation: 2000) */
  penaltyByReason?: Partial<Record<DisconnectReason, number>>;
  /** Time for the penalty to halve, in milliseconds. @default {@link DEFAULT_FLAP_HALF_LIFE_MS} (60 s) */
  halfLifeMs?: number;
  /** Penalty above which reconnects are suppressed. @default {@link DEFAULT_FLAP_SUPPRESS_THRESHOLD} (2000) */
  suppressThreshold?: number;
  /** Penalty below which a suppressed peer is released. @default {@link DEFAULT_FLAP_REUSE_THRESHOLD} (750) */
  reuseThreshold?: number;
  /** Longest suppression after the last disconnect, in milliseconds. @default {@link DEFAULT_FLAP_MAX_SUPPRESS_MS} (10 min) */
  maxSuppressMs?: number;
}

/** A peer's dampening state: the penalty as of `at`, and whether it is suppressed. Plain data. */
export interface FlapState {
  /** Penalty at time `at`. */
  penalty: number;
  /** When `penalty` was last updated, in milliseconds. */
  at: number;
  /** True once the penalty went above the suppress threshold, until it decays below reuse. */
  suppressed: boolean;
}

/** Validated flap-dampening parameters with the pure state transitions. */
export class FlapDamping {
  /** Penalty per disconnect. */
  readonly penalty: number;
  /** Half-life, in milliseconds. */
  readonly halfLifeMs: number;
  /** Suppress threshold. */
  readonly suppressThreshold: number;
  /** Reuse threshold. */
  readonly reuseThreshold: number;
  /** Penalty ceiling, derived from the maximum suppression time. */
  readonly ceiling: number;
  readonly #byReason: Partial<Record<DisconnectReason, number>>;

  /** Validates `options`; throws INVALID_ARGUMENT (e.g. reuse not below suppress). */
  constructor(options: FlapDampingOptions = {}) {
    const bad = (msg: string): PeerlinkError => new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `flap dampening: ${msg}`);
    this.penalty = options.penalty ?? DEFAULT_FLAP_PENALTY;
    this.halfLifeMs = options.halfLifeMs ?? DEFAULT_FLAP_HALF_LIFE_MS;
    this.suppressThreshold = options.suppressThreshold ?? DEFAULT_FLAP_SUPPRESS_THRESHOLD;
    this.reuseThreshold = options.reuseThreshold ?? DEFAULT_FLAP_REUSE_THRESHOLD;
    const maxSuppressMs = options.maxSuppressMs ?? DEFAULT_FLAP_MAX_SUPPRESS_MS;
    this.#byReason = { ...(options.penaltyByReason ?? DEFAULT_FLAP_PENALTY_BY_REASON) };
    if (!Number.isFinite(this.penalty) || this.penalty < 0) throw bad("penalty must be >= 0");
    for (const v of Object.values(this.#byReason)) if (!Number.isFinite(v) || v < 0) throw bad("penalties must be >= 0");
    if (!Number.isFinite(this.halfLifeMs) || this.halfLifeMs <= 0) throw bad("halfLifeMs must be > 0");
    if (!(this.reuseThreshold > 0)) throw bad("reuseThreshold must be > 0");
    if (!(this.suppressThreshold > this.reuseThreshold) || !Number.isFinite(this.suppressThreshold)) {
      throw bad("suppressThreshold must be finite and above reuseThreshold");
    }
    if (!Number.isFinite(maxSuppressMs) || maxSuppressMs <= 0) throw bad("maxSuppressMs must be > 0");
    this.ceiling = Math.max(this.suppressThreshold, this.reuseThreshold * Math.pow(2, maxSuppressMs / this.halfLifeMs));
  }

  /** A state with no penalty. */
  initial(now: number): FlapState {
    return { penalty: 0, at: now, suppressed: false };
  }

  /** The penalty of `state` decayed to `now`. */
  penaltyAt(state: FlapState, now: number): number {
    const dt = Math.max(0, now - state.at);
    return state.penalty * Math.pow(2, -dt / this.halfLifeMs);
  }

  /** The state after a disconnect with `reason` at `now`. */
  onDisconnect(state: FlapState, reason: DisconnectReason, now: number): FlapState {
    const added = this.#byReason[reason] ?? this.penalty;
    const penalty = Math.min(this.ceiling, this.penaltyAt(state, now) + added);
    return { penalty, at: Math.max(now, state.at), suppressed: state.suppressed || penalty > this.suppressThreshold };
  }

  /**
   * When a suppressed state is released (its penalty reaches the reuse
   * threshold), in milliseconds; undefined when not suppressed.
   */
  releaseAt(state: FlapState): number | undefined {
    if (!state.suppressed) return undefined;
    if (state.penalty <= this.reuseThreshold) return state.at;
    return state.at + Math.ceil(this.halfLifeMs * Math.log2(state.penalty / this.reuseThreshold));
  }

  /** The state at `now`: the suppression is lifted once `now` reaches {@link FlapDamping.releaseAt}. */
  settle(state: FlapState, now: number): FlapState {
    const release = this.releaseAt(state);
    if (release === undefined || now < release) return state;
    return { ...state, suppressed: false };
  }

  /** True when the penalty at `now` is negligible (< 1): the state may be forgotten. */
  isNegligible(state: FlapState, now: number): boolean {
    return !state.suppressed && this.penaltyAt(state, now) < 1;
  }
}
