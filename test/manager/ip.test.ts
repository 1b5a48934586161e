import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import {
  formatHostPort,
  ipFamily,
  isIp,
  normalizeHostPort,
  normalizeIp,
  parseHostPort,
  parseSubnet,
  subnetKey,
} from "../../src/manager/ip.js";
import { throwsWithCode } from "../helpers/error-code.js";

function expectInvalid(fn: () => unknown): void {
  throwsWithCode(fn, ErrorCode.INVALID_ARGUMENT);
}

describe("normalizing IP addresses for per-IP keys", () => {
  it("unmaps IPv4-mapped IPv6 addresses to plain IPv4", () => {
    expect(normalizeIp("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(normalizeIp("::FFFF:7f00:1")).toBe("127.0.0.1");
    expect(normalizeIp("0:0:0:0:0:ffff:10.1.2.3")).toBe("10.1.2.3");
  });

  it("writes IPv6 in the RFC 5952 form: lower case, longest zero run compressed", () => {
    expect(normalizeIp("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(normalizeIp("2001:0db8:0000:0001:0000:0000:0000:0001")).toBe("2001:db8:0:1::1");
    expect(normalizeIp("0:0:0:0:0:0:0:0")).toBe("::");
    expect(normalizeIp("::1")).toBe("::1");
    expect(normalizeIp("1:0:0:2:0:0:0:3")).toBe("1:0:0:2::3");
    expect(normalizeIp("1:0:0:2:0:0:3:4")).toBe("1::2:0:0:3:4");
    expect(normalizeIp("1:2:3:4:5:6:0:8")).toBe("1:2:3:4:5:6:0:8");
  });

  it("drops zone ids and brackets", () => {
    expect(normalizeIp("fe80::1%eth0")).toBe("fe80::1");
    expect(normalizeIp("[2001:db8::1]")).toBe("2001:db8::1");
    expect(normalizeIp("[fe80::AB%en0]")).toBe("fe80::ab");
  });

  it("keeps canonical IPv4 as is and reads an embedded IPv4 tail in IPv6", () => {
    expect(normalizeIp("192.168.1.20")).toBe("192.168.1.20");
    expect(normalizeIp("64:ff9b::1.2.3.4")).toBe("64:ff9b::102:304");
  });

  it.each([
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3.4%eth0",
    "::1::2",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "12345::1",
    "g::1",
    "localhost",
    "1.2.3.4:80",
    ":1:2:3:4:5:6:7",
    "::ffff:1.2.3.256",
  ])("rejects %j with INVALID_ARGUMENT", (input) => {
    expectInvalid(() => normalizeIp(input));
    expect(isIp(input)).toBe(false);
    expect(ipFamily(input)).toBeUndefined();
  });

  it("reports the family after unmapping", () => {
    expect(ipFamily("10.0.0.1")).toBe(4);
    expect(ipFamily("::ffff:10.0.0.1")).toBe(4);
    expect(ipFamily("2001:db8::1")).toBe(6);
  });

  it("is idempotent on random IPv6 addresses", () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const once = normalizeIp(ip);
        expect(normalizeIp(once)).toBe(once);
        expect(normalizeIp(once.toUpperCase())).toBe(once);
      }),
      { numRuns: 300 },
    );
  });

  it("is the identity on random canonical IPv4 addresses", () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(normalizeIp(ip)).toBe(ip);
        expect(normalizeIp(`::ffff:${ip}`)).toBe(ip);
      }),
      { numRuns: 300 },
    );
  });
});

