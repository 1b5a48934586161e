/**
 * MaintenanceCore, the sans-IO maintenance cycle: a fake clock, plain counter
 * objects for connections, and a tiny world that performs the core's actions
 * (pongs come back after a set RTT, or never). No sockets, no timers.
 */
import { describe, expect, it } from "vitest";
import type { MutableConnectionStats } from "../../src/connection/stats.js";
import { emptyConnectionStats } from "../../src/connection/stats.js";
import { HealthGrade } from "../../src/health/types.js";
import type { Entry } from "../../src/maintenance/connection-table.js";
import type { MaintenanceAction } from "../../src/maintenance/maintenance-actions.js";
import { LATE_TIMER_MS, MaintenanceCore } from "../../src/maintenance/maintenance-core.js";
import { resolveMaintenanceOptions, type MaintenanceOptions } from "../../src/maintenance/maintenance-options.js";
import { pickReplacement, type CandidateSource } from "../../src/maintenance/replacement.js";
import { DialBackoff } from "../../src/peers/dial-backoff.js";

const T0 = 1_000_000;

/** A connection as the core sees it: counters, an RTT for answering pings (`undefined`: never answers). */
interface FakeConn {
  readonly name: string;
  readonly stats: MutableConnectionStats;
  rttMs: number | undefined;
}

type Action = MaintenanceAction<FakeConn>;

/** Runs a core on a fake clock and performs its actions the way the adapter does (pongs after `rttMs`). */
class World {
  now = T0;
  readonly core: MaintenanceCore<FakeConn>;
  /** Every action performed, with the time. */
  readonly log: { at: number; action: Action }[] = [];
  readonly #pongs: { at: number; entry: Entry<FakeConn>; nonce: number; timestampUs: number }[] = [];

  constructor(options: MaintenanceOptions) {
    this.core = new MaintenanceCore(resolveMaintenanceOptions({ engine: "js", ...options }), (conn) => conn.stats);
    this.core.start(this.now);
  }

  /** Opens a connection whose pongs take `rttMs` (`undefined`: it never answers). */
  open(name: string, rttMs: number | undefined): Entry<FakeConn> {
    return this.core.open({ name, stats: emptyConnectionStats(), rttMs }, name, this.now);
  }

  /** Bytes arriving at the current time (the connection's counters, as its reader sees them). */
  receive(entry: Entry<FakeConn>, bytes = 100): void {
    const s = entry.handle.stats;
    s.bytesIn += bytes;
    s.framesIn += 1;
    s.lastReceivedAt = this.now;
  }

  /** Advances the clock to `until`, firing the core's deadlines and the pongs in order. */
  runUntil(until: number, every?: { periodMs: number; run: () => void }): void {
    let nextPeriodic = every === undefined ? Number.POSITIVE_INFINITY : this.now + every.periodMs;
    for (let steps = 0; steps < 1_000_000; steps++) {
      const pong = this.#pongs.reduce((m, p) => Math.min(m, p.at), Number.POSITIVE_INFINITY);
      const next = Math.min(this.core.nextDeadline(), pong, nextPeriodic);
      if (next > until) break;
      this.now = Math.max(this.now, next);
      if (nextPeriodic <= this.now) {
        every?.run();
        nextPeriodic += every?.periodMs ?? 0;
      }
      for (const p of this.#pongs.filter((q) => q.at <= this.now)) {
        this.#pongs.splice(this.#pongs.indexOf(p), 1);
        if (p.entry.removed) continue;
        this.receive(p.entry, 12);
        this.core.onPong(p.entry, p.nonce, p.timestampUs, this.now);
      }
      if (this.core.nextDeadline() <= this.now) this.perform(this.core.tick(this.now));
    }
    this.now = until;
  }

  perform(actions: readonly Action[]): void {
    for (const action of actions) {
      this.log.push({ at: this.now, action });
      if (action.type === "ping" && action.entry.handle.rttMs !== undefined) {
        this.#pongs.push({ at: this.now + action.entry.handle.rttMs, entry: action.entry, nonce: action.nonce, timestampUs: action.timestampUs });
      }
      if (action.type === "close") this.core.remove(action.entry);
    }
  }

