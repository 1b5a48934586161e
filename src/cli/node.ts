/**
 * `peerlink node`: a {@link ConnectionManager} that listens, dials, keeps
 * `--peer` targets connected, sends stdin lines as messages, prints one line
 * per event (JSON lines with `--json`, a public contract) or a live peer
 * table on a terminal, and on shutdown says goodbye to every peer.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import type { Readable } from "node:stream";
import { createInterface } from "node:readline";
import { Identity } from "../identity/identity.js";
import { ConnectionManager } from "../node/connection-manager.js";
import { formatHostPort } from "../manager/ip.js";
import { GRACEFUL_SHUTDOWN_TIMEOUT_MS, type ConnectionManagerOptions } from "../manager/manager-options.js";
import { DEFAULT_STRATEGIES } from "../reconnect/policy.js";
import { DEFAULT_TIMEOUT_BACKOFF } from "../reconnect/defaults.js";
import type { ReconnectStrategy } from "../reconnect/policy.js";
import type { BackoffConfig } from "../reconnect/backoff-config.js";
import { serveStatus } from "../observability/status-page/server.js";
import { DisconnectReason } from "../reasons.js";
import type { NodeCommand } from "./args.js";
import { formatNodeEvent, type NodeEvent } from "./events.js";
import { PeerBook } from "./peer-book.js";
import { StdinCommands } from "./stdin-commands.js";
import { REDRAW, renderPeerTable } from "./table.js";
import { FailureLines } from "./failure-lines.js";
import { explainHandshakeError } from "./mismatch.js";

/** How long a shutdown waits for each peer to close after our Goodbye, in milliseconds (PROTOCOL.md §8). */
export const CLI_SHUTDOWN_TIMEOUT_MS = GRACEFUL_SHUTDOWN_TIMEOUT_MS;
/** Event lines kept under the live table. */
const TABLE_EVENT_LINES = 12;

/** Where a running node writes and reads. */
export interface NodeOutput {
  /** Receives every event line (without the trailing newline). */
  readonly line: (text: string) => void;
  /** Raw output for the live table (escape codes included); the table is only drawn when this is set. */
  readonly raw?: (text: string) => void;
  /** Lines to send as messages, and `!` commands; none when absent. */
  readonly stdin?: Readable;
}

/** The {@link ConnectionManagerOptions} a `peerlink node` command asks for (identity aside). */
export function nodeOptions(command: NodeCommand, identity: Identity): ConnectionManagerOptions {
  return {
    identity,
    listen: [listenAddress(command.listen.host, command.listen.port)],
    tls: command.tls,
    protocols: command.protocols.map((name) => ({ name })),
    limits: command.limits,
    misbehaviour: command.misbehaviour,
    allowList: command.allowList,
    ...(command.peerStore === undefined ? {} : { peerStore: command.peerStore }),
    maintenance: command.maintenanceEnabled ? command.maintenance : false,
    reconnect: command.reconnect ? { redialInbound: command.redialInbound, ...(command.redialMaxMs === undefined ? {} : { policy: cappedPolicy(command.redialMaxMs) }) } : false,
    gracefulShutdownTimeoutMs: command.gracefulShutdownTimeoutMs ?? CLI_SHUTDOWN_TIMEOUT_MS,
    ...(command.maxFrameSize === undefined ? {} : { maxFrameSize: command.maxFrameSize }),
  };
}

/** The default reconnect policy with every backoff capped at `maxMs` (`--redial-max-ms`). */
function cappedPolicy(maxMs: number) {
  const cap = (b: BackoffConfig): BackoffConfig => ({ ...b, baseMs: Math.min(b.baseMs, maxMs), maxMs: Math.min(b.maxMs, maxMs), minMs: Math.min(b.minMs, maxMs) });
  const strategies: Partial<Record<DisconnectReason, ReconnectStrategy>> = {};
  for (const [reason, strategy] of Object.entries(DEFAULT_STRATEGIES) as [DisconnectReason, ReconnectStrategy][]) {
    if (strategy.kind === "backoff") strategies[reason] = { kind: "backoff", backoff: cap(strategy.backoff) };
  }
  return { strategies, dialFailureBackoff: cap(DEFAULT_TIMEOUT_BACKOFF) };
}

/**
 * Runs a node until `signal` aborts, then shuts down gracefully: stops
 * listening, sends `Goodbye{SHUTDOWN}` to every peer, waits for their close
 * (at most the graceful shutdown timeout), and resolves once every socket and
 * timer is released. The `listening` event comes first, with the real port.
 *
 * @throws PeerlinkError when the node cannot start (bad identity file, address in use, bad option, …)
 */
