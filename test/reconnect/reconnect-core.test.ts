/**
 * The sans-IO reconnect core with a fake clock (plain numbers) and a fake
 * view of the manager: no timers, no sockets. Each test feeds inputs with
 * `now`, reads the actions and the next deadline, and plays the adapter.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import type { DisconnectReason } from "../../src/reasons.js";
import { backoffDelay, ReconnectPolicy } from "../../src/reconnect/policy.js";
import type { ReconnectAction, ReconnectView } from "../../src/reconnect/reconnect-actions.js";
import { ReconnectCore } from "../../src/reconnect/reconnect-core.js";
import type { ReconnectSchedulerOptions } from "../../src/reconnect/scheduler.js";
import { throwsWithCode } from "../helpers/error-code.js";
import { markAnsweredBy, markUnproven } from "../../src/handshake/proven-failures.js";
import { Identity } from "../../src/identity/identity.js";

/** IDENTITY_MISMATCH as the handshake reports it: another identity proved its key at the address. */
const someoneElse = (): PeerlinkError => markAnsweredBy(new PeerlinkError(ErrorCode.IDENTITY_MISMATCH, "someone else", { initiator: "local" }), Identity.generate().peerId);

const T0 = 1_700_000_000_000;
const HALF = (): number => 0.5;

/** The manager's state as the core reads it; the test edits it. */
class FakeView implements ReconnectView {
  readonly connected = new Set<string>();
  readonly banned = new Set<string>();
  readonly addresses = new Map<string, string[]>();
  readonly failures = new Map<string, number>();
  isConnected(peer: string): boolean {
    return this.connected.has(peer);
  }
  addressesOf(peer: string): readonly string[] {
    return this.addresses.get(peer) ?? [];
  }
  lastFailureAt(peer: string, address: string): number | undefined {
    return this.failures.get(`${peer}@${address}`);
  }
  lastDisconnect(): undefined {
    return undefined;
  }
  isBanned(peer: string): boolean {
    return this.banned.has(peer);
  }
}

function make(options: ReconnectSchedulerOptions = {}): { core: ReconnectCore; view: FakeView } {
  const view = new FakeView();
  const core = new ReconnectCore(view, { random: HALF, dampening: false, ...options }, {
    redialInbound: false,
    maxWanted: 100,
    resumeOnStart: true,
    trackBackoff: true,
  });
  core.start(T0);
  return { core, view };
}

/** A peer this node dialed, connected, at `address`. */
function connect(core: ReconnectCore, view: FakeView, peer: string, address = "10.0.0.1:4001"): void {
  view.connected.add(peer);
  view.addresses.set(peer, [address]);
  core.onOpen(peer, "outbound");
}

function lose(core: ReconnectCore, view: FakeView, peer: string, reason: DisconnectReason, now: number): ReconnectAction[] {
  view.connected.delete(peer);
  return core.onClose(peer, { reason, initiator: "remote" }, now);
}

const dials = (actions: readonly ReconnectAction[]) => actions.filter((a) => a.type === "dial");
const events = (actions: readonly ReconnectAction[], type: string) =>
  actions.flatMap((a) => (a.type === "emit" && a.emit.type === type ? [a.emit.event] : []));

describe("a lost connection (connection_lost)", () => {
  it("is redialed after its policy backoff, not at once", () => {
    const { core, view } = make();
    connect(core, view, "p");
    const strategy = new ReconnectPolicy().strategyFor("connection_lost", "remote");
    expect(strategy.kind).toBe("backoff");
    const delay = strategy.kind === "backoff" ? backoffDelay(strategy.backoff, 0, HALF) : Number.NaN;
    expect(delay).toBeGreaterThan(0);

    const out = lose(core, view, "p", "connection_lost", T0);
    expect(events(out, "reconnect:scheduled")).toEqual([
      expect.objectContaining({ peer: "p", reason: "connection_lost", delayMs: delay, at: T0 + delay }),
    ]);
    expect(core.nextDeadline()).toBe(T0 + delay);
    expect(dials(core.tick(T0 + delay - 1))).toEqual([]);
    const due = core.tick(T0 + delay);
    expect(due.map((a) => a.type)).toEqual(["emit", "dial"]);
    expect(dials(due)).toEqual([{ type: "dial", peer: "p", dialId: expect.any(Number), addresses: ["10.0.0.1:4001"] }]);
  });
});