  /** Times (relative to T0) of the actions of `type` about `entry`. */
  times(type: Action["type"], entry?: Entry<FakeConn>): number[] {
    return this.log
      .filter((l) => l.action.type === type && (entry === undefined || ("entry" in l.action && l.action.entry === entry)))
      .map((l) => l.at - T0);
  }

  of<K extends Action["type"]>(type: K): Extract<Action, { type: K }>[] {
    return this.log.map((l) => l.action).filter((a): a is Extract<Action, { type: K }> => a.type === type);
  }
}

describe("the ping schedule", () => {
  it("sends the RTT ping at open, then a keepalive ping after each quiet ping interval, and none while traffic flows", () => {
    const world = new World({ pingIntervalMs: 1_000, rttSampleIntervalMs: 1e9, healthCheckIntervalMs: 10_000, minCycleIntervalMs: 0 });
    const quiet = world.open("quiet", 5);
    const busy = world.open("busy", 5);
    world.runUntil(T0 + 3_500, { periodMs: 200, run: () => world.receive(busy) });
    // Each pong arrives 5 ms after its ping and counts as received: the next ping is one interval after it.
    expect(world.times("ping", quiet)).toEqual([0, 1_005, 2_010, 3_015]);
    expect(world.times("ping", busy)).toEqual([0]);
    expect(world.core.inspect(quiet, world.now).srttMs).toBe(5);
  });
});

describe("declaring a peer dead", () => {
  it("closes a peer that sends nothing for the inactivity timeout, exactly then, and forgets it", () => {
    const world = new World({
      pingIntervalMs: 1_000,
      minPongTimeoutMs: 500,
      maxPongTimeoutMs: 1_000,
      maxMissedPongs: 10,
      inactivityTimeoutMs: 2_500,
    });
    const silent = world.open("silent", undefined);
    const alive = world.open("alive", 1);
    world.runUntil(T0 + 10_000);
    const closes = world.of("close");
    expect(closes).toHaveLength(1);
    expect(closes[0]).toMatchObject({ entry: silent, reason: "timeout", detail: "inactivity: nothing received for 2500 ms", timeoutMs: 0 });
    expect(world.times("close")).toEqual([2_500]);
    expect(silent.dead).toBe(true);
    expect(world.core.size).toBe(1);
    expect(world.times("ping", silent).every((t) => t <= 2_500)).toBe(true);
    expect(alive.dead).toBe(false);
  });

  it("closes a peer that misses maxMissedPongs pongs in a row", () => {
    const world = new World({ pingIntervalMs: 1_000, maxMissedPongs: 3, minPongTimeoutMs: 500, maxPongTimeoutMs: 500 });
    const silent = world.open("silent", undefined);
    world.runUntil(T0 + 10_000);
    expect(world.times("ping", silent)).toEqual([0, 1_000, 1_500, 2_000]);
    expect(world.of("close")).toEqual([expect.objectContaining({ detail: "keepalive: 3 consecutive pings unanswered", missed: 3 })]);
    expect(world.times("close")).toEqual([2_500]);
  });
});

describe("a late timer", () => {
  /** A peer sending every 100 ms; the process is then blocked for 5 s, longer than the inactivity timeout. */
  function blocked(): { world: World; entry: Entry<FakeConn>; planned: number } {
    const world = new World({ pingIntervalMs: 1_000, maxPongTimeoutMs: 1_000, inactivityTimeoutMs: 3_000 });
    const entry = world.open("talker", 1);
    world.runUntil(T0 + 2_000, { periodMs: 100, run: () => world.receive(entry) });
    const planned = world.core.nextDeadline();
    world.now = planned + 5_000;
    return { world, entry, planned };
  }

  it("yields once, so data that arrived during the block is read before the peer is judged", () => {
    const { world, entry, planned } = blocked();
    expect(world.core.tick(world.now, planned)).toEqual([{ type: "yield" }]);
    world.receive(entry); // the adapter's one event-loop turn: the socket's data is read, counted now
    const actions = world.core.tick(world.now, planned);
    expect(actions.filter((a) => a.type === "close")).toEqual([]);
    expect(entry.dead).toBe(false);
  });

  it("judges on the retry all the same: a peer that really sent nothing is closed", () => {
    const { world, entry, planned } = blocked();
    expect(world.core.tick(world.now, planned)).toEqual([{ type: "yield" }]);
    const actions = world.core.tick(world.now, planned);
    expect(actions).toContainEqual(expect.objectContaining({ type: "close", entry, reason: "timeout" }));
  });

  it("does not yield for a timer within the lateness bound", () => {
    const world = new World({ pingIntervalMs: 1_000 });
    world.open("a", 1);
    const planned = world.core.nextDeadline();
    expect(world.core.tick(planned + LATE_TIMER_MS, planned).some((a) => a.type === "yield")).toBe(false);
  });
});

