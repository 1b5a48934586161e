/**
 * Options of the {@link ConnectionManager} and their validation into one
 * fully-filled object (js-libp2p style: validate once, in the constructor).
 * Every option group (limits, maintenance, reconnect, TLS, protocols, …) is
 * checked in the same pass, with the rules that tie groups together, and one
 * error lists every problem.
 *
 * @module
 */
import type { Registry } from "prom-client";
import { Identity } from "../identity/identity.js";
import { checkMaintenanceOptions, type MaintenanceOptions } from "../maintenance/maintenance-options.js";
import type { Logger } from "../observability/logger.js";
import { DEFAULT_PROBE_PADDING_BYTES, PROBE_FRAME_OVERHEAD_BYTES } from "../maintenance/defaults.js";
import { FilePeerStore } from "../peers/file-peer-store.js";
import { VolatilePeerStore, type PeerStore } from "../peers/peer-store.js";
import { checkReconnectOptions } from "../reconnect/options-check.js";
import type { ReconnectOptions } from "../reconnect/reconnect-service.js";
import type { TlsOptions } from "../transport/types.js";
import { describeValue, isOptionsObject, type KnownOptions, OptionProblems } from "../util/option-checks.js";
import { checkLimits, type ConnectionLimitsOptions, type ResolvedLimits } from "./config.js";
import { checkMisbehaviourOptions, type MisbehaviourOptions, type ResolvedMisbehaviour } from "./misbehaviour-options.js";
import { STOP_DEADLINE_MS as DEFAULT_STOP_DEADLINE_MS } from "./defaults.js";
import { checkDialingOptions, type DialingOptions, type ResolvedDialing } from "../node/node-settings.js";
import type { ManagerHost, ManagerService } from "./services.js";
import { checkMeshOptions, type MeshOptions, type ResolvedMeshOptions, withMeshCapability } from "../mesh/mesh-options.js";
import type { AllowList, AllowListOptions } from "../node/policy/allow-list.js";
import type { ConnectionGater } from "../node/policy/gater.js";
import { checkAllowList, checkGater } from "../node/policy/policy-options.js";

import type { CapabilityOption, ProtocolOption } from "./manager-option-checks.js";
import {
  booleanOption,
  checkCapabilities,
  checkListen,
  checkMetrics,
  checkPeerStore,
  checkProtocols,
  checkSendBuffer,
  checkTls,
  isMethodHolder,
} from "./manager-option-checks.js";

export type { CapabilityOption, ProtocolOption };

