import { describe, expect, it } from "vitest";
import { negotiateCapabilities, negotiateProtocols, negotiateVersion } from "../../src/handshake/negotiate.js";

describe("version negotiation", () => {
  it("picks the highest version both sides speak", () => {
    expect(negotiateVersion({ min: 1, max: 3 }, { min: 2, max: 5 })).toBe(3);
    expect(negotiateVersion({ min: 1, max: 1 }, { min: 1, max: 1 })).toBe(1);
  });

  it("is symmetric", () => {
    expect(negotiateVersion({ min: 2, max: 5 }, { min: 1, max: 3 })).toBe(3);
  });

  it("returns undefined when the ranges do not overlap", () => {
    expect(negotiateVersion({ min: 1, max: 1 }, { min: 2, max: 3 })).toBeUndefined();
    expect(negotiateVersion({ min: 4, max: 6 }, { min: 1, max: 3 })).toBeUndefined();
  });
});

describe("capability negotiation", () => {
  it("keeps names listed by both sides at the lower version, sorted by name", () => {
    const r = negotiateCapabilities(
      [{ name: "zeta", version: 3 }, { name: "alpha", version: 1 }, { name: "only-local", version: 1 }],
      [{ name: "alpha", version: 2 }, { name: "zeta", version: 2 }, { name: "only-remote", version: 9 }],
    );
    expect(r).toEqual({ ok: true, agreed: [{ name: "alpha", version: 1 }, { name: "zeta", version: 2 }] });
  });

  it("fails when the peer lacks a capability this side requires", () => {
    const r = negotiateCapabilities([{ name: "must", version: 1, required: true }], [{ name: "other", version: 1 }]);
    expect(r).toEqual({ ok: false, name: "must", requiredBy: "local" });
  });

  it("fails when the peer requires a capability this side does not know", () => {
    const r = negotiateCapabilities([], [{ name: "x.new", version: 1, required: true }]);
    expect(r).toEqual({ ok: false, name: "x.new", requiredBy: "remote" });
  });

  it("accepts a required capability the other side lists, whatever its version", () => {
    const r = negotiateCapabilities([{ name: "must", version: 4, required: true }], [{ name: "must", version: 1 }]);
    expect(r).toEqual({ ok: true, agreed: [{ name: "must", version: 1 }] });
  });

  it("counts the first occurrence when a name is listed twice", () => {
    const r = negotiateCapabilities([{ name: "a", version: 1 }], [{ name: "a", version: 5 }, { name: "a", version: 0 }]);
    expect(r).toEqual({ ok: true, agreed: [{ name: "a", version: 1 }] });
  });
});

describe("protocol negotiation", () => {
  it("agrees on the highest common version and keeps both aliases", () => {
    const r = negotiateProtocols(
      [{ name: "/chat", versions: [1, 2, 3], alias: 7 }],
      [{ name: "/chat", versions: [2, 3, 4], alias: 1 }],
    );
    expect(r).toEqual([{ name: "/chat", version: 3, localAlias: 7, remoteAlias: 1 }]);
  });

  it("leaves out a protocol without a common version instead of failing", () => {
    const r = negotiateProtocols(
      [{ name: "/old", versions: [1], alias: 1 }, { name: "/sync", versions: [2], alias: 2 }],
      [{ name: "/old", versions: [2], alias: 5 }, { name: "/sync", versions: [1, 2], alias: 6 }],
    );
    expect(r).toEqual([{ name: "/sync", version: 2, localAlias: 2, remoteAlias: 6 }]);
  });

  it("gives both sides the same names and versions, with the aliases mirrored", () => {
    const a = [{ name: "/b", versions: [1, 2], alias: 1 }, { name: "/a", versions: [5], alias: 2 }];
    const b = [{ name: "/a", versions: [4, 5], alias: 9 }, { name: "/b", versions: [2], alias: 8 }];
    const ab = negotiateProtocols(a, b);
    const ba = negotiateProtocols(b, a);
    expect(ab.map((p) => [p.name, p.version])).toEqual([["/a", 5], ["/b", 2]]);
    expect(ba.map((p) => [p.name, p.version])).toEqual([["/a", 5], ["/b", 2]]);
    expect(ab.map((p) => [p.localAlias, p.remoteAlias])).toEqual(ba.map((p) => [p.remoteAlias, p.localAlias]));
  });
});
