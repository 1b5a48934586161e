/**
 * Command-line parsing of the `peerlink` executable. Pure: argv in, a typed
 * command out, or a {@link PeerlinkError} with code INVALID_ARGUMENT.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { parseHostPort } from "../manager/ip.js";

/** A `host:port` pair as given on the command line (IPv6 without brackets). */
export interface CliAddress {
  /** IP literal or host name. */
  readonly host: string;
  /** TCP port (0 = any free port, listen only). */
  readonly port: number;
}

/** `peerlink node …`: run a node until SIGINT/SIGTERM. */
export interface NodeCommand {
  readonly command: "node";
  /** Where to listen. @default 127.0.0.1:0 */
  readonly listen: CliAddress;
  /** Peers to dial at start, in order. */
  readonly dial: readonly CliAddress[];
  /** Mutual TLS 1.3 (`--tls`, the default) or plain TCP (`--no-tls`). */
  readonly tls: boolean;
  /** Identity key file (PEM, created with mode 0600 if missing); a fresh identity when absent. */
  readonly identityFile: string | undefined;
  /** One JSON object per line per event (`--json`) instead of human-readable lines. */
  readonly json: boolean;
  /** Handshake timeout in milliseconds (`--handshake-timeout MS`). @default 10000 */
  readonly handshakeTimeoutMs: number;
}

/** `peerlink --help` or `peerlink help [command]`. */
export interface HelpCommand {
  readonly command: "help";
}

/** Every command the CLI understands. */
export type CliCommand = NodeCommand | HelpCommand;

/** The text `--help` prints. */
export const USAGE = `Usage: peerlink node [options]

Runs a peerlink node: listens, dials the given peers, prints one line per event,
and on SIGINT/SIGTERM says goodbye (reason "shutdown") to every peer and exits 0.

Options:
  --listen HOST:PORT        where to accept connections (port 0 picks a free port)
                            [default: 127.0.0.1:0]; IPv6 as [::1]:4001
  --dial HOST:PORT          a peer to connect to at start (repeatable)
  --tls | --no-tls          mutual TLS 1.3 (default) or plain TCP
  --identity FILE           Ed25519 identity key (PEM); created with mode 0600 if missing
                            [default: a fresh identity for this run]
  --handshake-timeout MS    bound on TCP connect + TLS + handshake [default: 10000]
  --json                    print one JSON object per line per event:
                              {"event":"listening","peerId":…,"addresses":["127.0.0.1:PORT"]}
                              {"event":"connection:open","peer":…,"direction":"inbound"|"outbound",
                               "remoteAddress":…,"protocolVersion":…,"capabilities":[…]}
                              {"event":"connection:close","peer":…,"reason":…,"initiator":"local"|"remote"}
  -h, --help                show this help
`;

const DEFAULT_LISTEN: CliAddress = { host: "127.0.0.1", port: 0 };
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

function usageError(message: string): PeerlinkError {
  return new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${message} (see peerlink --help)`);
}

/**
 * Parses the arguments after the executable name (`process.argv.slice(2)`).
 * Accepts `--opt value` and `--opt=value`.
 *
 * @throws PeerlinkError INVALID_ARGUMENT on an unknown command or option, a
 *   missing or malformed value, or contradictory flags
 */
export function parseArgs(argv: readonly string[]): CliCommand {
  if (argv.length === 0) throw usageError("missing command");
  if (argv.includes("-h") || argv.includes("--help") || argv[0] === "help") return { command: "help" };
  const [command, ...rest] = argv;
  if (command !== "node") throw usageError(`unknown command ${JSON.stringify(command)}`);

  let listen: CliAddress | undefined;
  const dial: CliAddress[] = [];
  let tls: boolean | undefined;
  let identityFile: string | undefined;
  let json = false;
  let handshakeTimeoutMs: number | undefined;

  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = rest[++i];
      if (next === undefined || next.startsWith("--")) throw usageError(`${name} needs a value`);
      return next;
    };
    const flag = (): void => {
      if (inline !== undefined) throw usageError(`${name} takes no value`);
    };
    switch (name) {
      case "--listen":
        if (listen !== undefined) throw usageError("--listen given twice");
        listen = address(value(), name, true);
        break;
      case "--dial":
        dial.push(address(value(), name, false));
        break;
      case "--tls":
      case "--no-tls": {
        flag();
        const wanted = name === "--tls";
        if (tls !== undefined && tls !== wanted) throw usageError("--tls and --no-tls contradict each other");
        tls = wanted;
        break;
      }
      case "--identity": {
        const file = value();
        if (file.length === 0) throw usageError("--identity needs a file name");
        identityFile = file;
        break;
      }
      case "--json":
        flag();
        json = true;
        break;
      case "--handshake-timeout": {
        const text = value();
        const ms = Number(text);
        if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(ms) || ms < 1) {
          throw usageError(`--handshake-timeout must be a positive number of milliseconds, got ${JSON.stringify(text)}`);
        }
        handshakeTimeoutMs = ms;
        break;
      }
      default:
        throw usageError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  return {
    command: "node",
    listen: listen ?? DEFAULT_LISTEN,
    dial,
    tls: tls ?? true,
    identityFile,
    json,
    handshakeTimeoutMs: handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
  };
}

function address(text: string, option: string, listening: boolean): CliAddress {
  try {
    const { host, port } = parseHostPort(text, { allowPortZero: listening });
    return { host, port };
  } catch (cause) {
    const reason = cause instanceof PeerlinkError ? cause.rawMessage : String(cause);
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${option}: ${reason} (see peerlink --help)`, { cause });
  }
}
