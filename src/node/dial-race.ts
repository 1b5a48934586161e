/**
 * Racing a peer's addresses, sans-IO (RFC 8305 "Happy Eyeballs", section 5): the attempts start one
 * after another, `staggerMs` apart, or at once when the previous one fails; the first to complete wins and
 * every other attempt still running is aborted. A final failure (an identity or protocol error that another
 * address would not fix) aborts the rest too. Inputs are the attempts' outcomes and `now`; outputs are
 * the attempts to start or abort and the next deadline. The adapter (address-race.ts) owns the timer.
 *
 * @module
 */
import { parseHostPort, ipFamily } from "../manager/ip.js";

/** What the adapter must do. */
export type RaceAction = { readonly type: "start"; readonly index: number } | { readonly type: "abort"; readonly index: number };

/** Where the race stands. */
export type RaceOutcome = "running" | "won" | "failed";

type AttemptState = "waiting" | "running" | "failed" | "won" | "aborted";

/** The schedule of one race over `count` attempts (see the module comment). */
export class DialRace {
  readonly #staggerMs: number;
  readonly #states: AttemptState[];
  #next = 0;
  #nextStartAt = Number.POSITIVE_INFINITY;
  #outcome: RaceOutcome = "running";
  #winner: number | undefined;

  /**
   * @param count - attempts, in the order they start (see {@link interleaveFamilies}).
   * @param staggerMs - delay between two starts while the earlier attempt is still running; 0 starts all at once.
   */
  constructor(count: number, staggerMs: number) {
    this.#states = new Array<AttemptState>(count).fill("waiting");
    this.#staggerMs = staggerMs;
  }

  /** Where the race stands. */
  get outcome(): RaceOutcome {
    return this.#outcome;
  }

  /** The winning attempt, once there is one. */
  get winner(): number | undefined {
    return this.#winner;
  }

  /** Attempts running now. */
  get running(): number {
    return this.#states.filter((s) => s === "running").length;
  }

  /** Starts the race at `now` (the first attempt, and with a zero stagger every attempt). */
  start(now: number): RaceAction[] {
    if (this.#states.length === 0) {
      this.#outcome = "failed";
      return [];
    }
    return this.#startNext(now);
  }

  /** Starts the next attempt when its stagger has passed. */
  tick(now: number): RaceAction[] {
    if (this.#outcome !== "running" || now < this.#nextStartAt) return [];
    return this.#startNext(now);
  }

  /**
   * Attempt `index` failed at `now`. A `final` failure ends the race (the others are aborted); otherwise the
   * next attempt starts at once, and the race has failed when no attempt is left.
   */
  failed(index: number, now: number, final: boolean): RaceAction[] {
    if (this.#states[index] !== "running") return [];
    this.#states[index] = "failed";
    if (this.#outcome !== "running") return [];
    if (final) {
      this.#outcome = "failed";
      return this.#abortRunning();
    }
    if (this.#next < this.#states.length) return this.#startNext(now);
    if (this.running === 0) {
      this.#outcome = "failed";
      this.#nextStartAt = Number.POSITIVE_INFINITY;
    }
    return [];
  }

  /**
   * Attempt `index` completed. Returns `true` and the aborts of every other running attempt when it is the
   * first; `false` when the race was already decided (the caller discards what it made).
   */
  claim(index: number): { won: boolean; actions: RaceAction[] } {
    if (this.#outcome !== "running" || this.#states[index] !== "running") return { won: false, actions: [] };
    this.#states[index] = "won";
    this.#winner = index;
    this.#outcome = "won";
    return { won: true, actions: this.#abortRunning() };
  }

  /** Ends the race from outside (the dial was cancelled): aborts what runs, starts nothing more. */
  cancel(): RaceAction[] {
    if (this.#outcome === "running") this.#outcome = "failed";
    return this.#abortRunning();
  }

  /** When {@link tick} has something to do: the next start; +Infinity when nothing is scheduled. */
  nextDeadline(): number {
    return this.#outcome === "running" ? this.#nextStartAt : Number.POSITIVE_INFINITY;
  }

  #startNext(now: number): RaceAction[] {
    const actions: RaceAction[] = [];
    do {
      const index = this.#next++;
      this.#states[index] = "running";
      actions.push({ type: "start", index });
    } while (this.#staggerMs === 0 && this.#next < this.#states.length);
    this.#nextStartAt = this.#next < this.#states.length ? now + this.#staggerMs : Number.POSITIVE_INFINITY;
    return actions;
  }

  #abortRunning(): RaceAction[] {
    this.#nextStartAt = Number.POSITIVE_INFINITY;
    const actions: RaceAction[] = [];
    this.#states.forEach((s, index) => {
      if (s === "running") {
        this.#states[index] = "aborted";
        actions.push({ type: "abort", index });
      }
    });
    return actions;
  }
}

/**
 * Orders addresses for a race as RFC 8305 section 4 does: the family of the first address first, then
 * alternating IPv6 and IPv4 while both have addresses left, each family keeping its own order. Host names
 * count as IPv4 (their family is known only once resolved, at the attempt).
 */
export function interleaveFamilies(addresses: readonly string[]): string[] {
  const v6: string[] = [];
  const v4: string[] = [];
  for (const address of addresses) (familyOf(address) === 6 ? v6 : v4).push(address);
  if (v6.length === 0 || v4.length === 0) return [...addresses];
  const first = familyOf(addresses[0] as string) === 6 ? v6 : v4;
  const second = first === v6 ? v4 : v6;
  const out: string[] = [];
  for (let i = 0; i < Math.max(first.length, second.length); i++) {
    if (i < first.length) out.push(first[i] as string);
    if (i < second.length) out.push(second[i] as string);
  }
  return out;
}

function familyOf(address: string): 4 | 6 {
  try {
    return ipFamily(parseHostPort(address).host) === 6 ? 6 : 4;
  } catch {
    return 4;
  }
}
