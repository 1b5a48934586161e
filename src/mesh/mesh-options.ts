/**
 * The options of the target mesh and their validation for the manager's one validation step (every problem
 * named with its option path; unknown option names rejected).
 *
 * @module
 */
import { PeerId } from "../identity/peer-id.js";
import { isIp } from "../manager/ip.js";
import { isHostPort } from "../peers/peer-record.js";
import { FlapDamping, type FlapDampingOptions } from "../reconnect/flap-damping.js";
import { describeValue, isOptionsObject, type KnownOptions, type OptionProblems, optionPath } from "../util/option-checks.js";
import {
  DEFAULT_MESH_CHECK_INTERVAL_MS,
  DEFAULT_MESH_FAILURE_BACKOFF,
  DEFAULT_MESH_IPV4_PREFIX,
  DEFAULT_MESH_IPV6_PREFIX,
  DEFAULT_MESH_MAX_CONCURRENT_DIALS,
  DEFAULT_MESH_SLOW_DIAL_MS,
  DEFAULT_MESH_TARGET_OUTBOUND,
  DEFAULT_PEER_EXCHANGE_MAX_PEERS,
  PEER_EXCHANGE_CAPABILITY,
  PEER_EXCHANGE_MAX_PEERS_RECEIVED,
} from "./defaults.js";

/**
 * A bootstrap peer: where to start when the peer database has no one to dial.
 *
 * @category Mesh
 */
export interface BootstrapPeer {
  /** `"host:port"` (IPv6 as `"[::1]:4001"`). */
  readonly address: string;
  /** The identity the peer must prove (pinned); without it any identity is accepted at that address. @default none */
  readonly peerId?: string;
}

/**
 * Options of the target mesh (the `mesh` option of a `ConnectionManager`): keep `targetOutbound` outbound
 * connections by dialing peers from the peer database, ranked by past health and success, never banned,
 * flap-damped, within the reconnect service's global budget, spread over subnets. Every option has a default.
 *
 * @category Mesh
 */
export interface MeshOptions {
  /** Outbound connections to keep. @default {@link DEFAULT_MESH_TARGET_OUTBOUND} (8, Bitcoin Core's full-relay outbound slots) */
  readonly targetOutbound?: number;
  /**
   * Peers to start from: `"host:port"` strings or {@link BootstrapPeer}s. A pinned one is added to the peer
   * database at start; an unpinned address is dialed when the database has no candidate left. @default []
   */
  readonly bootstrap?: readonly (string | BootstrapPeer)[];
  /**
   * Outbound diversity: no two outbound peers in one IPv4 `/ipv4Prefix` or IPv6 `/ipv6Prefix` while a
   * candidate in another group exists; `false` turns it off. On 127.x every address is in one /16: use 24
   * (or `false`) for loopback meshes.
   * @default { ipv4Prefix: 16, ipv6Prefix: 32 } ({@link DEFAULT_MESH_IPV4_PREFIX}, {@link DEFAULT_MESH_IPV6_PREFIX}: Bitcoin Core's netgroups)
   */
  readonly diversity?:
    | {
        /** IPv4 group prefix length, 1–32. @default {@link DEFAULT_MESH_IPV4_PREFIX} (16) */
        readonly ipv4Prefix?: number;
        /** IPv6 group prefix length, 1–128. @default {@link DEFAULT_MESH_IPV6_PREFIX} (32) */
        readonly ipv6Prefix?: number;
      }
    | false;
  /** Period of the check while below target, in ms. @default {@link DEFAULT_MESH_CHECK_INTERVAL_MS} (1 s) */
  readonly checkIntervalMs?: number;
  /** Most mesh dials in flight at once. @default {@link DEFAULT_MESH_MAX_CONCURRENT_DIALS} (2) */
  readonly maxConcurrentDials?: number;
  /**
   * A dial in flight this long (ms) stops counting against `maxConcurrentDials`: a black-holed peer does not
   * hold a slot for the whole handshake timeout. @default {@link DEFAULT_MESH_SLOW_DIAL_MS} (3 s)
   */
  readonly slowDialMs?: number;
  /**
   * Backoff of a candidate after a failed mesh dial: `baseMs` doubling to `maxMs`, 50–100 % jitter.
   * @default {@link DEFAULT_MESH_FAILURE_BACKOFF} (2 s to 5 min)
   */
  readonly failureBackoff?: {
    /** First delay, in ms. @default 2000 */
    readonly baseMs?: number;
    /** Largest delay, in ms. @default 300000 */
    readonly maxMs?: number;
  };
  /**
   * Flap dampening of candidates (a peer whose connections keep dropping is not dialed while suppressed), or
   * `false`. @default the `FlapDamping` defaults (penalty 1000 per close, suppress above 2000, reuse below 750, half-life 60 s)
   */
  readonly dampening?: FlapDampingOptions | false;
  /**
   * Peer exchange (docs/PROTOCOL.md §7.1): list the capability `peerlink.peer-exchange`, send up to
   * `maxPeers` known peers on each new connection that agreed it, learn the peers the other side sends.
   * `false` turns it off (the mesh then grows only from the database and the bootstrap peers).
   * @default { maxPeers: 16 } ({@link DEFAULT_PEER_EXCHANGE_MAX_PEERS})
   */
  readonly peerExchange?:
    | {
        /** Peers sent per frame, 1–32. @default {@link DEFAULT_PEER_EXCHANGE_MAX_PEERS} (16) */
        readonly maxPeers?: number;
      }
    | boolean;
  /** Local IP address mesh dials go out from (a node listening on one of several loopback or host addresses). @default chosen by the OS */
  readonly localAddress?: string;
  /** Source of randomness in [0, 1) (ties between equal candidates, backoff jitter); inject for tests. @default Math.random */
  readonly random?: () => number;
}