/**
 * Options of a {@link ConnectionManager}. Every option has a default.
 *
 * @category Manager
 */
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
   * Per-connection inbound rate bounds (messages, bytes, pings per second; RATE_LIMITED beyond them) and
   * automatic, escalating bans of repeated violators; see `MisbehaviourOptions`.
   * @default both on, with their defaults
   */
  readonly misbehaviour?: MisbehaviourOptions;
  /**
   * How long a graceful close waits for the peer to acknowledge the goodbye (ms). Equivalent to
   * geth's `discWriteTimeout`-style grace. At most `limits.stopDeadlineMs` (an unset one is raised to fit).
   * @default 5000, lowered to `limits.stopDeadlineMs` when that is set below it
   */
  readonly gracefulShutdownTimeoutMs?: number;
  /** Largest frame body accepted (bytes). @default 1048576 (1 MiB) */
  readonly maxFrameSize?: number;
  /**
   * Bytes a connection holds unsent before `conn.writable` turns false and `conn.send` waits for the socket to
   * drain (`send:drain`). At least 16384 (Node's socket high-water mark).
   * @default 1048576 (1 MiB)
   */
  readonly sendBufferHighWaterBytes?: number;
  /**
   * Most bytes a connection holds unsent, buffered and waiting, before a send that has to wait is refused with
   * SEND_BUFFER_FULL (bounds what a peer that stops reading costs). At least `sendBufferHighWaterBytes`.
   * @default 8388608 (8 MiB)
   */
  readonly sendBufferLimitBytes?: number;
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
   * Outbound dialing: the stagger between the attempts to a peer's addresses (RFC 8305 racing) and the
   * per-address failure backoff of direct dials; see `DialingOptions`.
   * @default `{ staggerMs: 250, backoff: { initialMs: 1000, maxMs: 300000 } }`
   */
  readonly dialing?: DialingOptions;
  /**
   * Keepalive (ping/pong, RTT), inactivity timeout, bandwidth meters and probes, health grades and replacement
   * of degraded connections. `false` turns it off.
   * @default enabled with the `MaintenanceOptions` defaults (ping every 15 s, health check every 10 s)
   */
  readonly maintenance?: MaintenanceOptions | false;
  /**
   * Reconnection per disconnect reason: immediate, exponential backoff with full jitter, after
   * resources free up, or never; with a global budget and flap dampening. `false` turns it off.
   * @default enabled with the `ReconnectOptions` defaults
   */
  readonly reconnect?: ReconnectOptions | false;
  /** Extra services run beside the manager (advanced; see `ManagerService`). @default [] */
  readonly services?: readonly ((host: ManagerHost) => ManagerService)[];
  /** Clock in milliseconds used for limits, bans and the journal; for tests. @default Date.now */
  readonly clock?: () => number;
  /**
   * A prom-client `Registry` to publish this node's Prometheus metrics on (`peerlink_…`; several nodes may
   * share one). Counters move on the node's events; levels and traffic are read when the registry is scraped.
   * @default none: no metric is created
   */
  readonly metrics?: Registry;
  /**
   * Structured logger: every decision of the journal (`info`, bans `warn`) and the node's events (`debug`),
   * each with its subsystem. Independent of the `NODE_DEBUG=peerlink` / `DEBUG=peerlink:*` debug output.
   * @default none: nothing is logged
   */
  readonly logger?: Logger;
  /**
   * Target mesh: keep `targetOutbound` outbound connections by dialing peers of the peer database (ranked by
   * past health and success, never banned, flap-damped, within the reconnect budget, spread over subnets),
   * starting from `bootstrap` peers, with peer exchange. `true` for the defaults; see `MeshOptions`.
   * @default false (off: only the application and the reconnect service dial)
   */
  readonly mesh?: MeshOptions | boolean;
  /**
   * The application's connection gater (like js-libp2p's and go-libp2p's `ConnectionGater`): hooks, answering
   * at once or with a Promise, that deny an inbound socket by address before TLS, any connection by the peer
   * id its handshake proved (Goodbye with the gater's reason), and dials by peer id or address (GATED).
   * @default none: every connection the limits admit is allowed
   */
  readonly gater?: ConnectionGater;
  /**
   * Peers, IPs and CIDR subnets exempt from the connection limits, pending bounds, the inbound rate limit
   * and trimming, not from bans or the gater (like Bitcoin Core's `-whitelist`, CometBFT's unconditional peers).
   * @default nobody
   */
  readonly allowList?: AllowListOptions;
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
  readonly misbehaviour: ResolvedMisbehaviour;
  readonly gracefulShutdownTimeoutMs: number;
  readonly maxFrameSize: number;
  readonly sendBufferHighWaterBytes: number;
  readonly sendBufferLimitBytes: number;
  readonly engine: "wasm" | "js" | undefined;
  readonly agent: string | undefined;
  readonly peerStore: PeerStore;
  readonly dialing: ResolvedDialing;
  readonly services: readonly ((host: ManagerHost) => ManagerService)[];
  readonly reconnect: ReconnectOptions | false;
  readonly maintenance: MaintenanceOptions | false;
  readonly clock: () => number;
  readonly metrics: Registry | undefined;
  readonly logger: Logger | undefined;
  readonly mesh: ResolvedMeshOptions | false;
  readonly gater: ConnectionGater | undefined;
  readonly allowList: AllowList;
}

/** Default of {@link ConnectionManagerOptions.gracefulShutdownTimeoutMs}. */
export const GRACEFUL_SHUTDOWN_TIMEOUT_MS = 5_000;
/** Default of {@link ConnectionManagerOptions.maxFrameSize}: 1 MiB, as in docs/PROTOCOL.md. */
export const MAX_FRAME_SIZE = 1_048_576;

const OPTION_NAMES: KnownOptions<ConnectionManagerOptions> = {
  identity: true,
  listen: true,
  tls: true,
  enable0Rtt: true,
  protocols: true,
  capabilities: true,
  limits: true,
  misbehaviour: true,
  gracefulShutdownTimeoutMs: true,
  maxFrameSize: true,
  sendBufferHighWaterBytes: true,
  sendBufferLimitBytes: true,
  engine: true,
  agent: true,
  peerStore: true,
  dialing: true,
  maintenance: true,
  reconnect: true,
  services: true,
  clock: true,
  metrics: true,
  logger: true,
  mesh: true,
  gater: true,
  allowList: true,
};

/** Largest `maxFrameSize` accepted: 16 MiB. */
const MAX_MAX_FRAME_SIZE = 16 * 1_048_576;
/** Longest duration a timer can wait (2^31 - 1 ms). */
const MAX_DURATION_MS = 2 ** 31 - 1;

