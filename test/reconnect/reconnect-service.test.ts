/**
 * The reconnect service against a fake manager host (fake timers, a real
 * in-memory peer database, dials whose outcome the test decides): the parts
 * of its behaviour that need exact control of time and dial results.
 * The end-to-end behaviour over real sockets is in the other files here.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { backoffDelay, ReconnectPolicy } from "../../src/reconnect/policy.js";
import { createReconnectService } from "../../src/reconnect/reconnect-service.js";
import { close, FakeHost, open, start, T0 } from "./fake-host.js";

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("a redial that fails", () => {
  it("takes the next backoff step of the dial-failure backoff, and an open connection resets it", async () => {
    const { fake, service } = start({
      policy: { dialFailureBackoff: { baseMs: 1_000, factor: 2, maxMs: 60_000, minMs: 0, jitter: "full" } },
    });
    open(fake, service, "p");
    close(fake, service, "p", "normal");
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.dials.map((d) => d.peerId)).toEqual(["p"]);
    expect(fake.dials[0]!.addresses).toEqual(["10.0.0.1:4001"]);

    fake.dials[0]!.reject(new PeerlinkError(ErrorCode.CONNECT_FAILED, "refused"));
    await vi.advanceTimersByTimeAsync(0);
    // attempt 1: cap 2000, random 0.5 → 1000 ms.
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ peer: "p", reason: "dial_failed", delayMs: 1_000, attempt: 1 });
    await vi.advanceTimersByTimeAsync(999);
    expect(fake.dials).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.dials).toHaveLength(2);
    expect(fake.of("reconnect:attempt").at(-1)).toEqual({ peer: "p", attempt: 1, addresses: ["10.0.0.1:4001"] });

    fake.dials[1]!.reject(new PeerlinkError(ErrorCode.CONNECT_FAILED, "refused"));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ delayMs: 2_000, attempt: 2 });
    await vi.advanceTimersByTimeAsync(2_000);
    fake.dials[2]!.resolve();
    open(fake, service, "p");
    await vi.advanceTimersByTimeAsync(0);
    expect(service.status("p")).toMatchObject({ connected: true, attempt: 0, dueAt: undefined, dialing: false });
    expect(service.nextWakeAt).toBeUndefined();
  });

  it("refused because the peer is banned is abandoned, with no timer left", async () => {
    const { fake, service } = start();
    open(fake, service, "p");
    close(fake, service, "p", "normal");
    await vi.advanceTimersByTimeAsync(0);
    fake.dials[0]!.reject(new PeerlinkError(ErrorCode.PEER_BANNED, "banned"));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.of("reconnect:abandoned")).toEqual([{ peer: "p", reason: ErrorCode.PEER_BANNED }]);
    expect(service.status("p").dueAt).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("a banned peer", () => {
  it("banned in the peer database after its redial was planned is abandoned, not dialed, with no timer left", async () => {
    const { fake, service } = start();
    open(fake, service, "p");
    close(fake, service, "p", "timeout"); // planned in 500 ms
    expect(service.nextWakeAt).toBe(T0 + 500);
    fake.peers.setBan("p", { reason: "spam" }, Date.now());
    await vi.advanceTimersByTimeAsync(500);
    expect(fake.dials).toHaveLength(0);
    expect(fake.of("reconnect:abandoned")).toEqual([{ peer: "p", reason: ErrorCode.PEER_BANNED }]);
    expect(service.nextWakeAt).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("lost while banned is not planned at all", () => {
    const { fake, service } = start();
    open(fake, service, "p");
    fake.peers.setBan("p", { reason: "spam" }, Date.now());
    close(fake, service, "p", "connection_lost");
    expect(fake.of("reconnect:scheduled")).toEqual([]);
    expect(fake.of("reconnect:abandoned")).toEqual([{ peer: "p", reason: ErrorCode.PEER_BANNED }]);
    expect(service.nextWakeAt).toBeUndefined();
  });
});

describe("a connection lost without a Goodbye (connection_lost)", () => {
  it("is redialed after the policy's connection_lost backoff, not at once", async () => {
    const { fake, service } = start({ dampening: false });
    const strategy = new ReconnectPolicy().strategyFor("connection_lost", "remote");
    if (strategy.kind !== "backoff") throw new Error(`connection_lost should back off, not ${strategy.kind}`);
    const delay = backoffDelay(strategy.backoff, 0, () => 0.5);
    expect(delay).toBeGreaterThan(0);
    open(fake, service, "p");
    close(fake, service, "p", "connection_lost");
    expect(fake.of("reconnect:scheduled")).toEqual([expect.objectContaining({ peer: "p", reason: "connection_lost", delayMs: delay })]);
    await vi.advanceTimersByTimeAsync(delay - 1);
    expect(fake.dials).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.dials.map((d) => d.peerId)).toEqual(["p"]);
  });
});

describe("flap dampening", () => {
  it("holds back a peer that keeps dropping until its penalty decays", async () => {
    const { fake, service } = start();
    for (let i = 0; i < 3; i++) {
      open(fake, service, "p");
      close(fake, service, "p", "normal");
      await vi.advanceTimersByTimeAsync(0);
      fake.dials.at(-1)?.resolve();
      await vi.advanceTimersByTimeAsync(0);
    }
    // The third disconnect within a second lifts the penalty to ~3000 > 2000: suppressed.
    const last = fake.of("reconnect:scheduled").at(-1)!;
    expect(last.suppressed).toBe(true);
    // Released when 3000 decays to 750 with a 60 s half-life: two half-lives, 120 s.
    expect(last.delayMs).toBeGreaterThan(119_000);
    expect(last.delayMs).toBeLessThanOrEqual(120_000);
    const dials = fake.dials.length;
    await vi.advanceTimersByTimeAsync(last.delayMs - 1);
    expect(fake.dials).toHaveLength(dials);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.dials).toHaveLength(dials + 1);
  });
});

describe("the reconnect budget", () => {
  it("redials the peers whose connection was healthy first", async () => {
    const { fake, service } = start({ budget: { capacity: 1, refillPerSecond: 1 }, dampening: false });
    for (const p of ["a-unhealthy", "b-healthy", "c-unhealthy", "d-healthy"]) open(fake, service, p);
    close(fake, service, "a-unhealthy", "normal", { wasHealthy: false });
    close(fake, service, "b-healthy", "normal", { wasHealthy: true });
    close(fake, service, "c-unhealthy", "normal", { wasHealthy: false });
    close(fake, service, "d-healthy", "normal", { wasHealthy: true });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(fake.dials.map((d) => d.peerId)).toEqual(["b-healthy", "d-healthy", "a-unhealthy", "c-unhealthy"]);
    expect(fake.of("reconnect:attempt").map((a) => a.peer)).toEqual(["b-healthy", "d-healthy", "a-unhealthy", "c-unhealthy"]);
  });
});

describe("the public controls", () => {
  it("schedule() redials after the delay, cancel() stops it and aborts a redial in flight", async () => {
    const { fake, service } = start();
    service.schedule("p", 500);
    expect(service.status("p")).toMatchObject({ wanted: true, dueAt: T0 + 500 });
    expect(service.nextWakeAt).toBe(T0 + 500);
    fake.peers.upsert("p", { addresses: ["10.0.0.9:4001"] }, Date.now());
    await vi.advanceTimersByTimeAsync(500);
    expect(fake.dials.map((d) => d.addresses)).toEqual([["10.0.0.9:4001"]]);
    expect(service.status("p").dialing).toBe(true);
    service.cancel("p");
    expect(fake.dials[0]!.signal?.aborted).toBe(true);
    service.schedule("p", 1_000);
    service.cancel("p");
    expect(service.nextWakeAt).toBeUndefined();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(fake.dials).toHaveLength(1);
  });

  it("want() dials a peer that is not connected, with the given addresses; unwant() stops its redials", async () => {
    const { fake, service } = start();
    service.want("p", ["10.0.0.7:4001"]);
    expect(fake.peers.addressesOf("p")).toEqual(["10.0.0.7:4001"]);
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.dials.map((d) => [d.peerId, d.addresses])).toEqual([["p", ["10.0.0.7:4001"]]]);
    fake.dials[0]!.resolve();
    open(fake, service, "p", "inbound");
    close(fake, service, "p", "timeout");
    expect(service.status("p")).toMatchObject({ wanted: true, explicit: true });
    expect(service.nextWakeAt).toBeDefined();
    service.unwant("p");
    expect(service.status("p")).toMatchObject({ wanted: false, dueAt: undefined });
    expect(service.nextWakeAt).toBeUndefined();
    // Lost again later: not wanted, so not planned.
    open(fake, service, "p", "inbound");
    close(fake, service, "p", "normal");
    expect(service.nextWakeAt).toBeUndefined();
  });

  it("want() before start is applied at start", async () => {
    const fake = new FakeHost();
    const service = createReconnectService({ random: () => 0.5 })(fake.host);
    service.want("p", ["10.0.0.8:4001"]);
    expect(fake.dials).toHaveLength(0);
    service.start?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.dials.map((d) => [d.peerId, d.addresses])).toEqual([["p", ["10.0.0.8:4001"]]]);
  });

  it("reject bad arguments with typed errors", () => {
    const fake = new FakeHost();
    const service = createReconnectService()(fake.host);
    expect(() => service.schedule("p", 10)).toThrow(expect.objectContaining({ code: ErrorCode.STOPPED }));
    service.start?.();
    expect(() => service.schedule("p", -1)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => service.schedule("p", Number.NaN)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => service.schedule("", 10)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_PEER_ID }));
    expect(() => service.want("p", "10.0.0.1:1" as never)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => createReconnectService({ budget: { capacity: 0, refillPerSecond: 1 } })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    expect(() => createReconnectService({ maxWantedPeers: 0 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => createReconnectService({ policy: { strategies: { timeout: { kind: "backoff", backoff: { baseMs: -1 } as never } } } })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
    service.stop?.();
  });
});

describe("the wanted set", () => {
  it("forgets the least recently touched implicit peers beyond maxWantedPeers, never explicit ones", () => {
    const { fake, service } = start({ maxWantedPeers: 3 });
    service.want("explicit", ["10.0.0.1:1"]);
    for (const p of ["a", "b", "c", "d"]) open(fake, service, p);
    expect(service.wanted().sort()).toEqual(["c", "d", "explicit"]);
    open(fake, service, "inbound-only", "inbound");
    expect(service.wanted()).not.toContain("inbound-only");
  });

  it("drops a peer this node dialed once this node closes it on purpose, but keeps explicit and faulty ones", async () => {
    const { fake, service } = start({ dampening: false });
    service.want("explicit", ["10.0.0.1:1"]);
    for (const p of ["trimmed", "closed-by-app", "explicit", "timed-out"]) open(fake, service, p);
    close(fake, service, "trimmed", "network_restructure", { initiator: "local" });
    close(fake, service, "closed-by-app", "normal", { initiator: "local" });
    close(fake, service, "explicit", "normal", { initiator: "local" });
    close(fake, service, "timed-out", "timeout", { initiator: "local" });
    expect(service.status("trimmed")).toMatchObject({ wanted: false, dueAt: undefined });
    expect(service.status("closed-by-app")).toMatchObject({ wanted: false, dueAt: undefined });
    expect(service.status("explicit")).toMatchObject({ wanted: true, dueAt: T0 });
    expect(service.status("timed-out")).toMatchObject({ wanted: true, dueAt: T0 + 500 });
    await vi.advanceTimersByTimeAsync(500);
    expect(fake.dials.map((d) => d.peerId)).toEqual(["explicit", "timed-out"]);
  });

  it("with redialInbound also wants peers that connected to us", () => {
    const { fake, service } = start({ redialInbound: true });
    open(fake, service, "in", "inbound");
    close(fake, service, "in", "normal");
    expect(service.status("in")).toMatchObject({ wanted: true, dueAt: T0 });
  });
});

describe("a peer waiting for resources", () => {
  it("is released by a slot freed later, one peer per slot, not by the slot its own close freed", async () => {
    const { fake, service } = start({ dampening: false });
    for (const p of ["a", "b", "other"]) open(fake, service, p);
    close(fake, service, "a", "resource_constraint", { initiator: "local" });
    close(fake, service, "b", "resource_constraint", { initiator: "local" });
    expect(service.status("a")).toMatchObject({ waitingForResources: true });
    expect(service.status("b")).toMatchObject({ waitingForResources: true });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fake.dials).toHaveLength(0);
    service.onSlotFreed?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.dials.map((d) => d.peerId)).toEqual(["a"]);
    expect(service.status("b").waitingForResources).toBe(true);
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ peer: "a", reason: "resources_available", delayMs: 0 });
  });
});

describe("stopping", () => {
  it("clears the timer, aborts redials in flight and plans nothing afterwards", async () => {
    const { fake, service } = start();
    open(fake, service, "p");
    open(fake, service, "q");
    close(fake, service, "p", "normal");
    close(fake, service, "q", "timeout");
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.dials).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(1);
    await service.stop?.();
    expect(vi.getTimerCount()).toBe(0);
    expect(fake.dials[0]!.signal?.aborted).toBe(true);
    expect(service.nextWakeAt).toBeUndefined();
    close(fake, service, "q", "normal");
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("persistence in the peer database", () => {
  it("saves the backoff on the peer record and the scheduler state, and a new service restores them", async () => {
    const { fake, service } = start();
    open(fake, service, "p");
    close(fake, service, "p", "timeout"); // default timeout backoff: cap 1000, random 0.5 → 500 ms
    await vi.advanceTimersByTimeAsync(0); // the save runs in a microtask
    expect(fake.peers.get("p")?.backoff).toEqual({ attempt: 0, nextAttemptAt: T0 + 500 });
    expect(fake.peers.getExtra()["reconnect"]).toMatchObject({ version: 1, wanted: [{ peerId: "p", explicit: false }] });
    service.stop?.();

    // Restart on the same database, later but before the deadline.
    await vi.advanceTimersByTimeAsync(200);
    const restarted = new FakeHost();
    restarted.peers.upsert("p", { addresses: ["10.0.0.1:4001"] }, Date.now());
    restarted.peers.setExtra("reconnect", fake.peers.getExtra()["reconnect"]);
    const again = start({}, restarted).service;
    expect(again.status("p")).toMatchObject({ wanted: true, dueAt: T0 + 500 });
    await vi.advanceTimersByTimeAsync(299);
    expect(restarted.dials).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(restarted.dials.map((d) => d.peerId)).toEqual(["p"]);
    again.stop?.();
  });

  it("at start, dials saved wanted peers with nothing planned, but not those lost for a never reason", async () => {
    const first = start();
    open(first.fake, first.service, "connected-at-stop");
    open(first.fake, first.service, "banned-us");
    close(first.fake, first.service, "banned-us", "peer_banned");
    first.fake.peers.recordDisconnection("banned-us", { reason: "peer_banned", direction: "outbound", initiator: "remote", at: Date.now() });
    await vi.advanceTimersByTimeAsync(0);
    first.service.stop?.();

    const restarted = new FakeHost();
    for (const r of first.fake.peers.snapshot().peers) restarted.peers.upsert(r.peerId, { addresses: r.addresses.map((a) => a.address) }, Date.now());
    restarted.peers.recordDisconnection("banned-us", { reason: "peer_banned", direction: "outbound", initiator: "remote", at: Date.now() });
    restarted.peers.setExtra("reconnect", first.fake.peers.getExtra()["reconnect"]);
    start({}, restarted);
    await vi.advanceTimersByTimeAsync(0);
    expect(restarted.dials.map((d) => d.peerId)).toEqual(["connected-at-stop"]);
    expect(restarted.of("reconnect:scheduled")).toEqual([expect.objectContaining({ peer: "connected-at-stop", reason: "resumed" })]);
  });
});