describe("a banned peer", () => {
  it("banned after its redial was planned is abandoned when due, not dialed", () => {
    const { core, view } = make();
    connect(core, view, "p");
    lose(core, view, "p", "normal", T0);
    expect(core.nextDeadline()).toBe(T0);
    view.banned.add("p");
    const out = core.tick(T0);
    expect(dials(out)).toEqual([]);
    expect(events(out, "reconnect:abandoned")).toEqual([{ peer: "p", reason: ErrorCode.PEER_BANNED }]);
    expect(core.nextDeadline()).toBeUndefined();
    expect(core.status("p", T0)).toMatchObject({ wanted: true, dueAt: undefined, dialing: false });
  });

  it("lost while banned is abandoned instead of scheduled", () => {
    const { core, view } = make();
    connect(core, view, "p");
    view.banned.add("p");
    const out = lose(core, view, "p", "timeout", T0);
    expect(events(out, "reconnect:scheduled")).toEqual([]);
    expect(events(out, "reconnect:abandoned")).toEqual([{ peer: "p", reason: ErrorCode.PEER_BANNED }]);
    expect(core.nextDeadline()).toBeUndefined();
  });

  it("is not dialed by want() or schedule() either", () => {
    const { core, view } = make();
    view.banned.add("p");
    const out = [...core.want("p", ["10.0.0.2:1"], T0), ...core.schedule("p", 0, T0), ...core.tick(T0 + 60_000)];
    expect(dials(out)).toEqual([]);
    expect(events(out, "reconnect:abandoned")).toHaveLength(2);
    expect(core.nextDeadline()).toBeUndefined();
  });

  it("is redialed again once the ban is lifted and the application asks", () => {
    const { core, view } = make();
    view.banned.add("p");
    core.want("p", ["10.0.0.2:1"], T0);
    view.banned.delete("p");
    core.schedule("p", 10, T0);
    expect(dials(core.tick(T0 + 10))).toHaveLength(1);
  });
});

describe("redials in flight", () => {
  it("a failed redial takes the next backoff step; an outcome of a cancelled dial is ignored", () => {
    const { core, view } = make({ policy: { dialFailureBackoff: { baseMs: 1_000, factor: 2, maxMs: 60_000, minMs: 0, jitter: "none" } } });
    connect(core, view, "p");
    lose(core, view, "p", "normal", T0);
    const [first] = dials(core.tick(T0));
    const failed = core.onDialFailed("p", first!.dialId, new PeerlinkError(ErrorCode.CONNECT_FAILED, "refused"), T0 + 5);
    // attempt 1 of a 1 s doubling backoff without jitter: 2 s.
    expect(events(failed, "reconnect:scheduled")).toEqual([expect.objectContaining({ reason: "dial_failed", attempt: 1, delayMs: 2_000 })]);
    const [second] = dials(core.tick(T0 + 2_005));
    expect(second!.dialId).not.toBe(first!.dialId);

    expect(core.cancel("p")).toEqual([{ type: "abort", peer: "p", dialId: second!.dialId, code: ErrorCode.ABORTED }]);
    expect(core.onDialFailed("p", second!.dialId, new PeerlinkError(ErrorCode.CONNECT_FAILED, "late"), T0 + 2_010)).toEqual([]);
    expect(core.nextDeadline()).toBeUndefined();
  });

  it("another identity at an address drops that address and retries the others; abandoned when none is left", () => {
    const { core, view } = make();
    connect(core, view, "p");
    view.addresses.set("p", ["10.0.0.1:1", "10.0.0.2:2"]);
    lose(core, view, "p", "normal", T0);
    const [dial] = dials(core.tick(T0));
    view.failures.set("p@10.0.0.1:1", T0 + 1);
    const out = core.onDialFailed("p", dial!.dialId, someoneElse(), T0 + 2);
    expect(out.filter((a) => a.type === "drop_address")).toEqual([{ type: "drop_address", peer: "p", address: "10.0.0.1:1" }]);
    expect(events(out, "reconnect:scheduled")).toHaveLength(1);

    view.addresses.set("p", ["10.0.0.2:2"]); // the adapter dropped the first
    const [again] = dials(core.tick(core.nextDeadline()!));
    expect(again!.addresses).toEqual(["10.0.0.2:2"]);
    const last = core.onDialFailed("p", again!.dialId, someoneElse(), T0 + 10_000);
    expect(events(last, "reconnect:abandoned")).toEqual([{ peer: "p", reason: "unexpected_identity" }]);
    expect(core.nextDeadline()).toBeUndefined();
  });

  it("a Goodbye UNEXPECTED_IDENTITY from a node that proved no key drops no address: the next backoff step", () => {
    const { core, view } = make();
    connect(core, view, "p");
    view.addresses.set("p", ["10.0.0.1:1"]);
    lose(core, view, "p", "normal", T0);
    const [dial] = dials(core.tick(T0));
    const goodbye = markUnproven(new PeerlinkError(ErrorCode.IDENTITY_MISMATCH, "remote said so", { initiator: "remote" }));
    const out = core.onDialFailed("p", dial!.dialId, goodbye, T0 + 2);
    expect(out.filter((a) => a.type === "drop_address")).toEqual([]);
    expect(events(out, "reconnect:scheduled")).toHaveLength(1);
    expect(events(out, "reconnect:abandoned")).toEqual([]);
  });

  it("stop() aborts every redial in flight with STOPPED and plans nothing more", () => {
    const { core, view } = make();
    for (const p of ["a", "b"]) connect(core, view, p);
    for (const p of ["a", "b"]) lose(core, view, p, "normal", T0);
    expect(dials(core.tick(T0))).toHaveLength(2);
    const stopped = core.stop();
    expect(stopped.map((a) => (a.type === "abort" ? [a.peer, a.code] : a.type))).toEqual([
      ["a", ErrorCode.STOPPED],
      ["b", ErrorCode.STOPPED],
    ]);
    expect(core.onClose("a", { reason: "normal", initiator: "remote" }, T0 + 1)).toEqual([]);
    expect(core.nextDeadline()).toBeUndefined();
  });
});

