import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { DisconnectReason } from "../../src/reasons.js";
import { backoffDelay, ReconnectPolicy, validateBackoff } from "../../src/reconnect/policy.js";
import { ReconnectScheduler } from "../../src/reconnect/scheduler.js";
import { throwsWithCode } from "../helpers/error-code.js";

/** The largest double below 1: full jitter's top end. */
const ALMOST_ONE = 1 - 2 ** -40;
const NOW = 1_000_000;

type Expectation =
  | { kind: "immediate" }
  | { kind: "never" }
  | { kind: "none" }
  | { kind: "after_resources"; maxWaitMs: number }
  | { kind: "backoff"; minMs: number; baseMs: number; maxMs: number };

/** The documented default of every reason (a Record: the compiler checks no reason is missing). */
const expected: Record<DisconnectReason, Expectation> = {
  normal: { kind: "immediate" },
  network_restructure: { kind: "immediate" },
  shutdown: { kind: "backoff", minMs: 1_000, baseMs: 10_000, maxMs: 300_000 },
  timeout: { kind: "backoff", minMs: 0, baseMs: 1_000, maxMs: 300_000 },
  protocol_violation: { kind: "backoff", minMs: 15_000, baseMs: 30_000, maxMs: 3_600_000 },
  resource_constraint: { kind: "after_resources", maxWaitMs: 60_000 },
  peer_banned: { kind: "never" },
  already_connected: { kind: "none" },
  incompatible_version: { kind: "never" },
  self_connection: { kind: "never" },
  unexpected_identity: { kind: "never" },
  rate_limited: { kind: "backoff", minMs: 1_000, baseMs: 5_000, maxMs: 600_000 },
  authentication_failed: { kind: "backoff", minMs: 60_000, baseMs: 300_000, maxMs: 21_600_000 },
  connection_lost: { kind: "backoff", minMs: 1_000, baseMs: 5_000, maxMs: 300_000 },
};

function scheduler(random: () => number): ReconnectScheduler {
  return new ReconnectScheduler({ random, dampening: false });
}

describe("the default strategy of each disconnect reason", () => {
  it("covers every reason", () => {
    expect(Object.keys(expected).sort()).toEqual(Object.values(DisconnectReason).sort());
  });

  it.each(Object.entries(expected) as Array<[DisconnectReason, Expectation]>)(
    "%s → %o",
    (reason, want) => {
      const policy = new ReconnectPolicy();
      expect(policy.strategyFor(reason).kind).toBe(want.kind);
      const low = scheduler(() => 0).onDisconnect("p", { reason }, NOW);
      const high = scheduler(() => ALMOST_ONE).onDisconnect("p", { reason }, NOW);
      switch (want.kind) {
        case "immediate":
          expect(low).toEqual({ action: "scheduled", at: NOW, suppressed: false });
          expect(high.at).toBe(NOW);
          break;
        case "never":
          expect(low).toEqual({ action: "never" });
          break;
        case "none":
          expect(low).toEqual({ action: "none" });
          break;
        case "after_resources":
          expect(low).toEqual({ action: "waiting_for_resources", at: NOW + want.maxWaitMs, suppressed: false });
          break;
        case "backoff": {
          // Full jitter: attempt 0 lies in [min, base]; random 0 gives the floor, random → 1 the cap.
          expect(low.at! - NOW).toBe(want.minMs);
          expect(high.at! - NOW).toBeGreaterThanOrEqual(want.baseMs - 1);
          expect(high.at! - NOW).toBeLessThanOrEqual(want.baseMs);
          // After many failed dials the cap is maxMs, and random 0 still gives the floor.
          const hi = scheduler(() => ALMOST_ONE);
          const lo = scheduler(() => 0);
          hi.onDisconnect("p", { reason }, NOW);
          lo.onDisconnect("p", { reason }, NOW);
          let hiAt = 0;
          let loAt = 0;
          for (let i = 0; i < 40; i++) {
            hiAt = hi.onDialFailed("p", NOW).at!;
            loAt = lo.onDialFailed("p", NOW).at!;
          }
          expect(hiAt - NOW).toBeGreaterThanOrEqual(want.maxMs - 1);
          expect(hiAt - NOW).toBeLessThanOrEqual(want.maxMs);
          expect(loAt - NOW).toBe(want.minMs);
          break;
        }
      }
    },
  );

  it("a resource_constraint decided by the peer backs off instead of waiting for local resources", () => {
    const policy = new ReconnectPolicy();
    expect(policy.strategyFor("resource_constraint", "remote").kind).toBe("backoff");
    const d = scheduler(() => 0).onDisconnect("p", { reason: "resource_constraint", initiator: "remote" }, NOW);
    expect(d).toEqual({ action: "scheduled", at: NOW + 1_000, suppressed: false });
  });
});

