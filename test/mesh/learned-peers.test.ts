/**
 * Which learned peers make room, sans-IO: learned peers hold at most their share, a full database takes a new
 * learned peer only in a learned peer's place, and the place is taken from the group that reported the most
 * (the incoming peer's own group on a tie), oldest first; peers that no longer count are dropped first.
 */
import { describe, expect, it } from "vitest";
import { LearnedPeers } from "../../src/mesh/learned-peers.js";

const never = (): boolean => false;

describe("LearnedPeers", () => {
  it("admits freely below its bound and with room in the database", () => {
    const learned = new LearnedPeers(4);
    for (const p of ["a", "b", "c", "d"]) expect(learned.admit(p, "g1", false, never)).toEqual({ admit: true, evict: [] });
    expect(learned.size).toBe(4);
  });

  it("at its bound, takes the place of the oldest peer of the group that reported the most", () => {
    const learned = new LearnedPeers(5);
    for (const p of ["h1", "h2", "h3"]) learned.admit(p, "honest", false, never);
    for (const p of ["x1", "x2"]) learned.admit(p, "other", false, never);
    // "other" would hold 3 with the new peer, "honest" holds 3: the incoming group wins the tie.
    expect(learned.admit("x3", "other", false, never)).toEqual({ admit: true, evict: ["x1"] });
    // A new group (1 with the new peer) against "honest" (3): the largest group gives up its oldest.
    expect(learned.admit("n1", "new", false, never)).toEqual({ admit: true, evict: ["h1"] });
    expect(learned.has("h1")).toBe(false);
    expect(learned.size).toBe(5);
  });

  it("spreads a flood from many groups so that every group keeps a share", () => {
    const learned = new LearnedPeers(100);
    for (let i = 0; i < 32; i++) learned.admit(`honest-${i}`, "honest", false, never);
    for (let g = 0; g < 40; g++) for (let i = 0; i < 32; i++) learned.admit(`attacker-${g}-${i}`, `g${g}`, false, never);
    expect(learned.size).toBe(100);
    const honest = Array.from({ length: 32 }, (_, i) => `honest-${i}`).filter((p) => learned.has(p)).length;
    // 41 groups share 100 places: about 2 each.
    expect(honest).toBeGreaterThanOrEqual(2);
  });

  it("with the database full, admits a new peer only in a learned peer's place", () => {
    const learned = new LearnedPeers(10);
    expect(learned.admit("a", "g1", true, never)).toEqual({ admit: false, evict: [] });
    expect(learned.size).toBe(0);
    learned.admit("b", "g1", false, never);
    // g2 would hold 1, as g1 does: a tie keeps what is held.
    expect(learned.admit("c", "g2", true, never)).toEqual({ admit: false, evict: [] });
    learned.admit("d", "g1", false, never);
    expect(learned.admit("c", "g2", true, never)).toEqual({ admit: true, evict: ["b"] });
  });

  it("drops the peers that no longer count before taking a place", () => {
    const learned = new LearnedPeers(3);
    for (const p of ["a", "b", "c"]) learned.admit(p, "g1", false, never);
    const gone = new Set(["b"]);
    expect(learned.admit("d", "g2", false, (p) => gone.has(p))).toEqual({ admit: true, evict: [] });
    expect(learned.has("b")).toBe(false);
    expect(learned.size).toBe(3);
  });

  it("forgets a peer, and admits one it holds again without counting it twice", () => {
    const learned = new LearnedPeers(2);
    learned.admit("a", "g1", false, never);
    learned.admit("a", "g2", false, never);
    expect(learned.size).toBe(1);
    learned.forget("a");
    expect(learned.has("a")).toBe(false);
    expect(learned.size).toBe(0);
  });
});
