// Races of a dial of one address against its callers and the node: whatever step a dial is cancelled at,
// every caller's promise settles once with ABORTED, the slot is freed once, no socket or listener is left,
// and nothing rejects unobserved.
import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import type { DialerHost } from "../../src/node/dialer.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { trackTimers } from "../connection/nodes.js";
import { fakeDialer, useSilentServers } from "../helpers/fake-dialer-host.js";

const servers = useSilentServers();

const notReached: DialerHost["handshake"] = () => Promise.reject(new Error("not reached"));

/** Every promise rejection nobody observed while `run` ran (and a turn of the event loop after it). */
async function unhandledDuring(run: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void seen.push(reason);
  const listeners = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", onUnhandled);
  try {
    await run();
    await new Promise<void>((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(r));
  } finally {
    process.off("unhandledRejection", onUnhandled);
    for (const l of listeners) process.on("unhandledRejection", l);
  }
  return seen;
}

describe("a dial whose caller's signal is already aborted", () => {
  it("rejects with ABORTED, frees its slot, and leaves no rejection unobserved", async () => {
    const { port } = await servers.silent();
    const stop = new AbortController();
    const { dialer, slots } = fakeDialer({ stop: stop.signal, tls: undefined, handshake: notReached });
    const caller = new AbortController();
    caller.abort(new Error("gave up before"));
    const unhandled = await unhandledDuring(async () => {
      await rejectsWithCode(dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${port}`] }, { signal: caller.signal }), ErrorCode.ABORTED);
      await new Promise<void>((r) => setImmediate(r));
    });
    expect(unhandled).toEqual([]);
    expect(slots.reserved).toBe(slots.released);
    expect(dialer.size).toBe(0);
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });
});

let tracked: ReturnType<typeof trackTimers> | undefined;
afterEach(() => {
  tracked?.restore();
  tracked = undefined;
});

/**
 * Counts the timers peerlink's code sets from now on; the function returned lists those of the dial still
 * pending. Only ours: the process's own count also moves with timers of earlier tests ending meanwhile. The
 * peer database's debounced save (a recorded dial failure) is the database's, ended by its own flush.
 */
function timersFromHere(): () => string[] {
  tracked?.restore();
  const mine = trackTimers();
  tracked = mine;
  return () => mine.pending().filter((site) => !site.includes("/src/peers/debounced-saver."));
}

/** A handshake that tracks a fake connection and waits; `abort` ends it as the real one does. */
function heldHandshake(onStart?: () => void): { handshake: DialerHost["handshake"]; aborts: Error[]; started: Promise<void> } {
  const aborts: Error[] = [];
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const handshake: DialerHost["handshake"] = (channel, _bounds, track) =>
    new Promise((_resolve, reject) => {
      const connection = {
        state: "handshaking",
        abort(error: Error) {
          if (this.state === "closed") return;
          aborts.push(error);
          this.state = "closed";
          channel.socket.destroy();
          reject(error);
        },
      };
      onStart?.();
      track(connection as never);
      started();
    });
  return { handshake, aborts, started: startedP };
}

describe("a dial of one address cancelled at each step", () => {
  it("between TLS and the handshake: the connection is ended as soon as it is tracked", async () => {
    const server = await servers.silent();
    const stop = new AbortController();
    const caller = new AbortController();
    const pendingTimers = timersFromHere();
    const held = heldHandshake(() => caller.abort(new Error("gave up")));
    const { dialer, slots } = fakeDialer({ stop: stop.signal, handshake: held.handshake });
    await rejectsWithCode(dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${server.port}`] }, { signal: caller.signal }), ErrorCode.ABORTED);
    await server.closed(0);
    expect(held.aborts.map((e) => (e as { code?: string }).code)).toEqual([ErrorCode.ABORTED]);
    expect(slots).toEqual({ reserved: 1, released: 1 });
    expect(dialer.size).toBe(0);
    expect(pendingTimers()).toEqual([]);
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });

  it("when the node stops in the handshake: ended once, ABORTED with the stop's reason, the slot freed once", async () => {
    const server = await servers.silent();
    const stop = new AbortController();
    const pendingTimers = timersFromHere();
    const held = heldHandshake();
    const { dialer, slots } = fakeDialer({ stop: stop.signal, handshake: held.handshake });
    const caller = new AbortController();
    const dialing = dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${server.port}`] }, { signal: caller.signal });
    await held.started;
    const reason = new Error("stopping");
    stop.abort(reason);
    dialer.stop();
    dialer.stop();
    const error = await dialing.then(
      () => undefined,
      (e: unknown) => e as { code?: string; cause?: unknown },
    );
    expect(error?.code).toBe(ErrorCode.ABORTED);
    expect(error?.cause).toBe(reason);
    await server.closed(0);
    expect(held.aborts).toHaveLength(1);
    expect(slots).toEqual({ reserved: 1, released: 1 });
    expect(dialer.size).toBe(0);
    expect(pendingTimers()).toEqual([]);
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
  });

  it("two callers, one leaving: the dial goes on for the other, which the node's stop ends", async () => {
    const server = await servers.silent();
    const stop = new AbortController();
    const pendingTimers = timersFromHere();
    const held = heldHandshake();
    const { dialer, slots } = fakeDialer({ stop: stop.signal, handshake: held.handshake });
    const target = { peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${server.port}`] };
    const leaving = new AbortController();
    const staying = new AbortController();
    const first = dialer.dial(target, { signal: leaving.signal });
    const second = dialer.dial(target, { signal: staying.signal });
    leaving.abort(new Error("gave up"));
    await rejectsWithCode(first, ErrorCode.ABORTED);
    await held.started;
    expect(held.aborts).toHaveLength(0);
    expect(slots).toEqual({ reserved: 1, released: 0 });
    stop.abort(new Error("stopping"));
    dialer.stop();
    await rejectsWithCode(second, ErrorCode.ABORTED);
    await server.closed(0);
    expect(held.aborts).toHaveLength(1);
    expect(slots).toEqual({ reserved: 1, released: 1 });
    expect(pendingTimers()).toEqual([]);
    expect(getEventListeners(leaving.signal, "abort")).toHaveLength(0);
    expect(getEventListeners(staying.signal, "abort")).toHaveLength(0);
  });

  it("joined after every caller left: a fresh dial, not the one being torn down", async () => {
    const server = await servers.silent();
    const stop = new AbortController();
    const pendingTimers = timersFromHere();
    const held = heldHandshake();
    const { dialer, slots } = fakeDialer({ stop: stop.signal, handshake: held.handshake });
    const target = { peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${server.port}`] };
    const caller = new AbortController();
    const first = dialer.dial(target, { signal: caller.signal });
    await server.accepted(0);
    caller.abort(new Error("gave up"));
    const second = dialer.dial(target);
    await rejectsWithCode(first, ErrorCode.ABORTED);
    await server.accepted(1);
    expect(slots.reserved).toBe(2);
    expect(dialer.size).toBe(1);
    stop.abort(new Error("stopping"));
    dialer.stop();
    await rejectsWithCode(second, ErrorCode.ABORTED);
    await Promise.all([server.closed(0), server.closed(1)]);
    expect(slots).toEqual({ reserved: 2, released: 2 });
    expect(dialer.size).toBe(0);
    expect(pendingTimers()).toEqual([]);
  });
});

describe("a dial refused as a duplicate, waiting for the surviving connection", () => {
  it("ends its wait (and its timer) when every caller left", async () => {
    const server = await servers.silent();
    const stop = new AbortController();
    const pendingTimers = timersFromHere();
    const remote = Identity.generate().peerId;
    let refused!: () => void;
    const refusedP = new Promise<void>((r) => (refused = r));
    const { dialer, slots } = fakeDialer({
      stop: stop.signal,
      handshake: (channel, _bounds, track) => {
        track({ state: "closed", handshake: { remotePeerId: remote } } as never);
        channel.socket.destroy();
        refused();
        return Promise.reject(new PeerlinkError(ErrorCode.ALREADY_CONNECTED, "already connected", { initiator: "remote" }));
      },
    });
    const caller = new AbortController();
    const dialing = dialer.dial({ peerId: remote, addresses: [`127.0.0.1:${server.port}`] }, { signal: caller.signal });
    await refusedP;
    await new Promise<void>((r) => setImmediate(r));
    caller.abort(new Error("gave up"));
    await rejectsWithCode(dialing, ErrorCode.ABORTED);
    await new Promise<void>((r) => setImmediate(r));
    expect(pendingTimers()).toEqual([]);
    expect(slots).toEqual({ reserved: 1, released: 1 });
    await server.closed(0);
  });
});

/** Open TCP handles of this process. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
}

/** Waits (bounded in turns of the event loop) until `check` holds; false if it never did. */
async function eventually(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 2_000 && !check(); i++) await new Promise<void>((r) => setImmediate(r));
  return check();
}

describe("a dial of one address cancelled while its TCP connect is in flight", () => {
  for (const how of ["the caller", "the node's stop"] as const) {
    it(`by ${how}: its socket is closed, its slot and timer freed, ABORTED once`, async () => {
      const server = await servers.silent();
      const stop = new AbortController();
      const pendingTimers = timersFromHere();
      const handlesBefore = tcpHandles();
      const { dialer, slots } = fakeDialer({ stop: stop.signal, handshake: notReached });
      const caller = new AbortController();
      let settledTimes = 0;
      const dialing = dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${server.port}`] }, { signal: caller.signal });
      void dialing.then(
        () => settledTimes++,
        () => settledTimes++,
      );
      // A dial of an IP address runs synchronously up to its socket: the slot is taken, the connect under way.
      expect(slots.reserved).toBe(1);
      if (how === "the caller") caller.abort(new Error("gave up"));
      else {
        stop.abort(new Error("stopping"));
        dialer.stop();
      }
      await rejectsWithCode(dialing, ErrorCode.ABORTED);
      expect(slots).toEqual({ reserved: 1, released: 1 });
      expect(dialer.size).toBe(0);
      expect(pendingTimers()).toEqual([]);
      expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
      expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
      // The server's end, if it accepted before the client's socket closed, closes with it.
      expect(await eventually(() => tcpHandles() <= handlesBefore)).toBe(true);
      expect(settledTimes).toBe(1);
    });
  }
});
