/**
 * How the reconnect service reacts to the different ways a redial fails,
 * against a fake manager host with fake timers (exact delays): the peer's
 * Goodbye during the handshake (its reason's strategy, its retry-after),
 * another identity answering at an address, this node's own connection
 * limits; plus a duplicate closed with nothing left behind, and which peers
 * the service remembers to save. The same scenarios over real sockets are in
 * redial-failures-loopback.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import type { DisconnectReason } from "../../src/reasons.js";
import { DEFAULT_MAX_RETRY_AFTER_MS } from "../../src/reconnect/defaults.js";
import { close, FakeHost, managedFor, open, start, T0 } from "./fake-host.js";
import { markAnsweredBy, markUnproven } from "../../src/handshake/proven-failures.js";
import { Identity } from "../../src/identity/identity.js";

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/**
 * The error the handshake fails with when the peer answers with Goodbye{reason, retry_after_ms}; `unproven`: as the
 * dialer marks it when it came before the peer proved its identity (from whoever answered at the address).
 */
function goodbyeError(code: ErrorCode, reason: DisconnectReason, retryAfterMs = 0, unproven = false): PeerlinkError {
  const error = new PeerlinkError(code, `peer ended the handshake (${reason})`, {
    cause: { reason, detail: "", retryAfterMs },
    initiator: "remote",
  });
  return unproven ? markUnproven(error) : error;
}

/** Opens and loses `peer` (normal close: redialed at once) and lets the first redial start. */
async function lostAndRedialing(options: Parameters<typeof start>[0] = {}): Promise<ReturnType<typeof start>> {
  const started = start({ dampening: false, ...options });
  open(started.fake, started.service, "p");
  close(started.fake, started.service, "p", "normal");
  await vi.advanceTimersByTimeAsync(0);
  expect(started.fake.dials).toHaveLength(1);
  return started;
}

describe("a redial the peer refuses with a Goodbye", () => {
  it("waits at least the peer's retry-after before dialing again (rate_limited, 60 s)", async () => {
    const { fake, service } = await lostAndRedialing();
    fake.dials[0]!.reject(goodbyeError(ErrorCode.RATE_LIMITED, "rate_limited", 60_000));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ peer: "p", reason: "dial_failed", delayMs: 60_000, attempt: 1 });
    await vi.advanceTimersByTimeAsync(59_999);
    expect(fake.dials).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.dials).toHaveLength(2);
    expect(service.status("p").attempt).toBe(1);
  });

  it("caps a retry-after beyond 24 h at 24 h", async () => {
    const { fake } = await lostAndRedialing();
    fake.dials[0]!.reject(goodbyeError(ErrorCode.RATE_LIMITED, "rate_limited", 2 * DEFAULT_MAX_RETRY_AFTER_MS));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ delayMs: DEFAULT_MAX_RETRY_AFTER_MS });
  });

  it("is abandoned when the reason's strategy is never (incompatible_version), with no timer left", async () => {
    const { fake, service } = await lostAndRedialing();
    fake.dials[0]!.reject(goodbyeError(ErrorCode.PROTOCOL_MISMATCH, "incompatible_version"));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.of("reconnect:abandoned")).toEqual([{ peer: "p", reason: "incompatible_version" }]);
    expect(service.status("p")).toMatchObject({ wanted: true, dueAt: undefined, dialing: false });
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(fake.dials).toHaveLength(1);
  });

  it("takes that reason's own backoff (authentication_failed: 5 min · 4, 0.5 jitter → 10 min), also for the next plain failure", async () => {
    const { fake } = await lostAndRedialing();
    fake.dials[0]!.reject(goodbyeError(ErrorCode.AUTHENTICATION_FAILED, "authentication_failed"));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ reason: "dial_failed", delayMs: 600_000, attempt: 1 });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(fake.dials).toHaveLength(2);
    fake.dials[1]!.reject(new PeerlinkError(ErrorCode.CONNECT_FAILED, "refused"));
    await vi.advanceTimersByTimeAsync(0);
    // attempt 2: cap min(6 h, 5 min · 16) = 80 min, 0.5 → 40 min.
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ delayMs: 2_400_000, attempt: 2 });
  });

  it("out of slots on the peer's side (resource_constraint) takes the remote backoff, not a wait for our slots", async () => {
    const { fake, service } = await lostAndRedialing();
    fake.dials[0]!.reject(goodbyeError(ErrorCode.CONNECTION_LIMIT, "resource_constraint"));
    await vi.advanceTimersByTimeAsync(0);
    // Remote resource backoff, attempt 1: cap 10 s, 0.5 → 5 s.
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ delayMs: 5_000, attempt: 1, waitingForResources: false });
    expect(service.status("p").waitingForResources).toBe(false);
  });
});

