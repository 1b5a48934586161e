/**
 * Sleep/resume and network-change detection, sans-IO. After a laptop sleeps, a process is stopped
 * (SIGSTOP, a debugger) or the machine changes networks, every connection may be dead or slower, yet
 * nothing would look before the next ping interval. This core notices it from three inputs and says so
 * once, so the maintenance service re-checks every connection at once:
 *
 * - a check timer firing `lateThresholdMs` or more after it was due (the process did not run meanwhile);
 * - the wall clock moving `lateThresholdMs` more (or less) than the monotonic clock between two checks (a
 *   suspended machine: on Linux the monotonic clock stops during suspend while the wall clock does not);
 * - the set of local addresses changing (polled every `networkPollMs`).
 *
 * Inputs are the times (monotonic and wall, ms) and the address lists; outputs are the events and the
 * next deadline. The adapter owns the timer and reads the interfaces.
 *
 * @module
 */

/**
 * Settings of sleep/network-change detection (`MaintenanceOptions.wakeDetection`).
 *
 * @category Maintenance
 */
export interface WakeDetectorSettings {
  /** How often the check timer runs (ms). */
  readonly checkIntervalMs: number;
  /** Lateness or clock jump (ms) that counts as a sleep. */
  readonly lateThresholdMs: number;
  /** How often local addresses are compared (ms); 0: never. */
  readonly networkPollMs: number;
}

/** What the detector noticed. */
export type WakeEvent =
  | {
      readonly type: "resumed";
      /** `timer-late`: the process did not run; `clock-jump`: the wall clock jumped against the monotonic one. */
      readonly cause: "timer-late" | "clock-jump";
      /** How long the process (or machine) was away, as measured (ms). */
      readonly sleptMs: number;
    }
  | {
      readonly type: "network-changed";
      /** Local addresses that appeared. */
      readonly added: readonly string[];
      /** Local addresses that went away. */
      readonly removed: readonly string[];
    };

/** The detector (see the module comment). Times: `mono` on a clock that never jumps, `wall` epoch ms. */
export class WakeDetector {
  readonly #settings: WakeDetectorSettings;
  #dueAt: number;
  #lastMono: number;
  #lastWall: number;
  #networkDueAt: number;
  #addresses: ReadonlySet<string> | undefined;

  /** @param addresses - the local addresses now, or `undefined` when they are not watched. */
  constructor(settings: WakeDetectorSettings, mono: number, wall: number, addresses?: readonly string[]) {
    this.#settings = settings;
    this.#dueAt = mono + settings.checkIntervalMs;
    this.#lastMono = mono;
    this.#lastWall = wall;
    this.#networkDueAt = settings.networkPollMs > 0 ? mono + settings.networkPollMs : Number.POSITIVE_INFINITY;
    this.#addresses = addresses === undefined ? undefined : new Set(addresses);
  }

  /** When the check timer is due next (mono). */
  nextDeadline(): number {
    return this.#dueAt;
  }

  /** True when the local addresses should be read and passed to {@link addresses} now. */
  networkDue(mono: number): boolean {
    return mono >= this.#networkDueAt;
  }

  /**
   * The check timer fired at `mono` / `wall`. Returns a `resumed` event when it fired `lateThresholdMs` or
   * more late, or when the wall clock moved that much more than the monotonic clock since the last check.
   */
  tick(mono: number, wall: number): WakeEvent | undefined {
    const threshold = this.#settings.lateThresholdMs;
    const late = mono - this.#dueAt;
    const jump = wall - this.#lastWall - (mono - this.#lastMono);
    this.#lastMono = mono;
    this.#lastWall = wall;
    this.#dueAt = mono + this.#settings.checkIntervalMs;
    if (late >= threshold) return { type: "resumed", cause: "timer-late", sleptMs: late };
    if (Math.abs(jump) >= threshold) return { type: "resumed", cause: "clock-jump", sleptMs: Math.abs(jump) };
    return undefined;
  }

  /** The local addresses read at `mono`. Returns a `network-changed` event when the set differs from the last one. */
  addresses(list: readonly string[], mono: number): WakeEvent | undefined {
    this.#networkDueAt = mono + this.#settings.networkPollMs;
    const next = new Set(list);
    const previous = this.#addresses;
    this.#addresses = next;
    if (previous === undefined) return undefined;
    const added = [...next].filter((a) => !previous.has(a));
    const removed = [...previous].filter((a) => !next.has(a));
    if (added.length === 0 && removed.length === 0) return undefined;
    return { type: "network-changed", added, removed };
  }
}
