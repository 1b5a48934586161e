import { describe, expect, it } from "vitest";
import { ErrorCode, isPeerlinkError } from "../../src/errors.js";
import { KeepaliveTracker, type KeepaliveAction } from "../../src/maintenance/keepalive.js";

/** Nonces counting up from `first`, for tests that name them. */
function counter(first: number): () => number {
  let next = first;
  return () => next++;
}

/** Asserts the action is a ping and returns it. */
function expectPing(action: KeepaliveAction): { nonce: number; timestampUs: number } {
  expect(action.type).toBe("ping");
  if (action.type !== "ping") throw new Error("unreachable");
  return action;
}

describe("a quiet connection with default options", () => {
  it("schedules the first ping exactly one ping interval after creation", () => {
    const ka = new KeepaliveTracker({ nonces: counter(7) }, 0);
    expect(ka.nextDeadline()).toBe(15_000);
    expect(ka.poll(14_999)).toEqual({ type: "none" });
    expect(ka.poll(15_000)).toEqual({ type: "ping", nonce: 7, timestampUs: 15_000_000 });
    expect(ka.pingsSent).toBe(1);
    expect(ka.pingOutstanding).toBe(true);
  });

  it("waits the maximum pong timeout for the first pong", () => {
    const ka = new KeepaliveTracker({}, 0);
    expectPing(ka.poll(15_000));
    expect(ka.nextDeadline()).toBe(25_000);
    expect(ka.poll(24_999)).toEqual({ type: "none" });
  });

  it("sends the next ping immediately after a missed pong", () => {
    const ka = new KeepaliveTracker({ nonces: counter(1) }, 0);
    expectPing(ka.poll(15_000));
    const second = expectPing(ka.poll(25_000));
    expect(second.nonce).toBe(2);
    expect(ka.consecutiveMissed).toBe(1);
    expect(ka.nextDeadline()).toBe(35_000);
  });

  it("declares the peer dead exactly at the third consecutive missed pong", () => {
    const ka = new KeepaliveTracker({}, 0);
    expectPing(ka.poll(15_000));
    expectPing(ka.poll(25_000));
    expectPing(ka.poll(35_000));
    expect(ka.poll(44_999)).toEqual({ type: "none" });
    expect(ka.consecutiveMissed).toBe(2);
    expect(ka.poll(45_000)).toEqual({ type: "dead", cause: "missed_pongs", missed: 3 });
    expect(ka.isDead).toBe(true);
  });

  it("stays dead and has no further deadline once dead", () => {
    const ka = new KeepaliveTracker({ maxMissedPongs: 1 }, 0);
    expectPing(ka.poll(15_000));
    const dead = ka.poll(25_000);
    expect(dead).toEqual({ type: "dead", cause: "missed_pongs", missed: 1 });
    ka.onFrameReceived(25_001);
    expect(ka.poll(99_000)).toEqual(dead);
    expect(ka.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it("draws every ping's nonce afresh by default, so a peer cannot answer the next ping before it is sent", () => {
    const ka = new KeepaliveTracker({}, 0);
    const nonces: number[] = [];
    // Each ping goes unanswered past its timeout, and the next is sent.
    for (let t = 15_000; nonces.length < 3; t += 5_000) {
      const action = ka.poll(t);
      if (action.type === "ping") nonces.push(action.nonce);
    }
    // Sequential nonces (the old scheme) differ by 1; three random ones almost never do (p ≈ 2^-31).
    expect(nonces[1]! - nonces[0]! === 1 && nonces[2]! - nonces[1]! === 1).toBe(false);
    expect(nonces.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff)).toBe(true);
  });
});

describe("a connection with application traffic flowing", () => {
  it("never pings while frames arrive more often than the ping interval", () => {
    const ka = new KeepaliveTracker({}, 0);
    for (let t = 0; t <= 120_000; t += 1_000) {
      if (t % 5_000 === 0) ka.onFrameReceived(t);
      expect(ka.poll(t).type).toBe("none");
    }
    expect(ka.pingsSent).toBe(0);
  });

  it("pings one ping interval after the last received frame", () => {
    const ka = new KeepaliveTracker({}, 0);
    ka.onFrameReceived(4_000);
    expect(ka.nextDeadline()).toBe(19_000);
    expect(ka.poll(18_999).type).toBe("none");
    expect(ka.poll(19_000).type).toBe("ping");
  });

  it("still pings when only outgoing frames flow, since sending proves nothing about the peer", () => {
    const ka = new KeepaliveTracker({}, 0);
    for (let t = 0; t < 15_000; t += 1_000) ka.onFrameSent(t);
    expect(ka.lastSentAt).toBe(14_000);
    expect(ka.poll(15_000).type).toBe("ping");
  });

  it("resets the consecutive misses on any received frame", () => {
    const ka = new KeepaliveTracker({}, 0);
    expectPing(ka.poll(15_000));
    expectPing(ka.poll(25_000));
    expectPing(ka.poll(35_000));
    expect(ka.consecutiveMissed).toBe(2);
    ka.onFrameReceived(36_000);
    expect(ka.consecutiveMissed).toBe(0);
    // The outstanding ping still times out, but it is now the first miss.
    expect(ka.poll(45_000).type).toBe("none");
    expect(ka.consecutiveMissed).toBe(1);
    expectPing(ka.poll(51_000));
    expectPing(ka.poll(61_000));
    expect(ka.poll(71_000)).toEqual({ type: "dead", cause: "missed_pongs", missed: 3 });
  });
});

describe("pongs from the peer", () => {
  it("return the RTT sample for the outstanding ping and reset the ping timer", () => {
    const ka = new KeepaliveTracker({}, 0);
    const ping = expectPing(ka.poll(15_000));
    expect(ka.onPong(ping.nonce, ping.timestampUs, 15_040)).toBe(40);
    expect(ka.pongsReceived).toBe(1);
    expect(ka.pingOutstanding).toBe(false);
    expect(ka.rtt.srtt).toBe(40);
    expect(ka.nextDeadline()).toBe(30_040);
  });

  it("are ignored for an unknown nonce or a changed timestamp", () => {
    const ka = new KeepaliveTracker({}, 0);
    const ping = expectPing(ka.poll(15_000));
    expect(ka.onPong(ping.nonce + 1, ping.timestampUs, 15_010)).toBeUndefined();
    expect(ka.onPong(ping.nonce, ping.timestampUs + 1, 15_010)).toBeUndefined();
    expect(ka.pongsReceived).toBe(0);
    expect(ka.rtt.samples).toBe(0);
    expect(ka.pingOutstanding).toBe(true);
  });

  it("still count as a sign of life when they match nothing", () => {
    const ka = new KeepaliveTracker({}, 0);
    expectPing(ka.poll(15_000));
    expectPing(ka.poll(25_000));
    expect(ka.onPong(12345, 0, 26_000)).toBeUndefined();
    expect(ka.consecutiveMissed).toBe(0);
    expect(ka.lastReceivedAt).toBe(26_000);
  });

  it("give a true RTT sample when they answer a ping that already timed out", () => {
    const ka = new KeepaliveTracker({}, 0);
    const first = expectPing(ka.poll(15_000));
    expectPing(ka.poll(25_000));
    expect(ka.consecutiveMissed).toBe(1);
    expect(ka.onPong(first.nonce, first.timestampUs, 27_000)).toBe(12_000);
    expect(ka.consecutiveMissed).toBe(0);
    expect(ka.pongsReceived).toBe(1);
    // The second ping is still outstanding.
    expect(ka.pingOutstanding).toBe(true);
  });

  it("count pings sent and pongs received for the reliability score", () => {
    const ka = new KeepaliveTracker({}, 0);
    let t = 15_000;
    for (let i = 0; i < 4; i++) {
      const ping = expectPing(ka.poll(t));
      if (i % 2 === 0) {
        ka.onPong(ping.nonce, ping.timestampUs, t + 20);
        t += 20 + 15_000;
      } else {
        t += 2_000; // pong timeout after the first sample is the 2 s floor
      }
    }
    expect(ka.pingsSent).toBe(4);
    expect(ka.pongsReceived).toBe(2);
  });
});

describe("the adaptive pong timeout", () => {
  it("follows srtt + 4 rttvar after the first sample", () => {
    const ka = new KeepaliveTracker({ minPongTimeoutMs: 50, maxPongTimeoutMs: 10_000 }, 0);
    const ping = expectPing(ka.poll(15_000));
    ka.onPong(ping.nonce, ping.timestampUs, 15_100);
    // srtt 100, rttvar 50
    expect(ka.pongTimeoutMs).toBe(300);
    const next = expectPing(ka.poll(30_100));
    expect(ka.nextDeadline()).toBe(30_400);
    ka.onPong(next.nonce, next.timestampUs, 30_200);
    // rttvar = 0.75*50 + 0.25*0 = 37.5, srtt = 100
    expect(ka.pongTimeoutMs).toBe(250);
  });

  it("grows after a slow pong and shrinks back as pongs are fast again", () => {
    const ka = new KeepaliveTracker({ minPongTimeoutMs: 50, maxPongTimeoutMs: 10_000 }, 0);
    let t = 15_000;
    const answer = (rtt: number): void => {
      const ping = expectPing(ka.poll(t));
      ka.onPong(ping.nonce, ping.timestampUs, t + rtt);
      t += rtt + 15_000;
    };
    for (let i = 0; i < 10; i++) answer(20);
    const steady = ka.pongTimeoutMs;
    answer(1_000);
    const afterSpike = ka.pongTimeoutMs;
    expect(afterSpike).toBeGreaterThan(steady * 4);
    for (let i = 0; i < 20; i++) answer(20);
    expect(ka.pongTimeoutMs).toBeLessThan(afterSpike / 4);
  });

  it("is clamped to the configured minimum and maximum", () => {
    const ka = new KeepaliveTracker({ minPongTimeoutMs: 1_000, maxPongTimeoutMs: 5_000 }, 0);
    const fast = expectPing(ka.poll(15_000));
    ka.onPong(fast.nonce, fast.timestampUs, 15_001);
    expect(ka.pongTimeoutMs).toBe(1_000);
    const other = new KeepaliveTracker({ minPongTimeoutMs: 1_000, maxPongTimeoutMs: 5_000 }, 0);
    const slow = expectPing(other.poll(15_000));
    other.onPong(slow.nonce, slow.timestampUs, 19_000);
    // srtt 4000 + 4 * 2000 = 12000, clamped
    expect(other.pongTimeoutMs).toBe(5_000);
  });
});

describe("the inactivity timeout", () => {
  const options = { maxMissedPongs: 100, inactivityTimeoutMs: 60_000 };

  it("fires exactly when nothing was received for the timeout, not 1 ms before", () => {
    const ka = new KeepaliveTracker(options, 0);
    for (const t of [15_000, 25_000, 35_000, 45_000, 55_000]) expectPing(ka.poll(t));
    expect(ka.nextDeadline()).toBe(60_000);
    expect(ka.poll(59_999)).toEqual({ type: "none" });
    expect(ka.poll(60_000)).toEqual({ type: "dead", cause: "inactivity", missed: 4 });
  });

  it("is pushed back by every received frame", () => {
    const ka = new KeepaliveTracker(options, 0);
    ka.onFrameReceived(10_000);
    for (const t of [25_000, 35_000, 45_000, 55_000, 65_000]) expectPing(ka.poll(t));
    expect(ka.poll(69_999).type).toBe("none");
    expect(ka.poll(70_000)).toMatchObject({ type: "dead", cause: "inactivity" });
  });
});

describe("invalid keepalive options", () => {
  it.each([
    [{ pingIntervalMs: 0 }],
    [{ pingIntervalMs: Number.NaN }],
    [{ maxMissedPongs: 0 }],
    [{ maxMissedPongs: 1.5 }],
    [{ minPongTimeoutMs: 5_000, maxPongTimeoutMs: 1_000 }],
    [{ inactivityTimeoutMs: -1 }],
  ])("are rejected with INVALID_ARGUMENT: %o", (options) => {
    let error: unknown;
    try {
      new KeepaliveTracker(options, 0);
    } catch (e) {
      error = e;
    }
    expect(isPeerlinkError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
  });
});

describe("a keepalive tracker on a wall clock", () => {
  it("puts the low 32 bits of the microsecond clock on the wire and still measures the RTT", () => {
    const start = 1_764_000_000_000; // a Date.now() value: its microseconds do not fit in 32 bits
    const ka = new KeepaliveTracker({ pingIntervalMs: 1_000 }, start);
    const action = ka.poll(start + 1_000);
    expect(action.type).toBe("ping");
    if (action.type !== "ping") return;
    expect(Number.isInteger(action.timestampUs)).toBe(true);
    expect(action.timestampUs).toBeGreaterThanOrEqual(0);
    expect(action.timestampUs).toBeLessThan(2 ** 32);
    expect(action.timestampUs).toBe(((start + 1_000) * 1000) % 2 ** 32);
    expect(ka.onPong(action.nonce, action.timestampUs, start + 1_012)).toBe(12);
  });
});
