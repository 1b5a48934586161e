/**
 * `peerlink node`: a {@link ConnectionManager} that listens, dials, prints one
 * line per event (JSON lines with `--json`, a public contract), and on
 * shutdown says goodbye to every peer.
 *
 * @module
 */
import { Identity } from "../identity/identity.js";
import { ConnectionManager } from "../node/connection-manager.js";
import { formatHostPort } from "../manager/ip.js";
import type { NodeCommand } from "./args.js";

/** How long a shutdown waits for each peer to close after our Goodbye, in milliseconds (PROTOCOL.md §8). */
export const CLI_SHUTDOWN_TIMEOUT_MS = 5_000;

/** One event the node reports; serialised as one JSON line with `--json`. */
export type NodeEvent =
  | { readonly event: "listening"; readonly peerId: string; readonly addresses: readonly string[] }
  | {
      readonly event: "connection:open";
      readonly peer: string;
      readonly direction: "inbound" | "outbound";
      readonly remoteAddress: string;
      readonly protocolVersion: number;
      readonly capabilities: readonly string[];
    }
  | {
      readonly event: "connection:close";
      readonly peer: string;
      readonly reason: string;
      readonly initiator: "local" | "remote";
      readonly error?: string;
    }
  | { readonly event: "connection:error"; readonly direction: "inbound" | "outbound"; readonly remoteAddress: string; readonly code: string; readonly message: string }
  | { readonly event: "message"; readonly peer: string; readonly protocol: string; readonly size: number }
  | { readonly event: "stopped" };

/** Where a running node writes its lines. */
export interface NodeOutput {
  /** Receives every event line (without the trailing newline). */
  readonly line: (text: string) => void;
}

/** Renders an event as the node prints it: one JSON object, or a short human-readable line. */
export function formatNodeEvent(event: NodeEvent, json: boolean): string {
  if (json) return JSON.stringify(event);
  switch (event.event) {
    case "listening":
      return `listening on ${event.addresses.join(", ")} as ${event.peerId}`;
    case "connection:open":
      return `open  ${event.direction} ${event.peer} ${event.remoteAddress} v${event.protocolVersion}${event.capabilities.length ? ` [${event.capabilities.join(", ")}]` : ""}`;
    case "connection:close":
      return `close ${event.peer} ${event.reason} (${event.initiator})${event.error ? ` ${event.error}` : ""}`;
    case "connection:error":
      return `error ${event.direction} ${event.remoteAddress} ${event.code}: ${event.message}`;
    case "message":
      return `message from ${event.peer} on ${event.protocol} (${event.size} bytes)`;
    case "stopped":
      return "stopped";
  }
}

/**
 * Runs a node until `signal` aborts, then shuts down gracefully: stops
 * listening, sends `Goodbye{SHUTDOWN}` to every peer, waits for their close
 * (at most {@link CLI_SHUTDOWN_TIMEOUT_MS}), aborts handshakes still running,
 * and resolves once every socket and timer is released. The `listening` event
 * comes first, with the real port.
 *
 * @throws PeerlinkError when the node cannot start (bad identity file, address in use, …)
 */
export async function runNode(command: NodeCommand, output: NodeOutput, signal: AbortSignal): Promise<void> {
  const emit = (event: NodeEvent): void => output.line(formatNodeEvent(event, command.json));
  const identity = command.identityFile === undefined ? Identity.generate() : await Identity.loadOrCreate(command.identityFile);
  const manager = new ConnectionManager({
    identity,
    listen: [listenAddress(command.listen.host, command.listen.port)],
    tls: command.tls,
    limits: { handshakeTimeoutMs: command.handshakeTimeoutMs },
    gracefulShutdownTimeoutMs: CLI_SHUTDOWN_TIMEOUT_MS,
  });
  manager.on("connection:open", ({ connection }) =>
    emit({
      event: "connection:open",
      peer: connection.remotePeer.toString(),
      direction: connection.direction,
      remoteAddress: connection.remoteAddress,
      protocolVersion: connection.protocolVersion,
      capabilities: connection.capabilities.map((c) => c.name),
    }),
  );
  manager.on("message", ({ peer, protocol, data }) => emit({ event: "message", peer, protocol, size: data.length }));
  manager.on("connection:close", ({ peer, reason, initiator, error }) =>
    emit({ event: "connection:close", peer, reason, initiator, ...(error === undefined ? {} : { error: error.code }) }),
  );
  manager.on("handshake:failed", ({ direction, address, error }) => {
    if (!signal.aborted) emit({ event: "connection:error", direction, remoteAddress: address, code: error.code, message: error.rawMessage });
  });
  // Only refusals after a handshake (a banned peer id): those before it (limits, IP bans) can come by the
  // thousand in a flood and would flood stdout; the decision journal keeps them.
  manager.on("inbound:refused", ({ address, error, peer }) => {
    if (peer !== undefined && !signal.aborted) {
      emit({ event: "connection:error", direction: "inbound", remoteAddress: address, code: error.code, message: error.rawMessage });
    }
  });
  await manager.start({ signal });
  emit({ event: "listening", peerId: identity.peerId.toString(), addresses: manager.addresses });

  manager.on("dial:refused", ({ target, error }) => {
    if (!signal.aborted) emit({ event: "connection:error", direction: "outbound", remoteAddress: target, code: error.code, message: error.rawMessage });
  });
  for (const target of command.dial) {
    // Failures are reported through the handshake:failed and dial:refused events above.
    manager.dial(formatHostPort(target.host, target.port)).catch(() => {});
  }

  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  await manager.stop({ timeoutMs: CLI_SHUTDOWN_TIMEOUT_MS });
  emit({ event: "stopped" });
}

/** `"host:port"` for a listen address, where port 0 (any free port) is allowed. */
function listenAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
