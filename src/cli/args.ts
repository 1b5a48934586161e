/**
 * Command-line parsing of the `peerlink` executable, on `node:util`
 * `parseArgs`. Pure: argv in, a typed command out, or a {@link PeerlinkError}
 * with code INVALID_ARGUMENT. Every numeric limit and interval of the node is
 * a flag named after its option (`limits.maxPerIp` is `--max-per-ip`,
 * `maintenance.pingIntervalMs` is `--ping-interval-ms`); values are checked by
 * the node's own option validation, so the CLI and the library agree.
 *
 * @module
 */
import { parseArgs as parseArgv, type ParseArgsConfig } from "node:util";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { ConnectionLimitsOptions } from "../manager/config.js";
import { parseHostPort } from "../manager/ip.js";
import type { MaintenanceOptions } from "../maintenance/maintenance-options.js";
import type { AutoBanOptions, InboundRateOptions, MisbehaviourOptions } from "../manager/misbehaviour-options.js";
import { PeerId } from "../identity/peer-id.js";
import { AllowList, type AllowListOptions } from "../node/policy/allow-list.js";

/** A `host:port` pair as given on the command line (IPv6 in brackets). */
export interface CliAddress {
  /** IP literal or host name. */
  readonly host: string;
  /** TCP port (0 = any free port, listen only). */
  readonly port: number;
}

/** A persistent peer, `--peer PEERID@HOST:PORT`: dialed with its identity pinned and redialed when lost. */
export interface CliPeer {
  /** The peer id the connection must prove. */
  readonly peerId: string;
  /** Where it listens. */
  readonly address: CliAddress;
}

/** `peerlink node …`: run a node until SIGINT/SIGTERM. */
export interface NodeCommand {
  readonly command: "node";
  /** Where to listen. @default 127.0.0.1:0 */
  readonly listen: CliAddress;
  /** Peers dialed once at start (`--dial`), in order. */
  readonly dial: readonly CliAddress[];
  /** Persistent peers (`--peer`), redialed by the reconnect policy. */
  readonly peers: readonly CliPeer[];
  /** Application protocols (`--protocol`, repeatable); stdin lines are sent on the first. @default ["/chat"] */
  readonly protocols: readonly string[];
  /** Mutual TLS 1.3 (`--tls`, the default) or plain TCP (`--no-tls`). */
  readonly tls: boolean;
  /** Identity key file (PEM, created with mode 0600 if missing); a fresh identity when absent. */
  readonly identityFile: string | undefined;
  /** Peer database file (`--peer-store`); in memory when absent. */
  readonly peerStore: string | undefined;
  /** One JSON object per line per event (`--json`) instead of human-readable lines. */
  readonly json: boolean;
  /** Send every received message back to its sender on the same protocol (`--echo`). */
  readonly echo: boolean;
  /** Live peer table: `true` (`--table`), `false` (`--no-table`), or `undefined`: when stdout is a TTY and not `--json`. */
  readonly table: boolean | undefined;
  /** Refresh period of the table, and of the `peers` line in a pipe when `--peers-every-ms` is given, in ms. @default 1000 */
  readonly tableIntervalMs: number;
  /** Print a `peers` snapshot event this often (ms) when no table is shown; 0 = never. @default 0 */
  readonly peersEveryMs: number;
  /** Read stdin lines as messages and commands (`--no-stdin` turns it off). @default true */
  readonly stdin: boolean;
  /** Serve metrics and the status page on this address (`--metrics HOST:PORT`). */
  readonly metrics: CliAddress | undefined;
  /**
   * Host names the status page answers to besides IP literals, `localhost` and the `--metrics` host
   * (`--metrics-allowed-host`, repeatable): others get 421, against DNS rebinding. @default []
   */
  readonly metricsAllowedHosts: readonly string[];
  /** Connection limits set by flags (only those given). */
  readonly limits: ConnectionLimitsOptions;
  /** Maintenance options set by flags (only those given). */
  readonly maintenance: MaintenanceOptions;
  /** `false` with `--no-maintenance`. @default true */
  readonly maintenanceEnabled: boolean;
  /** `false` with `--no-reconnect`. @default true */
  readonly reconnect: boolean;
  /** Cap of every reconnect backoff (ms), `--redial-max-ms`. @default the policy's own caps */
  readonly redialMaxMs: number | undefined;
  /** Redial peers that dialed us too (`--redial-inbound`). @default false */
  readonly redialInbound: boolean;
  /** How long a shutdown waits for each peer's close after our Goodbye (ms). @default 5000 */
  readonly gracefulShutdownTimeoutMs: number | undefined;
  /** Largest frame accepted (bytes). @default 1048576 */
  readonly maxFrameSize: number | undefined;
  /** Inbound rate bounds and automatic bans set by flags (only those given; `false` with `--no-inbound-rate` / `--no-auto-ban`). */
  readonly misbehaviour: MisbehaviourOptions;
  /** Peers, IPs and CIDR blocks exempt from limits, rate limits and trimming (`--allow`, repeatable). @default nobody */
  readonly allowList: AllowListOptions;
}

