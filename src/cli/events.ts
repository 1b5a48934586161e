/**
 * What `peerlink node` prints: one event per line, a JSON object with `--json`
 * (a public contract, listed in `--help` and docs/OPERATING.md) or a short
 * human-readable line otherwise.
 *
 * @module
 */
import { printable, printableJson } from "../util/printable.js";

/** One row of the peer table and of the `peers` event. */
export interface PeerRow {
  /** Printable peer id. */
  readonly peer: string;
  /** Who dialed; `null` for a peer with no connection now. */
  readonly direction: "inbound" | "outbound" | null;
  /** `open`, `closing`, `redialing` (a redial is planned or running) or `closed`. */
  readonly state: "open" | "closing" | "redialing" | "closed";
  /** Remote `"host:port"` of the connection, or the last one known. */
  readonly address: string;
  /** Smoothed RTT (ms), once measured. */
  readonly rttMs: number | null;
  /** Received bytes per second (EWMA). */
  readonly inBps: number | null;
  /** Sent bytes per second (EWMA). */
  readonly outBps: number | null;
  /** Published health grade and its components, each in [0, 1], once checked. */
  readonly health: { readonly grade: string; readonly latency: number; readonly reliability: number; readonly bandwidth: number } | null;
  /** Reason of this peer's last close (`reason/initiator`), if it ever closed. */
  readonly lastClose: string | null;
}

/** One event the node reports; serialised as one JSON line with `--json`. */
export type NodeEvent =
  | { readonly event: "listening"; readonly peerId: string; readonly addresses: readonly string[]; readonly tls: boolean; readonly protocols: readonly string[] }
  | { readonly event: "metrics"; readonly url: string }
  | {
      readonly event: "connection:open";
      readonly peer: string;
      readonly direction: "inbound" | "outbound";
      readonly remoteAddress: string;
      readonly protocolVersion: number;
      readonly capabilities: readonly string[];
      readonly protocols: readonly string[];
    }
  | {
      readonly event: "connection:close";
      readonly peer: string;
      readonly reason: string;
      readonly initiator: "local" | "remote";
      readonly error?: string;
      readonly detail?: string;
    }
  | {
      readonly event: "connection:error";
      readonly direction: "inbound" | "outbound";
      readonly remoteAddress: string;
      readonly code: string;
      readonly message: string;
      /** Inbound handshake failures not printed before this one (more than 10 at once, or 1 a second). */
      readonly unshown?: number;
    }
  | { readonly event: "message"; readonly peer: string; readonly protocol: string; readonly size: number; readonly base64: string; readonly utf8: string | null }
  | { readonly event: "sent"; readonly protocol: string; readonly size: number; readonly peers: readonly string[] }
  | {
      readonly event: "health:change";
      readonly peer: string;
      readonly from: string | null;
      readonly to: string;
      readonly latency: number;
      readonly reliability: number;
      readonly bandwidth: number;
    }
  | { readonly event: "node:resumed"; readonly cause: string; readonly sleptMs: number; readonly connections: number }
  | { readonly event: "network:changed"; readonly added: readonly string[]; readonly removed: readonly string[]; readonly connections: number }
  | { readonly event: "peer:banned"; readonly target: string; readonly reason: string; readonly expiresAt: number | null }
  | { readonly event: "peer:unbanned"; readonly target: string }
  | { readonly event: "reconnect:scheduled"; readonly peer: string; readonly reason: string; readonly delayMs: number; readonly attempt: number }
  | { readonly event: "reconnect:attempt"; readonly peer: string; readonly attempt: number; readonly addresses: readonly string[] }
  | { readonly event: "reconnect:abandoned"; readonly peer: string; readonly reason: string }
  | { readonly event: "peers"; readonly peers: readonly PeerRow[] }
  | { readonly event: "notice"; readonly message: string }
  | { readonly event: "error"; readonly code: string; readonly message: string }
  | { readonly event: "stopped" };

/**
 * Every event of `--json`, with its fields: the schema `--help` prints and docs/OPERATING.md repeats (a test
 * checks both against {@link NodeEvent}).
 */
