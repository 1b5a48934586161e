/**
 * The adapter of {@link WakeDetector}: its one timer (unref'd) and the reading of the local addresses
 * (`os.networkInterfaces()`). Everything it decides is the detector's.
 *
 * @module
 */
import { networkInterfaces } from "node:os";
import { MAX_TIMER_DELAY_MS } from "../util/timers.js";
import { WakeDetector, type WakeDetectorSettings, type WakeEvent } from "./wake-detector.js";

/** The machine's non-loopback addresses, as `"interface/address"` strings. */
export function localAddresses(): string[] {
  const out: string[] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const info of list ?? []) if (!info.internal) out.push(`${name}/${info.address}`);
  }
  return out;
}

/** Clocks and sources of a {@link WakeWatch}. */
export interface WakeWatchClocks {
  /** A clock that never jumps (ms). */
  readonly mono: () => number;
  /** The wall clock (epoch ms). */
  readonly wall: () => number;
  /** Reads the local addresses. @default {@link localAddresses} */
  readonly addresses?: () => string[];
}

/** Runs a {@link WakeDetector} on a timer; `onEvent` hears what it notices. */
export class WakeWatch {
  readonly #settings: WakeDetectorSettings;
  readonly #clocks: WakeWatchClocks;
  readonly #onEvent: (event: WakeEvent) => void;
  #detector: WakeDetector | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(settings: WakeDetectorSettings, clocks: WakeWatchClocks, onEvent: (event: WakeEvent) => void) {
    this.#settings = settings;
    this.#clocks = clocks;
    this.#onEvent = onEvent;
  }

  /** Starts watching (idempotent). */
  start(): void {
    if (this.#detector !== undefined) return;
    const { mono, wall } = this.#clocks;
    const addresses = this.#settings.networkPollMs > 0 ? this.#read() : undefined;
    this.#detector = new WakeDetector(this.#settings, mono(), wall(), addresses);
    this.#arm();
  }

  /** Stops watching: the timer is cleared. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#detector = undefined;
  }

  #read(): string[] {
    try {
      return (this.#clocks.addresses ?? localAddresses)();
    } catch {
      // No interface list (a sandbox): nothing to compare.
      return [];
    }
  }

  #arm(): void {
    const detector = this.#detector;
    if (detector === undefined) return;
    const delay = Math.min(Math.max(0, detector.nextDeadline() - this.#clocks.mono()), MAX_TIMER_DELAY_MS);
    this.#timer = setTimeout(this.#onTimer, delay);
    this.#timer.unref();
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    const detector = this.#detector;
    if (detector === undefined) return;
    const { mono, wall } = this.#clocks;
    const now = mono();
    const resumed = detector.tick(now, wall());
    const changed = detector.networkDue(now) ? detector.addresses(this.#read(), now) : undefined;
    this.#arm();
    if (resumed !== undefined) this.#onEvent(resumed);
    if (changed !== undefined && this.#detector !== undefined) this.#onEvent(changed);
  };
}