describe("health publication", () => {
  /** Excellent (1 ms pongs) for 3 s, then 2 s pongs (latency collapses): when is the drop announced? */
  function dropAnnouncedAt(hysteresisSamples: number): { world: World; entry: Entry<FakeConn>; dropAt: number } {
    // No minimum cycle interval: the checks run exactly every 500 ms.
    const world = new World({ pingIntervalMs: 100, healthCheckIntervalMs: 500, hysteresisSamples, minCycleIntervalMs: 0 });
    const entry = world.open("a", 1);
    world.runUntil(T0 + 3_000);
    entry.handle.rttMs = 2_000;
    world.runUntil(T0 + 10_000);
    const changes = world.of("health-change");
    const drop = changes.findIndex((c) => c.from === HealthGrade.EXCELLENT);
    expect(drop, "a drop from Excellent").toBeGreaterThanOrEqual(0);
    const dropAt = world.log.filter((l) => l.action.type === "health-change")[drop]!.at - T0;
    return { world, entry, dropAt };
  }

  it("announces the first grade at once, and a change only after hysteresisSamples checks agree", () => {
    const once = dropAnnouncedAt(1);
    const twice = dropAnnouncedAt(2);
    const first = twice.world.of("health-change")[0]!;
    expect(first).toMatchObject({ from: undefined, entry: twice.entry });
    expect(twice.world.times("health-change")[0]).toBe(500); // the first check
    // The same run, but the second sample is needed: one check interval later.
    expect(twice.dropAt).toBe(once.dropAt + 500);
    const drop = twice.world.of("health-change").find((c) => c.from === HealthGrade.EXCELLENT)!;
    expect(drop.score.grade).toBe(drop.to);
    expect(twice.world.core.health(twice.entry)?.grade).toBe(drop.to);
  });

  it("publishes moved components lazily while the grade holds, and makes the object on first read", () => {
    const world = new World({ pingIntervalMs: 100, healthCheckIntervalMs: 500, hysteresisSamples: 2 });
    const entry = world.open("a", 1);
    world.runUntil(T0 + 3_000);
    const settled = world.core.health(entry);
    expect(settled?.grade).toBe(HealthGrade.EXCELLENT);
    const published = world.of("publish").length;
    entry.handle.rttMs = 20; // still Excellent, latency component moves
    world.runUntil(T0 + 3_600);
    const later = world.of("publish").slice(published);
    expect(later).toEqual([{ type: "publish", entry, score: undefined }]);
    expect(world.core.isLazy(entry)).toBe(true);
    const score = world.core.health(entry)!;
    expect(world.core.isLazy(entry)).toBe(false);
    expect(score.grade).toBe(HealthGrade.EXCELLENT);
    expect(score.latency).toBeLessThan(settled!.latency - 0.005);
    expect(world.core.health(entry)).toBe(score);
  });
});

