/**
 * The reconnect queue, sans-IO: one entry per peer with its next due time. It
 * is told about disconnects, dial outcomes and freed resources, each with `now`,
 * and answers which peers to dial now ({@link ReconnectScheduler.due}) and
 * when to ask next ({@link ReconnectScheduler.nextDeadline}). The caller owns
 * the single timer and the dialing.
 *
 * Three things shape when a peer is redialed:
 * - the {@link ReconnectPolicy}: a strategy per disconnect reason, with
 *   exponential backoff that grows with failed dials and resets on
 *   {@link ReconnectScheduler.onConnected}; a peer's retry-after is a floor;
 * - flap dampening ({@link FlapDamping}): peers that keep dropping are held
 *   back until their penalty decays;
 * - a global budget ({@link ReconnectBudget}: a token bucket, default burst 10,
 *   5 per second), so a mass disconnect does not become a storm of handshakes.
 *   When the budget is short, peers whose last connection was healthy go first,
 *   then the longest overdue.
 *
 * Which peers are wanted, and what a failed dial means, is the reconnect
 * core's business (`./reconnect-core.ts`); this queue only times them.
 *
 * The manager reports only peers it still wants: "immediate" means "as soon as
 * budget and dampening allow", not "whatever happens".
 *
 * Time: `now` in milliseconds. Use epoch time (`Date.now()`) if the state is
 * persisted with {@link ReconnectScheduler.toJSON}, so deadlines survive a restart.
 *
 * @example
 * ```ts
 * const scheduler = new ReconnectScheduler();
 * scheduler.onDisconnect(peerId, { reason: "timeout", wasHealthy: true }, Date.now());
 * // on each timer tick:
 * for (const id of scheduler.due(Date.now())) void dial(id);
 * const next = scheduler.nextDeadline(); // arm one timer for it
 * ```
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { DisconnectReason, isDisconnectReason } from "../reasons.js";
import type { BackoffRecord, DisconnectInitiator } from "../peers/peer-record.js";
import { compareIds, DEFAULT_RECONNECT_BUDGET, ReconnectBudget, type ReconnectBudgetOptions } from "./budget.js";
import { FlapDamping, type FlapDampingOptions } from "./flap-damping.js";
import { backoffDelay, type BackoffConfig, ReconnectPolicy, type ReconnectPolicyOptions } from "./policy.js";
import {
  encodeSchedulerState,
  parseSchedulerState,
  type PeerSchedule,
  type ReconnectSchedulerState,
} from "./scheduler-state.js";

export type { ReconnectPeerState, ReconnectSchedulerState } from "./scheduler-state.js";

/** Options of a {@link ReconnectScheduler}. */
export interface ReconnectSchedulerOptions {
  /** The policy, or options to build one. @default `new ReconnectPolicy()` */
  policy?: ReconnectPolicy | ReconnectPolicyOptions;
  /**
   * Global reconnect budget: at most `capacity` dials at once, refilled at
   * `refillPerSecond`, or a budget shared with other dialers (the target mesh).
   * @default {@link DEFAULT_RECONNECT_BUDGET}: { capacity: 10, refillPerSecond: 5 }
   */
  budget?: ReconnectBudgetOptions | ReconnectBudget;
  /** Flap-dampening parameters, or `false` to disable it. @default the {@link FlapDamping} defaults */
  dampening?: FlapDampingOptions | false;
  /** Source of randomness in [0, 1) for jitter; inject for deterministic tests. @default Math.random */
  random?: () => number;
}

/** A disconnect as reported to {@link ReconnectScheduler.onDisconnect}. */
export interface ReconnectDisconnect {
  /** Why the connection ended. */
  reason: DisconnectReason;
  /** Which side ended it; only `resource_constraint` depends on it. @default "local" */
  initiator?: DisconnectInitiator;
  /** The peer's retry-after hint in milliseconds: a floor on the delay (clamped to the policy's maximum). */
  retryAfterMs?: number;
  /** Whether the connection was graded good or better; healthy peers are redialed first. Unchanged when absent. */
  wasHealthy?: boolean;
}

/** What the scheduler decided for a peer. */
export interface ReconnectDecision {
  /**
   * `"scheduled"`: an attempt is due at `at`; `"waiting_for_resources"`: due at
   * {@link ReconnectScheduler.resourcesAvailable} or at `at` at the latest;
   * `"never"`: no attempt; `"none"`: still connected, nothing changed.
   */
  action: "scheduled" | "waiting_for_resources" | "never" | "none";
  /** When the attempt is due (including floor and dampening), in milliseconds. */
  at?: number;
  /** True when flap dampening holds the peer back (then `at` is its release time or later). */
  suppressed?: boolean;
}

