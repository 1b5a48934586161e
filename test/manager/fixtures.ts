/**
 * Helpers for ConnectionManager tests: start managers on loopback, wait for
 * events without sleeping, and close everything afterwards.
 */
import net from "node:net";
import { ConnectionManager, type ConnectionManagerEvents } from "../../src/node/connection-manager.js";
import type { ConnectionManagerOptions } from "../../src/manager/manager-options.js";

const running = new Set<ConnectionManager>();
const servers = new Set<net.Server>();
const sockets = new Set<net.Socket>();

/** Starts a manager listening on 127.0.0.1 (port 0) unless `listen` is given. */
export async function startManager(options: ConnectionManagerOptions = {}): Promise<ConnectionManager> {
  const manager = new ConnectionManager({
    listen: ["127.0.0.1:0"],
    protocols: [{ name: "/test", versions: [1] }],
    ...options,
  });
  running.add(manager);
  await manager.start();
  return manager;
}

/** Resolves with the next `type` event of `manager` that matches `filter`. */
export function nextEvent<K extends keyof ConnectionManagerEvents>(
  manager: ConnectionManager,
  type: K,
  filter: (event: ConnectionManagerEvents[K]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<ConnectionManagerEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(type)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = manager.on(type, (event) => {
      if (!filter(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

/** A TCP server that accepts connections and never says anything (a peer that never answers). */
export async function silentServer(): Promise<{ port: number; accepted: () => number }> {
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, accepted: () => count };
}

/**
 * Opens a raw TCP socket to `port` from `localAddress`, resolving once connected — or once reset, since a
 * manager refusing the connection may reset it before the client sees `connect`.
 */
export function rawConnect(port: number, localAddress = "127.0.0.1"): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress });
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.once("connect", () => resolve(socket));
    socket.once("error", () => resolve(socket));
  });
}

/** Resolves when `socket` is closed by the other side (or errors). */
export function closedByPeer(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.on("error", () => {});
    socket.once("close", () => resolve());
    socket.resume();
  });
}

/** Stops every manager, server and socket the fixtures created. */
export async function cleanup(): Promise<void> {
  await Promise.all([...running].map((m) => m.stop({ timeoutMs: 1000 })));
  running.clear();
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all([...servers].map((s) => new Promise((r) => s.close(r))));
  servers.clear();
}