describe("the replacement decision", () => {
  const options: MaintenanceOptions = {
    pingIntervalMs: 500,
    healthCheckIntervalMs: 500,
    hysteresisSamples: 1,
    degradedReplaceAfterMs: 1_000,
    maxPongTimeoutMs: 5_000,
  };
  /** 2 s pongs and most frames rejected: Poor. */
  function degraded(world: World): Entry<FakeConn> {
    const entry = world.open("bad", 2_000);
    entry.handle.stats.framesIn = 1_000;
    entry.handle.stats.unknownProtocolFrames = 1_000;
    return entry;
  }

  it("asks for a replacement once the published grade has been degraded for degradedReplaceAfterMs, at every check until one is dialed", () => {
    const world = new World(options);
    const entry = degraded(world);
    const good = world.open("good", 1);
    world.runUntil(T0 + 6_000);
    const bad: readonly HealthGrade[] = [HealthGrade.POOR, HealthGrade.CRITICAL];
    const degradedAt = world.log.find((l) => l.action.type === "health-change" && l.action.entry === entry && bad.includes(l.action.to))!.at;
    const asks = world.times("replace", entry);
    expect(asks.length).toBeGreaterThan(1);
    expect(asks[0]).toBe(degradedAt - T0 + 1_000);
    expect(world.times("replace", good)).toEqual([]);

    // A dial in flight: no more asks; the dial failed: asked again at the next check.
    world.core.setReplacing(entry, "candidate");
    const before = asks.length;
    world.runUntil(T0 + 8_000);
    expect(world.times("replace", entry)).toHaveLength(before);
    world.core.setReplacing(entry, undefined);
    world.runUntil(T0 + 8_500);
    expect(world.times("replace", entry)).toHaveLength(before + 1);

    // The replacement opened while it is still degraded: closed once, never asked again.
    expect(world.core.replacementOpened(entry, world.now)).toBeGreaterThanOrEqual(1_000);
    expect(world.core.replacementOpened(entry, world.now)).toBeUndefined();
    world.runUntil(T0 + 10_000);
    expect(world.times("replace", entry)).toHaveLength(before + 1);
  });

  it("never asks when replacement is off", () => {
    const world = new World({ ...options, replaceDegraded: false });
    const entry = degraded(world);
    world.runUntil(T0 + 6_000);
    expect(world.core.inspect(entry, world.now).degradedForMs).toBeGreaterThan(3_000);
    expect(world.of("replace")).toEqual([]);
  });

  it("does not pick a banned peer, whether or not the database's candidates() skips them", () => {
    const records = [{ peerId: "banned" }, { peerId: "fine" }];
    const banned = new Set(["banned"]);
    const honouring: CandidateSource = {
      candidates: ({ exclude, accept }) =>
        records
          .filter((r) => !new Set(exclude).has(r.peerId) && (accept === undefined || accept(r)))
          .map((r) => ({ peerId: r.peerId, addresses: ["127.0.0.1:9"] }))
          .slice(0, 1),
      isBanned: (peerId) => banned.has(peerId),
    };
    const ignoring: CandidateSource = {
      candidates: () => [{ peerId: "banned", addresses: ["127.0.0.1:9"] }],
      isBanned: (peerId) => banned.has(peerId),
    };
    expect(pickReplacement(honouring, T0, new Set())?.peerId).toBe("fine");
    expect(pickReplacement(ignoring, T0, new Set())).toBeUndefined();
    expect(pickReplacement({ candidates: ignoring.candidates }, T0, new Set())?.peerId).toBe("banned"); // no ban owner: as before
  });

  it("passes over a candidate whose every address is in dial backoff, until the backoff ends", () => {
    const backoff = new DialBackoff();
    const source: CandidateSource = {
      candidates: ({ limit }) =>
        [
          { peerId: "failing", addresses: ["127.0.0.1:9"] },
          { peerId: "half", addresses: ["127.0.0.1:9", "127.0.0.2:9"] },
          { peerId: "next", addresses: ["127.0.0.3:9"] },
        ].slice(0, limit),
      dialBackoff: backoff,
    };
    expect(pickReplacement(source, T0, new Set())?.peerId).toBe("failing");
    const { retryAt } = backoff.failed("127.0.0.1:9", T0);
    // A peer with one address out of backoff is still a candidate, dialed at that address only.
    expect(pickReplacement(source, T0, new Set())).toEqual({ peerId: "half", addresses: ["127.0.0.2:9"] });
    backoff.failed("127.0.0.2:9", T0);
    expect(pickReplacement(source, T0, new Set())?.peerId).toBe("next");
    expect(pickReplacement(source, retryAt, new Set())?.peerId).toBe("failing");
  });
});