/** `peerlink keygen FILE`: create an identity key file and print its peer id. */
export interface KeygenCommand {
  readonly command: "keygen";
  /** Where to write the key (PEM, mode 0600). */
  readonly file: string;
  /** Overwrite an existing file. */
  readonly force: boolean;
  /** Print `{"event":"keygen",…}` instead of the bare peer id. */
  readonly json: boolean;
}

/** `peerlink id FILE`: print the peer id of an identity key file. */
export interface IdCommand {
  readonly command: "id";
  /** The key file to read. */
  readonly file: string;
  /** Print `{"event":"id",…}` instead of the bare peer id. */
  readonly json: boolean;
}

/** `peerlink --help`, `peerlink help [command]`. */
export interface HelpCommand {
  readonly command: "help";
}

/** `peerlink --version`. */
export interface VersionCommand {
  readonly command: "version";
}

/** Every command the CLI understands. */
export type CliCommand = NodeCommand | KeygenCommand | IdCommand | HelpCommand | VersionCommand;

/** `--flag` → option name of the connection limits, for every numeric limit. */
export const LIMIT_FLAGS: Readonly<Record<string, Exclude<keyof ConnectionLimitsOptions, "banDurationsMs">>> = {
  "handshake-timeout-ms": "handshakeTimeoutMs",
  "first-flight-timeout-ms": "firstFlightTimeoutMs",
  "max-pending-inbound": "maxPendingInbound",
  "max-pending-per-ip": "maxPendingPerIp",
  "max-pending-per-subnet": "maxPendingPerSubnet",
  "max-pending-outbound": "maxPendingOutbound",
  "max-inbound": "maxInbound",
  "max-outbound": "maxOutbound",
  "max-connections": "maxConnections",
  "max-per-ip": "maxPerIp",
  "max-per-subnet": "maxPerSubnet",
  "ipv4-subnet-prefix": "ipv4SubnetPrefix",
  "ipv6-subnet-prefix": "ipv6SubnetPrefix",
  "inbound-rate-burst": "inboundRateBurst",
  "inbound-rate-per-second": "inboundRatePerSecond",
  "rate-limiter-max-ips": "rateLimiterMaxIps",
  "low-watermark": "lowWatermark",
  "high-watermark": "highWatermark",
  "trim-grace-period-ms": "trimGracePeriodMs",
  "ban-list-max-size": "banListMaxSize",
  "offence-memory-ms": "offenceMemoryMs",
  "journal-capacity": "journalCapacity",
  "stop-deadline-ms": "stopDeadlineMs",
};

/** `--flag` → option name of maintenance, for every numeric interval and threshold. */
export const MAINTENANCE_FLAGS: Readonly<Record<string, Exclude<keyof MaintenanceOptions, "engine" | "bandwidthProbe" | "replaceDegraded">>> = {
  "ping-interval-ms": "pingIntervalMs",
  "max-missed-pongs": "maxMissedPongs",
  "min-pong-timeout-ms": "minPongTimeoutMs",
  "max-pong-timeout-ms": "maxPongTimeoutMs",
  "inactivity-timeout-ms": "inactivityTimeoutMs",
  "rtt-sample-interval-ms": "rttSampleIntervalMs",
  "health-check-interval-ms": "healthCheckIntervalMs",
  "hysteresis-samples": "hysteresisSamples",
  "degraded-replace-after-ms": "degradedReplaceAfterMs",
  "reference-latency-ms": "referenceLatencyMs",
  "reference-bandwidth-bps": "referenceBandwidthBps",
  "probe-receive-timeout-ms": "probeReceiveTimeoutMs",
  "rate-time-constant-ms": "rateTimeConstantMs",
  "min-cycle-interval-ms": "minCycleIntervalMs",
};

