// A race of one address ends as any race does, on success, failure, and cancellation (the dialer dials a
// single address without a race; these pin the race's own edge).
import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { raceAddresses, type RaceAttempt } from "../../src/node/address-race.js";

const isFinal = (): boolean => true;

function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("a race of one address", () => {
  it("wins with the attempt's value once it claims, and a second claim is refused", async () => {
    const claims: boolean[] = [];
    const attempt: RaceAttempt<string> = async (address, _signal, claim) => {
      claims.push(claim(), claim());
      return `conn to ${address}`;
    };
    const result = await raceAddresses({ addresses: ["127.0.0.1:1"], staggerMs: 250, signal: new AbortController().signal, attempt, isFinal });
    expect(result).toEqual({ ok: true, value: "conn to 127.0.0.1:1", address: "127.0.0.1:1" });
    expect(claims).toEqual([true, false]);
  });

  it("wins with an attempt that completes without claiming", async () => {
    const result = await raceAddresses({ addresses: ["127.0.0.1:1"], staggerMs: 250, signal: new AbortController().signal, attempt: async () => 7, isFinal });
    expect(result).toEqual({ ok: true, value: 7, address: "127.0.0.1:1" });
  });

  it("ends with the attempt's error, thrown or rejected", async () => {
    const error = new PeerlinkError(ErrorCode.CONNECT_FAILED, "refused");
    for (const attempt of [() => Promise.reject(error), () => { throw error; }] as RaceAttempt<never>[]) {
      const result = await raceAddresses({ addresses: ["127.0.0.1:1"], staggerMs: 250, signal: new AbortController().signal, attempt, isFinal });
      expect(result).toEqual({ ok: false, error, address: "127.0.0.1:1" });
    }
  });

  it("cancelled, ends at once with ABORTED, aborts the attempt with the same reason, and refuses its claim", async () => {
    const controller = new AbortController();
    const pending = deferred<string>();
    let seen: AbortSignal | undefined;
    let claim: (() => boolean) | undefined;
    const race = raceAddresses<string>({
      addresses: ["127.0.0.1:1"],
      staggerMs: 250,
      signal: controller.signal,
      attempt: (_a, signal, c) => {
        seen = signal;
        claim = c;
        return pending.promise;
      },
      isFinal,
    });
    const reason = new Error("stop");
    controller.abort(reason);
    const result = await race;
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.code).toBe(ErrorCode.ABORTED);
    expect(!result.ok && result.error.cause).toBe(reason);
    expect(seen?.aborted && seen.reason).toBe(reason);
    expect(claim?.()).toBe(false);
    pending.resolve("late");
  });

  it("already cancelled, starts nothing", async () => {
    const controller = new AbortController();
    controller.abort();
    let started = false;
    const result = await raceAddresses({ addresses: ["127.0.0.1:1"], staggerMs: 250, signal: controller.signal, attempt: async () => ((started = true), 1), isFinal });
    expect(!result.ok && result.error.code).toBe(ErrorCode.ABORTED);
    expect(started).toBe(false);
  });
});
