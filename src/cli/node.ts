/**
 * `peerlink node`: listens, dials, prints one line per event (JSON lines with
 * `--json`, a public contract), and on shutdown says goodbye to every peer.
 * Drives the transport and {@link openConnection} directly.
 *
 * @module
 */
import type { Socket } from "node:net";
import { openConnection } from "../connection/open-connection.js";
import type { Connection } from "../connection/connection.js";
import type { ConnectionHandshakeOptions } from "../connection/connection-core.js";
import type { CloseInfo } from "../connection/types.js";
import { PeerlinkError } from "../errors.js";
import { Identity } from "../identity/identity.js";
import { formatHostPort } from "../manager/ip.js";
import { DisconnectReason } from "../reasons.js";
import { dialChannel } from "../transport/dial.js";
import { listenTcp } from "../transport/listen.js";
import { secureInbound } from "../transport/secure-inbound.js";
import { resolveTls } from "../transport/tls-config.js";
import type { ResolvedTls, SecureChannel } from "../transport/types.js";
import type { CliAddress, NodeCommand } from "./args.js";

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
  const tls: ResolvedTls | undefined = command.tls ? await resolveTls(identity) : undefined;
  const stop = new AbortController();
  const live = new Set<Connection>();
  const work = new Set<Promise<unknown>>();
  let stopping = false;
  let listenAddrs: string[] = [];

  const handshakeOptions = (): ConnectionHandshakeOptions => ({ identity, listenAddrs });
  const track = (promise: Promise<unknown>): void => {
    work.add(promise);
    void promise.finally(() => work.delete(promise));
  };
  const adopt = (connection: Connection): void => {
    live.add(connection);
    void connection.closed.then(() => live.delete(connection));
  };
  const opened = (connection: Connection): void => {
    const peer = connection.remotePeer.toString();
    emit({
      event: "connection:open",
      peer,
      direction: connection.direction,
      remoteAddress: connection.remoteAddress,
      protocolVersion: connection.protocolVersion,
      capabilities: connection.capabilities.map((c) => c.name),
    });
    connection.on("message", (m) => emit({ event: "message", peer, protocol: m.protocol, size: m.data.length }));
    const report = (info: CloseInfo): void =>
      emit({
        event: "connection:close",
        peer,
        reason: info.reason,
        initiator: info.initiator,
        ...(info.error === undefined ? {} : { error: info.error.code }),
      });
    if (connection.state === "closed" && connection.closeInfo !== undefined) report(connection.closeInfo);
    else connection.on("close", report);
  };
  const failed = (direction: "inbound" | "outbound", remoteAddress: string, error: unknown): void => {
    const e = PeerlinkError.from(error);
    emit({ event: "connection:error", direction, remoteAddress, code: e.code, message: e.rawMessage });
  };
  const handshake = async (channel: SecureChannel, deadline: number): Promise<void> => {
    const connection = await openConnection(channel, handshakeOptions(), {
      deadline,
      signal: stop.signal,
      onConnection: adopt,
    });
    opened(connection);
  };

  const onSocket = (raw: Socket): void => {
    if (stopping) {
      raw.destroy();
      return;
    }
    const remote = formatHostPort(raw.remoteAddress ?? "0.0.0.0", raw.remotePort ?? 1);
    const deadline = Date.now() + command.handshakeTimeoutMs;
    track(
      secureInbound(raw, { tls, deadline, signal: stop.signal })
        .then((channel) => handshake(channel, deadline))
        .catch((error: unknown) => {
          if (!stopping) failed("inbound", remote, error);
        }),
    );
  };

  const listener = await listenTcp({ host: command.listen.host, port: command.listen.port, onSocket, signal });
  listenAddrs = listener.addresses.map((a) => formatHostPort(a.host, a.port));
  emit({ event: "listening", peerId: identity.peerId.toString(), addresses: listenAddrs });

  const dialOne = async (target: CliAddress): Promise<void> => {
    const deadline = Date.now() + command.handshakeTimeoutMs;
    const channel = await dialChannel({ host: target.host, port: target.port, tls, deadline, signal: stop.signal });
    await handshake(channel, deadline);
  };
  for (const target of command.dial) {
    const where = formatHostPort(target.host, target.port);
    track(
      dialOne(target).catch((error: unknown) => {
        if (!stopping) failed("outbound", where, error);
      }),
    );
  }

  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));

  // Shutdown: no new connections, Goodbye SHUTDOWN to every open peer, abort the rest.
  stopping = true;
  await listener.close();
  const closing: Promise<unknown>[] = [];
  for (const connection of [...live]) {
    if (connection.state === "open") {
      closing.push(connection.close(DisconnectReason.SHUTDOWN, { timeoutMs: CLI_SHUTDOWN_TIMEOUT_MS }));
    }
  }
  // Pending TLS accepts, dials and handshakes end through this signal (ABORTED).
  stop.abort(new PeerlinkError("STOPPED", "node is shutting down"));
  for (const connection of [...live]) if (connection.state !== "closing" && connection.state !== "closed") connection.abort();
  await Promise.allSettled(closing);
  await Promise.allSettled([...work]);
  await Promise.all([...live].map((c) => c.closed));
  emit({ event: "stopped" });
}