describe("a redial refused by a node that did not prove it is the peer (a Goodbye in place of its Hello)", () => {
  it("takes no strategy of 'never' from it: the ordinary backoff, the peer still wanted", async () => {
    const { fake } = await lostAndRedialing();
    fake.dials[0]!.reject(goodbyeError(ErrorCode.PROTOCOL_MISMATCH, "incompatible_version", 0, true));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.of("reconnect:abandoned")).toEqual([]);
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ reason: "dial_failed", attempt: 1 });
  });

  it("hears a capacity refusal's retry-after, but for 10 min at most", async () => {
    const { fake } = await lostAndRedialing();
    fake.dials[0]!.reject(goodbyeError(ErrorCode.CONNECTION_LIMIT, "resource_constraint", 86_400_000, true));
    await vi.advanceTimersByTimeAsync(0);
    const planned = fake.of("reconnect:scheduled").at(-1);
    // The 24 h asked for, heard as 10 min: the floor of the resource_constraint backoff (random 0.5).
    expect(planned).toMatchObject({ reason: "dial_failed", attempt: 1, delayMs: 600_000 });
  });

  it.each([
    [ErrorCode.PEER_BANNED, "peer_banned"],
    [ErrorCode.SELF_CONNECTION, "self_connection"],
  ] as const)("is not abandoned for a Goodbye{%s} from it: the ordinary backoff", async (code, reason) => {
    const { fake } = await lostAndRedialing();
    fake.dials[0]!.reject(goodbyeError(code, reason, 0, true));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.of("reconnect:abandoned")).toEqual([]);
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ reason: "dial_failed", attempt: 1 });
  });

  it("takes no backoff of its own from a failed proof or a malformed frame", async () => {
    const { fake } = await lostAndRedialing();
    fake.dials[0]!.reject(markUnproven(new PeerlinkError(ErrorCode.AUTHENTICATION_FAILED, "identity proof does not verify", { initiator: "local" })));
    await vi.advanceTimersByTimeAsync(0);
    // The ordinary first step (1 s at random 0.5), not authentication_failed's 10 min.
    expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ reason: "dial_failed", attempt: 1, delayMs: 1_000 });
  });
});

describe("a redial whose handshake this node failed with a verdict that stands", () => {
  it.each([
    [ErrorCode.PROTOCOL_MISMATCH, "abandoned (incompatible_version)", undefined],
    [ErrorCode.AUTHENTICATION_FAILED, "10 min (authentication_failed backoff)", 600_000],
    [ErrorCode.PROTOCOL_VIOLATION, "30 s (protocol_violation backoff: cap 60 s, 0.5)", 30_000],
  ] as const)("%s: %s", async (code, _what, delayMs) => {
    const { fake } = await lostAndRedialing();
    fake.dials[0]!.reject(new PeerlinkError(code, "local verdict", { initiator: "local" }));
    await vi.advanceTimersByTimeAsync(0);
    if (delayMs === undefined) {
      expect(fake.of("reconnect:abandoned")).toEqual([{ peer: "p", reason: "incompatible_version" }]);
      expect(vi.getTimerCount()).toBe(0);
    } else {
      expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ reason: "dial_failed", delayMs, attempt: 1 });
    }
  });
});

describe("a redial answered by another identity", () => {
  it("drops that address for the peer, retries its other addresses, and is abandoned when none is left", async () => {
    const { fake, service } = start({ dampening: false });
    service.want("p", ["10.0.0.7:4001", "10.0.0.8:4001"]);
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.dials[0]!.addresses).toEqual(["10.0.0.7:4001", "10.0.0.8:4001"]);
    // The manager records the failure of each address it tried; the second answered as someone else.
    fake.peers.recordDialFailure("p", "10.0.0.7:4001", Date.now());
    fake.peers.recordDialFailure("p", "10.0.0.8:4001", Date.now());
    fake.dials[0]!.reject(markAnsweredBy(new PeerlinkError(ErrorCode.IDENTITY_MISMATCH, "someone else", { initiator: "local" }), Identity.generate().peerId));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.peers.addressesOf("p")).toEqual(["10.0.0.7:4001"]);
    const next = fake.of("reconnect:scheduled").at(-1)!;
    expect(next).toMatchObject({ reason: "dial_failed", attempt: 1 });
    await vi.advanceTimersByTimeAsync(next.delayMs);
    expect(fake.dials[1]!.addresses).toEqual(["10.0.0.7:4001"]);
    fake.dials[1]!.reject(markAnsweredBy(new PeerlinkError(ErrorCode.IDENTITY_MISMATCH, "someone else again", { initiator: "local" }), Identity.generate().peerId));
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.peers.addressesOf("p")).toEqual([]);
    expect(fake.of("reconnect:abandoned")).toEqual([{ peer: "p", reason: "unexpected_identity" }]);
    expect(service.status("p").dueAt).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("a wanted peer whose connection ends with unexpected_identity", () => {
  it("is redialed after the dial-failure backoff (the address is suspect, not the peer)", async () => {
    const { fake, service } = start({ dampening: false });
    open(fake, service, "p");
    close(fake, service, "p", "unexpected_identity");
    // dial-failure backoff (1 s doubling, full jitter), attempt 1: cap 2 s, 0.5 → 1 s.
    expect(fake.of("reconnect:scheduled")).toEqual([expect.objectContaining({ peer: "p", reason: "unexpected_identity", delayMs: 1_000 })]);
    expect(fake.of("reconnect:abandoned")).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fake.dials.map((d) => d.addresses)).toEqual([["10.0.0.1:4001"]]);
    expect(service.status("p").wanted).toBe(true);
  });
});

