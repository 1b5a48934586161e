import { describe, expect, it } from "vitest";
import { pooledRandomBytes } from "../../src/util/random-pool.js";

describe("pooled random bytes", () => {
  it("never hands out the same bytes twice, across pool refills", () => {
    const seen = new Set<string>();
    // 32-byte nonces across several 4 KiB refills: a repeat would mean overlapping or reused pool bytes.
    for (let i = 0; i < 1000; i++) {
      const nonce = pooledRandomBytes(32);
      expect(nonce.length).toBe(32);
      const hex = Buffer.from(nonce).toString("hex");
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
    }
  });

  it("returns copies: bytes handed out do not change when the pool refills", () => {
    const nonce = pooledRandomBytes(32);
    const before = Buffer.from(nonce).toString("hex");
    for (let i = 0; i < 300; i++) pooledRandomBytes(32); // > 4 KiB: at least one refill
    expect(Buffer.from(nonce).toString("hex")).toBe(before);
  });

  it("serves lengths larger than the pool", () => {
    const big = pooledRandomBytes(10_000);
    expect(big.length).toBe(10_000);
    expect(new Set(big).size).toBeGreaterThan(200);
  });
});
