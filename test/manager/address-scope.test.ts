import { describe, expect, it } from "vitest";
import { addressScope, mayAdvertise } from "../../src/manager/address-scope.js";

describe("the scope of an address", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["169.254.10.1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "shared"],
    ["100.127.255.255", "shared"],
    ["198.18.0.1", "private"],
    ["198.19.255.1", "private"],
    ["192.0.0.1", "private"],
    ["fec0::1", "private"],
    ["64:ff9b::10.0.0.5", "private"],
    ["64:ff9b::127.0.0.1", "loopback"],
    ["64:ff9b::8.8.8.8", "public"],
    ["2002:a00:5::1", "private"],
    ["2002:7f00:1::1", "loopback"],
    ["2002:808:808::1", "public"],
    ["::7f00:1", "unroutable"],
    ["localhost", "loopback"],
    ["LOCALHOST.", "loopback"],
    ["foo.localhost", "loopback"],
    ["ip6-localhost", "loopback"],
    ["notlocalhost.example", "name"],
    ["fd12:3456::1", "private"],
    ["172.32.0.1", "public"],
    ["100.128.0.1", "public"],
    ["198.20.0.1", "public"],
    ["192.0.1.1", "public"],
    ["8.8.8.8", "public"],
    ["2001:db8::1", "public"],
    ["0.0.0.0", "unroutable"],
    ["0.1.2.3", "unroutable"],
    ["224.0.0.1", "unroutable"],
    ["255.255.255.255", "unroutable"],
    ["::", "unroutable"],
    ["ff02::1", "unroutable"],
    ["example.com", "name"],
  ])("%s is %s", (host, scope) => {
    expect(addressScope(host)).toBe(scope);
  });
});

describe("which advertised addresses a peer may have recorded", () => {
  const advertised = {
    loopback: "127.0.0.1:22",
    linkLocal: "169.254.1.1:4001",
    private: "10.0.0.5:6379",
    shared: "100.64.9.9:4001",
    localhostName: "localhost:22",
    public: "8.8.8.8:4001",
    name: "peer.example.com:4001",
    multicast: "224.0.0.1:4001",
  };
  const allowed = (remote: string) =>
    Object.entries(advertised)
      .filter(([, a]) => mayAdvertise(a, remote))
      .map(([k]) => k);

  it("from a loopback peer: everything routable (local meshes and tests)", () => {
    expect(allowed("127.0.0.1:50000")).toEqual(["loopback", "linkLocal", "private", "shared", "localhostName", "public", "name"]);
    expect(allowed("[::1]:50000")).toEqual(["loopback", "linkLocal", "private", "shared", "localhostName", "public", "name"]);
  });

  it("from a private peer: private, carrier-NAT, public and names, never this host's loopback (not even by name)", () => {
    expect(allowed("192.168.1.20:50000")).toEqual(["private", "shared", "public", "name"]);
    expect(allowed("fd00::7")).toEqual(["private", "shared", "public", "name"]);
    expect(mayAdvertise("foo.localhost:22", "10.0.0.9:5000")).toBe(false);
  });

  it("from a peer behind carrier-grade NAT: public and carrier-NAT addresses, not this node's private ones", () => {
    expect(allowed("100.70.1.2:50000")).toEqual(["shared", "public"]);
  });

  it("from a link-local peer: link-local as well", () => {
    expect(allowed("169.254.3.3:50000")).toEqual(["linkLocal", "private", "shared", "public", "name"]);
  });

  it("from a public peer: public IP addresses only, no names (one could resolve to localhost or 10.x when dialed)", () => {
    expect(allowed("203.0.113.9:50000")).toEqual(["public"]);
    expect(allowed("[2001:db8::9]:50000")).toEqual(["public"]);
    expect(mayAdvertise("localhost:22", "203.0.113.9:50000")).toBe(false);
    // IPv6 forms that carry a private or loopback IPv4 address are judged by it.
    expect(mayAdvertise("[64:ff9b::10.0.0.5]:6379", "203.0.113.9:50000")).toBe(false);
    expect(mayAdvertise("[2002:7f00:1::1]:22", "203.0.113.9:50000")).toBe(false);
    expect(mayAdvertise("[fec0::1]:22", "203.0.113.9:50000")).toBe(false);
  });

  it("never from an unparseable or unroutable remote address, and never a malformed advertised one", () => {
    expect(allowed("not an address")).toEqual([]);
    expect(allowed("0.0.0.0:1")).toEqual([]);
    expect(mayAdvertise("8.8.8.8", "127.0.0.1:1")).toBe(false); // no port
    expect(mayAdvertise("8.8.8.8:0", "127.0.0.1:1")).toBe(false);
  });
});
