import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { FlapDamping } from "../../src/reconnect/flap-damping.js";
import { ReconnectScheduler, type ReconnectSchedulerOptions } from "../../src/reconnect/scheduler.js";
import { throwsWithCode } from "../helpers/error-code.js";

const ALMOST_ONE = 1 - 2 ** -40;
const T0 = 1_700_000_000_000;

function make(options: ReconnectSchedulerOptions = {}): ReconnectScheduler {
  return new ReconnectScheduler({ random: () => 0, ...options });
}

describe("a peer's retry-after hint", () => {
  it("is a floor on a shorter backoff delay", () => {
    const d = make().onDisconnect("p", { reason: "timeout", retryAfterMs: 7_000 }, T0);
    expect(d.at).toBe(T0 + 7_000);
  });

  it("does not shorten a longer backoff delay", () => {
    const s = make({ random: () => ALMOST_ONE });
    expect(s.onDisconnect("p", { reason: "shutdown", retryAfterMs: 100 }, T0).at).toBe(T0 + 9_999);
  });

  it("delays an immediate reconnect, and still holds after a failed dial", () => {
    const s = make();
    expect(s.onDisconnect("p", { reason: "normal", retryAfterMs: 3_000 }, T0).at).toBe(T0 + 3_000);
    expect(s.due(T0 + 2_999)).toEqual([]);
    expect(s.due(T0 + 3_000)).toEqual(["p"]);
    s.onDisconnect("q", { reason: "rate_limited", retryAfterMs: 50_000 }, T0);
    expect(s.onDialFailed("q", T0 + 1).at).toBe(T0 + 50_000);
  });

  it("does not turn never into a reconnect", () => {
    expect(make().onDisconnect("p", { reason: "peer_banned", retryAfterMs: 10 }, T0)).toEqual({ action: "never" });
  });

  it("is clamped to the policy maximum and ignored when negative or not a number", () => {
    const s = make({ policy: { maxRetryAfterMs: 60_000 } });
    expect(s.onDisconnect("a", { reason: "timeout", retryAfterMs: 1e15 }, T0).at).toBe(T0 + 60_000);
    expect(s.onDisconnect("b", { reason: "timeout", retryAfterMs: -5 }, T0).at).toBe(T0);
    expect(s.onDisconnect("c", { reason: "timeout", retryAfterMs: Number.NaN }, T0).at).toBe(T0);
  });
});

describe("the global reconnect budget", () => {
  it("releases 200 peers dropped at once no faster than 10 at once plus 5 a second, and all come back", () => {
    const s = make(); // defaults: burst 10, 5/s; dampening on
    const ids = Array.from({ length: 200 }, (_, i) => `peer-${String(i).padStart(3, "0")}`);
    for (const id of ids) s.onDisconnect(id, { reason: "normal" }, T0);
    const back = new Set<string>();
    let now = T0;
    let calls = 0;
    for (; calls < 1_000 && back.size < ids.length; calls++) {
      for (const id of s.due(now)) {
        expect(back.has(id)).toBe(false);
        back.add(id);
        s.onConnected(id);
      }
      // Never more than the burst plus what the elapsed time refilled.
      expect(back.size).toBeLessThanOrEqual(10 + Math.floor(((now - T0) / 1000) * 5 + 1e-6));
      const next = s.nextDeadline();
      if (next === undefined) break;
      expect(next).toBeGreaterThan(now);
      now = next;
    }
    expect(back.size).toBe(200);
    expect(calls).toBeLessThan(1_000);
    // (200 - 10) / 5 per second = 38 s.
    expect(now - T0).toBeGreaterThanOrEqual(37_800);
    expect(now - T0).toBeLessThanOrEqual(38_500);
    expect(s.nextDeadline()).toBeUndefined();
  });

  it("serves previously healthy peers first, then the earliest due", () => {
    const s = make({ budget: { capacity: 3, refillPerSecond: 1 } });
    s.onDisconnect("unhealthy-early", { reason: "normal", wasHealthy: false }, T0);
    s.onDisconnect("unknown", { reason: "normal" }, T0 + 1);
    s.onDisconnect("healthy-late", { reason: "normal", wasHealthy: true }, T0 + 3);
    s.onDisconnect("healthy-early", { reason: "normal", wasHealthy: true }, T0 + 2);
    s.onDisconnect("unhealthy-late", { reason: "normal", wasHealthy: false }, T0 + 4);
    expect(s.due(T0 + 10)).toEqual(["healthy-early", "healthy-late", "unhealthy-early"]);
    expect(s.due(T0 + 10)).toEqual([]);
    expect(s.nextDeadline()).toBe(T0 + 1_010);
    expect(s.due(T0 + 1_010)).toEqual(["unknown"]);
    expect(s.due(T0 + 2_010)).toEqual(["unhealthy-late"]);
  });
});

