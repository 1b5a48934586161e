/**
 * TCP listener that hands out raw sockets before any TLS work, so limits and
 * bans are enforced before a single TLS byte is processed.
 *
 * @module
 */
import { createServer, isIP, type Server, type Socket } from "node:net";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { ListenAddress, ListenOptions, TcpListener } from "./types.js";

/** Default of {@link ListenOptions.backlog} (Node's and Linux's usual `somaxconn`). */
export const DEFAULT_LISTEN_BACKLOG = 511;

/**
 * Binds one TCP listening socket per address in `host` (IPv4 and IPv6 literals;
 * `"::"` accepts IPv4 too on dual-stack systems) and hands every accepted socket,
 * raw, to `onSocket`. With port 0 the first address picks a free port and the
 * others bind the same port. IPv6 addresses bind with `ipv6Only` when an IPv4
 * wildcard is bound as well, so `["0.0.0.0", "::"]` works.
 *
 * Rejects with INVALID_ARGUMENT (bad host or port, or the address cannot be bound:
 * in use, not local; `cause` kept) or ABORTED (`signal`); nothing stays bound then.
 *
 * @example
 * ```ts
 * const listener = await listenTcp({ host: ["0.0.0.0", "::"], port: 0, onSocket: (s) => manager.accept(s) });
 * console.log(listener.addresses); // [{ host: "0.0.0.0", port: 40123 }, { host: "::", port: 40123 }]
 * await listener.close();
 * ```
 */
export async function listenTcp(options: ListenOptions): Promise<TcpListener> {
  const hosts = (typeof options.host === "string" ? [options.host] : [...options.host]).map(unbracket);
  const { port, onSocket, signal } = options;
  const backlog = options.backlog ?? DEFAULT_LISTEN_BACKLOG;
  if (hosts.length === 0 || hosts.some((h) => isIP(h) === 0)) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `listen: host must be IP literals, got ${JSON.stringify(options.host)}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `listen: invalid port ${String(port)}`);
  }
  if (!Number.isInteger(backlog) || backlog < 1) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `listen: invalid backlog ${String(backlog)}`);
  }
  if (typeof onSocket !== "function") {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "listen: onSocket must be a function");
  }
  const hasIpv4Wildcard = hosts.includes("0.0.0.0");

  const servers: Server[] = [];
  const addresses: ListenAddress[] = [];
  try {
    let chosenPort = port;
    for (const host of hosts) {
      if (signal?.aborted === true) {
        throw new PeerlinkError(ErrorCode.ABORTED, "listen: aborted", { cause: signal.reason, initiator: "local" });
      }
      const server = createServer({ noDelay: true }, (socket) => handOut(socket, onSocket));
      servers.push(server);
      const ipv6Only = isIP(host) === 6 && host === "::" && hasIpv4Wildcard;
      chosenPort = await bind(server, { host, port: chosenPort, backlog, ipv6Only }, signal);
      addresses.push({ host, port: chosenPort });
    }
  } catch (error) {
    await Promise.all(servers.map(closeServer));
    throw error;
  }

  let closing: Promise<void> | undefined;
  return Object.freeze({
    addresses: Object.freeze(addresses.map((a) => Object.freeze(a))),
    close(): Promise<void> {
      closing ??= Promise.all(servers.map(closeServer)).then(() => undefined);
      return closing;
    },
  });
}

function handOut(socket: Socket, onSocket: (socket: Socket) => void): void {
  try {
    onSocket(socket);
  } catch {
    // The receiver failed before taking ownership: the socket must not leak.
    socket.destroy();
  }
}

function bind(
  server: Server,
  options: { host: string; port: number; backlog: number; ipv6Only: boolean },
  signal: AbortSignal | undefined,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const cleanup = (): void => {
      server.off("listening", onListening);
      server.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    const onListening = (): void => {
      cleanup();
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new PeerlinkError(ErrorCode.INTERNAL, "listen: server has no TCP address"));
        return;
      }
      resolve(address.port);
    };
    const onError = (cause: Error): void => {
      cleanup();
      const where = options.host.includes(":") ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
      reject(new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `listen: cannot bind ${where}: ${cause.message}`, { cause }));
    };
    const onAbort = (): void => {
      cleanup();
      reject(new PeerlinkError(ErrorCode.ABORTED, "listen: aborted", { cause: signal?.reason, initiator: "local" }));
    };
    server.once("listening", onListening);
    server.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
    server.listen({ host: options.host, port: options.port, backlog: options.backlog, ipv6Only: options.ipv6Only });
  });
}

/**
 * Stops listening without waiting for accepted connections (they belong to the
 * receiver of `onSocket`). `server.close()` releases the listening handle at
 * once; its callback would only run once every accepted socket closed, so we wait
 * one turn of the event loop for the handle to be gone instead.
 */
function closeServer(server: Server): Promise<void> {
  server.close(); // harmless when not (or no longer) listening
  return new Promise((resolve) => setImmediate(resolve));
}

function unbracket(host: string): string {
  return typeof host === "string" && host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
