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

const activeTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("the dialer's wait for a connection still being adopted", () => {
  it("ends at stop(): its timer is cleared and its connection:open listener removed", async () => {
    const server = net.createServer((s) => sockets.add(s.on("error", () => undefined)));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const remote = Identity.generate().peerId;
    const listeners = new Set<(c: Connection) => void>();
    let waiting!: () => void;
    const reachedWait = new Promise<void>((r) => (waiting = r));
    const ok = { allowed: true } as const;
    const stopping = new AbortController();
    const host = {
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
      signal: stopping.signal,
      handshakeTimeoutMs: 600_000,
      dialing: { staggerMs: 250, backoff: undefined },
      enable0Rtt: false,
      // The peer ended this connection as a duplicate of one that is still being adopted here.
      handshake: async (channel: { socket: net.Socket }, _bounds: unknown, track: (c: Connection) => void) => {
        channel.socket.destroy();
        track({ state: "closing", handshake: { remotePeerId: remote } } as unknown as Connection);
        throw new PeerlinkError(ErrorCode.ALREADY_CONNECTED, "duplicate", { initiator: "remote" });
      },
      adopt: () => {
        throw new Error("not reached");
      },
      onOpen: (listener: (c: Connection) => void) => {
        listeners.add(listener);
        waiting();
        return () => listeners.delete(listener);
      },
      refused: () => undefined,
      journalLimit: () => undefined,
      failed: () => undefined,
      dialFailed: () => undefined,
      changed: () => undefined,
      closing: (_c: Connection, onClosed: () => void) => onClosed(),
    } as unknown as DialerHost;
    const dialer = new Dialer(host);
    const dialing = dialer.dial({ peerId: remote, addresses: [`127.0.0.1:${port}`] });
    await reachedWait;
    expect(listeners.size).toBe(1);
    const before = activeTimeouts();
    // As the manager stops: its signal aborted, then the dialer told; the dial ends with it.
    stopping.abort(new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping"));
    dialer.stop();
    expect(activeTimeouts()).toBe(before - 1);
    expect(listeners.size).toBe(0);
    await rejectsWithCode(dialing, ErrorCode.ABORTED);
  });
});