/** `--flag` → option name of `misbehaviour.inboundRate`. */
export const INBOUND_RATE_FLAGS: Readonly<Record<string, keyof InboundRateOptions>> = {
  "inbound-messages-per-second": "messagesPerSecond",
  "inbound-message-burst": "messageBurst",
  "inbound-bytes-per-second": "bytesPerSecond",
  "inbound-byte-burst": "byteBurst",
  "inbound-pings-per-second": "pingsPerSecond",
  "inbound-ping-burst": "pingBurst",
  "rate-limited-retry-after-ms": "retryAfterMs",
};

/** `--flag` → option name of `misbehaviour.autoBan`. */
export const AUTO_BAN_FLAGS: Readonly<Record<string, keyof AutoBanOptions>> = {
  "auto-ban-strikes": "strikes",
  "auto-ban-window-ms": "windowMs",
  "auto-ban-ms": "banMs",
  "auto-ban-max-ms": "maxBanMs",
};

/** Other numeric flags of `peerlink node`. */
const NUMBER_FLAGS = ["table-interval-ms", "peers-every-ms", "redial-max-ms", "graceful-shutdown-timeout-ms", "max-frame-size", "bandwidth-probe-interval-ms"] as const;

const DEFAULT_LISTEN: CliAddress = { host: "127.0.0.1", port: 0 };
/** Protocol of stdin messages when no `--protocol` is given. */
export const DEFAULT_CLI_PROTOCOL = "/chat";
/** Default refresh period of the peer table (ms). */
export const DEFAULT_TABLE_INTERVAL_MS = 1_000;

