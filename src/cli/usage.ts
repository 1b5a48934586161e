/**
 * The text of `peerlink --help`: commands, every option with its default, the
 * stdin commands and every `--json` event with its fields.
 *
 * @module
 */
import { AUTO_BAN_FLAGS, INBOUND_RATE_FLAGS, LIMIT_FLAGS, MAINTENANCE_FLAGS, DEFAULT_CLI_PROTOCOL, DEFAULT_TABLE_INTERVAL_MS } from "./args.js";
import { EVENT_SCHEMA } from "./events.js";
import { STDIN_HELP } from "./stdin-commands.js";
import { resolveManagerOptions } from "../manager/manager-options.js";
import { resolveMaintenanceOptions } from "../maintenance/maintenance-options.js";

function flagList(flags: Readonly<Record<string, string>>, defaults: Readonly<Record<string, unknown>>): string {
  return Object.entries(flags)
    .map(([flag, key]) => `  --${flag} N`.padEnd(34) + `[default: ${String(defaults[key])}]`)
    .join("\n");
}

/** The help text (`peerlink --help`). */
export function usage(): string {
  const { limits: resolvedLimits, misbehaviour } = resolveManagerOptions({});
  const limits = resolvedLimits as unknown as Record<string, unknown>;
  const maintenance = resolveMaintenanceOptions({}) as unknown as Record<string, unknown>;
  return `Usage:
  peerlink node [options]        run a node (below)
  peerlink keygen FILE [--force] [--json]
                                 create an Ed25519 identity key (PEM, mode 0600); print its peer id
  peerlink id FILE [--json]      print the peer id of a key file
  peerlink --version | --help

peerlink node listens, dials, keeps --peer targets connected, sends each stdin
line as a message, prints what happens, and on SIGINT/SIGTERM (or a closed
stdout) says goodbye (reason "shutdown") to every peer and exits 0. On a
terminal it shows a live peer table (like top); in a pipe, one line per event.

Node options:
  --listen HOST:PORT              where to accept connections (port 0: a free port) [default: 127.0.0.1:0];
                                  IPv6 as [::1]:4001
  --dial HOST:PORT                dial once at start (repeatable); any identity is accepted
  --peer PEERID@HOST:PORT         a persistent peer (repeatable): dialed now, the connection must prove
                                  PEERID, redialed whenever lost by the reconnect policy
  --allow IP|CIDR|PEERID          exempt from limits, rate limits and trimming, not from bans (repeatable;
                                  like Bitcoin Core -whitelist) [default: nobody]
  --protocol NAME                 an application protocol (repeatable); stdin lines go on the first
                                  [default: ${DEFAULT_CLI_PROTOCOL}]
  --tls | --no-tls                mutual TLS 1.3 (default) or plain TCP; both sides must agree
  --identity FILE                 Ed25519 identity key (PEM); created with mode 0600 if missing
                                  [default: a fresh identity for this run]
  --peer-store FILE               crash-safe peer database (addresses, bans, backoff) [default: in memory]
  --json                          one JSON object per line per event (see below); startup errors too
  --echo                          send every message received back to its sender
  --table | --no-table            the live peer table [default: on when stdout is a terminal and no --json]
  --table-interval-ms N           table refresh period [default: ${DEFAULT_TABLE_INTERVAL_MS}]
  --peers-every-ms N              without the table: print a "peers" event every N ms [default: 0, never]
  --no-stdin                      do not read stdin
  --metrics HOST:PORT             serve the status page, /status.json and Prometheus /metrics there
  --metrics-allowed-host NAME     a host name the status page may be reached by (repeatable; IPs and localhost always)
  --no-reconnect                  never redial (then --peer is refused)
  --redial-max-ms N               cap every reconnect backoff at N ms [default: the policy's, up to 1 h]
  --redial-inbound                also redial peers that dialed this node
  --graceful-shutdown-timeout-ms N  wait for each peer's close after our goodbye [default: 5000]
  --max-frame-size N              largest frame accepted, bytes [default: 1048576]

Limits (ConnectionLimitsOptions; checked together, contradictions are refused):
${flagList(LIMIT_FLAGS, limits)}
  --ban-durations-ms N,N,…        ban durations by offence [default: ${String(limits.banDurationsMs)}]

Misbehaviour (MisbehaviourOptions: per-connection inbound rate bounds, automatic escalating bans):
${flagList(INBOUND_RATE_FLAGS, { ...misbehaviour.inboundRate })}
  --no-inbound-rate               no inbound rate bounds
${flagList(AUTO_BAN_FLAGS, { ...misbehaviour.autoBan })}
  --no-auto-ban                   never ban a peer on the node's own

Maintenance (MaintenanceOptions):
${flagList(MAINTENANCE_FLAGS, maintenance)}
  --no-replace-degraded           never replace a Poor/Critical connection
  --bandwidth-probe               active bandwidth probes (defaults); --bandwidth-probe-interval-ms N sets the period
  --engine wasm|js                health scoring engine [default: wasm]
  --no-maintenance                no keepalive, health or replacement

Stdin (one line each):
${STDIN_HELP.split("\n").map((l) => `  ${l}`).join("\n")}

JSON events (--json), one object per line, each with "event":
${Object.entries(EVENT_SCHEMA)
  .map(([name, fields]) => `  ${name.padEnd(20)}${fields}`)
  .join("\n")}

Exit codes: 0 after a clean stop, 1 when the node failed (an "error" event), 2 on a usage error.
`;
}