describe("flap dampening", () => {
  const damping = new FlapDamping();

  it("does not suppress a peer that dropped twice", () => {
    const s = make();
    s.onDisconnect("p", { reason: "normal" }, T0);
    s.onConnected("p");
    const d = s.onDisconnect("p", { reason: "normal" }, T0 + 1_000);
    expect(d).toEqual({ action: "scheduled", at: T0 + 1_000, suppressed: false });
  });

  it("suppresses a peer that dropped three times quickly until its penalty decays below reuse", () => {
    const s = make();
    for (let i = 0; i < 2; i++) {
      s.onDisconnect("p", { reason: "normal" }, T0 + i * 1_000);
      s.onConnected("p");
    }
    const d = s.onDisconnect("p", { reason: "normal" }, T0 + 2_000);
    expect(d.suppressed).toBe(true);
    const release = d.at!;
    // Three penalties of 1000 at 1 s intervals (~2970), halving every 60 s down to 750: about 2 minutes.
    expect(release - (T0 + 2_000)).toBeGreaterThan(110_000);
    expect(release - (T0 + 2_000)).toBeLessThan(125_000);
    expect(s.due(T0 + 2_000)).toEqual([]);
    expect(s.due(release - 1)).toEqual([]);
    // Hysteresis: halfway down the penalty is below suppress but above reuse, and the peer is still held.
    const halfway = s.status("p", release - 40_000)!;
    expect(halfway.penalty).toBeLessThan(2_000);
    expect(halfway.penalty).toBeGreaterThan(750);
    expect(halfway.suppressed).toBe(true);
    expect(s.status("p", release)!.penalty).toBeLessThanOrEqual(750 + 1e-6);
    expect(s.nextDeadline()).toBe(release);
    expect(s.due(release)).toEqual(["p"]);
    expect(s.status("p", release)!.suppressed).toBe(false);
  });

  it("counts a protocol violation double, so a second one suppresses", () => {
    const s = make();
    s.onDisconnect("p", { reason: "protocol_violation" }, T0);
    s.onConnected("p");
    expect(s.onDisconnect("p", { reason: "protocol_violation" }, T0 + 20_000).suppressed).toBe(true);
  });

  it("never suppresses longer than the maximum suppression time after the last disconnect", () => {
    const s = make();
    // 1000 flaps would be a penalty of a million; the cap is 750 · 2^(10 min / 1 min) = 768 000.
    for (let i = 0; i < 1_000; i++) s.onDisconnect("p", { reason: "normal" }, T0 + i);
    const d = s.onDisconnect("p", { reason: "normal" }, T0 + 1_000);
    expect(d.at! - (T0 + 1_000)).toBeLessThanOrEqual(10 * 60_000);
    expect(d.at! - (T0 + 1_000)).toBeGreaterThan(10 * 60_000 - 1_000);
  });

  it("follows the documented decay: the penalty halves every half-life", () => {
    const state = damping.onDisconnect(damping.initial(0), "normal", 0);
    expect(damping.penaltyAt(state, 60_000)).toBeCloseTo(500, 6);
    expect(damping.penaltyAt(state, 120_000)).toBeCloseTo(250, 6);
  });

  it("can be disabled", () => {
    const s = make({ dampening: false });
    for (let i = 0; i < 10; i++) s.onDisconnect("p", { reason: "normal" }, T0);
    expect(s.due(T0)).toEqual(["p"]);
  });

  it("rejects reuse not below suppress with INVALID_ARGUMENT", () => {
    throwsWithCode(() => make({ dampening: { reuseThreshold: 3000 } }), ErrorCode.INVALID_ARGUMENT);
  });
});

