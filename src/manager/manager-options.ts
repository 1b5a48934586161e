/**
 * Options of the {@link ConnectionManager} and their validation into one
 * fully-filled object (js-libp2p style: validate once, in the constructor).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { Identity } from "../identity/identity.js";
import type { TlsOptions } from "../transport/types.js";
import { FilePeerStore } from "../peers/file-peer-store.js";
import { MemoryPeerStore, type PeerStore } from "../peers/peer-store.js";
import type { ManagerHost, ManagerService } from "./services.js";
import type { ReconnectOptions } from "../reconnect/reconnect-service.js";
import type { MaintenanceOptions } from "../maintenance/maintenance-options.js";
import { resolveLimits, type ConnectionLimitsOptions, type ResolvedLimits } from "./config.js";

/** An application protocol this node speaks. */
export interface ProtocolOption {
  /** Name, e.g. `"/chat"`. Case-sensitive, at most 128 bytes. */
  readonly name: string;
  /** Versions spoken; the highest common one is agreed per connection. @default [1] */
  readonly versions?: readonly number[];
}

/** A capability this node supports or requires. */
export interface CapabilityOption {
  /** Name, e.g. `"peerlink.bandwidth-probe"`. */
  readonly name: string;
  /** Feature version. @default 1 */
  readonly version?: number;
  /** When true, peers that do not list the capability are refused (INCOMPATIBLE_VERSION). @default false */
  readonly required?: boolean;
}

/** Options of a {@link ConnectionManager}. Every option has a default. */
export interface ConnectionManagerOptions {
  /** The node's identity. @default a freshly generated Ed25519 identity */
  readonly identity?: Identity;
  /**
   * Addresses to accept connections on, `"host:port"` (IPv6 as `"[::1]:port"`); port 0 picks a free port.
   * @default [] (dial only)
   */
  readonly listen?: readonly string[];
  /**
   * Mutual TLS 1.3: `true` for defaults (self-signed certificate for the identity), an object to configure,
   * `false` for plain TCP (identity still proved, but no confidentiality or integrity).
   * @default true
   */
  readonly tls?: boolean | TlsOptions;
  /**
   * 0-RTT: `dial(…, { earlyMessages })` sends those messages right after the Hello, before the listener
   * answers; the listener delivers them only once the dialer is verified.
   * @default true
   */
  readonly enable0Rtt?: boolean;
  /** Application protocols spoken. @default [] */
  readonly protocols?: readonly ProtocolOption[];
  /** Capabilities supported or required. @default [] */
  readonly capabilities?: readonly CapabilityOption[];
  /** Connection limits, bans, trimming and journal sizes; see `ConnectionLimitsOptions`. @default its defaults */
  readonly limits?: ConnectionLimitsOptions;
  /**
   * How long a graceful close waits for the peer to acknowledge the goodbye (ms). Equivalent to
   * geth's `discWriteTimeout`-style grace. @default 5000
   */
  readonly gracefulShutdownTimeoutMs?: number;
  /** Largest frame body accepted (bytes). @default 1048576 (1 MiB) */
  readonly maxFrameSize?: number;
  /**
   * Engine of the connections' frame decoders and of the built-in maintenance service's health scorer
   * (unless `maintenance.engine` is set); results are identical either way.
   * @default each part's own default: frame decoder `"js"`, health scorer `"wasm"` (the faster of each in BENCHMARKS.md)
   */
  readonly engine?: "wasm" | "js";
  /** Free-form implementation name sent in the Hello. @default "peerlink/<version>" */
  readonly agent?: string;
  /**
   * Where the peer database lives: a file path (crash-safe file store), or any `PeerStore`.
   * @default an in-memory store (forgotten on exit)
   */
  readonly peerStore?: string | PeerStore;
  /**
   * Keepalive (ping/pong, RTT), inactivity timeout, bandwidth meters and probes, health grades and replacement
   * of degraded connections (seed §4.2). `false` turns it off.
   * @default enabled with the `MaintenanceOptions` defaults (ping every 15 s, health check every 10 s)
   */
  readonly maintenance?: MaintenanceOptions | false;
  /**
   * Reconnection per disconnect reason (seed §4.3): immediate, exponential backoff with full jitter, after
   * resources free up, or never; with a global budget and flap dampening. `false` turns it off.
   * @default enabled with the `ReconnectOptions` defaults
   */
  readonly reconnect?: ReconnectOptions | false;
  /** Extra services run beside the manager (advanced; see `ManagerService`). @default [] */
  readonly services?: readonly ((host: ManagerHost) => ManagerService)[];
  /** Clock in milliseconds used for limits, bans and the journal; for tests. @default Date.now */
  readonly clock?: () => number;
}

