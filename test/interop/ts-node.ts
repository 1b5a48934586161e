/**
 * Test helper: a bare TypeScript peerlink node for connection-level tests, built from peerlink's
 * transport and connection APIs (dialChannel / listenTcp + secureInbound /
 * openConnection), with everything it opens tracked for cleanup.
 *
 * @module
 */
import type { Connection, ConnectionEvents } from "../../src/connection/connection.js";
import type { ConnectionHandshakeOptions } from "../../src/connection/connection-core.js";
import { openConnection, type OpenConnectionOptions } from "../../src/connection/open-connection.js";
import { PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { listenTcp } from "../../src/transport/listen.js";
import { secureInbound } from "../../src/transport/secure-inbound.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import type { ResolvedTls, SecureChannel, TcpListener } from "../../src/transport/types.js";

/** Protocols the TypeScript side speaks; its aliases (1, 2) differ from the Go peer's (7, 8) on purpose. */
export const TS_PROTOCOLS = [
  { name: "/echo", versions: [1], alias: 1 },
  { name: "/chat", versions: [1], alias: 2 },
] as const;

/** Handshake timeout of every TypeScript connection attempt, in ms. */
const HANDSHAKE_TIMEOUT_MS = 8_000;

/** The outcome of one connection attempt. */
export type Attempt = { readonly connection: Connection; readonly error?: undefined } | { readonly connection?: undefined; readonly error: PeerlinkError };

/** A TypeScript peerlink node: identity, optional TLS, dial and listen. */
export class TsNode {
  readonly identity: Identity;
  readonly tls: ResolvedTls | undefined;
  readonly #connections = new Set<Connection>();
  readonly #listeners = new Set<TcpListener>();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #attempts: Attempt[] = [];
  readonly #waiters: Array<(a: Attempt) => void> = [];
  #port = 0;

  private constructor(identity: Identity, tls: ResolvedTls | undefined) {
    this.identity = identity;
    this.tls = tls;
  }

  /**
   * A node with a fresh (or the given) identity, with TLS credentials when `secure`.
   * TLS session resumption is off unless `resumeSessions`.
   */
  static async create(secure: boolean, identity: Identity = Identity.generate(), resumeSessions = false): Promise<TsNode> {
    const tls = secure ? await resolveTls(identity, resumeSessions ? {} : { sessionCache: false }) : undefined;
    return new TsNode(identity, tls);
  }

  /** The listening port (after {@link TsNode.listen}). */
  get port(): number {
    return this.#port;
  }

  /** The printable peer id. */
  get peerId(): string {
    return this.identity.peerId.toString();
  }

  #handshake(extra: Partial<ConnectionHandshakeOptions>): ConnectionHandshakeOptions {
    return { identity: this.identity, protocols: TS_PROTOCOLS.map((p) => ({ ...p, versions: [...p.versions] })), ...extra };
  }

  /** Dials 127.0.0.1:`port` and runs the handshake; rejects with the PeerlinkError that ended it. */
  async dial(port: number, handshake: Partial<ConnectionHandshakeOptions> = {}, options: OpenConnectionOptions = {}): Promise<Connection> {
    const deadline = Date.now() + HANDSHAKE_TIMEOUT_MS;
    const channel = await dialChannel({ host: "127.0.0.1", port, tls: this.tls, deadline });
    const connection = await openConnection(channel, this.#handshake(handshake), { deadline, ...options });
    return this.#track(connection);
  }

  /**
   * Listens on 127.0.0.1 (random port); every accepted socket runs TLS (if any) and the handshake.
   * `onConnection` is called with each connection once it is open (peerlink holds received
   * messages, 0-RTT early data included, until the first consumer attaches).
   */
  async listen(handshake: Partial<ConnectionHandshakeOptions> = {}, onConnection?: (c: Connection) => void): Promise<number> {
    const open = (channel: SecureChannel, deadline: number): Promise<Connection> =>
      openConnection(channel, this.#handshake(handshake), { deadline }).then((c) => {
        onConnection?.(c);
        return c;
      });
    const listener = await listenTcp({
      host: "127.0.0.1",
      port: 0,
      onSocket: (raw) => {
        const deadline = Date.now() + HANDSHAKE_TIMEOUT_MS;
        const attempt = secureInbound(raw, { tls: this.tls, deadline })
          .then((channel) => open(channel, deadline))
          .then(
            (connection): Attempt => ({ connection: this.#track(connection) }),
            (error: unknown): Attempt => ({ error: PeerlinkError.from(error) }),
          )
          .then((a) => {
            const waiter = this.#waiters.shift();
            if (waiter) waiter(a);
            else this.#attempts.push(a);
          });
        this.#pending.add(attempt);
        void attempt.finally(() => this.#pending.delete(attempt));
      },
    });
    this.#listeners.add(listener);
    this.#port = listener.addresses[0]?.port ?? 0;
    return this.#port;
  }

  /** The next settled inbound attempt, in order. */
  nextInbound(): Promise<Attempt> {
    const ready = this.#attempts.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The next inbound attempt, which must have opened. */
  async nextConnection(): Promise<Connection> {
    const attempt = await this.nextInbound();
    if (attempt.error) throw attempt.error;
    return attempt.connection;
  }

  #track(connection: Connection): Connection {
    this.#connections.add(connection);
    void connection.closed.then(() => this.#connections.delete(connection));
    return connection;
  }

  /** Stops listening, aborts every connection and waits until all are released. */
  async close(): Promise<void> {
    await Promise.all([...this.#listeners].map((l) => l.close()));
    await Promise.allSettled([...this.#pending]);
    const open = [...this.#connections];
    for (const c of open) c.abort();
    await Promise.all(open.map((c) => c.closed));
  }
}

/**
 * Resolves with the next `type` event of `connection` that satisfies `match`;
 * rejects if the connection closes first or after `timeoutMs`.
 */
export function nextEvent<K extends keyof ConnectionEvents>(
  connection: Connection,
  type: K,
  match: (event: ConnectionEvents[K]) => boolean = () => true,
  timeoutMs = 8_000,
): Promise<ConnectionEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for a ${String(type)} event`));
    }, timeoutMs);
    const off = connection.on(type, (event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
    void connection.closed.then((info) => {
      clearTimeout(timer);
      off();
      reject(new Error(`connection closed (${info.reason}, ${info.initiator}) before a ${String(type)} event`));
    });
  });
}