describe("the wanted rule", () => {
  it("forgets a dialed peer that this node closed on purpose, keeps one lost for its fault", () => {
    const { core, view } = make();
    connect(core, view, "trimmed");
    connect(core, view, "faulty");
    view.connected.clear();
    expect(core.onClose("trimmed", { reason: "network_restructure", initiator: "local" }, T0)).toEqual([]);
    core.onClose("faulty", { reason: "protocol_violation", initiator: "local" }, T0);
    expect(core.wanted()).toEqual(["faulty"]);
    expect(core.status("faulty", T0).dueAt).toBeGreaterThan(T0);
  });

  it("does not redial a peer that only connected to us", () => {
    const { core, view } = make();
    view.connected.add("in");
    core.onOpen("in", "inbound");
    expect(lose(core, view, "in", "normal", T0)).toEqual([]);
    expect(core.nextDeadline()).toBeUndefined();
  });
});

describe("a peer waiting for a freed slot", () => {
  it("ignores the slot its own close freed and takes the next one", () => {
    const { core, view } = make();
    connect(core, view, "p");
    view.connected.delete("p");
    core.onClose("p", { reason: "resource_constraint", initiator: "local" }, T0);
    expect(core.onSlotFreed(T0)).toEqual([]);
    expect(core.status("p", T0).waitingForResources).toBe(true);
    const freed = core.onSlotFreed(T0 + 3_000);
    expect(events(freed, "reconnect:scheduled")).toEqual([expect.objectContaining({ reason: "resources_available", delayMs: 0 })]);
    expect(dials(core.tick(T0 + 3_000))).toHaveLength(1);
  });
});

describe("bad input", () => {
  it("is rejected with typed errors", () => {
    const view = new FakeView();
    const core = new ReconnectCore(view, {}, { redialInbound: false, maxWanted: 1, resumeOnStart: true, trackBackoff: false });
    throwsWithCode(() => core.schedule("p", 0, T0), ErrorCode.STOPPED);
    core.start(T0);
    throwsWithCode(() => core.schedule("p", -1, T0), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => core.want("", [], T0), ErrorCode.INVALID_PEER_ID);
    throwsWithCode(() => core.want("p", [""], T0), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => core.restore({ version: 2 }), ErrorCode.DATABASE_CORRUPT);
  });
});