/** {@link ConnectionManagerOptions} after validation, every value filled. */
export interface ResolvedManagerOptions {
  readonly identity: Identity;
  readonly listen: readonly string[];
  readonly tls: TlsOptions | false;
  readonly enable0Rtt: boolean;
  readonly protocols: readonly { name: string; versions: readonly number[]; alias: number }[];
  readonly capabilities: readonly { name: string; version: number; required: boolean }[];
  readonly limits: ResolvedLimits;
  readonly gracefulShutdownTimeoutMs: number;
  readonly maxFrameSize: number;
  readonly engine: "wasm" | "js" | undefined;
  readonly agent: string | undefined;
  readonly peerStore: PeerStore;
  readonly services: readonly ((host: ManagerHost) => ManagerService)[];
  readonly reconnect: ReconnectOptions | false;
  readonly maintenance: MaintenanceOptions | false;
  readonly clock: () => number;
}

/** Default of {@link ConnectionManagerOptions.gracefulShutdownTimeoutMs}. */
export const GRACEFUL_SHUTDOWN_TIMEOUT_MS = 5_000;
/** Default of {@link ConnectionManagerOptions.maxFrameSize}: 1 MiB, as in docs/PROTOCOL.md. */
export const MAX_FRAME_SIZE = 1_048_576;

function invalid(message: string): PeerlinkError {
  return new PeerlinkError(ErrorCode.INVALID_ARGUMENT, message);
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v <= 0) throw invalid(`${name} must be a positive integer, got ${String(value)}`);
  return v;
}

/** Validates `options` and fills every default. Throws INVALID_ARGUMENT naming the bad option. */
export function resolveManagerOptions(options: ConnectionManagerOptions = {}): ResolvedManagerOptions {
  if (options === null || typeof options !== "object") throw invalid("options must be an object");
  const identity = options.identity ?? Identity.generate();
  if (!(identity instanceof Identity)) throw invalid("identity must be an Identity");
  const listen = [...(options.listen ?? [])];
  for (const address of listen) {
    if (typeof address !== "string" || address.length === 0) throw invalid(`listen address ${JSON.stringify(address)} is not "host:port"`);
  }
  const tls = options.tls === undefined || options.tls === true ? {} : options.tls;
  const seen = new Set<string>();
  const protocols = (options.protocols ?? []).map((p, index) => {
    if (!p || typeof p.name !== "string" || p.name.length === 0 || Buffer.byteLength(p.name) > 128) {
      throw invalid(`protocols[${index}].name must be 1..128 bytes`);
    }
    if (seen.has(p.name)) throw invalid(`protocol ${p.name} is listed twice`);
    seen.add(p.name);
    const versions = [...(p.versions ?? [1])];
    if (versions.length === 0 || versions.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw invalid(`protocols[${index}].versions must be non-empty uint32 values`);
    }
    return { name: p.name, versions, alias: index + 1 };
  });
  const capabilities = (options.capabilities ?? []).map((c, index) => {
    if (!c || typeof c.name !== "string" || c.name.length === 0 || Buffer.byteLength(c.name) > 64) {
      throw invalid(`capabilities[${index}].name must be 1..64 bytes`);
    }
    return { name: c.name, version: c.version ?? 1, required: c.required ?? false };
  });
  const maxFrameSize = positiveInteger("maxFrameSize", options.maxFrameSize, MAX_FRAME_SIZE);
  if (maxFrameSize > 16 * 1048576) throw invalid("maxFrameSize must be at most 16 MiB");
  const engine = options.engine;
  if (engine !== undefined && engine !== "wasm" && engine !== "js") throw invalid(`engine must be "wasm" or "js"`);
  return {
    identity,
    listen,
    tls,
    enable0Rtt: options.enable0Rtt ?? true,
    protocols,
    capabilities,
    limits: resolveLimits(options.limits ?? {}),
    gracefulShutdownTimeoutMs: positiveInteger(
      "gracefulShutdownTimeoutMs",
      options.gracefulShutdownTimeoutMs,
      GRACEFUL_SHUTDOWN_TIMEOUT_MS,
    ),
    maxFrameSize,
    engine,
    agent: options.agent,
    peerStore:
      options.peerStore === undefined
        ? new MemoryPeerStore()
        : typeof options.peerStore === "string"
          ? new FilePeerStore(options.peerStore)
          : options.peerStore,
    services: [...(options.services ?? [])],
    reconnect: options.reconnect ?? {},
    maintenance: options.maintenance ?? {},
    clock: options.clock ?? Date.now,
  };
}
