/**
 * Test helper: a minimal node on 127.0.0.1 (listenTcp + secureInbound +
 * openConnection, optional TLS) and a dialer, with everything tracked so a
 * test can close it all and check that no handle is left.
 */
import { vi } from "vitest";
import { Connection } from "../../src/connection/connection.js";
import type { ConnectionHandshakeOptions } from "../../src/connection/connection-core.js";
import { openConnection, type OpenConnectionOptions } from "../../src/connection/open-connection.js";
import { PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { listenTcp } from "../../src/transport/listen.js";
import { secureInbound } from "../../src/transport/secure-inbound.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import type { ResolvedTls, SecureChannel, TcpListener } from "../../src/transport/types.js";

/** What became of one inbound connection. */
/** A settled inbound connection, with the socket it reads from (to see whether reading is paused). */
export type Inbound =
  | { readonly connection: Connection; readonly socket?: SecureChannel["socket"]; readonly error?: undefined }
  | { readonly connection?: undefined; readonly error: PeerlinkError };

export interface NodeOptions {
  readonly tls: boolean;
  /** TLS options for resolveTls (e.g. a CA). */
  readonly tlsOptions?: import("../../src/transport/types.js").TlsOptions;
  readonly identity?: Identity;
  readonly handshake?: Partial<ConnectionHandshakeOptions>;
  readonly connection?: Omit<OpenConnectionOptions, "signal">;
  /** Handshake timeout for inbound connections, in ms. @default 5000 */
  readonly handshakeTimeoutMs?: number;
  /**
   * Inbound mode: "open" runs openConnection; "early-listener" builds the Connection itself and
   * attaches `onEarly` before the handshake, to observe what is delivered before open.
   */
  readonly inbound?: "open" | "early-listener";
  readonly onEarly?: (connection: Connection) => void;
}

export interface TestNode {
  readonly identity: Identity;
  readonly tls: ResolvedTls | undefined;
  readonly port: number;
  /** Settled inbound connections, in order. */
  nextInbound(): Promise<Inbound>;
  /** Dials `port` (default: this node's peer, i.e. pass the other node's port) with this node's settings. */
  dial(port: number, handshake?: Partial<ConnectionHandshakeOptions>, options?: OpenConnectionOptions): Promise<Connection>;
  /** Dials and returns the raw channel (no handshake). */
  dialChannel(port: number): Promise<SecureChannel>;
  /** Aborts every connection (failed handshakes still lingering included), stops listening, waits until all sockets are closed. */
  close(): Promise<void>;
}

const protocols = [{ name: "/chat", versions: [1], alias: 1 }];

export async function startNode(options: NodeOptions): Promise<TestNode> {
  const identity = options.identity ?? Identity.generate();
  const tls = options.tls ? await resolveTls(identity, options.tlsOptions) : undefined;
  const handshake: ConnectionHandshakeOptions = { identity, protocols, ...options.handshake };
  const connections = new Set<Connection>();
  const channels = new Set<SecureChannel>();
  const settled: Inbound[] = [];
  const waiters: Array<(i: Inbound) => void> = [];
  const settle = (i: Inbound): void => {
    const w = waiters.shift();
    if (w) w(i);
    else settled.push(i);
  };
  const track = (c: Connection): Connection => {
    connections.add(c);
    void c.closed.then(() => connections.delete(c));
    return c;
  };
  const trackChannel = (ch: SecureChannel): void => {
    channels.add(ch);
    ch.socket.once("close", () => channels.delete(ch));
  };
  const timeout = options.handshakeTimeoutMs ?? 5_000;

  const raws = new Set<import("node:net").Socket>();
  const onSocket = (raw: import("node:net").Socket): void => {
    raws.add(raw);
    raw.once("close", () => raws.delete(raw));
    const deadline = Date.now() + timeout;
    secureInbound(raw, { tls, deadline }).then(
      (channel) => {
        if (options.inbound === "early-listener") {
          const c = track(new Connection(channel, { ...options.connection, handshake, deadline }));
          options.onEarly?.(c);
          c.on("state", (s) => {
            if (s.to === "open") settle({ connection: c, socket: channel.socket });
          });
          void c.closed.then((info) => {
            if (c.handshake === undefined) settle({ error: info.error ?? new PeerlinkError("CONNECTION_CLOSED", "closed") });
          });
          return;
        }
        openConnection(channel, handshake, { ...options.connection, deadline, onConnection: track }).then(
          (c) => settle({ connection: c, socket: channel.socket }),
          (error: PeerlinkError) => settle({ error }),
        );
      },
      (error: PeerlinkError) => settle({ error }),
    );
  };
  const listener: TcpListener = await listenTcp({ host: "127.0.0.1", port: 0, onSocket });
  const port = listener.addresses[0]?.port as number;

  return {
    identity,
    tls,
    port,
    nextInbound() {
      const s = settled.shift();
      return s ? Promise.resolve(s) : new Promise((resolve) => waiters.push(resolve));
    },
    async dial(target, overrides = {}, dialOptions = {}) {
      const deadline = dialOptions.deadline ?? Date.now() + timeout;
      const channel = await dialChannel({ host: "127.0.0.1", port: target, tls, deadline });
      return openConnection(channel, { ...handshake, ...overrides }, {
        ...options.connection,
        ...dialOptions,
        deadline,
        onConnection: (c) => {
          track(c);
          dialOptions.onConnection?.(c);
        },
      });
    },
    async dialChannel(target) {
      const channel = await dialChannel({ host: "127.0.0.1", port: target, tls, deadline: Date.now() + timeout });
      trackChannel(channel);
      return channel;
    },
    async close() {
      await listener.close();
      for (const c of connections) c.abort();
      await Promise.all([...connections].map((c) => c.closed));
      const sockets = [...channels].map((ch) => ch.socket).concat([...raws]);
      for (const socket of sockets) socket.destroy();
      await Promise.all(sockets.map((socket) => (socket.closed ? undefined : new Promise((r) => socket.once("close", r)))));
    },
  };
}

/**
 * Counts of the handle kinds a connection can leak. With `timers: false`, timers are not counted
 * (vitest's own hook timers come and go between hooks; compare timers within one test body).
 */
export function activeHandles(options: { timers?: boolean } = {}): Record<string, number> {
  const counts: Record<string, number> = {};
  const timers = options.timers ?? true;
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === "TCPSocketWrap" || kind === "TCPServerWrap" || kind === "TLSWrap" || (timers && kind === "Timeout")) {
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
  }
  return counts;
}

/** {@link activeHandles} after one turn of the event loop (closed handles leave the list on the next turn). */
export async function handlesAfterClose(options: { timers?: boolean } = {}): Promise<Record<string, number>> {
  await new Promise((resolve) => setImmediate(resolve));
  return activeHandles(options);
}

/**
 * Records every timer that code under `src/` creates with `setTimeout` from now on, so a test can
 * check that none is left pending (neither fired nor cleared) after everything closed. Call
 * `restore()` when done.
 */
export function trackTimers(): { pending(): string[]; restore(): void } {
  const created: { timer: NodeJS.Timeout; site: string }[] = [];
  const original = globalThis.setTimeout;
  const spy = vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = original(fn, ms, ...args);
    const site = new Error().stack?.split("\n").find((line) => line.includes("/src/")) ?? "";
    if (site !== "") created.push({ timer, site: site.trim() });
    return timer;
  }) as typeof setTimeout);
  return {
    pending: () => created.filter((c) => !(c.timer as unknown as { _destroyed: boolean })._destroyed).map((c) => c.site),
    restore: () => spy.mockRestore(),
  };
}