export const EVENT_SCHEMA: Readonly<Record<NodeEvent["event"], string>> = {
  listening: `peerId, addresses ["host:port"], tls (bool), protocols [name]`,
  metrics: `url (the status page; /metrics for Prometheus)`,
  "connection:open": `peer, direction "inbound"|"outbound", remoteAddress, protocolVersion, capabilities [name], protocols [name]`,
  "connection:close": `peer, reason (goodbye reason), initiator "local"|"remote", error? (code), detail? (peer's text)`,
  "connection:error": `direction, remoteAddress, code, message (a dial or handshake that failed), unshown? (inbound failures not printed before it: 10 at once, then 1/s)`,
  message: `peer, protocol, size, base64, utf8 (the text, or null when not UTF-8)`,
  sent: `protocol, size, peers [peer] (a stdin line sent)`,
  "health:change": `peer, from (grade or null), to, latency, reliability, bandwidth (each 0..1)`,
  "node:resumed": `cause "timer-late"|"clock-jump", sleptMs, connections (re-checked at once)`,
  "network:changed": `added ["interface/address"], removed [...], connections (re-checked at once)`,
  "peer:banned": `target ("peer:ID", "ip:…", "subnet:…"), reason, expiresAt (ms or null: permanent)`,
  "peer:unbanned": `target`,
  "reconnect:scheduled": `peer, reason, delayMs, attempt`,
  "reconnect:attempt": `peer, attempt, addresses`,
  "reconnect:abandoned": `peer, reason`,
  peers: `peers [{peer, direction, state, address, rttMs, inBps, outBps, health {grade, latency, reliability, bandwidth}, lastClose}]`,
  notice: `message (answer to a stdin command)`,
  error: `code, message (startup failure or fatal error; the exit code is then 1)`,
  stopped: `(last line of a run)`,
};

const short = (id: string): string => id.slice(0, 12);
const grade = (h: { latency: number; reliability: number; bandwidth: number }): string =>
  `lat ${h.latency.toFixed(2)} rel ${h.reliability.toFixed(2)} bw ${h.bandwidth.toFixed(2)}`;

/**
 * Renders an event as the node prints it: one JSON object, or a short human-readable line. Control and bidi
 * characters in either (a peer's Goodbye detail or message, an error's text) are escaped, so a peer cannot drive
 * the operator's terminal or forge a line.
 */
export function formatNodeEvent(event: NodeEvent, json: boolean): string {
  if (json) return printableJson(JSON.stringify(event));
  // The peer list is one line per peer; every other event is one line.
  return event.event === "peers" ? textOf(event).split("\n").map(printable).join("\n") : printable(textOf(event));
}

function textOf(event: NodeEvent): string {
  switch (event.event) {
    case "listening":
      return `listening on ${event.addresses.join(", ")} as ${event.peerId} (${event.tls ? "TLS" : "plain TCP"}, ${event.protocols.join(", ")})`;
    case "metrics":
      return `status page and metrics at ${event.url}`;
    case "connection:open":
      return `open  ${event.direction} ${event.peer} ${event.remoteAddress} v${event.protocolVersion}${event.protocols.length ? ` [${event.protocols.join(", ")}]` : ""}`;
    case "connection:close":
      return `close ${event.peer} ${event.reason} (${event.initiator})${event.error ? ` ${event.error}` : ""}${event.detail ? `: ${event.detail}` : ""}`;
    case "connection:error":
      return `error ${event.direction} ${event.remoteAddress} ${event.code}: ${event.message}${event.unshown ? ` (${event.unshown} more inbound failures not shown)` : ""}`;
    case "message":
      return `${short(event.peer)} ${event.protocol}> ${event.utf8 ?? `(${event.size} bytes, base64 ${event.base64})`}`;
    case "sent":
      return event.peers.length === 0 ? `not sent: no peer speaks ${event.protocol}` : `sent ${event.size} bytes on ${event.protocol} to ${event.peers.length} peer(s)`;
    case "health:change":
      return `health ${short(event.peer)} ${event.from ?? "-"} -> ${event.to} (${grade(event)})`;
    case "node:resumed":
      return `resumed after ${Math.round(event.sleptMs / 1000)} s (${event.cause}): re-checking ${event.connections} connection(s)`;
    case "network:changed":
      return `network changed (+${event.added.join(", ") || "-"} / -${event.removed.join(", ") || "-"}): re-checking ${event.connections} connection(s)`;
    case "peer:banned":
      return `banned ${event.target}: ${event.reason}${event.expiresAt === null ? " (permanent)" : ` until ${new Date(event.expiresAt).toISOString()}`}`;
    case "peer:unbanned":
      return `unbanned ${event.target}`;
    case "reconnect:scheduled":
      return `redial ${short(event.peer)} in ${Math.round(event.delayMs)} ms (${event.reason}, attempt ${event.attempt + 1})`;
    case "reconnect:attempt":
      return `redialing ${short(event.peer)} at ${event.addresses.join(", ") || "?"}`;
    case "reconnect:abandoned":
      return `never redial ${short(event.peer)} (${event.reason})`;
    case "peers":
      return event.peers.length === 0 ? "peers: none" : event.peers.map((p) => `peer ${short(p.peer)} ${p.state} ${p.direction ?? "-"} ${p.address} rtt ${p.rttMs?.toFixed(1) ?? "-"} ms ${p.health ? `${p.health.grade} (${grade(p.health)})` : "-"}`).join("\n");
    case "notice":
      return event.message;
    case "error":
      return `peerlink: [${event.code}] ${event.message}`;
    case "stopped":
      return "stopped";
  }
}
