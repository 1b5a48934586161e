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
    ["100.64.0.1", "private"],
    ["fd12:3456::1", "private"],
    ["172.32.0.1", "public"],
    ["100.128.0.1", "public"],
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
    public: "8.8.8.8:4001",
    name: "peer.example.com:4001",
    multicast: "224.0.0.1:4001",
  };
  const allowed = (remote: string) =>
    Object.entries(advertised)
      .filter(([, a]) => mayAdvertise(a, remote))
      .map(([k]) => k);

  it("from a loopback peer: everything routable (local meshes and tests)", () => {
    expect(allowed("127.0.0.1:50000")).toEqual(["loopback", "linkLocal", "private", "public", "name"]);
    expect(allowed("[::1]:50000")).toEqual(["loopback", "linkLocal", "private", "public", "name"]);
  });

  it("from a private peer: private, public and names, never this host's loopback", () => {
    expect(allowed("192.168.1.20:50000")).toEqual(["private", "public", "name"]);
    expect(allowed("fd00::7")).toEqual(["private", "public", "name"]);
  });

  it("from a link-local peer: link-local as well", () => {
    expect(allowed("169.254.3.3:50000")).toEqual(["linkLocal", "private", "public", "name"]);
  });

  it("from a public peer: public IP addresses only, no names (one could resolve to localhost or 10.x when dialed)", () => {
    expect(allowed("203.0.113.9:50000")).toEqual(["public"]);
    expect(allowed("[2001:db8::9]:50000")).toEqual(["public"]);
    expect(mayAdvertise("localhost:22", "203.0.113.9:50000")).toBe(false);
  });

  it("never from an unparseable or unroutable remote address, and never a malformed advertised one", () => {
    expect(allowed("not an address")).toEqual([]);
    expect(allowed("0.0.0.0:1")).toEqual([]);
    expect(mayAdvertise("8.8.8.8", "127.0.0.1:1")).toBe(false); // no port
    expect(mayAdvertise("8.8.8.8:0", "127.0.0.1:1")).toBe(false);
  });
});