describe("a connection lost without the peer's Goodbye (crash, reset, EOF)", () => {
  it("is redialed after a jittered backoff with a floor, never at once", () => {
    const d = scheduler(() => 0).onDisconnect("p", { reason: "connection_lost", initiator: "remote" }, NOW);
    expect(d).toEqual({ action: "scheduled", at: NOW + 1_000, suppressed: false });
  });

  it("backs off further while the peer stays unreachable (the restarting peer refuses the dials)", () => {
    const s = scheduler(() => ALMOST_ONE);
    const first = s.onDisconnect("p", { reason: "connection_lost", initiator: "remote" }, NOW).at! - NOW;
    const caps = [first, ...[0, 1, 2].map(() => s.onDialFailed("p", NOW).at! - NOW)];
    expect(caps).toEqual([4_999, 9_999, 19_999, 39_999]);
  });
});

describe("a peer's retry-after (Goodbye retry_after_ms)", () => {
  it("is the floor of the next attempt after a capacity refusal (resource_constraint from the peer)", () => {
    for (const random of [() => 0, () => ALMOST_ONE]) {
      const d = scheduler(random).onDisconnect("p", { reason: "resource_constraint", initiator: "remote", retryAfterMs: 30_000 }, NOW);
      expect(d).toMatchObject({ action: "scheduled", at: NOW + 30_000 });
    }
  });

  it("is the floor when the refusal ends a redial's handshake, and does not shorten a longer backoff", () => {
    const s = scheduler(() => 0);
    s.onDisconnect("p", { reason: "timeout" }, NOW);
    expect(s.onDialFailed("p", NOW, { reason: "resource_constraint", initiator: "remote", retryAfterMs: 45_000 })).toMatchObject({ at: NOW + 45_000 });
    const long = scheduler(() => ALMOST_ONE);
    expect(long.onDisconnect("p", { reason: "resource_constraint", initiator: "remote", retryAfterMs: 2_000 }, NOW).at! - NOW).toBe(4_999);
  });

  it("is capped at maxRetryAfterMs (a hostile hint cannot park a peer forever)", () => {
    const s = new ReconnectScheduler({ random: () => 0, dampening: false, policy: { maxRetryAfterMs: 60_000 } });
    expect(s.onDisconnect("p", { reason: "resource_constraint", initiator: "remote", retryAfterMs: 10 * 86_400_000 }, NOW)).toMatchObject({
      at: NOW + 60_000,
    });
  });
});

describe("backoff delays", () => {
  const timeout = validateBackoff({ baseMs: 1000, factor: 2, maxMs: 300_000, minMs: 0, jitter: "full" });

  it("grow by the factor per attempt until the cap", () => {
    expect([0, 1, 2, 3, 8, 9, 50].map((a) => backoffDelay(timeout, a, () => ALMOST_ONE))).toEqual([
      999, 1999, 3999, 7999, 255_999, 299_999, 299_999,
    ]);
  });

  it("with full jitter are uniform between 0 and the cap", () => {
    expect(backoffDelay(timeout, 3, () => 0.25)).toBe(2000);
    expect(backoffDelay(timeout, 3, () => 0)).toBe(0);
  });

  it("without jitter are exactly the cap", () => {
    const fixed = validateBackoff({ ...timeout, jitter: "none" });
    expect(backoffDelay(fixed, 2, () => 0)).toBe(4000);
  });

  it("treat a random source out of range as its nearest bound and NaN as 1", () => {
    expect(backoffDelay(timeout, 0, () => -5)).toBe(0);
    expect(backoffDelay(timeout, 0, () => 7)).toBe(1000);
    expect(backoffDelay(timeout, 0, () => Number.NaN)).toBe(1000);
  });
});

describe("a policy with bad options", () => {
  it.each([
    ["a zero base", { dialFailureBackoff: { baseMs: 0, factor: 2, maxMs: 10, minMs: 0, jitter: "full" } }],
    ["a factor below 1", { dialFailureBackoff: { baseMs: 1, factor: 0.5, maxMs: 10, minMs: 0, jitter: "full" } }],
    ["a max below the base", { dialFailureBackoff: { baseMs: 10, factor: 2, maxMs: 5, minMs: 0, jitter: "full" } }],
    ["a floor above the max", { dialFailureBackoff: { baseMs: 1, factor: 2, maxMs: 5, minMs: 6, jitter: "full" } }],
    ["an unknown jitter", { dialFailureBackoff: { baseMs: 1, factor: 2, maxMs: 5, minMs: 0, jitter: "half" } }],
    ["an unknown reason", { strategies: { bored: { kind: "never" } } }],
    ["an unknown strategy kind", { strategies: { normal: { kind: "sometimes" } } }],
    ["a negative resource wait", { strategies: { resource_constraint: { kind: "after_resources", maxWaitMs: -1 } } }],
    ["a negative retry-after cap", { maxRetryAfterMs: -1 }],
  ])("(%s) is rejected with INVALID_ARGUMENT", (_, options) => {
    throwsWithCode(() => new ReconnectPolicy(options as never), ErrorCode.INVALID_ARGUMENT);
  });

  it("overrides only the strategies it names", () => {
    const policy = new ReconnectPolicy({ strategies: { normal: { kind: "never" } } });
    expect(policy.strategyFor("normal").kind).toBe("never");
    expect(policy.strategyFor("network_restructure").kind).toBe("immediate");
  });
});