export async function runNode(command: NodeCommand, output: NodeOutput, signal: AbortSignal): Promise<void> {
  const table = output.raw !== undefined;
  const recent: string[] = [];
  const emit = (event: NodeEvent): void => {
    const text = formatNodeEvent(event, command.json);
    if (!table) return output.line(text);
    recent.push(`${new Date().toISOString().slice(11, 19)} ${text}`);
    if (recent.length > TABLE_EVENT_LINES) recent.shift();
  };
  const identity = command.identityFile === undefined ? Identity.generate() : await Identity.loadOrCreate(command.identityFile);
  const manager = new ConnectionManager(nodeOptions(command, identity));
  const book = new PeerBook(manager);

  manager.on("connection:open", ({ connection }) => {
    emit({
      event: "connection:open",
      peer: connection.remotePeer.toString(),
      direction: connection.direction,
      remoteAddress: connection.remoteAddress,
      protocolVersion: connection.protocolVersion,
      capabilities: connection.capabilities.map((c) => c.name),
      protocols: connection.protocols.map((p) => p.name),
    });
    commands.flush();
  });
  manager.on("message", ({ connection, peer, protocol, data }) => {
    emit({ event: "message", peer, protocol, size: data.length, base64: Buffer.from(data).toString("base64"), utf8: utf8(data) });
    if (command.echo && connection.canSend) connection.send(protocol, data).catch(() => {});
  });
  manager.on("connection:close", ({ connection, peer, reason, initiator, error }) => {
    const detail = initiator === "remote" ? connection.remoteGoodbye?.detail : undefined;
    emit({ event: "connection:close", peer, reason, initiator, ...(error === undefined ? {} : { error: error.code }), ...(detail ? { detail } : {}) });
  });
  const inboundFailures = new FailureLines(performance.now());
  manager.on("handshake:failed", ({ direction, address, error }) => {
    if (signal.aborted) return;
    const unshown = direction === "inbound" ? inboundFailures.admit(performance.now()) : 0;
    if (unshown === undefined) return;
    const message = explainHandshakeError(error, command.tls);
    emit({ event: "connection:error", direction, remoteAddress: address, code: error.code, message, ...(unshown > 0 ? { unshown } : {}) });
  });
  // Only refusals after a handshake (a banned peer id, capacity): those before it (limits, IP bans) can come
  // by the thousand in a flood and would flood stdout; the decision journal keeps them.
  manager.on("inbound:refused", ({ address, error, peer }) => {
    if (peer !== undefined && !signal.aborted) emit({ event: "connection:error", direction: "inbound", remoteAddress: address, code: error.code, message: error.rawMessage });
  });
  manager.on("dial:refused", ({ target, error }) => {
    if (!signal.aborted) emit({ event: "connection:error", direction: "outbound", remoteAddress: target, code: error.code, message: error.rawMessage });
  });
  manager.on("health:change", ({ peer, from, to, score }) =>
    emit({ event: "health:change", peer, from: from ?? null, to, latency: round(score.latency), reliability: round(score.reliability), bandwidth: round(score.bandwidth) }),
  );
  manager.on("node:resumed", ({ cause, sleptMs, connections }) => emit({ event: "node:resumed", cause, sleptMs, connections }));
  manager.on("network:changed", ({ added, removed, connections }) => emit({ event: "network:changed", added, removed, connections }));
  manager.on("peer:banned", ({ entry }) =>
    emit({ event: "peer:banned", target: entry.key, reason: entry.reason, expiresAt: Number.isFinite(entry.expiresAt) ? entry.expiresAt : null }),
  );
  manager.on("peer:unbanned", ({ entry }) => emit({ event: "peer:unbanned", target: entry.key }));
  manager.on("reconnect:scheduled", ({ peer, reason, delayMs, attempt }) => {
    if (!signal.aborted) emit({ event: "reconnect:scheduled", peer, reason, delayMs: Math.round(delayMs), attempt });
  });
  manager.on("reconnect:attempt", ({ peer, attempt, addresses }) => emit({ event: "reconnect:attempt", peer, attempt, addresses }));
  manager.on("reconnect:abandoned", ({ peer, reason }) => emit({ event: "reconnect:abandoned", peer, reason }));

  const commands = new StdinCommands(manager, book, command.protocols[0] as string, emit);
  await manager.start({ signal });
  let status: { url: string; close(): Promise<void> } | undefined;
  const timers: NodeJS.Timeout[] = [];
  const input = output.stdin === undefined ? undefined : createInterface({ input: output.stdin, crlfDelay: Infinity });
  try {
    emit({ event: "listening", peerId: identity.peerId.toString(), addresses: manager.addresses, tls: command.tls, protocols: command.protocols });
    if (command.metrics !== undefined) {
      status = await serveStatus(manager, { host: command.metrics.host, port: command.metrics.port, allowedHosts: command.metricsAllowedHosts });
      emit({ event: "metrics", url: status.url });
    }
    for (const target of command.dial) {
      // Failures are reported through the handshake:failed and dial:refused events.
      manager.dial(formatHostPort(target.host, target.port)).catch(() => {});
    }
    for (const peer of command.peers) manager.reconnect?.want(peer.peerId, [formatHostPort(peer.address.host, peer.address.port)]);
    input?.on("line", (line) => commands.handle(line));

    const draw = (): void => {
      const header = `peerlink ${identity.peerId.toString()}  ${manager.addresses.join(", ")}  ${command.tls ? "TLS" : "plain TCP"}  ${new Date().toISOString().slice(11, 19)}`;
      const lines = [header, "", ...renderPeerTable(book.rows()), "", ...recent, "", "type a line to send it on " + command.protocols[0] + "; !help for commands; Ctrl-C to stop"];
      output.raw?.(REDRAW + lines.join("\n") + "\n");
    };
    if (table) {
      draw();
      timers.push(setInterval(draw, command.tableIntervalMs));
    } else if (command.peersEveryMs > 0) {
      timers.push(setInterval(() => emit({ event: "peers", peers: book.rows() }), command.peersEveryMs));
    }

    if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  } finally {
    for (const t of timers) clearInterval(t);
    input?.close();
    await status?.close();
    await manager.stop({ timeoutMs: command.gracefulShutdownTimeoutMs ?? CLI_SHUTDOWN_TIMEOUT_MS });
  }
  if (table) {
    // Leave the final table and the last events on the screen, then plain lines.
    output.raw?.(REDRAW + [...renderPeerTable(book.rows()), "", ...recent].join("\n") + "\n");
  }
  output.line(formatNodeEvent({ event: "stopped" }, command.json));
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
function utf8(data: Uint8Array): string | null {
  try {
    return strictUtf8.decode(data);
  } catch {
    return null;
  }
}

/** `"host:port"` for a listen address, where port 0 (any free port) is allowed. */
function listenAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
