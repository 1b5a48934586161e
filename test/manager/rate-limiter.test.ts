import { describe, expect, it } from "vitest";
import { ErrorCode, isPeerlinkError } from "../../src/errors.js";
import { PerKeyRateLimiter } from "../../src/manager/rate-limiter.js";

describe("a per-IP rate limiter", () => {
  it("allows a burst per key, then refuses until tokens refill", () => {
    const limiter = new PerKeyRateLimiter({ capacity: 3, refillPerSecond: 1, maxKeys: 10 });
    expect([1, 2, 3].map(() => limiter.tryTake("a", 0))).toEqual([true, true, true]);
    expect(limiter.tryTake("a", 0)).toBe(false);
    expect(limiter.msUntil("a", 0)).toBe(1000);
    expect(limiter.tryTake("a", 999)).toBe(false);
    expect(limiter.tryTake("a", 1000)).toBe(true);
  });

  it("keeps keys independent", () => {
    const limiter = new PerKeyRateLimiter({ capacity: 1, refillPerSecond: 0, maxKeys: 10 });
    expect(limiter.tryTake("a", 0)).toBe(true);
    expect(limiter.tryTake("a", 0)).toBe(false);
    expect(limiter.tryTake("b", 0)).toBe(true);
  });

  it("reports the capacity and no wait for an untracked key without creating it", () => {
    const limiter = new PerKeyRateLimiter({ capacity: 2, refillPerSecond: 1, maxKeys: 10 });
    expect(limiter.available("x", 0)).toBe(2);
    expect(limiter.msUntil("x", 0)).toBe(0);
    expect(limiter.has("x")).toBe(false);
    expect(limiter.size).toBe(0);
  });

  it("forgets full buckets on sweep and keeps the others", () => {
    const limiter = new PerKeyRateLimiter({ capacity: 2, refillPerSecond: 1, maxKeys: 10 });
    limiter.tryTake("old", 0);
    limiter.tryTake("new", 900);
    expect(limiter.sweep(1000)).toBe(1);
    expect(limiter.has("old")).toBe(false);
    expect(limiter.has("new")).toBe(true);
  });

  it("rejects bad options with INVALID_ARGUMENT", () => {
    for (const options of [
      { capacity: 0, refillPerSecond: 1, maxKeys: 1 },
      { capacity: 1, refillPerSecond: -1, maxKeys: 1 },
      { capacity: 1, refillPerSecond: 1, maxKeys: 0 },
      { capacity: 1, refillPerSecond: 1, maxKeys: 1.5 },
      { capacity: Number.POSITIVE_INFINITY, refillPerSecond: 1, maxKeys: 1 },
    ]) {
      expect(() => new PerKeyRateLimiter(options)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }) as unknown as Error,
      );
      try {
        new PerKeyRateLimiter(options);
      } catch (error) {
        expect(isPeerlinkError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
      }
    }
  });
});

describe("a per-IP rate limiter under a flood of source addresses", () => {
  it("never tracks more than maxKeys during a 100 000-key flood in one instant", () => {
    const limiter = new PerKeyRateLimiter({ capacity: 5, refillPerSecond: 1, maxKeys: 10_000 });
    let maxSeen = 0;
    let admitted = 0;
    for (let i = 0; i < 100_000; i++) {
      if (limiter.tryTake(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 0)) admitted++;
      if (limiter.size > maxSeen) maxSeen = limiter.size;
    }
    expect(admitted).toBe(100_000); // every new key starts with a full bucket
    expect(maxSeen).toBe(10_000);
    expect(limiter.size).toBe(10_000);
  });

  it("never tracks more than maxKeys when the flood is spread over time", () => {
    const limiter = new PerKeyRateLimiter({ capacity: 5, refillPerSecond: 1, maxKeys: 500 });
    let maxSeen = 0;
    for (let i = 0; i < 100_000; i++) {
      limiter.tryTake(`k${i}`, i); // one new key per millisecond
      if (limiter.size > maxSeen) maxSeen = limiter.size;
    }
    expect(maxSeen).toBe(500);
  });

  it("evicts full buckets before the least recently used one", () => {
    const limiter = new PerKeyRateLimiter({ capacity: 2, refillPerSecond: 1, maxKeys: 3 });
    limiter.tryTake("oldest-but-busy", 0);
    limiter.tryTake("oldest-but-busy", 0); // empty bucket: needs 2 s to be full
    limiter.tryTake("full-soon", 500); // one token taken: full again at 1500
    limiter.tryTake("recent", 1400);
    limiter.tryTake("newcomer", 1600);
    expect(limiter.has("full-soon")).toBe(false);
    expect(limiter.has("oldest-but-busy")).toBe(true);
    expect(limiter.has("recent")).toBe(true);
    expect(limiter.has("newcomer")).toBe(true);
  });

  it("evicts the least recently used key when no bucket is full", () => {
    const limiter = new PerKeyRateLimiter({ capacity: 2, refillPerSecond: 0.001, maxKeys: 3 });
    limiter.tryTake("a", 0);
    limiter.tryTake("b", 1);
    limiter.tryTake("c", 2);
    limiter.tryTake("a", 3); // a becomes the most recently used
    limiter.tryTake("d", 4);
    expect(limiter.has("b")).toBe(false);
    expect(["a", "c", "d"].every((k) => limiter.has(k))).toBe(true);
  });

  it("keeps limiting a busy key while other keys come and go below the bound", () => {
    const limiter = new PerKeyRateLimiter({ capacity: 1, refillPerSecond: 0, maxKeys: 100 });
    expect(limiter.tryTake("attacker", 0)).toBe(true);
    for (let i = 0; i < 50; i++) limiter.tryTake(`other${i}`, 0);
    expect(limiter.tryTake("attacker", 0)).toBe(false);
  });
});
