/**
 * The target mesh's policy on a fake clock: which candidates are dialed (ranking, diversity, bans left to the
 * database, dampening, backoff), how many (target, dials in flight, the shared budget), the last resorts
 * (bootstrap addresses and the peers met there), and when it asks to run again (never while the target holds).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkManagerOptions, resolveManagerOptions } from "../../src/manager/manager-options.js";
import { checkMeshOptions, type MeshOptions, type ResolvedMeshOptions } from "../../src/mesh/mesh-options.js";
import { type MeshCandidate, MeshCore, type MeshSnapshot } from "../../src/mesh/mesh-core.js";
import { ReconnectBudget } from "../../src/reconnect/budget.js";
import { OptionProblems } from "../../src/util/option-checks.js";

const T0 = 1_700_000_000_000;

function resolve(options: MeshOptions): ResolvedMeshOptions {
  const problems = new OptionProblems();
  const resolved = checkMeshOptions({ random: () => 0.5, ...options }, problems, "mesh");
  expect(problems.list).toEqual([]);
  if (resolved === false) throw new Error("mesh off");
  return resolved;
}

function core(options: MeshOptions = {}, budget = new ReconnectBudget({ capacity: 100, refillPerSecond: 100 })): MeshCore {
  return new MeshCore(resolve({ maxConcurrentDials: 8, ...options }), budget);
}

function candidate(peerId: string, address: string, extra: Partial<MeshCandidate> = {}): MeshCandidate {
  return { peerId, addresses: [address], healthy: undefined, succeeded: false, failures: 0, ...extra };
}

function snapshot(candidates: MeshCandidate[], outbound: string[] = [], connected: string[] = [], owners: Record<string, string> = {}): MeshSnapshot {
  return { outbound, connected: new Set(connected), candidates, ownerOf: (a) => owners[a] };
}

describe("MeshCore: which candidates", () => {
  it("dials the healthiest first, then those that connected before, then the fewest failures", () => {
    const mesh = core({ targetOutbound: 3, diversity: false });
    const dials = mesh.tick(
      T0,
      snapshot([
        candidate("poor", "10.0.0.1:1", { healthy: false, succeeded: true }),
        candidate("fresh-failing", "10.0.0.2:1", { failures: 2 }),
        candidate("fresh", "10.0.0.3:1"),
        candidate("proven", "10.0.0.4:1", { succeeded: true }),
        candidate("healthy", "10.0.0.5:1", { healthy: true, succeeded: true }),
      ]),
    );
    expect(dials.map((d) => d.peerId)).toEqual(["healthy", "proven", "fresh"]);
  });

  it("dials a peer never reached at its best address only, and a proven one at all of its addresses", () => {
    // A never-reached peer's addresses are claims: a peer exchange could name third parties' hosts for it.
    const mesh = core({ targetOutbound: 2, diversity: false });
    const four = ["10.0.0.1:1", "10.0.1.1:1", "10.0.2.1:1", "10.0.3.1:1"];
    const dials = mesh.tick(
      T0,
      snapshot([
        candidate("claimed", four[0]!, { addresses: four }),
        candidate("proven", "10.0.4.1:1", { addresses: ["10.0.4.1:1", "10.0.5.1:1"], succeeded: true }),
      ]),
    );
    expect(Object.fromEntries(dials.map((d) => [d.peerId, d.addresses]))).toEqual({
      claimed: ["10.0.0.1:1"],
      proven: ["10.0.4.1:1", "10.0.5.1:1"],
    });
  });

  it("leaves out connected peers and shuffles equals with the injected randomness", () => {
    const pick = (random: () => number): (string | undefined)[] => {
      const mesh = core({ targetOutbound: 1, diversity: false, random });
      return mesh.tick(T0, snapshot([candidate("a", "10.0.0.1:1"), candidate("b", "10.0.0.2:1"), candidate("c", "10.0.0.3:1")], [], ["a"])).map((d) => d.peerId);
    };
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 20; i++) {
      let n = i;
      seen.add(pick(() => ((n = (n * 7919 + 13) % 101) / 101))[0]);
    }
    expect([...seen].sort()).toEqual(["b", "c"]);
  });

  it("takes no two outbound peers from one /16 while a candidate in another group exists", () => {
    const mesh = core({ targetOutbound: 4 });
    const dials = mesh.tick(
      T0,
      snapshot(
        [
          candidate("same-as-outbound", "10.1.9.9:1", { healthy: true }),
          candidate("a1", "10.2.0.1:1", { healthy: true }),
          candidate("a2", "10.2.0.2:1", { healthy: true }),
          candidate("b", "10.3.0.1:1"),
          candidate("c", "[2001:db8::1]:1"),
        ],
        ["10.1.0.1"],
      ),
    );
    // The healthy ones come first, but a1's group takes a2's place, and 10.1/16 already holds an outbound peer.
    expect(dials.map((d) => d.peerId)).toEqual(["a1", "b", "c"]);
  });

  it("yields when no alternative exists, and groups by the configured prefix (a /24 on loopback)", () => {
    const only127 = [candidate("x", "127.0.1.1:1"), candidate("y", "127.0.1.2:1"), candidate("z", "127.0.2.1:1")];
    // Default /16: everything on loopback is one group, so diversity has no alternative and yields.
    expect(core({ targetOutbound: 3 }).tick(T0, snapshot(only127, ["127.0.9.9"])).length).toBe(2);
    // /24: z's group is free and is preferred to y, whose /24 x already took.
    const dials = core({ targetOutbound: 2, diversity: { ipv4Prefix: 24 } }).tick(T0, snapshot(only127));
    expect(dials.map((d) => d.peerId)).toEqual(["x", "z"]);
    // Off: plain ranking order.
    expect(core({ targetOutbound: 2, diversity: false }).tick(T0, snapshot(only127)).map((d) => d.peerId)).toEqual(["x", "y"]);
  });

  it("does not redial a peer suppressed by flap dampening until its penalty decays", () => {
    const mesh = core({ targetOutbound: 1, diversity: false });
    for (let i = 0; i < 3; i++) mesh.onClose("flappy", "connection_lost", T0 + i * 1000);
    const list = [candidate("flappy", "10.0.0.1:1", { healthy: true })];
    expect(mesh.isSuppressed("flappy", T0 + 3000)).toBe(true);
    expect(mesh.tick(T0 + 3000, snapshot(list))).toEqual([]);
    // 3000 decays below the reuse threshold 750 after two half-lives (2 min).
    expect(mesh.tick(T0 + 2000 + 120_000, snapshot(list)).map((d) => d.peerId)).toEqual(["flappy"]);
  });

  it("keeps at most 4,096 flap-dampening states, forgetting the peer whose last close is the oldest", () => {
    const mesh = core({ targetOutbound: 1, diversity: false });
    for (let i = 0; i < 3; i++) mesh.onClose("flappy", "connection_lost", T0 + i);
    // Closes from fresh identities (free to make): the map stays bounded, the latest closes kept.
    for (let i = 0; i < 4_095; i++) mesh.onClose(`fresh-${i}`, "connection_lost", T0 + 10);
    expect(mesh.flapStates).toBe(4_096);
    expect(mesh.isSuppressed("flappy", T0 + 20)).toBe(true);
    // A close of the flapping peer moves it to the newest; the oldest fresh one goes at the next.
    mesh.onClose("flappy", "connection_lost", T0 + 30);
    for (let i = 4_095; i < 10_000; i++) mesh.onClose(`fresh-${i}`, "connection_lost", T0 + 40);
    expect(mesh.flapStates).toBe(4_096);
    expect(mesh.isSuppressed("flappy", T0 + 50)).toBe(false);
    expect(mesh.isSuppressed("fresh-9999", T0 + 50)).toBe(false);
  });

  it("does not turn two closes into a suppression", () => {
    const mesh = core({ targetOutbound: 1, diversity: false });
    mesh.onClose("p", "connection_lost", T0);
    mesh.onClose("p", "connection_lost", T0 + 1);
    expect(mesh.tick(T0 + 2, snapshot([candidate("p", "10.0.0.1:1")]))).toHaveLength(1);
  });
});

describe("MeshCore: failures and backoff", () => {
  it("backs a failed candidate off (2 s doubling, jittered to 50-100 %), and a success clears it", () => {
    const mesh = core({ targetOutbound: 1, diversity: false, random: () => 0.999999 });
    const list = [candidate("p", "10.0.0.1:1")];
    let [dial] = mesh.tick(T0, snapshot(list));
    mesh.onDialSettled(dial!.dialId, { kind: "failed" }, T0);
    expect(mesh.backoffUntil("p")).toBe(T0 + 2000);
    expect(mesh.tick(T0 + 1999, snapshot(list))).toEqual([]);
    [dial] = mesh.tick(T0 + 2000, snapshot(list));
    mesh.onDialSettled(dial!.dialId, { kind: "failed" }, T0 + 2000);
    expect(mesh.backoffUntil("p")).toBe(T0 + 2000 + 4000);
    [dial] = mesh.tick(T0 + 6000, snapshot(list));
    mesh.onDialSettled(dial!.dialId, { kind: "connected", peer: "p" }, T0 + 6000);
    expect(mesh.backoffUntil("p")).toBeUndefined();
  });

  it("honours the peer's retry-after when longer than the backoff", () => {
    const mesh = core({ targetOutbound: 1, diversity: false });
    const [dial] = mesh.tick(T0, snapshot([candidate("p", "10.0.0.1:1")]));
    mesh.onDialSettled(dial!.dialId, { kind: "failed", retryAfterMs: 30_000 }, T0);
    expect(mesh.backoffUntil("p")).toBe(T0 + 30_000);
  });

  it("dials the identity now at an address at once, and backs the address off while identities keep changing there", () => {
    const mesh = core({ targetOutbound: 1, diversity: false, random: () => 0.999999 });
    const a = "10.0.0.1:1";
    const answered = (dialId: number, at: number): void => {
      mesh.onAnsweredByAnother(a, at);
      mesh.onDialSettled(dialId, { kind: "failed" }, at);
    };
    let [dial] = mesh.tick(T0, snapshot([candidate("old", a)]));
    answered(dial!.dialId, T0);
    // A node restarted with a new key: its identity there is dialed at once.
    [dial] = mesh.tick(T0, snapshot([candidate("new1", a)]));
    expect(dial?.peerId).toBe("new1");
    answered(dial!.dialId, T0);
    // Yet another identity: the address waits 2 s, whichever identity is named for it.
    expect(mesh.backoffUntil(`answered:${a}`)).toBe(T0 + 2000);
    expect(mesh.tick(T0 + 1999, snapshot([candidate("new2", a)]))).toEqual([]);
    [dial] = mesh.tick(T0 + 2000, snapshot([candidate("new2", a)]));
    expect(dial?.peerId).toBe("new2");
    answered(dial!.dialId, T0 + 2000);
    // Doubling: 4 s more.
    expect(mesh.backoffUntil(`answered:${a}`)).toBe(T0 + 6000);
    // A proven peer with that address among others is dialed at the others only, meanwhile.
    const proven = candidate("proven", "10.0.0.2:1", { addresses: [a, "10.0.0.2:1"], succeeded: true });
    expect(mesh.tick(T0 + 5999, snapshot([proven]))[0]?.addresses).toEqual(["10.0.0.2:1"]);
  });

  it("does not back off after this node's own limits refused the dial", () => {
    const mesh = core({ targetOutbound: 1, diversity: false });
    const list = [candidate("p", "10.0.0.1:1")];
    const [dial] = mesh.tick(T0, snapshot(list));
    mesh.onDialSettled(dial!.dialId, { kind: "local_limit" }, T0);
    expect(mesh.backoffUntil("p")).toBeUndefined();
    expect(mesh.tick(T0 + 1, snapshot(list))).toHaveLength(1);
  });
});

describe("MeshCore: how many, and when", () => {
  it("fills only the deficit, counting outbound connections and dials in flight", () => {
    const mesh = core({ targetOutbound: 3, diversity: false });
    const list = ["a", "b", "c", "d", "e"].map((p, i) => candidate(p, `10.0.0.${i + 1}:1`));
    expect(mesh.tick(T0, snapshot(list, ["10.9.0.1"]))).toHaveLength(2);
    expect(mesh.tick(T0 + 1, snapshot(list, ["10.9.0.1"]))).toHaveLength(0);
    expect(mesh.inFlight).toBe(2);
  });

  it("keeps at most maxConcurrentDials in flight, not counting those slower than slowDialMs", () => {
    const mesh = core({ targetOutbound: 8, maxConcurrentDials: 3, slowDialMs: 3000, diversity: false, checkIntervalMs: 10_000 });
    const list = Array.from({ length: 10 }, (_, i) => candidate(`p${i}`, `10.0.0.${i + 1}:1`));
    const first = mesh.tick(T0, snapshot(list));
    expect(first).toHaveLength(3);
    // Capped: it asks to look again when the first dial turns slow, not after the whole check interval.
    expect(mesh.nextDeadline()).toBe(T0 + 3000);
    expect(mesh.tick(T0 + 2999, snapshot(list))).toHaveLength(0);
    // Black-holed dials still pending at 3 s: three more beside them, still within the deficit of 8.
    expect(mesh.tick(T0 + 3000, snapshot(list))).toHaveLength(3);
    expect(mesh.tick(T0 + 6000, snapshot(list))).toHaveLength(2);
    expect(mesh.inFlight).toBe(8);
    expect(mesh.tick(T0 + 9000, snapshot(list))).toHaveLength(0);
  });

  it("takes a token of the shared budget for every dial, and waits for the next token when it is spent", () => {
    const budget = new ReconnectBudget({ capacity: 2, refillPerSecond: 1 });
    const mesh = core({ targetOutbound: 8, diversity: false }, budget);
    const list = Array.from({ length: 10 }, (_, i) => candidate(`p${i}`, `10.0.0.${i + 1}:1`));
    expect(mesh.tick(T0, snapshot(list))).toHaveLength(2);
    expect(mesh.nextDeadline()).toBe(T0 + 1000);
    // The reconnect service took the token that arrived meanwhile: still nothing for the mesh.
    expect(budget.tryTake(T0 + 1000)).toBe(true);
    expect(mesh.tick(T0 + 1000, snapshot(list))).toHaveLength(0);
    expect(mesh.tick(T0 + 2000, snapshot(list))).toHaveLength(1);
  });

  it("schedules nothing while the target is held, and checks every checkIntervalMs while short", () => {
    const mesh = core({ targetOutbound: 2, diversity: false, checkIntervalMs: 5000 });
    mesh.tick(T0, snapshot([], ["10.0.0.1", "10.0.0.2"]));
    expect(mesh.nextDeadline()).toBeUndefined();
    expect(mesh.deficit).toBe(0);
    mesh.tick(T0, snapshot([], ["10.0.0.1"]));
    expect(mesh.nextDeadline()).toBe(T0 + 5000);
    expect(mesh.deficit).toBe(1);
  });
});

describe("MeshCore: bootstrap addresses and address fetches", () => {
  it("dials unpinned bootstrap addresses only when the database has no candidate", () => {
    const mesh = core({ targetOutbound: 2, diversity: false, bootstrap: ["10.0.0.7:4001", "10.0.0.8:4001"] });
    const first = mesh.tick(T0, snapshot([]));
    expect(first.map((d) => [d.peerId, d.addresses, d.bootstrap])).toEqual(
      expect.arrayContaining([
        [undefined, ["10.0.0.7:4001"], true],
        [undefined, ["10.0.0.8:4001"], true],
      ]),
    );
    const other = core({ targetOutbound: 2, diversity: false, bootstrap: ["10.0.0.7:4001"] });
    expect(other.tick(T0, snapshot([candidate("p", "10.0.0.1:1")])).map((d) => d.peerId)).toEqual(["p"]);
  });

  it("treats the peer met at a bootstrap address as a last resort, and never redials an address that was this node", () => {
    const mesh = core({ targetOutbound: 1, diversity: false, bootstrap: ["10.0.0.7:4001", "10.0.0.9:4001"] });
    const dials = mesh.tick(T0, snapshot([]));
    const seven = dials.find((d) => d.addresses[0] === "10.0.0.7:4001")!;
    mesh.onDialSettled(seven.dialId, { kind: "connected", peer: "boot" }, T0);
    expect(mesh.isFetchPeer("boot")).toBe(true);
    // Known now, not connected, alongside an ordinary candidate: the ordinary one goes first.
    const owners = { "10.0.0.7:4001": "boot" };
    const next = mesh.tick(T0 + 1, snapshot([candidate("boot", "10.0.0.7:4001", { succeeded: true, healthy: true }), candidate("p", "10.0.0.1:1")], [], [], owners));
    expect(next.map((d) => d.peerId)).toEqual(["p"]);
    expect(mesh.spareCandidates).toBe(0);
    const self = core({ targetOutbound: 1, diversity: false, bootstrap: ["10.0.0.9:4001"] });
    const [own] = self.tick(T0, snapshot([]));
    self.onDialSettled(own!.dialId, { kind: "never" }, T0);
    expect(self.tick(T0 + 600_000, snapshot([]))).toEqual([]);
  });
});

describe("mesh options", () => {
  it("names every problem at once, with its path", () => {
    const problems = new OptionProblems();
    checkMeshOptions(
      { targetOutbound: -1, diversity: { ipv4Prefix: 40, bogus: 1 }, bootstrap: ["nope", { address: "10.0.0.1:1", peerId: "x" }], failureBackoff: { baseMs: 10, maxMs: 5 }, peerExchange: { maxPeers: 99 }, localAddress: "host", typo: 1 },
      problems,
      "mesh",
    );
    const text = problems.list.join("\n");
    for (const path of ["mesh.targetOutbound", "mesh.diversity.ipv4Prefix", "mesh.diversity.bogus", "mesh.bootstrap[0].address", "mesh.bootstrap[1].peerId", "mesh.failureBackoff.maxMs", "mesh.peerExchange.maxPeers", "mesh.localAddress", "mesh.typo"]) {
      expect(text).toContain(path);
    }
  });

  it("are checked in the manager's one validation step, with reconnect.localAddress, and add the capability", () => {
    const problems = checkManagerOptions({ mesh: { targetOutbound: "8", typo: true }, reconnect: { localAddress: "somewhere" } }).join("\n");
    for (const path of ["mesh.targetOutbound", "unknown option mesh.typo", "reconnect.localAddress"]) expect(problems).toContain(path);
    expect(resolveManagerOptions({ mesh: { peerExchange: false } }).capabilities).toEqual([]);
    expect(resolveManagerOptions({ mesh: true, capabilities: [{ name: "peerlink.peer-exchange", version: 3 }] }).capabilities).toEqual([
      { name: "peerlink.peer-exchange", version: 3, required: false },
    ]);
    expect(resolveManagerOptions({}).mesh).toBe(false);
  });

  it("is off unless asked for, and true means the documented defaults", () => {
    expect(checkMeshOptions(undefined, new OptionProblems(), "mesh")).toBe(false);
    const on = checkMeshOptions(true, new OptionProblems(), "mesh");
    expect(on).toMatchObject({
      targetOutbound: 8,
      diversity: { ipv4Prefix: 16, ipv6Prefix: 32 },
      checkIntervalMs: 1000,
      maxConcurrentDials: 2,
      slowDialMs: 3000,
      failureBackoff: { baseMs: 2000, maxMs: 300_000 },
      peerExchange: { maxPeers: 16 },
      bootstrap: [],
    });
  });

  it("are documented in docs/CONFIGURATION.md with the defaults the code uses", () => {
    const text = readFileSync(new URL("../../docs/CONFIGURATION.md", import.meta.url), "utf8").split("## `mesh`")[1]!;
    const documented = (option: string): string | undefined => new RegExp(`^\\| \`${option}\` \\| \`([^\`]+)\``, "m").exec(text)?.[1];
    const on = checkMeshOptions(true, new OptionProblems(), "mesh") as ResolvedMeshOptions;
    for (const key of ["targetOutbound", "checkIntervalMs", "maxConcurrentDials", "slowDialMs"] as const) expect(documented(key), key).toBe(String(on[key]));
    const plain = (value: object): string => JSON.stringify(value).replace(/"/g, "").replace(/:/g, ": ").replace(/,/g, ", ").replace(/^\{/, "{ ").replace(/\}$/, " }");
    expect(documented("diversity")).toBe(plain(on.diversity as object));
    expect(documented("failureBackoff")).toBe(plain(on.failureBackoff));
    expect(documented("peerExchange")).toBe(plain(on.peerExchange as object));
  });
});