/** Introspection of one peer's reconnect state (see {@link ReconnectScheduler.status}). */
export interface ReconnectStatus {
  /** Failed dials since the last established connection. */
  attempt: number;
  /** When the next attempt is due, in milliseconds; undefined when none is scheduled. */
  dueAt: number | undefined;
  /** True while waiting for {@link ReconnectScheduler.resourcesAvailable}. */
  waitingForResources: boolean;
  /** True while flap dampening suppresses reconnects. */
  suppressed: boolean;
  /** The flap penalty at the time asked. */
  penalty: number;
  /** Whether the last connection was healthy. */
  healthy: boolean;
}

/** Sans-IO reconnect scheduling: see the module documentation. */
export class ReconnectScheduler {
  /** The policy in use. */
  readonly policy: ReconnectPolicy;
  readonly #damping: FlapDamping | undefined;
  readonly #random: () => number;
  readonly #budget: ReconnectBudget;
  #peers = new Map<string, PeerSchedule>();

  /** Validates the options; throws INVALID_ARGUMENT. */
  constructor(options: ReconnectSchedulerOptions = {}) {
    this.policy = options.policy instanceof ReconnectPolicy ? options.policy : new ReconnectPolicy(options.policy);
    this.#damping = options.dampening === false ? undefined : new FlapDamping(options.dampening);
    this.#random = options.random ?? Math.random;
    if (typeof this.#random !== "function") {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "random must be a function");
    }
    this.#budget = options.budget instanceof ReconnectBudget ? options.budget : new ReconnectBudget(options.budget ?? DEFAULT_RECONNECT_BUDGET);
  }

  /** Number of peers with reconnect state (scheduled, waiting, or remembered for backoff and dampening). */
  get size(): number {
    return this.#peers.size;
  }

