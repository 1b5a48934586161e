// The dialer when its node stops: dials in progress end, waits are cleared, and nothing of a dial stays in the
// node's stop signal (Node 20's AbortSignal.any keeps one entry per call in its sources, forever).
import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import type { Dialer, DialerHost } from "../../src/node/dialer.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { fakeDialer, useSilentServers } from "../helpers/fake-dialer-host.js";

const servers = useSilentServers();

async function listen(): Promise<number> {
  return (await servers.silent()).port;
}

const activeTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

/** Entries Node's AbortSignal.any leaves in a source signal (one per call, never removed in Node 20). */
const dependants = (signal: AbortSignal): number => {
  const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === "kDependantSignals");
  return key === undefined ? 0 : (signal as unknown as Record<symbol, Set<unknown>>)[key]!.size;
};

/** A dialer over real TCP whose node admits everything; `handshake` and `onOpen` are the test's. */
function dialerWith(stop: AbortSignal, parts: Pick<DialerHost, "handshake"> & Partial<Pick<DialerHost, "onOpen">>): Dialer {
  return fakeDialer({ stop, ...parts }).dialer;
}

/** As the manager stops: its signal aborted, then the dialer told. */
function stopNode(stop: AbortController, dialer: Dialer): void {
  stop.abort(new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping"));
  dialer.stop();
}

describe("the dialer's wait for a connection still being adopted", () => {
  it("ends at stop(): its timer is cleared and its connection:open listener removed", async () => {
    const port = await listen();
    const remote = Identity.generate().peerId;
    const listeners = new Set<(c: Connection) => void>();
    let waiting!: () => void;
    const reachedWait = new Promise<void>((r) => (waiting = r));
    const stop = new AbortController();
    const dialer = dialerWith(stop.signal, {
      // The peer ended this connection as a duplicate of one that is still being adopted here.
      handshake: async (channel, _bounds, track) => {
        channel.socket.destroy();
        track({ state: "closing", handshake: { remotePeerId: remote } } as unknown as Connection);
        throw new PeerlinkError(ErrorCode.ALREADY_CONNECTED, "duplicate", { initiator: "remote" });
      },
      onOpen: (listener) => {
        listeners.add(listener);
        waiting();
        return () => listeners.delete(listener);
      },
    });
    const dialing = dialer.dial({ peerId: remote, addresses: [`127.0.0.1:${port}`] });
    await reachedWait;
    expect(listeners.size).toBe(1);
    const before = activeTimeouts();
    stopNode(stop, dialer);
    expect(activeTimeouts()).toBe(before - 1);
    expect(listeners.size).toBe(0);
    await rejectsWithCode(dialing, ErrorCode.ABORTED);
  });
});

describe("the dialer and the node's stop signal", () => {
  it("keeps nothing in the stop signal once dials have ended", async () => {
    const port = await listen();
    const stop = new AbortController();
    const dialer = dialerWith(stop.signal, {
      handshake: async (channel) => {
        channel.socket.destroy();
        throw new PeerlinkError(ErrorCode.PROTOCOL_VIOLATION, "refused by the test", { initiator: "remote" });
      },
    });
    for (let i = 0; i < 20; i++) {
      await rejectsWithCode(dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${port}`] }), ErrorCode.PROTOCOL_VIOLATION);
    }
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
    expect(dependants(stop.signal)).toBe(0);
  });

  it("aborts a dial in progress when the node stops", async () => {
    const port = await listen();
    const stop = new AbortController();
    const dialer = dialerWith(stop.signal, {
      // Waits for the dial's signal, then fails as the handshake layer does when aborted.
      handshake: async (channel, bounds) => {
        await new Promise((resolve) => bounds.signal.addEventListener("abort", resolve, { once: true }));
        channel.socket.destroy();
        throw new PeerlinkError(ErrorCode.ABORTED, "aborted", { initiator: "local" });
      },
    });
    const dialing = dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${port}`] });
    await new Promise<void>((resolve) => {
      const poll = (): void => void (servers.sockets.size > 0 ? resolve() : setImmediate(poll));
      poll();
    });
    stopNode(stop, dialer);
    await expect(dialing).rejects.toBeInstanceOf(PeerlinkError);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });
});