function usageError(message: string, cause?: unknown): PeerlinkError {
  return new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${message} (see peerlink --help)`, cause === undefined ? {} : { cause });
}

const NODE_OPTIONS = {
  listen: { type: "string" },
  dial: { type: "string", multiple: true },
  peer: { type: "string", multiple: true },
  allow: { type: "string", multiple: true },
  protocol: { type: "string", multiple: true },
  tls: { type: "boolean" },
  "no-tls": { type: "boolean" },
  identity: { type: "string" },
  "peer-store": { type: "string" },
  json: { type: "boolean" },
  echo: { type: "boolean" },
  table: { type: "boolean" },
  "no-table": { type: "boolean" },
  "no-stdin": { type: "boolean" },
  metrics: { type: "string" },
  "metrics-allowed-host": { type: "string", multiple: true },
  "no-maintenance": { type: "boolean" },
  "no-reconnect": { type: "boolean" },
  "no-replace-degraded": { type: "boolean" },
  "bandwidth-probe": { type: "boolean" },
  "redial-inbound": { type: "boolean" },
  "ban-durations-ms": { type: "string" },
  "no-inbound-rate": { type: "boolean" },
  "no-auto-ban": { type: "boolean" },
  engine: { type: "string" },
  // Kept from the first CLI: same as --handshake-timeout-ms.
  "handshake-timeout": { type: "string" },
  ...Object.fromEntries(
    [...Object.keys(LIMIT_FLAGS), ...Object.keys(MAINTENANCE_FLAGS), ...Object.keys(INBOUND_RATE_FLAGS), ...Object.keys(AUTO_BAN_FLAGS), ...NUMBER_FLAGS].map((f) => [
      f,
      { type: "string" },
    ]),
  ),
} satisfies ParseArgsConfig["options"];

/**
 * Parses the arguments after the executable name (`process.argv.slice(2)`).
 * Accepts `--opt value` and `--opt=value`.
 *
 * @throws PeerlinkError INVALID_ARGUMENT on an unknown command or option, a
 *   missing or malformed value, or contradictory flags
 */
export function parseArgs(argv: readonly string[]): CliCommand {
  if (argv.includes("--version") || argv.includes("-v") || argv[0] === "version") return { command: "version" };
  if (argv.length === 0) throw usageError("missing command");
  if (argv.includes("-h") || argv.includes("--help") || argv[0] === "help") return { command: "help" };
  const [command, ...rest] = argv;
  switch (command) {
    case "node":
      return parseNode(rest);
    case "keygen":
    case "id":
      return parseKeyCommand(command, rest);
    default:
      throw usageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function run<O extends NonNullable<ParseArgsConfig["options"]>>(args: readonly string[], options: O, positionals: boolean) {
  try {
    return parseArgv({ args: [...args], options, strict: true, allowPositionals: positionals });
  } catch (cause) {
    // Node's messages name the option and say what is wrong; drop its own advice (`To specify …`).
    const message = (cause as Error).message.split(". To ")[0]?.replace(/'/g, "") ?? String(cause);
    throw usageError(message, cause);
  }
}

function parseKeyCommand(command: "keygen" | "id", args: readonly string[]): KeygenCommand | IdCommand {
  const { values, positionals } = run(args, { force: { type: "boolean" }, json: { type: "boolean" } }, true);
  if (positionals.length !== 1 || positionals[0] === "") throw usageError(`peerlink ${command} needs one key FILE`);
  const file = positionals[0] as string;
  if (command === "id") {
    if (values.force) throw usageError("--force is only for keygen");
    return { command, file, json: values.json === true };
  }
  return { command, file, force: values.force === true, json: values.json === true };
}

function parseNode(args: readonly string[]): NodeCommand {
  const { values, positionals } = run(args, NODE_OPTIONS, true);
  if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const v = values as Record<string, string | string[] | boolean | undefined>;
  const str = (name: string): string | undefined => v[name] as string | undefined;
  const flag = (name: string): boolean => v[name] === true;
  if (flag("tls") && flag("no-tls")) throw usageError("--tls and --no-tls contradict each other");
  if (flag("table") && flag("no-table")) throw usageError("--table and --no-table contradict each other");

  const limits: Record<string, number | readonly number[]> = {};
  for (const [name, key] of Object.entries(LIMIT_FLAGS)) {
    const value = str(name);
    if (value !== undefined) limits[key] = number(value, name);
  }
  const legacyTimeout = str("handshake-timeout");
  if (legacyTimeout !== undefined) {
    if (limits.handshakeTimeoutMs !== undefined) throw usageError("--handshake-timeout and --handshake-timeout-ms both given");
    limits.handshakeTimeoutMs = number(legacyTimeout, "handshake-timeout");
  }
  /** The options of one group given by flags, or `false` with its `--no-…` flag (then none may be given). */
  const flagGroup = (flags: Readonly<Record<string, string>>, off: string): Record<string, number> | false => {
    const group: Record<string, number> = {};
    for (const [name, key] of Object.entries(flags)) {
      const value = str(name);
      if (value !== undefined) group[key] = number(value, name);
    }
    if (!flag(off)) return group;
    if (Object.keys(group).length > 0) throw usageError(`--${Object.keys(flags).find((f) => str(f) !== undefined)} given with --${off}`);
    return false;
  };
  const bans = str("ban-durations-ms");
  if (bans !== undefined) limits.banDurationsMs = bans.split(",").map((s) => number(s.trim(), "ban-durations-ms"));

  const maintenance: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(MAINTENANCE_FLAGS)) {
    const value = str(name);
    if (value !== undefined) maintenance[key] = number(value, name);
  }
  if (flag("no-replace-degraded")) maintenance.replaceDegraded = false;
  const probeEvery = str("bandwidth-probe-interval-ms");
  if (probeEvery !== undefined) maintenance.bandwidthProbe = { intervalMs: number(probeEvery, "bandwidth-probe-interval-ms") };
  else if (flag("bandwidth-probe")) maintenance.bandwidthProbe = true;
  const engine = str("engine");
  if (engine !== undefined) {
    if (engine !== "wasm" && engine !== "js") throw usageError(`--engine must be wasm or js, got ${JSON.stringify(engine)}`);
    maintenance.engine = engine;
  }
  const maintenanceEnabled = !flag("no-maintenance");
  if (!maintenanceEnabled && Object.keys(maintenance).length > 0) throw usageError("maintenance flags given with --no-maintenance");

  const misbehaviour = {
    inboundRate: flagGroup(INBOUND_RATE_FLAGS, "no-inbound-rate"),
    autoBan: flagGroup(AUTO_BAN_FLAGS, "no-auto-ban"),
  };

  const reconnect = !flag("no-reconnect");
  const peers = ((v.peer as string[] | undefined) ?? []).map(peerTarget);
  if (!reconnect && peers.length > 0) throw usageError("--peer needs the reconnect service: drop --no-reconnect or use --dial");

  const protocols = (v.protocol as string[] | undefined) ?? [DEFAULT_CLI_PROTOCOL];
  for (const p of protocols) if (p.length === 0) throw usageError("--protocol needs a name");
  if (new Set(protocols).size !== protocols.length) throw usageError("--protocol given twice with the same name");

  const listenText = str("listen");
  const metricsText = str("metrics");
  const optional = (name: string): number | undefined => {
    const value = str(name);
    return value === undefined ? undefined : number(value, name);
  };
  const identityFile = str("identity");
  if (identityFile === "") throw usageError("--identity needs a file name");
  return {
    command: "node",
    listen: listenText === undefined ? DEFAULT_LISTEN : address(listenText, "--listen", true),
    dial: ((v.dial as string[] | undefined) ?? []).map((t) => address(t, "--dial", false)),
    peers,
    protocols,
    tls: !flag("no-tls"),
    identityFile,
    peerStore: str("peer-store"),
    json: flag("json"),
    echo: flag("echo"),
    table: flag("table") ? true : flag("no-table") ? false : undefined,
    tableIntervalMs: positive(optional("table-interval-ms") ?? DEFAULT_TABLE_INTERVAL_MS, "table-interval-ms"),
    peersEveryMs: optional("peers-every-ms") ?? 0,
    stdin: !flag("no-stdin"),
    metrics: metricsText === undefined ? undefined : address(metricsText, "--metrics", true),
    metricsAllowedHosts: allowedHosts((v["metrics-allowed-host"] as string[] | undefined) ?? []),
    limits: limits as ConnectionLimitsOptions,
    maintenance: maintenance as MaintenanceOptions,
    maintenanceEnabled,
    reconnect,
    redialMaxMs: optional("redial-max-ms") === undefined ? undefined : positive(optional("redial-max-ms") as number, "redial-max-ms"),
    redialInbound: flag("redial-inbound"),
    gracefulShutdownTimeoutMs: optional("graceful-shutdown-timeout-ms"),
    maxFrameSize: optional("max-frame-size"),
    misbehaviour: misbehaviour as MisbehaviourOptions,
    allowList: allowList((v.allow as string[] | undefined) ?? []),
  };
}

/** `--allow` values: an IP address or CIDR block (it has a `.`, `:` or `/`), else a peer id. */
function allowList(values: readonly string[]): AllowListOptions {
  const peers: string[] = [];
  const addresses: string[] = [];
  for (const value of values) {
    const isAddress = /[.:/]/.test(value);
    try {
      new AllowList(isAddress ? { addresses: [value] } : { peers: [value] });
    } catch (cause) {
      throw usageError(`--allow: ${JSON.stringify(value)} is not an IP address, a CIDR block or a peer id`, cause);
    }
    (isAddress ? addresses : peers).push(value);
  }
  return { peers, addresses };
}

/** A non-negative decimal number; ranges and cross-option rules are the node's option validation's job. */
function number(text: string, name: string): number {
  const n = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || !Number.isFinite(n)) throw usageError(`--${name} must be a non-negative number, got ${JSON.stringify(text)}`);
  return n;
}

function positive(n: number, name: string): number {
  if (n <= 0) throw usageError(`--${name} must be > 0`);
  return n;
}

function peerTarget(text: string): CliPeer {
  const at = text.indexOf("@");
  if (at <= 0) throw usageError(`--peer: expected PEERID@HOST:PORT, got ${JSON.stringify(text)}`);
  const id = text.slice(0, at);
  try {
    PeerId.parse(id);
  } catch (cause) {
    throw usageError(`--peer: ${JSON.stringify(id)} is not a peer id (peerlink id FILE prints one)`, cause);
  }
  return { peerId: id, address: address(text.slice(at + 1), "--peer", false) };
}

function address(text: string, option: string, listening: boolean): CliAddress {
  try {
    const { host, port } = parseHostPort(text, { allowPortZero: listening });
    return { host, port };
  } catch (cause) {
    const reason = cause instanceof PeerlinkError ? cause.rawMessage : String(cause);
    throw usageError(`${option}: ${reason}`, cause);
  }
}

/** `--metrics-allowed-host` values: host names, without a port. */
function allowedHosts(names: readonly string[]): string[] {
  for (const name of names) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$/.test(name)) throw usageError(`--metrics-allowed-host needs a host name without a port, got ${JSON.stringify(name)}`);
  }
  return [...names];
}

