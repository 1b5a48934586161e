import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../../src/errors.js";
import { Identity } from "../../../src/identity/identity.js";
import { AllowList, ALLOW_LIST_MAX_ENTRIES } from "../../../src/node/policy/allow-list.js";

describe("the allow-list", () => {
  it("matches listed IPs and CIDR subnets in both families, IPv4-mapped included", () => {
    const list = new AllowList({ addresses: ["10.1.2.3", "192.168.0.0/16", "2001:db8::/32", "::1", "::ffff:172.16.0.0/108"] });
    expect(list.allowsAddress("10.1.2.3")).toBe(true);
    expect(list.allowsAddress("10.1.2.4")).toBe(false);
    expect(list.allowsAddress("::ffff:10.1.2.3")).toBe(true);
    expect(list.allowsAddress("192.168.255.1")).toBe(true);
    expect(list.allowsAddress("192.169.0.1")).toBe(false);
    expect(list.allowsAddress("2001:db8:ffff::1")).toBe(true);
    expect(list.allowsAddress("2001:db9::1")).toBe(false);
    expect(list.allowsAddress("[::1]")).toBe(true);
    expect(list.allowsAddress("::2")).toBe(false);
    // ::ffff:172.16.0.0/108 is 172.16.0.0/12.
    expect(list.allowsAddress("172.31.9.9")).toBe(true);
    expect(list.allowsAddress("172.32.0.1")).toBe(false);
    expect(list.allowsAddress("not-an-ip")).toBe(false);
    expect(list.allowsAddress(undefined)).toBe(false);
    expect(list.entries.addresses).toEqual(["10.1.2.3/32", "192.168.0.0/16", "2001:db8::/32", "::1/128", "172.16.0.0/12"]);
  });

  it("matches /0 as everything of its family only", () => {
    const list = new AllowList({ addresses: ["0.0.0.0/0"] });
    expect(list.allowsAddress("8.8.8.8")).toBe(true);
    expect(list.allowsAddress("2001:db8::1")).toBe(false);
  });

  it("matches peers by printable id, as a string or a PeerId", () => {
    const a = Identity.generate().peerId;
    const b = Identity.generate().peerId;
    const list = new AllowList({ peers: [a.toString()] });
    expect(list.allowsPeer(a)).toBe(true);
    expect(list.allowsPeer(a.toString())).toBe(true);
    expect(list.allowsPeer(b)).toBe(false);
    expect(list.allows(b, "127.0.0.1")).toBe(false);
    expect(list.allows(a, "127.0.0.1")).toBe(true);
    expect(list.empty).toBe(false);
    expect(AllowList.EMPTY.empty).toBe(true);
  });

  it("rejects malformed entries with a typed error naming the entry", () => {
    const bad = (options: ConstructorParameters<typeof AllowList>[0]) => {
      try {
        new AllowList(options);
      } catch (e) {
        expect(e).toBeInstanceOf(PeerlinkError);
        expect((e as PeerlinkError).code).toBe(ErrorCode.INVALID_ARGUMENT);
        return (e as PeerlinkError).rawMessage;
      }
      throw new Error("accepted");
    };
    expect(bad({ addresses: ["10.0.0.0/33"] })).toContain("addresses[0]");
    expect(bad({ addresses: ["10.0.0.1", "example.com"] })).toContain("addresses[1]");
    expect(bad({ addresses: ["fe80::1%eth0/64"] })).toContain("addresses[0]");
    expect(bad({ peers: ["nope"] })).toContain("peers[0]");
    expect(bad({ addresses: new Array(ALLOW_LIST_MAX_ENTRIES + 1).fill("10.0.0.1") })).toContain("at most");
  });
});