describe("computing subnet keys", () => {
  it("masks IPv4 to the prefix", () => {
    expect(subnetKey("127.0.0.1", 24, 56)).toBe("127.0.0.0/24");
    expect(subnetKey("10.20.30.40", 16, 56)).toBe("10.20.0.0/16");
    expect(subnetKey("10.20.30.40", 32, 56)).toBe("10.20.30.40/32");
    expect(subnetKey("10.20.30.40", 0, 56)).toBe("0.0.0.0/0");
    expect(subnetKey("10.20.30.255", 25, 56)).toBe("10.20.30.128/25");
  });

  it("masks IPv6 to the prefix", () => {
    expect(subnetKey("2001:db8:0:1ab::1", 24, 56)).toBe("2001:db8:0:100::/56");
    expect(subnetKey("2001:db8:ffff:ffff::1", 24, 48)).toBe("2001:db8:ffff::/48");
    expect(subnetKey("::1", 24, 128)).toBe("::1/128");
  });

  it("treats IPv4-mapped IPv6 as IPv4", () => {
    expect(subnetKey("::ffff:192.168.7.9", 24, 56)).toBe("192.168.7.0/24");
  });

  it("rejects bad prefixes and addresses", () => {
    expectInvalid(() => subnetKey("1.2.3.4", 33, 56));
    expectInvalid(() => subnetKey("1.2.3.4", 24, 129));
    expectInvalid(() => subnetKey("1.2.3.4", 1.5, 56));
    expectInvalid(() => subnetKey("nope", 24, 56));
  });

  it("parses CIDR blocks, clearing host bits", () => {
    expect(parseSubnet("1.2.3.4/24")).toEqual({ family: 4, prefix: 24, key: "1.2.3.0/24" });
    expect(parseSubnet("2001:DB8::1/32").key).toBe("2001:db8::/32");
    expect(parseSubnet("::ffff:1.2.3.4/120")).toEqual({ family: 4, prefix: 24, key: "1.2.3.0/24" });
    for (const bad of ["1.2.3.4", "1.2.3.4/33", "1.2.3.4/-1", "1.2.3.4/ 8", "x/8", "fe80::1%eth0/64"]) {
      expectInvalid(() => parseSubnet(bad));
    }
  });
});

describe("parsing host:port strings", () => {
  it("parses IPv4, host names and bracketed IPv6", () => {
    expect(parseHostPort("127.0.0.1:4001")).toEqual({ host: "127.0.0.1", port: 4001 });
    expect(parseHostPort("node-1.example.org:65535")).toEqual({ host: "node-1.example.org", port: 65535 });
    expect(parseHostPort("localhost:1")).toEqual({ host: "localhost", port: 1 });
    expect(parseHostPort("[::1]:4001")).toEqual({ host: "::1", port: 4001 });
    expect(parseHostPort("[FE80::1%eth0]:80")).toEqual({ host: "fe80::1%eth0", port: 80 });
  });

  it.each([
    "",
    "127.0.0.1",
    "127.0.0.1:",
    "127.0.0.1:0",
    "127.0.0.1:65536",
    "127.0.0.1:80a",
    "127.0.0.1:+80",
    "::1:4001",
    "[::1]",
    "[::1]4001",
    "[1.2.3.4]:80",
    "[nothex]:80",
    ":4001",
    "bad host:80",
    "1.2.3.256:80",
    "-leading.example:80",
    "a..b:80",
  ])("rejects %j with INVALID_ARGUMENT", (input) => {
    expectInvalid(() => parseHostPort(input));
  });

  it("rejects non-strings without crashing", () => {
    expectInvalid(() => parseHostPort(undefined as unknown as string));
    expectInvalid(() => parseHostPort(42 as unknown as string));
  });

  it("formats IPv6 hosts with brackets and round-trips through the parser", () => {
    expect(formatHostPort("::1", 4001)).toBe("[::1]:4001");
    expect(formatHostPort("[::1]", 4001)).toBe("[::1]:4001");
    expect(formatHostPort("10.0.0.1", 80)).toBe("10.0.0.1:80");
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6().map(normalizeIp)), fc.integer({ min: 1, max: 65535 }), (host, port) => {
        expect(parseHostPort(formatHostPort(host, port))).toEqual({ host, port });
      }),
      { numRuns: 300 },
    );
  });

  it("rejects bad ports and empty hosts when formatting", () => {
    expectInvalid(() => formatHostPort("", 1));
    expectInvalid(() => formatHostPort("a", 0));
    expectInvalid(() => formatHostPort("a", 1.5));
  });
});

