// A Dialer over real sockets whose node admits everything, for tests of the dialer's own work (cancelling,
// stopping, waiting): the handshake and the connection:open subscription are the test's; the slots it
// reserved and freed are counted. And the silent TCP servers those tests dial.
import net from "node:net";
import { afterEach } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { Identity } from "../../src/identity/identity.js";
import { Dialer, type DialerHost } from "../../src/node/dialer.js";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";
import type { ResolvedTls } from "../../src/transport/types.js";

/** What a test gives the fake node host. */
export interface FakeDialerParts {
  /** Aborted when the node stops. */
  readonly stop: AbortSignal;
  /** The node's TLS (plain TCP when absent). */
  readonly tls?: ResolvedTls | undefined;
  readonly handshake: DialerHost["handshake"];
  readonly onOpen?: DialerHost["onOpen"];
}

/** Slots the dialer reserved and freed. */
export interface SlotCount {
  reserved: number;
  released: number;
}

/** The dialer and its slot count. */
export function fakeDialer(parts: FakeDialerParts): { dialer: Dialer; slots: SlotCount } {
  const ok = { allowed: true } as const;
  const slots: SlotCount = { reserved: 0, released: 0 };
  const dialer = new Dialer({
    core: {
      gateDialPeer: () => ok,
      gateDialAddress: () => ok,
      kept: () => undefined,
      reserveDial: () => {
        slots.reserved++;
        let held = true;
        return { ok: true, reservation: { release: () => (held ? ((held = false), slots.released++, true) : false) } };
      },
    },
    peers: new PeerDatabase({ store: new MemoryPeerStore() }),
    localId: Identity.generate().peerId,
    now: () => Date.now(),
    tls: () => parts.tls,
    signal: parts.stop,
    handshakeTimeoutMs: 600_000,
    dialing: { staggerMs: 250, backoff: undefined },
    maxRetryAfterMs: 0,
    enable0Rtt: false,
    handshake: parts.handshake,
    adopt: () => {
      throw new Error("not reached");
    },
    onOpen: parts.onOpen ?? (() => () => undefined),
    refused: () => undefined,
    journalLimit: () => undefined,
    failed: () => undefined,
    dialFailed: () => undefined,
    changed: () => undefined,
    closing: (_c: Connection, onClosed: () => void) => onClosed(),
  } as unknown as DialerHost);
  return { dialer, slots };
}

/** A TCP server that accepts and never answers. */
export interface SilentServer {
  readonly port: number;
  /** Resolves when the `n`-th socket (from 0) was accepted. */
  accepted(n?: number): Promise<void>;
  /** Resolves when the `n`-th accepted socket (from 0) closed. */
  closed(n?: number): Promise<void>;
}

/**
 * Silent TCP servers for one test file: call at the file's top level; after each test every server is closed
 * and every socket it accepted destroyed. `sockets` holds the sockets accepted and not yet cleaned up.
 */
export function useSilentServers(): { silent(host?: string): Promise<SilentServer>; readonly sockets: ReadonlySet<net.Socket> } {
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  return {
    sockets,
    async silent(host = "127.0.0.1") {
      const accepts = new Deferreds();
      const closes = new Deferreds();
      let n = 0;
      const server = net.createServer((s) => {
        const i = n++;
        sockets.add(s.on("error", () => undefined).on("close", () => closes.resolve(i)));
        accepts.resolve(i);
      });
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, host, r));
      return { port: (server.address() as net.AddressInfo).port, accepted: (i = 0) => accepts.get(i), closed: (i = 0) => closes.get(i) };
    },
  };
}

/** Promises by index, made on first use from either side. */
class Deferreds {
  readonly #entries = new Map<number, { promise: Promise<void>; resolve: () => void }>();

  get(i: number): Promise<void> {
    return this.#entry(i).promise;
  }

  resolve(i: number): void {
    this.#entry(i).resolve();
  }

  #entry(i: number): { promise: Promise<void>; resolve: () => void } {
    let entry = this.#entries.get(i);
    if (entry === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      entry = { promise, resolve };
      this.#entries.set(i, entry);
    }
    return entry;
  }
}
