/**
 * The node's listening sockets and the formatted addresses they are bound to. The addresses go into every
 * handshake's Hello, so they are formatted once per set of listeners rather than per connection.
 *
 * @module
 */
import type { Socket } from "node:net";
import { formatHostPort, parseHostPort } from "../manager/ip.js";
import { listenTcp } from "../transport/listen.js";
import type { TcpListener } from "../transport/types.js";

/** Owns the node's TCP listeners. */
export class ListenerSet {
  readonly #listeners: TcpListener[] = [];
  #addresses: readonly string[] = [];

  /** `host:port` of every bound address (IPv6 in brackets), in the order given to {@link ListenerSet.listen}. */
  get addresses(): readonly string[] {
    return this.#addresses;
  }

  /** Number of listeners bound. */
  get size(): number {
    return this.#listeners.length;
  }

  /** Binds `address` (`host:port`, port 0 allowed) and hands each accepted socket to `onSocket`. */
  async listen(address: string, onSocket: (socket: Socket) => void, signal?: AbortSignal): Promise<void> {
    const { host, port } = parseHostPort(address, { allowPortZero: true });
    this.#listeners.push(await listenTcp({ host, port, onSocket, ...(signal === undefined ? {} : { signal }) }));
    this.#addresses = this.#listeners.flatMap((l) => l.addresses.map((a) => formatHostPort(a.host, a.port)));
  }

  /** Stops accepting on every listener (the addresses stay readable). */
  async close(): Promise<void> {
    await Promise.all(this.#listeners.map((l) => l.close()));
  }

  /** Closes and forgets every listener (a start that failed part-way). */
  async discard(): Promise<void> {
    await Promise.all(this.#listeners.splice(0).map((l) => l.close()));
    this.#addresses = [];
  }
}