/**
 * {@link MeshOptions} with every default filled in (see each option there).
 *
 * @category Mesh
 */
export interface ResolvedMeshOptions {
  /** Outbound connections to keep. */
  readonly targetOutbound: number;
  /** Bootstrap peers, strings read as `{ address }`. */
  readonly bootstrap: readonly BootstrapPeer[];
  /** Diversity prefix lengths, or `false`. */
  readonly diversity: {
    /** IPv4 group prefix length. */
    readonly ipv4Prefix: number;
    /** IPv6 group prefix length. */
    readonly ipv6Prefix: number;
  } | false;
  /** Period of the check while below target, in ms. */
  readonly checkIntervalMs: number;
  /** Most mesh dials in flight. */
  readonly maxConcurrentDials: number;
  /** When a dial in flight stops counting against `maxConcurrentDials`, in ms. */
  readonly slowDialMs: number;
  /** Failure backoff of a candidate. */
  readonly failureBackoff: {
    /** First delay, in ms. */
    readonly baseMs: number;
    /** Largest delay, in ms. */
    readonly maxMs: number;
  };
  /** Flap-dampening options, or `false`. */
  readonly dampening: FlapDampingOptions | false;
  /** Peer exchange, or `false`. */
  readonly peerExchange: {
    /** Peers sent per frame. */
    readonly maxPeers: number;
  } | false;
  /** Local IP address of mesh dials, if set. */
  readonly localAddress: string | undefined;
  /** Source of randomness in [0, 1). */
  readonly random: () => number;
}