  /**
   * Records that the connection to `peerId` ended and schedules the next
   * attempt according to the policy (or none). Adds a flap penalty unless
   * the strategy is `none`.
   */
  onDisconnect(peerId: string, disconnect: ReconnectDisconnect, now: number): ReconnectDecision {
    checkTime(now);
    if (!isDisconnectReason(disconnect.reason)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `unknown disconnect reason ${JSON.stringify(disconnect.reason)}`);
    }
    const initiator = disconnect.initiator ?? "local";
    const strategy = this.policy.strategyFor(disconnect.reason, initiator);
    if (strategy.kind === "none") return { action: "none" };
    const st = this.#state(peerId, now);
    st.reason = disconnect.reason;
    st.initiator = initiator;
    if (disconnect.wasHealthy !== undefined) st.healthy = disconnect.wasHealthy;
    if (strategy.kind === "never") {
      st.nextAttemptAt = undefined;
      st.waitingForResources = false;
      return { action: "never" };
    }
    st.notBefore = Math.max(st.notBefore, now + this.policy.clampRetryAfter(disconnect.retryAfterMs));
    if (this.#damping !== undefined) st.flap = this.#damping.onDisconnect(st.flap, disconnect.reason, now);
    st.waitingForResources = false;
    switch (strategy.kind) {
      case "immediate":
        st.nextAttemptAt = now;
        break;
      case "backoff":
        st.nextAttemptAt = now + backoffDelay(strategy.backoff, st.attempt, this.#random);
        break;
      case "after_resources":
        st.waitingForResources = true;
        st.nextAttemptAt = now + strategy.maxWaitMs;
        break;
    }
    return this.#decision(st);
  }

  /**
   * Schedules an attempt `delayMs` after `now`, whatever the last reason was
   * (e.g. to re-admit a peer the policy gave up on). The retry-after floor and
   * flap dampening still apply.
   */
  schedule(peerId: string, delayMs: number, now: number): ReconnectDecision {
    checkTime(now);
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "delayMs must be a finite number >= 0");
    }
    const st = this.#state(peerId, now);
    st.waitingForResources = false;
    st.nextAttemptAt = now + delayMs;
    return this.#decision(st);
  }

  /** Cancels the scheduled attempt of `peerId`, keeping its backoff and dampening history. */
  cancel(peerId: string): void {
    const st = this.#peers.get(peerId);
    if (st === undefined) return;
    st.nextAttemptAt = undefined;
    st.waitingForResources = false;
  }

  /** Forgets everything about `peerId` (e.g. when it is evicted from the peer database). */
  forget(peerId: string): void {
    this.#peers.delete(peerId);
  }

  /**
   * Records an established connection: resets the backoff attempt and cancels
   * any scheduled attempt. The flap penalty is kept (it decays on its own).
   */
  onConnected(peerId: string): void {
    const st = this.#peers.get(peerId);
    if (st === undefined) return;
    st.attempt = 0;
    st.nextAttemptAt = undefined;
    st.waitingForResources = false;
    st.notBefore = 0;
  }

  /**
   * Records a failed reconnect dial and schedules the next backoff step: the
   * backoff of the last disconnect reason when it has one, else the policy's
   * `dialFailureBackoff`.
   *
   * `refusal` is the verdict that failed the dial's handshake, when there is
   * one: the peer's Goodbye (its reason, `initiator: "remote"`, its
   * retry-after) or the reason this node sent failing it. A reason whose
   * strategy is `never` ends the redials (`{ action: "never" }`); a reason
   * with a backoff of its own becomes the peer's last reason, so this and the
   * following failed dials take that backoff; the retry-after is a floor
   * (clamped to the policy's maximum) whatever the reason. Adds no flap
   * penalty: no connection was established.
   */
  onDialFailed(peerId: string, now: number, refusal?: ReconnectDisconnect): ReconnectDecision {
    checkTime(now);
    if (refusal !== undefined && !isDisconnectReason(refusal.reason)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `unknown disconnect reason ${JSON.stringify(refusal.reason)}`);
    }
    const st = this.#state(peerId, now);
    st.attempt++;
    st.waitingForResources = false;
    if (refusal !== undefined) {
      const initiator = refusal.initiator ?? "remote";
      const strategy = this.policy.strategyFor(refusal.reason, initiator);
      if (strategy.kind === "never") {
        st.reason = refusal.reason;
        st.initiator = initiator;
        st.nextAttemptAt = undefined;
        return { action: "never" };
      }
      if (strategy.kind === "backoff") {
        st.reason = refusal.reason;
        st.initiator = initiator;
      }
      st.notBefore = Math.max(st.notBefore, now + this.policy.clampRetryAfter(refusal.retryAfterMs));
    }
    st.nextAttemptAt = now + backoffDelay(this.#backoffOf(st), st.attempt, this.#random);
    return this.#decision(st);
  }

  /**
   * Records a redial refused by this node's own connection limits (no socket
   * was opened), without counting a failed attempt: the peer waits for
   * {@link ReconnectScheduler.resourcesAvailable}, at the latest until the
   * local `resource_constraint` strategy's `maxWaitMs` (default 60 s). When
   * that strategy does not wait for resources, the peer instead takes the
   * dial-failure backoff of its current attempt.
   */
  onLocalLimit(peerId: string, now: number): ReconnectDecision {
    checkTime(now);
    const st = this.#state(peerId, now);
    const strategy = this.policy.strategyFor(DisconnectReason.RESOURCE_CONSTRAINT, "local");
    if (strategy.kind === "after_resources") {
      st.waitingForResources = true;
      st.nextAttemptAt = now + strategy.maxWaitMs;
    } else {
      st.waitingForResources = false;
      st.nextAttemptAt = now + backoffDelay(this.policy.dialFailureBackoff, st.attempt, this.#random);
    }
    return this.#decision(st);
  }

  /**
   * Local resources were freed: peers waiting for them become due now (still
   * subject to the budget, the retry-after floor and dampening). Releases at
   * most `slots` peers, healthy first, then those waiting longest. Returns the
   * released peer ids.
   *
   * @param slots - How many peers to release. @default all
   */
  resourcesAvailable(now: number, slots = Number.POSITIVE_INFINITY): string[] {
    checkTime(now);
    const waiting = [...this.#peers.entries()].filter(([, st]) => st.waitingForResources);
    waiting.sort(
      ([ia, a], [ib, b]) =>
        Number(b.healthy) - Number(a.healthy) || (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0) || compareIds(ia, ib),
    );
    const released = waiting.slice(0, Math.max(0, slots));
    for (const [, st] of released) {
      st.waitingForResources = false;
      st.nextAttemptAt = now;
    }
    return released.map(([id]) => id);
  }

  /**
   * The peers to dial now, within the budget: healthy peers first, then the
   * earliest due. Each returned peer is no longer scheduled; report the
   * outcome with {@link ReconnectScheduler.onConnected} or
   * {@link ReconnectScheduler.onDialFailed}. Peers held back by the budget
   * stay due and come out of later calls.
   */
  due(now: number): string[] {
    checkTime(now);
    const ready: Array<{ peerId: string; healthy: boolean; dueAt: number; st: PeerSchedule }> = [];
    for (const [peerId, st] of this.#peers) {
      if (this.#damping !== undefined) st.flap = this.#damping.settle(st.flap, now);
      const at = this.#dueAt(st);
      if (at === undefined) {
        // Nothing scheduled and no penalty left: forget it, so the map stays bounded.
        // (A later failed dial of a forgotten peer restarts its backoff at attempt 1.)
        if (this.#damping === undefined || this.#damping.isNegligible(st.flap, now)) this.#peers.delete(peerId);
        continue;
      }
      if (at <= now) ready.push({ peerId, healthy: st.healthy, dueAt: at, st });
    }
    return this.#budget.take(ready, now).map(({ peerId, st }) => {
      st.nextAttemptAt = undefined;
      st.waitingForResources = false;
      return peerId;
    });
  }

  /**
   * When {@link ReconnectScheduler.due} should be called next, in
   * milliseconds; undefined when nothing is scheduled. When peers are already
   * due but the budget is spent, this is when the next token arrives.
   */
  nextDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const st of this.#peers.values()) {
      const at = this.#dueAt(st);
      if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
    }
    return this.#budget.nextDeadline(earliest);
  }

  /** Introspection of `peerId`'s state at `now`, or undefined when the scheduler has none. */
  status(peerId: string, now: number): ReconnectStatus | undefined {
    const st = this.#peers.get(peerId);
    if (st === undefined) return undefined;
    const flap = this.#damping?.settle(st.flap, now) ?? st.flap;
    return {
      attempt: st.attempt,
      dueAt: this.#dueAt({ ...st, flap }),
      waitingForResources: st.waitingForResources,
      suppressed: this.#damping !== undefined && flap.suppressed,
      penalty: this.#damping?.penaltyAt(flap, now) ?? 0,
      healthy: st.healthy,
    };
  }

  /** The peer's backoff progress in the peer record's form (`PeerRecord.backoff`), or undefined. */
  backoffOf(peerId: string): BackoffRecord | undefined {
    const st = this.#peers.get(peerId);
    if (st === undefined) return undefined;
    const at = this.#dueAt(st);
    return at === undefined ? { attempt: st.attempt } : { attempt: st.attempt, nextAttemptAt: at };
  }

  /** The whole state as JSON-serialisable data, so backoff and dampening survive a restart. The budget is not saved. */
  toJSON(): ReconnectSchedulerState {
    return encodeSchedulerState(this.#peers);
  }

  /**
   * A scheduler with `options` and the state saved by
   * {@link ReconnectScheduler.toJSON}. Throws DATABASE_CORRUPT when `state`
   * (read from disk) does not have that shape.
   */
  static fromJSON(state: unknown, options: ReconnectSchedulerOptions = {}): ReconnectScheduler {
    const scheduler = new ReconnectScheduler(options);
    for (const [peerId, st] of parseSchedulerState(state)) scheduler.#peers.set(peerId, st);
    return scheduler;
  }

  #state(peerId: string, now: number): PeerSchedule {
    if (typeof peerId !== "string" || peerId.length === 0) {
      throw new PeerlinkError(ErrorCode.INVALID_PEER_ID, "peer id must be a non-empty string");
    }
    let st = this.#peers.get(peerId);
    if (st === undefined) {
      st = {
        attempt: 0,
        nextAttemptAt: undefined,
        waitingForResources: false,
        notBefore: 0,
        reason: undefined,
        initiator: undefined,
        healthy: false,
        flap: this.#damping?.initial(now) ?? { penalty: 0, at: now, suppressed: false },
      };
      this.#peers.set(peerId, st);
    }
    return st;
  }

  #backoffOf(st: PeerSchedule): BackoffConfig {
    if (st.reason !== undefined) {
      const strategy = this.policy.strategyFor(st.reason, st.initiator ?? "local");
      if (strategy.kind === "backoff") return strategy.backoff;
    }
    return this.policy.dialFailureBackoff;
  }

  /** Effective due time: the scheduled time, raised to the retry-after floor and the dampening release. */
  #dueAt(st: PeerSchedule): number | undefined {
    if (st.nextAttemptAt === undefined) return undefined;
    const release = this.#damping?.releaseAt(st.flap) ?? 0;
    return Math.max(st.nextAttemptAt, st.notBefore, release);
  }

  #decision(st: PeerSchedule): ReconnectDecision {
    const at = this.#dueAt(st);
    const out: ReconnectDecision = {
      action: st.waitingForResources ? "waiting_for_resources" : "scheduled",
      suppressed: this.#damping !== undefined && st.flap.suppressed,
    };
    if (at !== undefined) out.at = at;
    return out;
  }

}

function checkTime(now: number): void {
  if (typeof now !== "number" || !Number.isFinite(now)) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "now must be a finite number of milliseconds");
  }
}
