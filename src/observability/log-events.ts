/**
 * Turns a node's decisions and events into {@link LogRecord}s: every decision
 * journal entry (refused, trimmed, replaced, banned, unbanned, opened, closed)
 * at `info` (bans `warn`), and the node's and reconnect service's events at
 * `debug`, each under its subsystem. Application messages are never logged
 * (the data path stays untouched).
 *
 * @module
 */
import type { JournalEntry } from "../manager/journal.js";
import type { LogLevel, LogRecord, LogSubsystem, LogValue, Logger } from "./logger.js";
import type { ObservedEvents, ObservedNode } from "./node-view.js";

type Fields = Record<string, LogValue | undefined>;

function clean(fields: Fields): Record<string, LogValue> {
  const out: Record<string, LogValue> = {};
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The subsystem a journal entry belongs to: bans to the peer database, the rest to the node. */
function journalSubsystem(entry: JournalEntry): LogSubsystem {
  return entry.kind === "banned" || entry.kind === "unbanned" ? "peers" : "node";
}

/** The level of a journal entry: a ban deserves attention, other decisions are routine. */
function journalLevel(entry: JournalEntry): LogLevel {
  return entry.kind === "banned" ? "warn" : "info";
}

/** How each event is logged: its subsystem, level, name and fields. */
const EVENT_LOGS: { [K in keyof ObservedEvents]?: (event: ObservedEvents[K]) => [LogSubsystem, LogLevel, string, Fields] } = {
  "listening": (e) => ["transport", "info", "listening", { addresses: e.addresses.join(" ") }],
  "connection:open": ({ connection: c }) => [
    "node",
    "debug",
    "connection.open",
    { peer: c.remotePeer.toString(), address: c.remoteAddress, direction: c.direction, protocols: c.protocols.map((p) => `${p.name}@${p.version}`).join(" ") },
  ],
  "connection:close": (e) => ["node", "debug", "connection.close", { peer: e.peer, reason: e.reason, initiator: e.initiator, code: e.error?.code }],
  "dial:refused": (e) => ["node", "debug", "dial.refused", { target: e.target, code: e.error.code, message: e.error.rawMessage }],
  "handshake:failed": (e) => ["handshake", "debug", "handshake.failed", { address: e.address, direction: e.direction, code: e.error.code, message: e.error.rawMessage }],
  "inbound:refused": (e) => ["node", "debug", "inbound.refused", { address: e.address, reason: e.reason, peer: e.peer }],
  "inbound:evicted": (e) => ["node", "debug", "inbound.evicted", { address: e.address }],
  "handler:failed": (e) => ["node", "warn", "handler.failed", { protocol: e.protocol, peer: e.peer, code: e.error.code, message: e.error.rawMessage }],
  "peer:banned": ({ entry }) => ["peers", "debug", "ban.issued", { kind: entry.kind, value: entry.value, expiresAt: entry.expiresAt, offences: entry.offences }],
  "peer:unbanned": ({ entry }) => ["peers", "debug", "ban.lifted", { kind: entry.kind, value: entry.value }],
  "health:change": (e) => [
    "maintenance",
    "info",
    "health.change",
    { peer: e.peer, from: e.from ?? null, to: e.to, latency: e.score.latency, reliability: e.score.reliability, bandwidth: e.score.bandwidth },
  ],
  "database:recovered": (e) => ["peers", "warn", "database.recovered", { from: e.from, code: e.error.code, message: e.error.rawMessage }],
  "reconnect:scheduled": (e) => [
    "reconnect",
    "info",
    "reconnect.scheduled",
    { peer: e.peer, reason: e.reason, delayMs: e.delayMs, attempt: e.attempt, waitingForResources: e.waitingForResources, suppressed: e.suppressed },
  ],
  "reconnect:attempt": (e) => ["reconnect", "info", "reconnect.attempt", { peer: e.peer, attempt: e.attempt, addresses: e.addresses.join(" ") }],
  "reconnect:abandoned": (e) => ["reconnect", "info", "reconnect.abandoned", { peer: e.peer, reason: e.reason }],
};

/** Logs `node`'s decisions and events to `logger` until the returned function is called. */
export function attachLogging(node: ObservedNode, logger: Logger): () => void {
  const clock = node.options.clock;
  const emit = (subsystem: LogSubsystem, level: LogLevel, event: string, fields: Fields): void => {
    const record: LogRecord = { at: clock(), level, subsystem, event, fields: clean(fields) };
    try {
      logger.log(record);
    } catch (error) {
      process.emitWarning(`peerlink: the logger threw: ${String(error)}`, "PeerlinkListenerWarning");
    }
  };
  const offs: (() => void)[] = [];
  offs.push(
    node.journal.subscribe((entry) => {
      emit(journalSubsystem(entry), journalLevel(entry), `decision.${entry.kind}`, {
        peer: entry.peerId,
        address: entry.address,
        code: entry.code,
        detail: entry.detail,
        limit: entry.limit,
        value: entry.value,
      });
    }),
  );
  for (const type of Object.keys(EVENT_LOGS) as (keyof ObservedEvents)[]) {
    const describe = EVENT_LOGS[type] as (event: unknown) => [LogSubsystem, LogLevel, string, Fields];
    offs.push(node.on(type, (event: unknown) => emit(...describe(event))));
  }
  return () => {
    for (const off of offs.splice(0)) off();
  };
}
