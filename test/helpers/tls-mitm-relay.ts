/**
 * Man-in-the-middle relays for tests. The TLS relay terminates the dialer's TLS
 * with ITS OWN certificate (requesting a client certificate, accepting any),
 * opens its own TLS connection (with its own client certificate) to the real
 * listener, and forwards the decrypted bytes both ways unchanged: peerlink
 * frames pass through intact, only the two TLS sessions (and so their
 * `tls-exporter` values) differ. The plain relay forwards TCP bytes.
 *
 * @module
 */
import net from "node:net";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { secureInbound } from "../../src/transport/secure-inbound.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import type { ResolvedTls, SecureChannel } from "../../src/transport/types.js";

/** Options of {@link startTlsMitmRelay} and {@link startTcpRelay}. */
export interface RelayOptions {
  /** Host of the real listener. @default "127.0.0.1" */
  readonly targetHost?: string;
  /** Port of the real listener. */
  readonly targetPort: number;
  /** The relay's own TLS (TLS relay only). @default a fresh identity's self-signed certificate, no CA */
  readonly tls?: ResolvedTls;
}

/** One relayed connection: both legs, once established. */
export interface RelayedPair {
  /** The leg between the dialer and the relay (relay side). */
  readonly downstream: SecureChannel;
  /** The leg between the relay and the real listener (relay side). */
  readonly upstream: SecureChannel;
}

/** A running relay. */
export interface Relay {
  /** Always `"127.0.0.1"`. */
  readonly host: string;
  /** The port the relay listens on. */
  readonly port: number;
  /** Pairs whose two legs are both up, in order of establishment. */
  readonly pairs: readonly RelayedPair[];
  /** Resolves with the next pair once both legs are up (or the oldest pair not yet awaited). */
  nextPair(): Promise<RelayedPair>;
  /** Stops listening and destroys every socket the relay opened or accepted. Idempotent. */
  close(): Promise<void>;
}

/** Starts a TLS-terminating man-in-the-middle relay on 127.0.0.1 in front of `targetHost:targetPort`. */
export async function startTlsMitmRelay(options: RelayOptions): Promise<Relay> {
  const tls = options.tls ?? (await resolveTls(Identity.generate(), { sessionCache: false }));
  return startRelay(options, tls);
}

/** Starts a plain TCP forwarding relay on 127.0.0.1 in front of `targetHost:targetPort`. */
export function startTcpRelay(options: RelayOptions): Promise<Relay> {
  return startRelay(options, undefined);
}

async function startRelay(options: RelayOptions, tls: ResolvedTls | undefined): Promise<Relay> {
  const targetHost = options.targetHost ?? "127.0.0.1";
  const sockets = new Set<net.Socket>();
  const pairs: RelayedPair[] = [];
  const waiting: Array<(pair: RelayedPair) => void> = [];
  let delivered = 0;
  const controller = new AbortController();
  let closed = false;

  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const relayOne = async (raw: net.Socket): Promise<void> => {
    track(raw);
    const downstream = await secureInbound(raw, { tls, signal: controller.signal });
    track(downstream.socket);
    downstream.socket.pause(); // hold early bytes until the upstream leg is up
    downstream.socket.on("error", () => undefined);
    const upstream = await dialChannel({ host: targetHost, port: options.targetPort, tls, signal: controller.signal });
    track(upstream.socket);
    upstream.socket.on("error", () => undefined);
    if (closed || downstream.socket.destroyed) {
      upstream.socket.destroy();
      downstream.socket.destroy();
      return;
    }
    // Either side going away takes the other with it (after forwarding what was sent).
    downstream.socket.once("close", () => upstream.socket.destroy());
    upstream.socket.once("close", () => downstream.socket.destroy());
    downstream.socket.pipe(upstream.socket);
    upstream.socket.pipe(downstream.socket);
    const pair = { downstream, upstream };
    pairs.push(pair);
    const waiter = waiting.shift();
    if (waiter !== undefined) {
      delivered++;
      waiter(pair);
    }
  };

  const server = net.createServer((raw) => {
    if (closed) {
      raw.destroy();
      return;
    }
    relayOne(raw).catch(() => raw.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;

  return {
    host: "127.0.0.1",
    port: address.port,
    pairs,
    nextPair() {
      const ready = pairs[delivered];
      if (ready !== undefined) {
        delivered++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    async close() {
      if (closed) return;
      closed = true;
      controller.abort();
      server.close();
      const closing = [...sockets].map(
        (socket) => new Promise<void>((resolve) => (socket.destroyed && socket.closed ? resolve() : socket.once("close", () => resolve()))),
      );
      for (const socket of sockets) socket.destroy();
      await Promise.all(closing);
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}