/** Everything of {@link ResolvedManagerOptions} that validation decides (no identity or store created yet). */
type Checked = Omit<ResolvedManagerOptions, "identity" | "peerStore">;

/**
 * Validates `options` and fills every default. Throws one PeerlinkError
 * INVALID_ARGUMENT whose message lists every problem found in every option
 * group, each naming the option's path (`maintenance.pingIntervalMs`,
 * `limits.maxPerIp`, `reconnect.budget`, …); see {@link checkManagerOptions}.
 */
export function resolveManagerOptions(options: ConnectionManagerOptions = {}): ResolvedManagerOptions {
  const problems = new OptionProblems();
  const checked = check(options, problems);
  problems.throwIfAny("invalid ConnectionManager options");
  const identity = options.identity ?? Identity.generate();
  const peerStore =
    options.peerStore === undefined
      ? new VolatilePeerStore()
      : typeof options.peerStore === "string"
        ? new FilePeerStore(options.peerStore)
        : options.peerStore;
  return { ...checked, identity, peerStore };
}

/**
 * Every problem of `options`, each naming the option's path, without throwing
 * and without side effects (no identity generated, no store opened). Empty
 * when {@link resolveManagerOptions} would accept `options`.
 *
 * Checked besides each option's own range: unknown option names at every
 * level (top, `limits`, `misbehaviour` and its `inboundRate`, `autoBan`, `maintenance`, `maintenance.bandwidthProbe`,
 * `reconnect` and its `policy`, `budget`, `dampening`, `tls`,
 * `tls.credentials`, `protocols[i]`, `capabilities[i]`); and the rules across
 * options: `maintenance.inactivityTimeoutMs > pingIntervalMs + maxPongTimeoutMs`,
 * `gracefulShutdownTimeoutMs <= limits.stopDeadlineMs`,
 * `limits.firstFlightTimeoutMs <= limits.handshakeTimeoutMs`, the limits'
 * ordering (`lowWatermark <= highWatermark <= maxConnections`, pending bounds
 * within connection bounds, …), probe frames within `maxFrameSize`, no
 * `listen` address while `limits.maxInbound` is 0, and Hello lists the peer
 * would refuse (duplicates, more than 256 entries).
 */
export function checkManagerOptions(options: unknown): readonly string[] {
  const problems = new OptionProblems();
  check(options, problems);
  return problems.list;
}

