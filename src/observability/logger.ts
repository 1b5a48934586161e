/**
 * Structured logging: the {@link Logger} an application injects (default: none,
 * nothing is logged), and the namespaced debug output switched on by the
 * environment, `NODE_DEBUG=peerlink` (every subsystem) or `peerlink:node`, and
 * `DEBUG=peerlink:*` with the `debug` package's syntax (comma or space
 * separated patterns, `*` wildcards, `-pattern` to exclude).
 *
 * @module
 */
import { printableJson } from "../util/printable.js";

/**
 * Severity of a {@link LogRecord}.
 *
 * @category Observability
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * The part of peerlink a record comes from; also the debug namespace (`peerlink:<subsystem>`).
 *
 * @category Observability
 */
export type LogSubsystem = "transport" | "handshake" | "node" | "maintenance" | "reconnect" | "peers";

/**
 * Every {@link LogSubsystem}.
 *
 * @category Observability
 */
export const LOG_SUBSYSTEMS: readonly LogSubsystem[] = ["transport", "handshake", "node", "maintenance", "reconnect", "peers"];

/**
 * A field value of a {@link LogRecord}: only plain values, so any sink can serialise it.
 *
 * @category Observability
 */
export type LogValue = string | number | boolean | null;

/**
 * One structured log record.
 *
 * @category Observability
 */
export interface LogRecord {
  /** When (ms, the node's clock). */
  readonly at: number;
  /** Severity: decisions are `info` (`warn` for bans and recoveries), raw events `debug`. */
  readonly level: LogLevel;
  /** Which subsystem. */
  readonly subsystem: LogSubsystem;
  /** Event name, dotted: `decision.refused`, `connection.open`, `reconnect.scheduled`, … */
  readonly event: string;
  /** The event's fields (peer, address, code, reason, …). */
  readonly fields: Readonly<Record<string, LogValue>>;
}

/**
 * A sink of structured records. Must not throw (a throwing logger is reported once per record with
 * `process.emitWarning` and otherwise ignored) and should be cheap: it runs synchronously.
 *
 * @example
 * ```ts
 * // pino: one child per subsystem is not needed, the subsystem is a field.
 * const logger: Logger = { log: (r) => pino[r.level]({ subsystem: r.subsystem, ...r.fields }, r.event) };
 * new ConnectionManager({ logger });
 * ```
 *
 * @category Observability
 */
export interface Logger {
  /** Receives one record. */
  log(record: LogRecord): void;
}

/**
 * Environment variables the debug output reads.
 *
 * @category Observability
 */
export interface DebugEnvironment {
  /** Node's `NODE_DEBUG`: `peerlink` enables every subsystem, `peerlink:<subsystem>` one. */
  readonly NODE_DEBUG?: string | undefined;
  /** The `debug` package's `DEBUG`: `peerlink:*`, `peerlink:node,peerlink:reconnect`, `*,-peerlink:peers`. */
  readonly DEBUG?: string | undefined;
}

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*?");
  return new RegExp(`^${escaped}$`, "i");
}

/**
 * The subsystems whose debug output `env` enables (empty when none). `NODE_DEBUG` names are matched
 * case-insensitively, `peerlink` meaning all; `DEBUG` patterns follow the `debug` package.
 *
 * @category Observability
 */
export function debugSubsystems(env: DebugEnvironment): ReadonlySet<LogSubsystem> {
  const enabled = new Set<LogSubsystem>();
  for (const name of (env.NODE_DEBUG ?? "").split(/[\s,]+/)) {
    if (name === "") continue;
    const re = patternToRegExp(name);
    for (const s of LOG_SUBSYSTEMS) if (re.test("peerlink") || re.test(`peerlink:${s}`)) enabled.add(s);
  }
  const include: RegExp[] = [];
  const exclude: RegExp[] = [];
  for (const name of (env.DEBUG ?? "").split(/[\s,]+/)) {
    if (name === "") continue;
    if (name.startsWith("-")) exclude.push(patternToRegExp(name.slice(1)));
    else include.push(patternToRegExp(name));
  }
  for (const s of LOG_SUBSYSTEMS) {
    const ns = `peerlink:${s}`;
    if (include.some((re) => re.test(ns)) && !exclude.some((re) => re.test(ns))) enabled.add(s);
  }
  return enabled;
}

/** Quotes a value for the debug line when it would not read back as one token. */
function formatValue(value: LogValue): string {
  if (typeof value !== "string") return String(value);
  return /^[\w.:/@[\]-]+$/.test(value) ? value : printableJson(JSON.stringify(value));
}

/**
 * One human-readable line: `<ISO time> peerlink:<subsystem> <level> <event> key=value …`.
 *
 * @category Observability
 */
export function formatLogLine(record: LogRecord): string {
  let line = `${new Date(record.at).toISOString()} peerlink:${record.subsystem} ${record.level} ${record.event}`;
  for (const key of Object.keys(record.fields)) line += ` ${key}=${formatValue(record.fields[key] as LogValue)}`;
  return line;
}

/**
 * A {@link Logger} writing {@link formatLogLine} lines for the `subsystems` given (by default those the
 * process environment enables) to `write` (by default standard error). Undefined when no subsystem is
 * enabled, so a node without debug output pays nothing.
 *
 * @category Observability
 */
export function createDebugLogger(
  options: { subsystems?: ReadonlySet<LogSubsystem>; write?: (line: string) => void } = {},
): Logger | undefined {
  const subsystems = options.subsystems ?? debugSubsystems(process.env);
  if (subsystems.size === 0) return undefined;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  return {
    log(record) {
      if (subsystems.has(record.subsystem)) write(formatLogLine(record));
    },
  };
}

/** One logger calling each of `loggers` in turn; a throwing one is reported and skipped. Undefined for none. */
export function fanOutLogger(loggers: readonly (Logger | undefined)[]): Logger | undefined {
  const sinks = loggers.filter((l): l is Logger => l !== undefined);
  if (sinks.length === 0) return undefined;
  return {
    log(record) {
      for (const sink of sinks) {
        try {
          sink.log(record);
        } catch (error) {
          process.emitWarning(`peerlink: a logger threw: ${String(error)}`, "PeerlinkListenerWarning");
        }
      }
    },
  };
}