describe("parsed addresses kept for reuse", () => {
  it("give the same answers past the cache's size (it is cleared when full) and after a value was read", () => {
    // 3,000 distinct addresses, each read twice: the cache fills and clears several times.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3000; i++) {
        const v4 = `10.${(i >> 8) & 255}.${i & 255}.1`;
        expect(normalizeIp(`::ffff:${v4}`)).toBe(v4);
        expect(ipFamily(`::ffff:${v4}`)).toBe(4);
        expect(subnetKey(v4, 24, 56)).toBe(`10.${(i >> 8) & 255}.${i & 255}.0/24`);
      }
    }
    // A shared parse must not be changed by a caller: masking for a subnet key leaves the address intact.
    expect(subnetKey("2001:db8:0:1ab::1", 24, 56)).toBe("2001:db8:0:100::/56");
    expect(normalizeIp("2001:db8:0:1ab::1")).toBe("2001:db8:0:1ab::1");
  });
});

describe("host:port strings kept for reuse", () => {
  it("parse to the same answer every time, each caller getting its own object", () => {
    const first = parseHostPort("[2001:DB8::1]:4001");
    first.host = "changed";
    first.port = 1;
    expect(parseHostPort("[2001:DB8::1]:4001")).toEqual({ host: "2001:db8::1", port: 4001 });
    expect(parseHostPort("[2001:DB8::1]:4001")).not.toBe(parseHostPort("[2001:DB8::1]:4001"));
  });

  it("keep port 0 for listen addresses only, also once the same text was parsed", () => {
    expect(parseHostPort("127.0.0.1:0", { allowPortZero: true })).toEqual({ host: "127.0.0.1", port: 0 });
    expect(() => parseHostPort("127.0.0.1:0")).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(parseHostPort("127.0.0.1:7", { allowPortZero: true })).toEqual({ host: "127.0.0.1", port: 7 });
  });

  it("normalize to formatHostPort(parseHostPort(text)), past the cache's size, and refuse bad text every time", () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3000; i++) {
        const text = i % 2 === 0 ? `10.0.${i & 255}.1:${1 + i}` : `[2001:DB8::${i.toString(16)}]:${1 + i}`;
        const { host, port } = parseHostPort(text);
        expect(normalizeHostPort(text)).toBe(formatHostPort(host, port));
      }
    }
    for (let round = 0; round < 2; round++) {
      expect(() => normalizeHostPort("::1:80")).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    }
  });
});

describe("subnetKey's cache of recent keys", () => {
  it("answers each prefix pair with its own key, past the cache size, and still checks the prefixes on a hit", () => {
    const addresses = Array.from({ length: 1100 }, (_, i) => `10.${i >> 8}.${i & 255}.7`);
    for (let round = 0; round < 2; round++) {
      for (const ip of addresses) {
        const [a, b, c] = ip.split(".");
        expect(subnetKey(ip, 24, 56)).toBe(`${a}.${b}.${c}.0/24`);
        expect(subnetKey(ip, 16, 56)).toBe(`${a}.${b}.0.0/16`);
      }
    }
    expect(subnetKey("2001:db8:0:1ab::1", 24, 56)).toBe("2001:db8:0:100::/56");
    expect(subnetKey("2001:db8:0:1ab::1", 24, 48)).toBe("2001:db8::/48");
    // Pairs past the number of caches kept, then the first pair again.
    const masked = (p: number): string => {
      const n = p === 0 ? 0 : ((((10 << 24) | (20 << 16) | (30 << 8) | 40) >>> 0) & (0xffffffff << (32 - p))) >>> 0;
      return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${p}`;
    };
    for (let p = 8; p <= 32; p++) expect(subnetKey("10.20.30.40", p, 56)).toBe(masked(p));
    expect(subnetKey("10.20.30.40", 24, 56)).toBe("10.20.30.0/24");
    // A cached address with a bad prefix is refused as before.
    throwsWithCode(() => subnetKey("10.20.30.40", 33, 56), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => subnetKey("10.20.30.40", 24.5, 56), ErrorCode.INVALID_ARGUMENT);
  });
});
