import { describe, expect, it } from "vitest";
import { DialRace, interleaveFamilies } from "../../src/node/dial-race.js";

const starts = (actions: readonly { type: string; index: number }[]) => actions.filter((a) => a.type === "start").map((a) => a.index);
const aborts = (actions: readonly { type: string; index: number }[]) => actions.filter((a) => a.type === "abort").map((a) => a.index);

describe("the address race (sans-IO, fake clock)", () => {
  it("starts one attempt, then the next only once the stagger has passed while the first still runs", () => {
    const race = new DialRace(3, 250);
    expect(starts(race.start(1_000))).toEqual([0]);
    expect(race.nextDeadline()).toBe(1_250);
    expect(race.tick(1_249)).toEqual([]);
    expect(starts(race.tick(1_250))).toEqual([1]);
    expect(race.nextDeadline()).toBe(1_500);
    expect(starts(race.tick(1_500))).toEqual([2]);
    expect(race.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
    expect(race.running).toBe(3);
  });

  it("starts the next attempt at once when one fails, and fails when the last one does", () => {
    const race = new DialRace(2, 250);
    race.start(0);
    expect(starts(race.failed(0, 10, false))).toEqual([1]);
    expect(race.outcome).toBe("running");
    expect(race.failed(1, 20, false)).toEqual([]);
    expect(race.outcome).toBe("failed");
    expect(race.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it("gives the race to the first attempt that completes and aborts every other one still running", () => {
    const race = new DialRace(3, 250);
    race.start(0);
    race.tick(250);
    race.tick(500);
    const { won, actions } = race.claim(1);
    expect(won).toBe(true);
    expect(aborts(actions).sort()).toEqual([0, 2]);
    expect(race.winner).toBe(1);
    // A late finisher loses: it must discard its connection.
    expect(race.claim(0).won).toBe(false);
    expect(race.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it("stops at a final failure (identity, protocol) and aborts the rest; nothing starts after it", () => {
    const race = new DialRace(3, 250);
    race.start(0);
    race.tick(250);
    expect(aborts(race.failed(1, 300, true))).toEqual([0]);
    expect(race.outcome).toBe("failed");
    expect(race.tick(10_000)).toEqual([]);
  });

  it("starts every attempt at once with a zero stagger, and cancels them all when the dial is abandoned", () => {
    const race = new DialRace(3, 0);
    expect(starts(race.start(0))).toEqual([0, 1, 2]);
    expect(aborts(race.cancel())).toEqual([0, 1, 2]);
    expect(race.outcome).toBe("failed");
  });

  it("fails at once with no address", () => {
    const race = new DialRace(0, 250);
    expect(race.start(0)).toEqual([]);
    expect(race.outcome).toBe("failed");
  });
});

describe("interleaving address families (RFC 8305 section 4)", () => {
  it("alternates IPv6 and IPv4, the family of the first address first, each family in its own order", () => {
    expect(interleaveFamilies(["[::1]:1", "[::2]:2", "[::3]:3", "10.0.0.1:4", "10.0.0.2:5"])).toEqual([
      "[::1]:1",
      "10.0.0.1:4",
      "[::2]:2",
      "10.0.0.2:5",
      "[::3]:3",
    ]);
    expect(interleaveFamilies(["10.0.0.1:4", "10.0.0.2:5", "[::1]:1"])).toEqual(["10.0.0.1:4", "[::1]:1", "10.0.0.2:5"]);
  });

  it("keeps a single family's order, and counts host names as IPv4", () => {
    expect(interleaveFamilies(["10.0.0.2:1", "10.0.0.1:1"])).toEqual(["10.0.0.2:1", "10.0.0.1:1"]);
    expect(interleaveFamilies(["localhost:1", "example.org:2", "[::1]:3"])).toEqual(["localhost:1", "[::1]:3", "example.org:2"]);
  });
});
