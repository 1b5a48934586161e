import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { DialBackoff } from "../../src/peers/dial-backoff.js";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";
import { throwsWithCode } from "../helpers/error-code.js";

describe("the per-address dial backoff (fake clock)", () => {
  it("doubles the wait with each consecutive failure up to the cap, per address", () => {
    const b = new DialBackoff({ initialMs: 1_000, maxMs: 5_000 });
    const waits: number[] = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      const s = b.failed("10.0.0.1:1", now);
      waits.push(s.retryAt - now);
      now = s.retryAt;
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
    expect(b.check("10.0.0.2:1", 0)).toBeUndefined();
  });

  it("is in force until its retry time, not after, and a success or a clear ends it", () => {
    const b = new DialBackoff({ initialMs: 1_000 });
    b.failed("10.0.0.1:1", 100);
    expect(b.check("10.0.0.1:1", 1_099)).toEqual({ failures: 1, retryAt: 1_100 });
    expect(b.check("10.0.0.1:1", 1_100)).toBeUndefined();
    b.failed("10.0.0.1:1", 2_000);
    expect(b.check("10.0.0.1:1", 2_001)?.failures).toBe(2);
    b.succeeded("10.0.0.1:1");
    expect(b.check("10.0.0.1:1", 2_001)).toBeUndefined();
    // The count restarted: the next failure waits the initial time again.
    expect(b.failed("10.0.0.1:1", 3_000).retryAt).toBe(4_000);
    b.failed("10.0.0.2:1", 3_000);
    expect(b.clear("10.0.0.1:1")).toBe(1);
    expect(b.check("10.0.0.2:1", 3_001)).toBeDefined();
    expect(b.clear()).toBe(1);
    expect(b.size).toBe(0);
  });

  it("stays bounded under a flood of failing addresses, forgetting the window that ends first", () => {
    const b = new DialBackoff({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) b.failed(`10.0.${i >> 8}.${i & 255}:1`, i);
    expect(b.size).toBe(100);
    expect(b.check("10.0.39.15:1", 10_000)).toBeDefined(); // i = 9999, the newest
    expect(b.check("10.0.0.0:1", 0)).toBeUndefined();
  });

  it("never overflows: the wait stays at the cap after thousands of failures", () => {
    const b = new DialBackoff({ initialMs: 1_000, maxMs: 60_000 });
    let s = b.failed("a:1", 0);
    for (let i = 0; i < 5_000; i++) s = b.failed("a:1", 0);
    expect(s.retryAt).toBe(60_000);
  });

  it("rejects bad options with INVALID_ARGUMENT", () => {
    throwsWithCode(() => new DialBackoff({ initialMs: -1 }), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => new DialBackoff({ initialMs: 10, maxMs: 5 }), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => new DialBackoff({ maxEntries: 0 }), ErrorCode.INVALID_ARGUMENT);
  });

  it("is owned by the peer database, configured through its options", () => {
    const db = new PeerDatabase({ store: new MemoryPeerStore(), dialBackoff: { initialMs: 7, maxMs: 7 } });
    expect(db.dialBackoff.failed("10.0.0.1:1", 0).retryAt).toBe(7);
  });
});
