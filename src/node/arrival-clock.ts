/**
 * When did a socket arrive? Node hands an accepted socket to JavaScript only
 * when the event loop gets to it: on a busy node that can be seconds after the
 * kernel accepted it, and a deadline counted from then would give slow peers
 * that much extra time (and an attacker that much longer to hold a slot).
 *
 * A cheap unref'd interval records when the loop was last free. A socket
 * handed over after the loop was busy for longer than two intervals is taken
 * to have arrived when the loop was last seen free: the earliest moment it can
 * have arrived, so its deadlines are never longer than they should be. After a
 * block the interval usually fires first (timers run before I/O in a loop
 * turn): it then marks the rest of that turn as "after a block", until the
 * check phase that follows the turn's I/O.
 *
 * Blocks are measured on a monotonic clock and only their length is taken off
 * the node's clock: a step of the node's clock (NTP, a resumed VM, a test
 * clock moved on purpose) is not time a socket spent waiting, and must not
 * date an arrival back by the size of the step.
 *
 * @module
 */
import { performance } from "node:perf_hooks";

/** How often the loop is seen (ms): ten wake-ups a second, nothing measurable. */
export const LOOP_WATCH_INTERVAL_MS = 100;

/** Tracks when the event loop was last free, to date socket arrivals. */
export class ArrivalClock {
  readonly #clock: () => number;
  readonly #monotonic: () => number;
  /** When the loop was last seen free (monotonic ms). */
  #lastFree = 0;
  /** Set for the rest of a loop turn that follows a block: when the loop was last free before it (monotonic ms). */
  #blockedSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param clock - The node's clock: arrivals are given on it.
   * @param monotonic - A clock that never jumps, on which blocks of the loop are measured.
   */
  constructor(clock: () => number, monotonic: () => number = () => performance.now()) {
    this.#clock = clock;
    this.#monotonic = monotonic;
  }

  /** Starts watching the loop. */
  start(): void {
    this.#lastFree = this.#monotonic();
    this.#timer ??= setInterval(() => {
      const now = this.#monotonic();
      if (now - this.#lastFree > 2 * LOOP_WATCH_INTERVAL_MS && this.#blockedSince === undefined) {
        this.#blockedSince = this.#lastFree;
        setImmediate(() => {
          this.#blockedSince = undefined;
        }).unref();
      }
      this.#lastFree = now;
    }, LOOP_WATCH_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Stops watching (no timer left). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** When a socket handed over now arrived, at the earliest (on the node's clock). */
  arrival(): number {
    const now = this.#clock();
    if (this.#timer === undefined) return now;
    const mono = this.#monotonic();
    if (this.#blockedSince !== undefined) return now - (mono - this.#blockedSince);
    const sinceFree = mono - this.#lastFree;
    return sinceFree <= 2 * LOOP_WATCH_INTERVAL_MS ? now : now - sinceFree;
  }
}
