/** Weighted tags on a fake clock: sums, replacement, expiry, decay (closed form against stepping), bounds. */
import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { MAX_TAGS_PER_PEER, PeerTags, type TagDecay } from "../../src/peers/peer-tags.js";
import { prng } from "../helpers/seeded-random.js";

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof PeerlinkError ? e.code : `not a PeerlinkError: ${String(e)}`;
  }
  return undefined;
}

describe("peer tags", () => {
  it("sums a peer's tags; setting a tag again replaces it; untag removes it", () => {
    const tags = new PeerTags();
    expect(tags.value("p", 0)).toBe(0);
    tags.tag("p", "a", { value: 10 }, 0);
    tags.tag("p", "b", { value: -3 }, 0);
    tags.tag("q", "a", { value: 7 }, 0);
    expect(tags.value("p", 0)).toBe(7);
    tags.tag("p", "a", { value: 1 }, 5);
    expect(tags.value("p", 5)).toBe(-2);
    expect(tags.untag("p", "b")).toBe(true);
    expect(tags.untag("p", "b")).toBe(false);
    expect(tags.tagsOf("p", 5)).toEqual([{ name: "a", value: 1, expiresAt: undefined }]);
    expect(tags.value("q", 5)).toBe(7);
    tags.untag("p", "a");
    expect(tags.size).toBe(1); // a peer without tags is forgotten
  });

  it("drops a tag at its expiry, exactly", () => {
    const tags = new PeerTags();
    tags.tag("p", "short", { value: 5, ttlMs: 1000 }, 100);
    tags.tag("p", "long", { value: 1 }, 100);
    expect(tags.value("p", 1099)).toBe(6);
    expect(tags.value("p", 1100)).toBe(1);
    expect(tags.tagsOf("p", 1100).map((t) => t.name)).toEqual(["long"]);
  });

  it("decays step by step: linear to 0 and removed, multiplicative towards 0, negatives towards 0", () => {
    const tags = new PeerTags();
    tags.tag("p", "lin", { value: 10, decay: { intervalMs: 100, by: 3 } }, 0);
    expect([0, 99, 100, 250, 300, 399].map((t) => tags.value("p", t))).toEqual([10, 10, 7, 4, 1, 1]);
    expect(tags.value("p", 400)).toBe(0);
    expect(tags.tagsOf("p", 400)).toEqual([]);
    tags.tag("q", "half", { value: 64, decay: { intervalMs: 10, factor: 0.5 } }, 0);
    expect([0, 10, 20, 60].map((t) => tags.value("q", t))).toEqual([64, 32, 16, 1]);
    expect(tags.value("q", 10 * 60)).toBe(0); // 64 / 2^60: below the epsilon, gone
    tags.tag("r", "neg", { value: -10, decay: { intervalMs: 100, by: 4 } }, 0);
    expect([0, 100, 200, 300].map((t) => tags.value("r", t))).toEqual([-10, -6, -2, 0]);
  });

  it("computes decay in closed form equal to stepping (seeded cases)", () => {
    const random = prng(16);
    for (let run = 0; run < 300; run++) {
      const value = Math.round((random() - 0.3) * 1000);
      const decay: TagDecay = { intervalMs: 1 + Math.floor(random() * 1000), by: random() < 0.5 ? 0 : random() * 20, factor: random() < 0.3 ? 1 : 0.5 + random() * 0.5 };
      if (decay.by === 0 && decay.factor === 1) continue;
      const tags = new PeerTags();
      tags.tag("p", "t", { value, decay }, 0);
      const steps = Math.floor(random() * 50);
      let m = Math.abs(value);
      for (let i = 0; i < steps; i++) m = Math.max(0, m * (decay.factor ?? 1) - (decay.by ?? 0));
      const expected = m > 1e-6 ? Math.sign(value) * m : 0;
      expect(tags.value("p", steps * decay.intervalMs), JSON.stringify({ value, decay, steps })).toBeCloseTo(expected, 6);
    }
  });

  it("costs the same to read however long ago a decaying tag was set", () => {
    const tags = new PeerTags();
    tags.tag("p", "t", { value: 1e9, decay: { intervalMs: 1, factor: 0.999999999 } }, 0);
    expect(tags.value("p", Number.MAX_SAFE_INTEGER)).toBe(0);
  });

  it("rejects bad names and options with INVALID_ARGUMENT, and bounds tags per peer", () => {
    const tags = new PeerTags();
    expect(code(() => tags.tag("p", "", {}, 0))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => tags.tag("p", "x".repeat(129), {}, 0))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => tags.tag("p", "t", { value: Number.NaN }, 0))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => tags.tag("p", "t", { value: 2e9 }, 0))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => tags.tag("p", "t", { ttlMs: 0 }, 0))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => tags.tag("p", "t", { decay: { intervalMs: 0, by: 1 } }, 0))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => tags.tag("p", "t", { decay: { intervalMs: 10, factor: 1.5 } }, 0))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => tags.tag("p", "t", { decay: { intervalMs: 10 } }, 0))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(tags.size).toBe(0);
    for (let i = 0; i < MAX_TAGS_PER_PEER; i++) tags.tag("p", `t${i}`, { value: 1, ttlMs: 10 }, 0);
    expect(code(() => tags.tag("p", "one-more", { value: 1 }, 5))).toBe(ErrorCode.INVALID_ARGUMENT);
    tags.tag("p", "t0", { value: 2 }, 5); // replacing one is fine
    tags.tag("p", "one-more", { value: 1 }, 10); // the expired ones made room
    expect(tags.value("p", 10)).toBe(3);
  });
});
