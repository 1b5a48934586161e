/**
 * The reconnect core, sans-IO: which lost peers to redial and when. Closes,
 * opens, dial outcomes, freed slots and the application's controls come in
 * with `now`; each input returns the actions to perform in order (dial, abort
 * a dial, emit an event, add or drop a peer's address), and
 * {@link ReconnectCore.nextDeadline} says when to call
 * {@link ReconnectCore.tick}. The adapter (`./reconnect-service.ts`) owns the
 * one timer, the dials and the saving; this core reads the manager's state
 * only through the synchronous, read-only {@link ReconnectView}.
 *
 * It implements the rules of the reconnect service's module documentation
 * (`./reconnect-service.ts`: which peers are wanted, what a lost connection
 * and a failed redial lead to), with one more: **a banned peer is never
 * redialed**. A peer the view reports banned is abandoned (`PEER_BANNED`)
 * instead of being scheduled, and one banned after it was scheduled is
 * abandoned instead of being dialed.
 *
 * @example
 * ```ts
 * const core = new ReconnectCore(view, { random: () => 0.5 }, settings);
 * apply(core.start(now));
 * apply(core.onClose("peer-a", { reason: "connection_lost", initiator: "remote" }, now));
 * // at core.nextDeadline():
 * apply(core.tick(now)); // → emit reconnect:attempt, dial peer-a
 * ```
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { BackoffRecord } from "../peers/peer-record.js";
import { DisconnectReason } from "../reasons.js";
import {
  DELIBERATE_CLOSE_REASONS,
  type ReconnectAction,
  type ReconnectClose,
  type ReconnectCoreSettings,
  type ReconnectEvent,
  type ReconnectView,
} from "./reconnect-actions.js";
import type { ReconnectServiceStatus, ReconnectTrigger } from "./reconnect-events.js";
import { parseReconnectState, type ReconnectServiceState } from "./reconnect-state.js";
import { isLocalLimitRefusal, redialVerdictOf } from "./redial-failure.js";
import { type ReconnectDecision, ReconnectScheduler, type ReconnectSchedulerOptions } from "./scheduler.js";
import { addressAnsweredByAnother, RedialsInFlight } from "./redials-in-flight.js";
import { WantedSet } from "./wanted-set.js";
import { answeredBy, isUnproven } from "../handshake/proven-failures.js";

/** The sans-IO reconnect core: see the module documentation. */
export class ReconnectCore {
  readonly #view: ReconnectView;
  readonly #settings: ReconnectCoreSettings;
  readonly #schedulerOptions: ReconnectSchedulerOptions;
  #scheduler: ReconnectScheduler;
  readonly #wanted: WantedSet;
  readonly #dialing = new RedialsInFlight();
  #state: "new" | "running" | "stopped" = "new";
  /** Slot-freed notifications to ignore: the one that follows our own resource_constraint close. */
  #ignoreSlotFreed = 0;
  #changed = false;
  readonly #touched = new Set<string>();
  #out: ReconnectAction[] = [];

  /** Validates the scheduler options (INVALID_ARGUMENT). */
  constructor(view: ReconnectView, schedulerOptions: ReconnectSchedulerOptions, settings: ReconnectCoreSettings) {
    this.#view = view;
    this.#settings = settings;
    this.#schedulerOptions = schedulerOptions;
    this.#scheduler = new ReconnectScheduler(schedulerOptions);
    this.#wanted = new WantedSet(settings.maxWanted);
  }

  /** `"new"` until {@link ReconnectCore.start}, then `"running"`, then `"stopped"`. */
  get state(): "new" | "running" | "stopped" {
    return this.#state;
  }

  // ---- inputs ----