const OPTION_NAMES: KnownOptions<MeshOptions> = {
  targetOutbound: true,
  bootstrap: true,
  diversity: true,
  checkIntervalMs: true,
  maxConcurrentDials: true,
  slowDialMs: true,
  failureBackoff: true,
  dampening: true,
  peerExchange: true,
  localAddress: true,
  random: true,
};
const DIVERSITY_NAMES = { ipv4Prefix: true, ipv6Prefix: true } as const;
const BACKOFF_NAMES = { baseMs: true, maxMs: true } as const;
const EXCHANGE_NAMES = { maxPeers: true } as const;
const BOOTSTRAP_NAMES = { address: true, peerId: true } as const;
const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Checks `options` (the manager's `mesh` option) and fills the defaults; adds every problem to `problems`,
 * each naming its path under `prefix`. Returns `false` when the mesh is off (`undefined` or `false`).
 */
export function checkMeshOptions(options: unknown, problems: OptionProblems, prefix: string): ResolvedMeshOptions | false {
  if (options === undefined || options === false) return false;
  if (options === true) options = {};
  const name = (key: string): string => optionPath(prefix, key);
  if (!isOptionsObject(options)) {
    problems.add(`${prefix} must be a boolean or an object, got ${describeValue(options)}`);
    return false;
  }
  problems.unknownKeys(options, OPTION_NAMES, prefix);
  const o = options as Record<keyof MeshOptions, unknown>;
  const integer = (key: string, value: unknown, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max) return value;
    problems.add(`${name(key)} must be an integer in [${min}, ${max}], got ${describeValue(value)}`);
    return fallback;
  };
  const targetOutbound = integer("targetOutbound", o.targetOutbound, DEFAULT_MESH_TARGET_OUTBOUND, 0, 1024);
  const checkIntervalMs = integer("checkIntervalMs", o.checkIntervalMs, DEFAULT_MESH_CHECK_INTERVAL_MS, 1, MAX_DURATION_MS);
  const maxConcurrentDials = integer("maxConcurrentDials", o.maxConcurrentDials, DEFAULT_MESH_MAX_CONCURRENT_DIALS, 1, 1024);
  const slowDialMs = integer("slowDialMs", o.slowDialMs, DEFAULT_MESH_SLOW_DIAL_MS, 1, MAX_DURATION_MS);

  let diversity: ResolvedMeshOptions["diversity"] = { ipv4Prefix: DEFAULT_MESH_IPV4_PREFIX, ipv6Prefix: DEFAULT_MESH_IPV6_PREFIX };
  if (o.diversity === false) diversity = false;
  else if (o.diversity !== undefined) {
    if (!isOptionsObject(o.diversity)) problems.add(`${name("diversity")} must be false or an object, got ${describeValue(o.diversity)}`);
    else {
      problems.unknownKeys(o.diversity, DIVERSITY_NAMES, name("diversity"));
      diversity = {
        ipv4Prefix: integer("diversity.ipv4Prefix", o.diversity["ipv4Prefix"], DEFAULT_MESH_IPV4_PREFIX, 1, 32),
        ipv6Prefix: integer("diversity.ipv6Prefix", o.diversity["ipv6Prefix"], DEFAULT_MESH_IPV6_PREFIX, 1, 128),
      };
    }
  }

  let failureBackoff: { baseMs: number; maxMs: number } = { baseMs: DEFAULT_MESH_FAILURE_BACKOFF.baseMs, maxMs: DEFAULT_MESH_FAILURE_BACKOFF.maxMs };
  if (o.failureBackoff !== undefined) {
    if (!isOptionsObject(o.failureBackoff)) problems.add(`${name("failureBackoff")} must be an object, got ${describeValue(o.failureBackoff)}`);
    else {
      problems.unknownKeys(o.failureBackoff, BACKOFF_NAMES, name("failureBackoff"));
      const baseMs = integer("failureBackoff.baseMs", o.failureBackoff["baseMs"], failureBackoff.baseMs, 1, MAX_DURATION_MS);
      const maxMs = integer("failureBackoff.maxMs", o.failureBackoff["maxMs"], Math.max(baseMs, failureBackoff.maxMs), 1, MAX_DURATION_MS);
      if (maxMs < baseMs) problems.add(`${name("failureBackoff.maxMs")} (${maxMs}) must be >= failureBackoff.baseMs (${baseMs})`);
      failureBackoff = { baseMs, maxMs };
    }
  }

  let dampening: FlapDampingOptions | false = {};
  if (o.dampening === false) dampening = false;
  else if (o.dampening !== undefined) {
    if (!isOptionsObject(o.dampening)) problems.add(`${name("dampening")} must be false or an object, got ${describeValue(o.dampening)}`);
    else {
      dampening = o.dampening as FlapDampingOptions;
      const candidate = dampening;
      problems.capture(name("dampening"), () => new FlapDamping(candidate));
    }
  }

  let peerExchange: ResolvedMeshOptions["peerExchange"] = { maxPeers: DEFAULT_PEER_EXCHANGE_MAX_PEERS };
  if (o.peerExchange === false) peerExchange = false;
  else if (o.peerExchange !== undefined && o.peerExchange !== true) {
    if (!isOptionsObject(o.peerExchange)) problems.add(`${name("peerExchange")} must be a boolean or an object, got ${describeValue(o.peerExchange)}`);
    else {
      problems.unknownKeys(o.peerExchange, EXCHANGE_NAMES, name("peerExchange"));
      peerExchange = { maxPeers: integer("peerExchange.maxPeers", o.peerExchange["maxPeers"], DEFAULT_PEER_EXCHANGE_MAX_PEERS, 1, PEER_EXCHANGE_MAX_PEERS_RECEIVED) };
    }
  }

  const bootstrap: BootstrapPeer[] = [];
  if (o.bootstrap !== undefined) {
    if (!Array.isArray(o.bootstrap)) problems.add(`${name("bootstrap")} must be an array, got ${describeValue(o.bootstrap)}`);
    else {
      o.bootstrap.forEach((entry: unknown, i) => {
        const path = `${name("bootstrap")}[${i}]`;
        const peer = typeof entry === "string" ? { address: entry } : entry;
        if (!isOptionsObject(peer)) {
          problems.add(`${path} must be "host:port" or { address, peerId? }, got ${describeValue(entry)}`);
          return;
        }
        problems.unknownKeys(peer, BOOTSTRAP_NAMES, path);
        const address = peer["address"];
        const peerId = peer["peerId"];
        if (typeof address !== "string" || !isHostPort(address)) problems.add(`${path}.address must be "host:port", got ${describeValue(address)}`);
        else if (peerId === undefined) bootstrap.push({ address });
        else if (typeof peerId !== "string" || problems.capture(`${path}.peerId`, () => PeerId.parse(peerId)) === undefined) {
          if (typeof peerId !== "string") problems.add(`${path}.peerId must be a peer id string, got ${describeValue(peerId)}`);
        } else bootstrap.push({ address, peerId });
      });
    }
  }

  let localAddress: string | undefined;
  if (typeof o.localAddress === "string" && isIp(o.localAddress)) localAddress = o.localAddress;
  else if (o.localAddress !== undefined) problems.add(`${name("localAddress")} must be an IP address string, got ${describeValue(o.localAddress)}`);
  let random: () => number = Math.random;
  if (typeof o.random === "function") random = o.random as () => number;
  else if (o.random !== undefined) problems.add(`${name("random")} must be a function, got ${describeValue(o.random)}`);

  return { targetOutbound, bootstrap, diversity, checkIntervalMs, maxConcurrentDials, slowDialMs, failureBackoff, dampening, peerExchange, localAddress, random };
}

/**
 * `capabilities` with `peerlink.peer-exchange` (version 1, not required) added when the mesh runs peer
 * exchange and the application did not list it itself.
 */
export function withMeshCapability<T extends { name: string; version: number; required: boolean }>(
  capabilities: readonly T[],
  mesh: ResolvedMeshOptions | false,
): readonly (T | { name: string; version: number; required: boolean })[] {
  if (mesh === false || mesh.peerExchange === false || capabilities.some((c) => c.name === PEER_EXCHANGE_CAPABILITY)) return capabilities;
  return [...capabilities, { name: PEER_EXCHANGE_CAPABILITY, version: 1, required: false }];
}