describe("a redial refused by this node's own connection limits", () => {
  it.each([ErrorCode.CONNECTION_LIMIT, ErrorCode.TOO_MANY_PENDING])(
    "(%s) waits for a freed slot without counting an attempt, and dials as soon as one is freed",
    async (code) => {
      const { fake, service } = await lostAndRedialing({
        policy: { dialFailureBackoff: { baseMs: 3_600_000, factor: 1, maxMs: 3_600_000, minMs: 3_600_000, jitter: "none" } },
      });
      fake.dials[0]!.reject(new PeerlinkError(code, "outbound connection refused: maxOutbound 1 reached", { initiator: "local" }));
      await vi.advanceTimersByTimeAsync(0);
      expect(service.status("p")).toMatchObject({ attempt: 0, waitingForResources: true });
      expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ reason: "dial_failed", attempt: 0, waitingForResources: true });
      service.onSlotFreed?.();
      await vi.advanceTimersByTimeAsync(0);
      expect(fake.dials).toHaveLength(2);
      expect(fake.of("reconnect:scheduled").at(-1)).toMatchObject({ reason: "resources_available", delayMs: 0 });
    },
  );
});

describe("a wanted peer lost as a duplicate (already_connected)", () => {
  it("is redialed like a normal close when no other connection to it is left", async () => {
    const { fake, service } = start({ dampening: false });
    open(fake, service, "p");
    close(fake, service, "p", "already_connected");
    expect(fake.of("reconnect:scheduled")).toEqual([expect.objectContaining({ peer: "p", reason: "already_connected", delayMs: 0 })]);
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.dials.map((d) => d.peerId)).toEqual(["p"]);
  });

  it("is left alone while the connection kept instead is open", async () => {
    const { fake, service } = start({ dampening: false });
    open(fake, service, "p");
    const duplicate = managedFor("p", "inbound");
    service.onClose?.(duplicate, { reason: "already_connected", initiator: "local", remoteRetryAfterMs: undefined, wasHealthy: undefined });
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.of("reconnect:scheduled")).toEqual([]);
    expect(fake.dials).toHaveLength(0);
    expect(service.nextWakeAt).toBeUndefined();
  });
});

describe("the peers the service remembers to save", () => {
  /** Peer ids the service added to any Set while `run` ran. */
  function setAdds(peers: readonly string[], run: () => void): string[] {
    const added: string[] = [];
    const original = Set.prototype.add;
    const spy = vi.spyOn(Set.prototype, "add").mockImplementation(function (this: Set<unknown>, value: unknown) {
      if (typeof value === "string" && peers.includes(value)) added.push(value);
      return original.call(this, value);
    });
    try {
      run();
    } finally {
      spy.mockRestore();
    }
    return added;
  }

  it("are none without persistence, however many inbound peers come and go", () => {
    const { fake, service } = start({ persist: false });
    const peers = Array.from({ length: 50 }, (_, i) => `in-${i}`);
    const added = setAdds(peers, () => {
      for (const peer of peers) {
        open(fake, service, peer, "inbound");
        close(fake, service, peer, "normal");
      }
    });
    expect(added).toEqual([]);
    expect(service.wanted()).toEqual([]);
  });

  it("with persistence, are only wanted peers: an inbound peer's record keeps the backoff it had", async () => {
    const fake = new FakeHost();
    for (const peer of ["in", "out"]) {
      fake.peers.upsert(peer, { addresses: ["10.0.0.9:4001"] }, T0);
      fake.peers.setBackoff(peer, { attempt: 3, nextAttemptAt: T0 + 5_000 });
    }
    const { service } = start({}, fake);
    open(fake, service, "in", "inbound");
    open(fake, service, "out", "outbound");
    await vi.advanceTimersByTimeAsync(0); // the save runs in a microtask
    expect(fake.peers.get("in")?.backoff).toEqual({ attempt: 3, nextAttemptAt: T0 + 5_000 });
    expect(fake.peers.get("out")?.backoff).toEqual({ attempt: 0 });
  });
});
