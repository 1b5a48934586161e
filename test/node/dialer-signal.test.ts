import { getEventListeners } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { Dialer, type DialerHost } from "../../src/node/dialer.js";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";
import { rejectsWithCode } from "../helpers/error-code.js";

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(): Promise<number> {
  const server = net.createServer((s) => sockets.add(s.on("error", () => undefined)));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as net.AddressInfo).port;
}

/** Entries Node's AbortSignal.any leaves in a source signal (one per call, never removed in Node 20). */
const dependants = (signal: AbortSignal): number => {
  const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === "kDependantSignals");
  return key === undefined ? 0 : (signal as unknown as Record<symbol, Set<unknown>>)[key]!.size;
};

/** A dialer whose handshake fails every connection after TCP, or waits for the dial's signal when `hang`. */
function dialerWith(stop: AbortSignal, hang = false): Dialer {
  const ok = { allowed: true } as const;
  return new Dialer({
    core: {
      gateDialPeer: () => ok,
      gateDialAddress: () => ok,
      kept: () => undefined,
      reserveDial: () => ({ ok: true, reservation: { release: () => true } }),
    },
    peers: new PeerDatabase({ store: new MemoryPeerStore() }),
    localId: Identity.generate().peerId,
    now: () => Date.now(),
    tls: () => undefined,
    signal: stop,
    handshakeTimeoutMs: 600_000,
    dialing: { staggerMs: 250, backoff: undefined },
    maxRetryAfterMs: 0,
    enable0Rtt: false,
    handshake: async (channel: { socket: net.Socket }, bounds: { signal: AbortSignal }) => {
      if (hang) await new Promise((resolve) => bounds.signal.addEventListener("abort", resolve, { once: true }));
      channel.socket.destroy();
      throw new PeerlinkError(hang ? ErrorCode.ABORTED : ErrorCode.PROTOCOL_VIOLATION, "refused by the test", { initiator: "remote" });
    },
    adopt: () => {
      throw new Error("not reached");
    },
    onOpen: () => () => undefined,
    refused: () => undefined,
    journalLimit: () => undefined,
    failed: () => undefined,
    dialFailed: () => undefined,
    changed: () => undefined,
    closing: (_c: Connection, onClosed: () => void) => onClosed(),
  } as unknown as DialerHost);
}

describe("the dialer and the node's stop signal", () => {
  it("keeps nothing in the stop signal once dials have ended", async () => {
    const port = await listen();
    const stop = new AbortController();
    const dialer = dialerWith(stop.signal);
    for (let i = 0; i < 20; i++) {
      await rejectsWithCode(dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${port}`] }), ErrorCode.PROTOCOL_VIOLATION);
    }
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
    expect(dependants(stop.signal)).toBe(0);
  });

  it("aborts a dial in progress when the node stops", async () => {
    const port = await listen();
    const stop = new AbortController();
    const dialer = dialerWith(stop.signal, true);
    const dialing = dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${port}`] });
    await new Promise<void>((resolve) => {
      const poll = (): void => void (sockets.size > 0 ? resolve() : setImmediate(poll));
      poll();
    });
    // As the manager stops: its signal aborted, then the dialer told.
    stop.abort(new PeerlinkError(ErrorCode.STOPPED, "stopping"));
    dialer.stop();
    await expect(dialing).rejects.toBeInstanceOf(PeerlinkError);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });
});
