/**
 * The adapter of {@link DialRace}: runs the attempts it asks for, each with its own AbortSignal, and the
 * one timer of the stagger. Settles with the first attempt that completes (the others are aborted, so
 * their sockets are destroyed by the transport) or with the error that ended the race.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { monotonicNow } from "../util/timers.js";
import { DialRace, type RaceAction } from "./dial-race.js";

/**
 * One attempt: dials `address` under `signal`. Once its connection is ready to be kept it calls `claim()`:
 * `true` means it won and keeps it; `false` means another attempt won first, and it must close what it made
 * and throw.
 */
export type RaceAttempt<T> = (address: string, signal: AbortSignal, claim: () => boolean) => Promise<T>;

/** How a race ended. */
export type RaceResult<T> =
  | { readonly ok: true; readonly value: T; readonly address: string }
  | { readonly ok: false; readonly error: PeerlinkError; readonly address: string };

/** Options of {@link raceAddresses}. */
export interface RaceOptions<T> {
  /** Addresses in the order they start. */
  readonly addresses: readonly string[];
  /** Delay between two starts while the earlier attempt is still running (ms). */
  readonly staggerMs: number;
  /** Cancels the whole race: every attempt is aborted and it ends with that error. */
  readonly signal: AbortSignal;
  /** Runs one attempt. */
  readonly attempt: RaceAttempt<T>;
  /** True for an error that ends the race (another address would not do better). */
  readonly isFinal: (error: PeerlinkError) => boolean;
}

const lost = (): PeerlinkError => new PeerlinkError(ErrorCode.ABORTED, "another address of the peer answered first", { initiator: "local" });

/** Races `addresses` (see the module comment). Never rejects: the result says how it ended. */
export function raceAddresses<T>(options: RaceOptions<T>): Promise<RaceResult<T>> {
  const { addresses, signal } = options;
  const race = new DialRace(addresses.length, options.staggerMs);
  const controllers: (AbortController | undefined)[] = [];
  let timer: NodeJS.Timeout | undefined;
  let lastError: PeerlinkError | undefined;
  let lastAddress = addresses[0] ?? "";

  return new Promise<RaceResult<T>>((resolve) => {
    let settled = false;
    const finish = (result: RaceResult<T>): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      signal.removeEventListener("abort", onAbort);
      resolve(result);
    };
    const perform = (actions: readonly RaceAction[]): void => {
      for (const action of actions) {
        if (action.type === "abort") controllers[action.index]?.abort(lost());
        else run(action.index);
      }
      if (race.outcome === "failed") {
        finish({ ok: false, error: lastError ?? new PeerlinkError(ErrorCode.PEER_ADDRESS_UNKNOWN, "no address to dial"), address: lastAddress });
        return;
      }
      arm();
    };
    const arm = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const at = race.nextDeadline();
      if (at === Number.POSITIVE_INFINITY || settled) return;
      timer = setTimeout(() => {
        timer = undefined;
        perform(race.tick(monotonicNow()));
      }, Math.max(0, at - monotonicNow()));
    };
    const run = (index: number): void => {
      const address = addresses[index] as string;
      const controller = new AbortController();
      controllers[index] = controller;
      const claim = (): boolean => {
        const { won, actions } = race.claim(index);
        if (won) {
          for (const action of actions) if (action.type === "abort") controllers[action.index]?.abort(lost());
          if (timer !== undefined) clearTimeout(timer);
          timer = undefined;
        }
        return won;
      };
      let attempt: Promise<T>;
      try {
        attempt = options.attempt(address, controller.signal, claim);
      } catch (error) {
        attempt = Promise.reject(error);
      }
      attempt.then(
        (value) => {
          controllers[index] = undefined;
          // An attempt may complete without claiming (it found the peer's own connection to us): first wins.
          if (race.winner !== index && !claim()) return;
          finish({ ok: true, value, address });
        },
        (error: unknown) => {
          controllers[index] = undefined;
          if (race.winner === index) {
            // It won the race and then failed to be kept (e.g. refused on adoption): that ends the dial.
            finish({ ok: false, error: PeerlinkError.from(error), address });
            return;
          }
          if (controller.signal.aborted || settled) return;
          const e = PeerlinkError.from(error);
          lastError = e;
          lastAddress = address;
          perform(race.failed(index, monotonicNow(), options.isFinal(e)));
        },
      );
    };
    const onAbort = (): void => {
      for (const action of race.cancel()) controllers[action.index]?.abort(signal.reason);
      finish({ ok: false, error: new PeerlinkError(ErrorCode.ABORTED, "dial aborted", { cause: signal.reason, initiator: "local" }), address: lastAddress });
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    perform(race.start(monotonicNow()));
  });
}
