import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { TlsSessionCache, sessionCacheKey } from "../../src/transport/session-cache.js";

const ticket = (n: number): Buffer => Buffer.from([n]);

describe("a TLS session cache", () => {
  it("hands out the newest ticket first, each ticket once", () => {
    const cache = new TlsSessionCache();
    cache.add("a:1", ticket(1));
    cache.add("a:1", ticket(2));
    expect(cache.take("a:1")).toEqual(ticket(2));
    expect(cache.take("a:1")).toEqual(ticket(1));
    expect(cache.take("a:1")).toBeUndefined();
    expect(cache.has("a:1")).toBe(false);
  });

  it("keeps at most maxTicketsPerAddress tickets per address, dropping the oldest", () => {
    const cache = new TlsSessionCache({ maxTicketsPerAddress: 2 });
    for (let i = 1; i <= 3; i++) cache.add("a:1", ticket(i));
    expect(cache.take("a:1")).toEqual(ticket(3));
    expect(cache.take("a:1")).toEqual(ticket(2));
    expect(cache.take("a:1")).toBeUndefined();
  });

  it("evicts the least recently used address beyond maxAddresses", () => {
    const cache = new TlsSessionCache({ maxAddresses: 2, maxTicketsPerAddress: 4 });
    cache.add("a:1", ticket(1));
    cache.add("b:1", ticket(2));
    cache.add("a:1", ticket(3)); // a is now the most recently used
    cache.add("c:1", ticket(4)); // evicts b
    expect(cache.size).toBe(2);
    expect(cache.has("b:1")).toBe(false);
    expect(cache.take("a:1")).toEqual(ticket(3));
    expect(cache.take("c:1")).toEqual(ticket(4));
  });

  it("counts taking a ticket as use for the LRU order", () => {
    const cache = new TlsSessionCache({ maxAddresses: 2, maxTicketsPerAddress: 4 });
    cache.add("a:1", ticket(1));
    cache.add("a:1", ticket(2));
    cache.add("b:1", ticket(3));
    cache.take("a:1");
    cache.add("c:1", ticket(4)); // evicts b, not a
    expect(cache.has("a:1")).toBe(true);
    expect(cache.has("b:1")).toBe(false);
  });

  it("skips tickets older than maxAgeMs", () => {
    let now = 1_000;
    const cache = new TlsSessionCache({ maxAgeMs: 100, now: () => now });
    cache.add("a:1", ticket(1));
    now = 1_050;
    cache.add("a:1", ticket(2));
    now = 1_120; // ticket 1 is 120 ms old, ticket 2 70 ms
    expect(cache.take("a:1")).toEqual(ticket(2));
    expect(cache.take("a:1")).toBeUndefined();
  });

  it("keeps the listener's certificate key with each ticket and hands both out together", () => {
    const cache = new TlsSessionCache();
    const key = new Uint8Array(32).fill(7);
    cache.add("a:1", ticket(1));
    cache.add("a:1", ticket(2), key);
    expect(cache.takeTicket("a:1")).toEqual({ session: ticket(2), peerCertificateKey: key });
    expect(cache.takeTicket("a:1")).toEqual({ session: ticket(1), peerCertificateKey: undefined });
    expect(cache.takeTicket("a:1")).toBeUndefined();
  });

  it("hands a node only its own tickets when the cache is shared, leaving the others", () => {
    const cache = new TlsSessionCache();
    cache.add("a:1", ticket(1), null, "node-a");
    cache.add("a:1", ticket(2), null, "node-b");
    expect(cache.takeTicket("a:1", "node-a")?.session).toEqual(ticket(1));
    expect(cache.takeTicket("a:1", "node-a")).toBeUndefined();
    expect(cache.takeTicket("a:1", "node-b")).toEqual({ session: ticket(2), peerCertificateKey: null });
  });

  it("drops expired tickets it passes while looking for the owner's", () => {
    let now = 0;
    const cache = new TlsSessionCache({ maxAgeMs: 100, maxTicketsPerAddress: 4, now: () => now });
    cache.add("a:1", ticket(1), null, "node-a");
    now = 50;
    cache.add("a:1", ticket(2), null, "node-b");
    now = 120; // the first ticket expired
    expect(cache.takeTicket("a:1", "node-a")).toBeUndefined();
    expect(cache.takeTicket("a:1", "node-b")?.session).toEqual(ticket(2));
    expect(cache.has("a:1")).toBe(false);
  });

  it("forgets an address on delete and everything on clear", () => {
    const cache = new TlsSessionCache();
    cache.add("a:1", ticket(1));
    cache.add("b:1", ticket(2));
    cache.delete("a:1");
    expect(cache.has("a:1")).toBe(false);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it.each([{ maxAddresses: 0 }, { maxTicketsPerAddress: 1.5 }, { maxAgeMs: -1 }])(
    "rejects the bound %o with INVALID_ARGUMENT",
    (options) => {
      expect(() => new TlsSessionCache(options)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    },
  );
});

describe("session cache keys", () => {
  it("write IPv4 as host:port and IPv6 in brackets, with or without brackets given", () => {
    expect(sessionCacheKey("127.0.0.1", 4001)).toBe("127.0.0.1:4001");
    expect(sessionCacheKey("::1", 4001)).toBe("[::1]:4001");
    expect(sessionCacheKey("[::1]", 4001)).toBe("[::1]:4001");
    expect(sessionCacheKey("FE80::1", 1)).toBe("[fe80::1]:1");
  });
});
