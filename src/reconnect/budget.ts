/**
 * The global reconnect budget, sans-IO: a token bucket that bounds how many
 * redials start at once and per second, so a mass disconnect does not become
 * a storm of handshakes, and the order in which due peers get its tokens
 * (peers whose last connection was healthy first, then the longest overdue).
 *
 * @module
 */
import { TokenBucket } from "../util/token-bucket.js";
import { DEFAULT_RECONNECT_BURST, DEFAULT_RECONNECT_PER_SECOND } from "./defaults.js";

/** Size and refill of a {@link ReconnectBudget}. */
export interface ReconnectBudgetOptions {
  /** Most redials at once (the burst). Must be > 0. */
  readonly capacity: number;
  /** Redials added per second. Must be >= 0. */
  readonly refillPerSecond: number;
}

/** A peer that is due, as offered to {@link ReconnectBudget.take}. */
export interface DueCandidate {
  /** The peer's id (the last tie-break, so the order is deterministic). */
  readonly peerId: string;
  /** Whether its last connection was healthy: healthy peers are served first. */
  readonly healthy: boolean;
  /** When it became due, in milliseconds: among equals, the longest overdue is served first. */
  readonly dueAt: number;
}

/** The default budget: burst {@link DEFAULT_RECONNECT_BURST}, {@link DEFAULT_RECONNECT_PER_SECOND} per second. */
export const DEFAULT_RECONNECT_BUDGET: ReconnectBudgetOptions = Object.freeze({
  capacity: DEFAULT_RECONNECT_BURST,
  refillPerSecond: DEFAULT_RECONNECT_PER_SECOND,
});

/**
 * Hands out redial tokens to due peers. The bucket starts full at the first
 * {@link ReconnectBudget.take} that has a peer to serve.
 */
export class ReconnectBudget {
  readonly #options: ReconnectBudgetOptions;
  #bucket: TokenBucket | undefined;
  #lastNow: number | undefined;

  /** Validates the options; throws INVALID_ARGUMENT. */
  constructor(options: ReconnectBudgetOptions = DEFAULT_RECONNECT_BUDGET) {
    new TokenBucket(options, 0); // validation only
    this.#options = { capacity: options.capacity, refillPerSecond: options.refillPerSecond };
  }

  /**
   * The peers of `due` (all due at `now`) that get a token now, in the order
   * they are to be dialed: healthy first, then the earliest due, then by id.
   * The others stay due; {@link ReconnectBudget.nextDeadline} says when to try again.
   */
  take<T extends DueCandidate>(due: readonly T[], now: number): T[] {
    this.#lastNow = now;
    if (due.length === 0) return [];
    const ordered = [...due].sort(
      (a, b) => Number(b.healthy) - Number(a.healthy) || a.dueAt - b.dueAt || compareIds(a.peerId, b.peerId),
    );
    this.#bucket ??= new TokenBucket(this.#options, now);
    const out: T[] = [];
    for (const candidate of ordered) {
      if (!this.#bucket.tryTake(now)) break;
      out.push(candidate);
    }
    return out;
  }

  /**
   * Takes one token at `now` for a dial made outside the reconnect scheduler (the target mesh shares this
   * budget, so that redials and mesh dials together stay within it). False when none is left.
   */
  tryTake(now: number): boolean {
    this.#lastNow = now;
    this.#bucket ??= new TokenBucket(this.#options, now);
    return this.#bucket.tryTake(now);
  }

  /** Milliseconds from `now` until a token is available (0 when one is). */
  msUntilToken(now: number): number {
    return this.#bucket === undefined ? 0 : this.#bucket.msUntil(now);
  }

  /**
   * When to ask again, given the earliest due time of any peer: that time, or,
   * when it had already come at the last {@link ReconnectBudget.take} and the
   * budget was spent, when the next token arrives.
   */
  nextDeadline(earliestDue: number | undefined): number | undefined {
    const last = this.#lastNow;
    if (earliestDue === undefined || last === undefined || earliestDue > last || this.#bucket === undefined) return earliestDue;
    const wait = this.#bucket.msUntil(last);
    return wait === 0 ? earliestDue : last + wait;
  }
}

/** Orders peer ids by code unit (deterministic, locale-free). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