describe("backoff progress", () => {
  it("grows with each failed dial and resets when a connection is established", () => {
    const s = make({ random: () => ALMOST_ONE, dampening: false });
    s.onDisconnect("p", { reason: "timeout" }, T0);
    expect(s.onDialFailed("p", T0).at).toBe(T0 + 1_999);
    expect(s.onDialFailed("p", T0).at).toBe(T0 + 3_999);
    expect(s.status("p", T0)?.attempt).toBe(2);
    s.onConnected("p");
    expect(s.status("p", T0)?.attempt).toBe(0);
    expect(s.onDisconnect("p", { reason: "timeout" }, T0).at).toBe(T0 + 999);
  });

  it("after an immediate reconnect fails, follows the dial-failure backoff", () => {
    const s = make({ random: () => ALMOST_ONE, dampening: false });
    s.onDisconnect("p", { reason: "normal" }, T0);
    expect(s.due(T0)).toEqual(["p"]);
    expect(s.onDialFailed("p", T0 + 10).at).toBe(T0 + 10 + 1_999);
  });

  it("is reported in the peer record's form", () => {
    const s = make({ random: () => 0.5, dampening: false });
    s.onDisconnect("p", { reason: "timeout" }, T0);
    s.onDialFailed("p", T0);
    expect(s.backoffOf("p")).toEqual({ attempt: 1, nextAttemptAt: T0 + 1_000 });
    expect(s.backoffOf("unknown")).toBeUndefined();
  });
});

describe("waiting for local resources", () => {
  it("holds the peer until resourcesAvailable, then releases it at once", () => {
    const s = make();
    s.onDisconnect("p", { reason: "resource_constraint" }, T0);
    expect(s.due(T0 + 5_000)).toEqual([]);
    expect(s.resourcesAvailable(T0 + 5_000)).toEqual(["p"]);
    expect(s.due(T0 + 5_000)).toEqual(["p"]);
  });

  it("releases only as many peers as slots freed, healthy ones first", () => {
    const s = make();
    s.onDisconnect("a", { reason: "resource_constraint" }, T0);
    s.onDisconnect("b", { reason: "resource_constraint", wasHealthy: true }, T0 + 1);
    s.onDisconnect("c", { reason: "resource_constraint" }, T0 + 2);
    expect(s.resourcesAvailable(T0 + 10, 2)).toEqual(["b", "a"]);
    expect(s.status("c", T0 + 10)?.waitingForResources).toBe(true);
  });

  it("redials anyway after the fallback wait when the signal never comes", () => {
    const s = make();
    s.onDisconnect("p", { reason: "resource_constraint" }, T0);
    expect(s.nextDeadline()).toBe(T0 + 60_000);
    expect(s.due(T0 + 59_999)).toEqual([]);
    expect(s.due(T0 + 60_000)).toEqual(["p"]);
  });
});

describe("explicit scheduling", () => {
  it("schedule() re-admits a peer the policy gave up on; cancel() withdraws it", () => {
    const s = make();
    expect(s.onDisconnect("p", { reason: "incompatible_version" }, T0).action).toBe("never");
    expect(s.schedule("p", 500, T0)).toEqual({ action: "scheduled", at: T0 + 500, suppressed: false });
    s.cancel("p");
    expect(s.due(T0 + 1_000)).toEqual([]);
    expect(s.nextDeadline()).toBeUndefined();
  });

  it("a peer returned by due() is no longer scheduled", () => {
    const s = make();
    s.onDisconnect("p", { reason: "normal" }, T0);
    expect(s.due(T0)).toEqual(["p"]);
    expect(s.due(T0 + 100_000)).toEqual([]);
  });

  it("an already_connected duplicate changes nothing and adds no penalty", () => {
    const s = make();
    for (let i = 0; i < 5; i++) expect(s.onDisconnect("p", { reason: "already_connected" }, T0).action).toBe("none");
    expect(s.status("p", T0)).toBeUndefined();
  });

  it("forgets peers with nothing left to remember", () => {
    const s = make();
    s.onDisconnect("p", { reason: "normal" }, T0);
    s.due(T0);
    s.onConnected("p");
    s.onDisconnect("q", { reason: "timeout" }, T0);
    s.onDialFailed("q", T0);
    s.cancel("q");
    s.onDisconnect("r", { reason: "self_connection" }, T0);
    s.due(T0 + 30_000);
    expect(s.size).toBe(2); // p and q still carry a penalty; r never had one
    s.due(T0 + 60 * 60_000); // the penalties have decayed to nothing
    expect(s.size).toBe(0);
  });
});