function check(input: unknown, problems: OptionProblems): Checked {
  if (!isOptionsObject(input)) {
    problems.add(`options must be an object, got ${describeValue(input)}`);
    input = {};
  }
  const o = input as Record<keyof ConnectionManagerOptions, unknown>;
  problems.unknownKeys(o, OPTION_NAMES, "");

  if (o.identity !== undefined && !(o.identity instanceof Identity)) problems.add(`identity must be an Identity, got ${describeValue(o.identity)}`);
  const listen = checkListen(o.listen, problems);
  const tls = checkTls(o.tls, problems);
  const enable0Rtt = booleanOption(o, "enable0Rtt", true, problems);
  const protocols = checkProtocols(o.protocols, problems);
  const mesh = checkMeshOptions(o.mesh, problems, "mesh");
  const capabilities = withMeshCapability(checkCapabilities(o.capabilities, problems), mesh);

  // An explicit graceful timeout raises an unset stop deadline to fit it, as unset limits fit explicit ones.
  const graceful = o.gracefulShutdownTimeoutMs;
  const gracefulValid = typeof graceful === "number" && Number.isFinite(graceful) && graceful >= 0 && graceful <= MAX_DURATION_MS;
  if (graceful !== undefined && !gracefulValid) {
    problems.add(`gracefulShutdownTimeoutMs must be a finite number of ms >= 0 and < 2^31, got ${describeValue(graceful)}`);
  }
  let limitsInput: unknown = o.limits ?? {};
  if (gracefulValid && isOptionsObject(limitsInput) && limitsInput["stopDeadlineMs"] === undefined && graceful > DEFAULT_STOP_DEADLINE_MS) {
    limitsInput = { ...limitsInput, stopDeadlineMs: graceful };
  }
  const limits = checkLimits(limitsInput, problems, "limits");
  const misbehaviour = checkMisbehaviourOptions(o.misbehaviour, problems, "misbehaviour");
  const gracefulShutdownTimeoutMs = gracefulValid ? graceful : Math.min(GRACEFUL_SHUTDOWN_TIMEOUT_MS, limits.stopDeadlineMs);
  if (gracefulShutdownTimeoutMs > limits.stopDeadlineMs) {
    problems.add(
      `gracefulShutdownTimeoutMs (${gracefulShutdownTimeoutMs}) must be <= limits.stopDeadlineMs (${limits.stopDeadlineMs}): ` +
        "stop() would destroy connections before their goodbye could be acknowledged",
    );
  }
  if (listen.length > 0 && limits.maxInbound === 0) {
    problems.add(`listen has ${listen.length} address(es) while limits.maxInbound is 0: every inbound connection would be refused`);
  }

  let maxFrameSize = MAX_FRAME_SIZE;
  if (o.maxFrameSize !== undefined) {
    if (typeof o.maxFrameSize === "number" && Number.isInteger(o.maxFrameSize) && o.maxFrameSize > 0 && o.maxFrameSize <= MAX_MAX_FRAME_SIZE) {
      maxFrameSize = o.maxFrameSize;
    } else {
      problems.add(`maxFrameSize must be an integer in [1, ${MAX_MAX_FRAME_SIZE}] (16 MiB), got ${describeValue(o.maxFrameSize)}`);
    }
  }
  const { sendBufferHighWaterBytes, sendBufferLimitBytes } = checkSendBuffer(o, problems);
  let engine: "wasm" | "js" | undefined;
  if (o.engine === "wasm" || o.engine === "js") engine = o.engine;
  else if (o.engine !== undefined) problems.add(`engine must be "wasm" or "js", got ${describeValue(o.engine)}`);
  let agent: string | undefined;
  if (typeof o.agent === "string") agent = o.agent;
  else if (o.agent !== undefined) problems.add(`agent must be a string, got ${describeValue(o.agent)}`);
  checkPeerStore(o.peerStore, problems);
  const dialing = checkDialingOptions(o.dialing, problems, "dialing");

  let maintenance: MaintenanceOptions | false = {};
  if (o.maintenance === false) maintenance = false;
  else if (o.maintenance !== undefined) {
    const resolved = checkMaintenanceOptions(o.maintenance, problems, "maintenance");
    if (isOptionsObject(o.maintenance)) maintenance = o.maintenance as MaintenanceOptions;
    if (resolved.bandwidthProbe !== undefined) {
      const padding = resolved.bandwidthProbe.paddingBytes ?? DEFAULT_PROBE_PADDING_BYTES;
      if (padding + PROBE_FRAME_OVERHEAD_BYTES > maxFrameSize) {
        problems.add(
          `maintenance.bandwidthProbe.paddingBytes (${padding}) + ${PROBE_FRAME_OVERHEAD_BYTES} bytes of framing must be <= maxFrameSize (${maxFrameSize}): ` +
            "every probe frame would be refused as too large",
        );
      }
    }
  }
  let reconnect: ReconnectOptions | false = {};
  if (o.reconnect === false) reconnect = false;
  else if (o.reconnect !== undefined) {
    checkReconnectOptions(o.reconnect, problems, "reconnect");
    if (isOptionsObject(o.reconnect)) reconnect = o.reconnect as ReconnectOptions;
  }

  let services: ((host: ManagerHost) => ManagerService)[] = [];
  if (o.services !== undefined) {
    if (!Array.isArray(o.services)) problems.add(`services must be an array of functions, got ${describeValue(o.services)}`);
    else {
      o.services.forEach((s: unknown, i) => {
        if (typeof s !== "function") problems.add(`services[${i}] must be a function (host) => ManagerService, got ${describeValue(s)}`);
      });
      services = [...(o.services as ((host: ManagerHost) => ManagerService)[])];
    }
  }
  let clock: () => number = Date.now;
  if (typeof o.clock === "function") clock = o.clock as () => number;
  else if (o.clock !== undefined) problems.add(`clock must be a function returning milliseconds, got ${describeValue(o.clock)}`);
  const metrics = checkMetrics(o.metrics, problems);
  let logger: Logger | undefined;
  if (o.logger !== undefined) {
    if (isMethodHolder(o.logger, ["log"])) logger = o.logger as Logger;
    else problems.add(`logger must be an object with a log(record) method, got ${describeValue(o.logger)}`);
  }
  const gater = checkGater(o.gater, problems);
  const allowList = checkAllowList(o.allowList, problems);

  return {
    listen,
    tls,
    enable0Rtt,
    protocols,
    capabilities,
    limits,
    misbehaviour,
    gracefulShutdownTimeoutMs,
    maxFrameSize,
    sendBufferHighWaterBytes,
    sendBufferLimitBytes,
    engine,
    agent,
    services,
    reconnect,
    maintenance,
    dialing,
    clock,
    metrics,
    logger,
    mesh,
    gater,
    allowList,
  };
}