  /** Starts: adds the addresses given to `want()` before start and resumes saved wanted peers. */
  start(now: number): ReconnectAction[] {
    if (this.#state !== "new") return [];
    this.#state = "running";
    for (const [peer, entry] of this.#wanted.entries()) {
      if (entry.addresses.length > 0) this.#out.push({ type: "learn_addresses", peer, addresses: [...entry.addresses] });
    }
    if (this.#settings.resumeOnStart) {
      for (const peer of this.#wanted.peers()) {
        if (this.#view.isConnected(peer) || this.#scheduler.status(peer, now)?.dueAt !== undefined) continue;
        if (this.#lostForGood(peer)) continue;
        this.#report(peer, "resumed", this.#scheduler.schedule(peer, 0, now), now);
      }
    }
    return this.#flush(true);
  }

  /** A connection to `peer` was adopted. */
  onOpen(peer: string, direction: "inbound" | "outbound"): ReconnectAction[] {
    if (this.#state !== "running") return [];
    if (direction === "outbound" || this.#settings.redialInbound || this.#wanted.has(peer)) this.#want(peer, false, []);
    this.#scheduler.onConnected(peer);
    this.#touch(peer);
    return this.#flush(true);
  }

  /** A kept connection to `peer` closed. */
  onClose(peer: string, close: ReconnectClose, now: number): ReconnectAction[] {
    if (this.#state !== "running") return [];
    const entry = this.#wanted.get(peer);
    if (entry === undefined) return [];
    if (close.initiator === "local" && DELIBERATE_CLOSE_REASONS.has(close.reason) && !entry.explicit) {
      // This node chose to end it (the application's close(), trimming): it no longer wants the peer.
      this.#touch(peer);
      this.#wanted.delete(peer);
      this.#scheduler.cancel(peer);
      return this.#flush(true);
    }
    this.#touch(peer);
    if (close.reason === DisconnectReason.UNEXPECTED_IDENTITY) {
      // "Not the expected peer" condemns an address, not the peer: redial after the dial-failure backoff;
      // a redial that meets another identity again drops that address (see onDialFailed).
      if (this.#addressesOf(peer).length === 0) this.#abandon(peer, close.reason);
      else this.#report(peer, close.reason, this.#scheduler.onDialFailed(peer, now), now);
      return this.#flush(true);
    }
    // A duplicate closed as `already_connected` normally leaves the kept connection behind. When none is
    // left (the kept one closed first, or the peer dropped both) and no redial is in flight, the peer is
    // simply lost: treat it as a normal close.
    const lostDuplicate =
      close.reason === DisconnectReason.ALREADY_CONNECTED && !this.#view.isConnected(peer) && !this.#dialing.has(peer);
    const decision = this.#scheduler.onDisconnect(
      peer,
      {
        reason: lostDuplicate ? DisconnectReason.NORMAL : close.reason,
        initiator: close.initiator,
        ...(close.retryAfterMs !== undefined ? { retryAfterMs: close.retryAfterMs } : {}),
        ...(close.wasHealthy !== undefined ? { wasHealthy: close.wasHealthy } : {}),
      },
      now,
    );
    // The manager reports the slot this very close freed right after this hook: that is not
    // "resources became available" for the peer we just dropped for lack of them.
    if (decision.action === "waiting_for_resources") this.#ignoreSlotFreed++;
    this.#refused(peer, close.reason, decision, now, close.reason);
    return this.#flush(true);
  }

  /** A connection slot was freed: releases one peer waiting for resources. */
  onSlotFreed(now: number): ReconnectAction[] {
    if (this.#state !== "running") return [];
    if (this.#ignoreSlotFreed > 0) {
      this.#ignoreSlotFreed--;
      return [];
    }
    const released = this.#scheduler.resourcesAvailable(now, 1);
    for (const peer of released) {
      const st = this.#scheduler.status(peer, now);
      const at = st?.dueAt !== undefined ? { at: st.dueAt } : {};
      this.#report(peer, "resources_available", { action: "scheduled", ...at, suppressed: st?.suppressed ?? false }, now);
      this.#touch(peer);
    }
    return this.#flush(released.length > 0);
  }

  /** The redial `dialId` of `peer` opened a connection. */
  onDialSucceeded(peer: string, dialId: number): ReconnectAction[] {
    if (this.#dialing.settle(peer, dialId) === undefined) return [];
    if (this.#state !== "running") return [];
    this.#scheduler.onConnected(peer);
    this.#touch(peer);
    return this.#flush(true);
  }

  /**
   * The manager names `address` as the one whose attempt ended a dial of `peer` (before the dial's outcome):
   * kept on the peer's redial in flight, if there is one, for {@link ReconnectCore.onDialFailed}.
   */
  onAttemptFailed(peer: string, address: string): void {
    this.#dialing.failedAt(peer, address);
  }

  /**
   * The redial `dialId` of `peer` failed with `error` (ABORTED and STOPPED mean nothing). Identity
   * mismatch drops the address; a handshake verdict takes its reason's strategy; a ban or self dial
   * abandons; our own limits wait for a slot; anything else takes the next backoff step. The address dropped
   * is the one {@link ReconnectCore.onAttemptFailed} named; the addresses are raced, so without it the address
   * is guessed from the failures recorded since the dial started.
   */
  onDialFailed(peer: string, dialId: number, error: PeerlinkError, now: number): ReconnectAction[] {
    const dial = this.#dialing.settle(peer, dialId);
    if (dial === undefined) return []; // cancelled, unwanted or stopped
    if (this.#state !== "running" || error.code === ErrorCode.STOPPED || error.code === ErrorCode.ABORTED) return [];
    this.#touch(peer);
    const verdict = redialVerdictOf(error);
    // Only an identity that proved its key there: a Goodbye UNEXPECTED_IDENTITY in place of a Hello is anyone's to send.
    if (error.code === ErrorCode.IDENTITY_MISMATCH && answeredBy(error) !== undefined) {
      const named = dial.endedAt;
      const culprit =
        named !== undefined && dial.addresses.includes(named) ? named : addressAnsweredByAnother(dial, (a) => this.#view.lastFailureAt(peer, a));
      if (culprit !== undefined) {
        this.#out.push({ type: "drop_address", peer, address: culprit });
        this.#wanted.dropAddress(peer, culprit);
      }
      if (this.#addressesOf(peer, culprit).length > 0) {
        this.#report(peer, "dial_failed", this.#scheduler.onDialFailed(peer, now), now);
      } else {
        const reason = DisconnectReason.UNEXPECTED_IDENTITY;
        this.#refused(peer, reason, this.#scheduler.onDialFailed(peer, now, { reason, initiator: "local" }), now, "dial_failed");
      }
    } else if (verdict !== undefined) {
      this.#refused(peer, verdict.reason, this.#scheduler.onDialFailed(peer, now, verdict), now, "dial_failed");
    } else if ((error.code === ErrorCode.PEER_BANNED || error.code === ErrorCode.SELF_CONNECTION) && !isUnproven(error)) {
      // Refused before any socket: retrying cannot help until the application changes something.
      this.#abandon(peer, error.code);
    } else if (isLocalLimitRefusal(error)) {
      // Our own limits refused it before any socket: not the peer's failure, wait for a free slot.
      this.#report(peer, "dial_failed", this.#scheduler.onLocalLimit(peer, now), now);
    } else {
      this.#report(peer, "dial_failed", this.#scheduler.onDialFailed(peer, now), now);
    }
    return this.#flush(true);
  }

  /** The timer fired: dials the peers that are due, within the budget. */
  tick(now: number): ReconnectAction[] {
    if (this.#state !== "running") return [];
    for (const peer of this.#scheduler.due(now)) this.#attempt(peer, now);
    return this.#flush(true);
  }

  /**
   * Plans a redial of `peer` in `delayMs` whatever its last reason was, and marks it wanted.
   * Throws INVALID_PEER_ID, INVALID_ARGUMENT, or STOPPED when not running.
   */
  schedule(peer: string, delayMs: number, now: number): ReconnectAction[] {
    checkPeerId(peer);
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "delayMs must be a finite number >= 0 (milliseconds)");
    }
    if (this.#state !== "running") {
      throw new PeerlinkError(ErrorCode.STOPPED, this.#state === "new" ? "the manager has not started" : "the manager is stopped");
    }
    this.#want(peer, false, []);
    this.#report(peer, "requested", this.#scheduler.schedule(peer, delayMs, now), now);
    this.#touch(peer);
    return this.#flush(true);
  }

  /** Cancels the planned redial of `peer` and aborts its redial in flight; keeps its history. */
  cancel(peer: string): ReconnectAction[] {
    checkPeerId(peer);
    this.#scheduler.cancel(peer);
    this.#abortDial(peer);
    this.#touch(peer);
    return this.#flush(true);
  }

  /**
   * Marks `peer` wanted (explicitly) and, when running and it is neither connected, dialing nor planned,
   * plans a dial now. Before start it is remembered and applied at start. Throws INVALID_PEER_ID,
   * INVALID_ARGUMENT (bad `addresses`), STOPPED after stop.
   */
  want(peer: string, addresses: readonly string[], now: number): ReconnectAction[] {
    checkPeerId(peer);
    if (!Array.isArray(addresses) || addresses.some((a) => typeof a !== "string" || a.length === 0)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "addresses must be an array of \"host:port\" strings");
    }
    if (this.#state === "stopped") throw new PeerlinkError(ErrorCode.STOPPED, "the reconnect service is stopped");
    this.#want(peer, true, addresses);
    if (this.#state !== "running") return this.#flush(false); // applied at start
    if (addresses.length > 0) this.#out.push({ type: "learn_addresses", peer, addresses: [...addresses] });
    const st = this.#scheduler.status(peer, now);
    if (!this.#view.isConnected(peer) && !this.#dialing.has(peer) && st?.dueAt === undefined && !st?.waitingForResources) {
      this.#report(peer, "requested", this.#scheduler.schedule(peer, 0, now), now);
      this.#touch(peer);
    }
    return this.#flush(true);
  }

  /** Stops redialing `peer`: forgets it as wanted, cancels its planned and in-flight redial. */
  unwant(peer: string): ReconnectAction[] {
    checkPeerId(peer);
    if (!this.#wanted.has(peer)) return [];
    this.#touch(peer);
    this.#wanted.delete(peer);
    this.#scheduler.cancel(peer);
    this.#abortDial(peer);
    return this.#flush(true);
  }

  /** Stops for good: aborts every redial in flight (STOPPED). */
  stop(): ReconnectAction[] {
    if (this.#state === "stopped") return [];
    this.#state = "stopped";
    this.#out.push(...this.#dialing.abortAll());
    return this.#flush(false);
  }

  // ---- queries ----

  /** When {@link ReconnectCore.tick} is due next; undefined when nothing is planned. */
  nextDeadline(): number | undefined {
    return this.#state === "running" ? this.#scheduler.nextDeadline() : undefined;
  }

  /** True once per change since last asked: the adapter then re-arms its timer and saves. */
  takeChanged(): boolean {
    const changed = this.#changed;
    this.#changed = false;
    return changed;
  }

  /** The reconnect state of `peer` at `now`. */
  status(peer: string, now: number): ReconnectServiceStatus {
    const entry = this.#wanted.get(peer);
    const st = this.#scheduler.status(peer, now);
    return {
      wanted: entry !== undefined,
      explicit: entry?.explicit ?? false,
      connected: this.#view.isConnected(peer),
      dialing: this.#dialing.has(peer),
      attempt: st?.attempt ?? 0,
      dueAt: st?.dueAt,
      waitingForResources: st?.waitingForResources ?? false,
      suppressed: st?.suppressed ?? false,
      penalty: st?.penalty ?? 0,
    };
  }

  /** Wanted peers, least recently touched first. */
  wanted(): string[] {
    return this.#wanted.peers();
  }

  // ---- persistence ----

  /** Wanted peers whose backoff changed since {@link ReconnectCore.clearTouched} (only with `trackBackoff`). */
  touched(): ReadonlySet<string> {
    return this.#touched;
  }

  /** Forgets the touched set, once saved. */
  clearTouched(): void {
    this.#touched.clear();
  }

  /** `peer`'s backoff in the peer record's form; undefined when the queue has no state for it. */
  backoffOf(peer: string): BackoffRecord | undefined {
    return this.#scheduler.backoffOf(peer);
  }

  /** Everything worth saving: the queue's state and the wanted set. */
  toState(): ReconnectServiceState {
    return { version: 1, scheduler: this.#scheduler.toJSON(), wanted: this.#wanted.toJSON() };
  }

  /**
   * Restores what {@link ReconnectCore.toState} saved (before start; `want()` calls made before it win).
   * Throws DATABASE_CORRUPT, changing nothing, when `saved` has the wrong shape.
   */
  restore(saved: unknown): void {
    const state = parseReconnectState(saved);
    this.#scheduler = ReconnectScheduler.fromJSON(state.scheduler, this.#schedulerOptions);
    for (const peer of this.#wanted.restore(state.wanted)) this.#forget(peer);
  }

  // ---- internals ----

  #flush(changed: boolean): ReconnectAction[] {
    if (changed) this.#changed = true;
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #emit(emit: ReconnectEvent): void {
    this.#out.push({ type: "emit", emit });
  }

  #want(peer: string, explicit: boolean, addresses: readonly string[]): void {
    for (const evicted of this.#wanted.touch(peer, explicit, addresses)) this.#forget(evicted);
  }

  #forget(peer: string): void {
    this.#scheduler.forget(peer);
    this.#abortDial(peer);
  }

  #attempt(peer: string, now: number): void {
    this.#touch(peer);
    if (!this.#wanted.has(peer)) {
      this.#scheduler.cancel(peer);
      return;
    }
    if (this.#view.isConnected(peer)) {
      this.#scheduler.onConnected(peer);
      return;
    }
    if (this.#dialing.has(peer)) return; // the redial in flight reports its outcome
    if (this.#view.isBanned(peer, now)) {
      // Banned after it was planned: give up instead of dialing (the manager would refuse it anyway).
      this.#abandon(peer, ErrorCode.PEER_BANNED);
      return;
    }
    const addresses = this.#addressesOf(peer);
    const attempt = this.#scheduler.status(peer, now)?.attempt ?? 0;
    const { dialId } = this.#dialing.start(peer, addresses, now);
    this.#emit({ type: "reconnect:attempt", event: { peer, attempt, addresses } });
    this.#out.push({ type: "dial", peer, dialId, addresses });
  }

  #abortDial(peer: string): void {
    const abort = this.#dialing.abort(peer);
    if (abort !== undefined) this.#out.push(abort);
  }

  #abandon(peer: string, reason: DisconnectReason | ErrorCode): void {
    this.#scheduler.cancel(peer);
    this.#emit({ type: "reconnect:abandoned", event: { peer, reason } });
  }

  /** Reports a decision for `peer`: abandoned when its strategy is "never", else the next attempt. */
  #refused(peer: string, reason: DisconnectReason, decision: ReconnectDecision, now: number, trigger: ReconnectTrigger): void {
    if (decision.action === "never") this.#emit({ type: "reconnect:abandoned", event: { peer, reason } });
    else this.#report(peer, trigger, decision, now);
  }

  /** Emits `reconnect:scheduled` for a planned attempt, unless the peer is banned: then it is abandoned. */
  #report(peer: string, reason: ReconnectTrigger, decision: ReconnectDecision, now: number): void {
    if (decision.at === undefined) return;
    if (this.#view.isBanned(peer, now)) {
      this.#abandon(peer, ErrorCode.PEER_BANNED);
      return;
    }
    this.#emit({
      type: "reconnect:scheduled",
      event: {
        peer,
        reason,
        delayMs: Math.max(0, decision.at - now),
        at: decision.at,
        attempt: this.#scheduler.status(peer, now)?.attempt ?? 0,
        waitingForResources: decision.action === "waiting_for_resources",
        suppressed: decision.suppressed ?? false,
      },
    });
  }

  /** True when the peer's last recorded disconnect has a "never" strategy (not resumed at start). */
  #lostForGood(peer: string): boolean {
    const last = this.#view.lastDisconnect(peer);
    return last !== undefined && this.#scheduler.policy.strategyFor(last.reason, last.initiator).kind === "never";
  }

  /** The addresses a redial of `peer` dials: the peer database's (but `without`), else those given to `want()`. */
  #addressesOf(peer: string, without?: string): string[] {
    const known = this.#view.addressesOf(peer).filter((a) => a !== without);
    return known.length > 0 ? known : [...(this.#wanted.get(peer)?.addresses ?? [])];
  }

  /** Notes that `peer`'s backoff changed, to be saved on its peer record (only wanted peers). */
  #touch(peer: string): void {
    if (this.#settings.trackBackoff && this.#wanted.has(peer)) this.#touched.add(peer);
  }
}

function checkPeerId(peer: string): void {
  if (typeof peer !== "string" || peer.length === 0) {
    throw new PeerlinkError(ErrorCode.INVALID_PEER_ID, "peer id must be a non-empty string");
  }
}