describe("persistence", () => {
  it("round-trips backoff, waiting, retry-after floors and dampening through JSON", () => {
    const options: ReconnectSchedulerOptions = { random: () => 0.5 };
    const s = new ReconnectScheduler(options);
    s.onDisconnect("backoff", { reason: "timeout", wasHealthy: true }, T0);
    s.onDialFailed("backoff", T0);
    s.onDialFailed("backoff", T0);
    s.onDisconnect("waiting", { reason: "resource_constraint" }, T0);
    s.onDisconnect("floored", { reason: "rate_limited", initiator: "remote", retryAfterMs: 90_000 }, T0);
    for (let i = 0; i < 3; i++) s.onDisconnect("flappy", { reason: "normal" }, T0 + i);
    s.onDisconnect("never", { reason: "self_connection" }, T0);

    const restored = ReconnectScheduler.fromJSON(JSON.parse(JSON.stringify(s)), options);
    expect(restored.toJSON()).toEqual(s.toJSON());
    for (const id of ["backoff", "waiting", "floored", "flappy", "never"]) {
      expect(restored.status(id, T0 + 5)).toEqual(s.status(id, T0 + 5));
    }
    expect(restored.nextDeadline()).toBe(s.nextDeadline());
    // The restored backoff continues where it was: the next failure is attempt 3.
    expect(restored.onDialFailed("backoff", T0).at).toBe(T0 + 4_000);
    expect(restored.resourcesAvailable(T0 + 1)).toEqual(["waiting"]);
    expect(restored.due(T0 + 89_999)).toEqual(["backoff", "waiting"]);
    // The retry-after floor survived; the flapping peer is still suppressed.
    expect(restored.due(T0 + 90_000)).toEqual(["floored"]);
    expect(restored.status("flappy", T0 + 90_000)?.suppressed).toBe(true);
  });

  it("rejects state of the wrong shape with DATABASE_CORRUPT", () => {
    const good = make();
    good.onDisconnect("p", { reason: "timeout" }, T0);
    const json = JSON.parse(JSON.stringify(good)) as { peers: Array<Record<string, unknown>> };
    const bad: unknown[] = [
      null,
      { version: 2, peers: [] },
      { version: 1 },
      { version: 1, peers: [{ ...json.peers[0], attempt: -1 }] },
      { version: 1, peers: [{ ...json.peers[0], reason: "bored" }] },
      { version: 1, peers: [{ ...json.peers[0], flap: null }] },
      { version: 1, peers: [{ ...json.peers[0], peerId: "" }] },
    ];
    for (const state of bad) throwsWithCode(() => ReconnectScheduler.fromJSON(state), ErrorCode.DATABASE_CORRUPT);
  });
});

describe("bad input", () => {
  it("is rejected with a PeerlinkError", () => {
    const s = make();
    throwsWithCode(() => s.onDisconnect("p", { reason: "bored" as never }, T0), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => s.onDisconnect("p", { reason: "normal" }, Number.NaN), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => s.schedule("p", -1, T0), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => s.onDisconnect("", { reason: "normal" }, T0), ErrorCode.INVALID_PEER_ID);
    throwsWithCode(() => make({ budget: { capacity: 0, refillPerSecond: 1 } }), ErrorCode.INVALID_ARGUMENT);
  });
});
