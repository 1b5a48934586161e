/**
 * Test helper for the cross-language scenario matrix: the foreign peers (Go,
 * Python) behind one interface, and the TypeScript side as an in-process
 * {@link ConnectionManager}, both tracked for cleanup.
 *
 * @module
 */
import type { Connection } from "../../src/connection/connection.js";
import type { PeerlinkError } from "../../src/errors.js";
import { ConnectionManager, type ConnectionManagerEvents } from "../../src/node/connection-manager.js";
import type { ConnectionManagerOptions } from "../../src/manager/manager-options.js";
import { GoPeerProcess } from "./go-peer-process.js";
import { buildGoPeer, requireGo } from "./go-toolchain.js";
import type { PeerEvent, PeerProcess } from "./peer-process.js";
import { PythonPeerProcess, requirePython } from "./python-peer-process.js";

export { nextEvent } from "./ts-node.js";

/** Protocols both sides offer in the matrix; the foreign peer's own aliases are 7 and 8. */
export const PEER_PROTOCOLS = ["--protocol", "/echo@1", "--protocol", "/chat@1"] as const;

/** A foreign peer implementation: how to start it listening or dialing. */
export interface ForeignPeer {
  /** "Go" or "Python". */
  readonly lang: string;
  /** The `agent` its Hello carries. */
  readonly agent: string;
  /** Fails loudly when the toolchain is missing; builds what needs building. */
  prepare(): Promise<void>;
  /** Starts `listen|dial` with `args`. */
  start(args: readonly string[]): PeerProcess;
  /** Kills every process of this implementation still running. */
  killAll(): Promise<void>;
}

let goBinary: string | undefined;

/** The Go peer (interop/go), built once per source version. */
export const GO: ForeignPeer = {
  lang: "Go",
  agent: "peerlink-go/0.1",
  async prepare() {
    await requireGo();
    goBinary ??= await buildGoPeer();
  },
  start(args) {
    if (goBinary === undefined) throw new Error("GO.prepare() first");
    return GoPeerProcess.start(goBinary, args);
  },
  killAll: () => GoPeerProcess.killAll(),
};

/** The Python peer (interop/python), on Debian's /usr/bin/python3. */
export const PYTHON: ForeignPeer = {
  lang: "Python",
  agent: "peerlink-python/0.1",
  prepare: () => requirePython(),
  start: (args) => PythonPeerProcess.start(args),
  killAll: () => PythonPeerProcess.killAll(),
};

/** A running foreign listener with its address and peer id. */
export interface ListeningPeer {
  readonly process: PeerProcess;
  readonly port: number;
  readonly peerId: string;
}

/** Starts `peer` listening on 127.0.0.1 and waits for its `listening` event. */
export async function listenPeer(peer: ForeignPeer, args: readonly string[]): Promise<ListeningPeer> {
  const process = peer.start(["listen", "--addr", "127.0.0.1:0", ...args]);
  const ev = await process.waitFor((e) => e.event === "listening", "listening");
  const addr = String(ev["addr"]);
  return { process, port: Number(addr.slice(addr.lastIndexOf(":") + 1)), peerId: String(ev["peerId"]) };
}

const managers = new Set<ConnectionManager>();

/**
 * A started ConnectionManager listening on 127.0.0.1 with the matrix's
 * protocols (/echo, /chat), 0-RTT on, no reconnect and no periodic bandwidth
 * probes of its own (answering the peer's probes stays on); `options` override.
 */
export async function startManager(secure: boolean, options: ConnectionManagerOptions = {}): Promise<ConnectionManager> {
  const manager = new ConnectionManager({
    listen: ["127.0.0.1:0"],
    tls: secure,
    enable0Rtt: true,
    protocols: [{ name: "/echo" }, { name: "/chat" }],
    reconnect: false,
    maintenance: { bandwidthProbe: false },
    ...options,
  });
  managers.add(manager);
  await manager.start();
  return manager;
}

/** The manager's listening port. */
export function portOf(manager: ConnectionManager): number {
  const addr = manager.addresses[0] ?? "";
  return Number(addr.slice(addr.lastIndexOf(":") + 1));
}

/** Stops every manager started by {@link startManager}. */
export async function stopManagers(): Promise<void> {
  const all = [...managers];
  managers.clear();
  await Promise.all(all.map((m) => m.stop({ timeoutMs: 1_000 })));
}

/** Resolves with the next `type` event of `manager` matching `match`; rejects after `timeoutMs`. */
export function nextManagerEvent<K extends keyof ConnectionManagerEvents>(
  manager: ConnectionManager,
  type: K,
  match: (event: ConnectionManagerEvents[K]) => boolean = () => true,
  timeoutMs = 8_000,
): Promise<ConnectionManagerEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for the manager's ${String(type)} event`));
    }, timeoutMs);
    const listener = (event: ConnectionManagerEvents[K]): void => {
      if (!match(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    };
    const off = (): void => void manager.off(type, listener);
    manager.on(type, listener);
  });
}

/** The manager's inbound connection from `peerId` once it is open. */
export function inboundFrom(manager: ConnectionManager, peerId: () => string | undefined): Promise<Connection> {
  return nextManagerEvent(manager, "connection:open", (e) => e.connection.remotePeer.toString() === peerId()).then((e) => e.connection);
}

/** The error of the manager's next failed handshake. */
export function nextHandshakeFailure(manager: ConnectionManager): Promise<PeerlinkError> {
  return nextManagerEvent(manager, "handshake:failed").then((e) => e.error);
}

/** The peer id a dialing foreign peer announced in its `dialing` event (undefined before). */
export function dialingPeerId(process: PeerProcess): string | undefined {
  const ev = process.events.find((e: PeerEvent) => e.event === "dialing");
  return ev === undefined ? undefined : String(ev["peerId"]);
}

/** Every GoodbyeReason a peer may send, by its wire name (CONNECTION_LOST is never sent, §8.1). */
export const SENDABLE_REASONS = [
  "NORMAL",
  "SHUTDOWN",
  "TIMEOUT",
  "PROTOCOL_VIOLATION",
  "RESOURCE_CONSTRAINT",
  "PEER_BANNED",
  "NETWORK_RESTRUCTURE",
  "ALREADY_CONNECTED",
  "INCOMPATIBLE_VERSION",
  "SELF_CONNECTION",
  "UNEXPECTED_IDENTITY",
  "RATE_LIMITED",
  "AUTHENTICATION_FAILED",
] as const;
