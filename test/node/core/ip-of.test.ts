// ipOf reads `[host]:port` and `host:port` by hand: it must read every string as the two patterns it replaced.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeIp } from "../../../src/manager/ip.js";
import { ipOf } from "../../../src/manager/ip.js";

function byPatterns(address: string): string {
  const match = /^\[(.*)\]:\d+$/.exec(address) ?? /^([^:]+):\d+$/.exec(address);
  try {
    return normalizeIp(match?.[1] ?? address);
  } catch {
    return address;
  }
}

describe("ipOf", () => {
  it("reads addresses with and without brackets, ports and zones", () => {
    expect(ipOf("127.0.0.1:4001")).toBe("127.0.0.1");
    expect(ipOf("[::1]:4001")).toBe("::1");
    expect(ipOf("[::ffff:10.0.0.1]:80")).toBe("10.0.0.1");
    expect(ipOf("::1")).toBe("::1");
    expect(ipOf("[::1]")).toBe("::1");
    expect(ipOf("not an ip:80")).toBe("not an ip:80");
  });

  it("agrees with the patterns on any string made of address pieces", () => {
    const piece = fc.constantFrom("[", "]", ":", "0", "1", "9", "a", "%", "::1", "127.0.0.1", "::ffff:10.0.0.1", "fe80::1%eth0", "80", "٣", " ");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }).map((p) => p.join("")), (address) => {
        expect(ipOf(address)).toBe(byPatterns(address));
      }),
      { numRuns: 5000 },
    );
  });
});
