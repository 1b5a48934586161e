/**
 * The connection gater: the application's say over who connects, at the three points where the node
 * decides anyway — an inbound socket by its remote address before any TLS work, any connection by the
 * peer id its handshake proved, and an outbound dial by peer id and address before a socket is opened.
 * Like js-libp2p's `ConnectionGater` and go-libp2p's `ConnectionGater` (with its DisconnectReason), and
 * CometBFT's peer filters.
 *
 * A hook answers at once or with a Promise (a lookup in a database). While an answer is awaited the
 * connection keeps the slot it holds — a pending inbound socket its pending slot and deadlines, a
 * handshaken connection its slot — so a slow gater cannot be used to hold more than the limits allow (a
 * dial waits before it takes any slot or socket), and an answer that takes longer than
 * {@link GATER_TIMEOUT_MS} denies. A hook that throws, rejects or returns anything but the
 * documented values denies: the failure is journaled and reported as a process warning, never thrown into
 * the node. This module only normalises answers; the adapters that own the timers bound the wait.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../../errors.js";
import { DisconnectReason } from "../../reasons.js";

/**
 * A gater hook's answer: `false` or `undefined` allows; `true` denies; an object denies with reasons; a
 * Promise of any of these is awaited (at most {@link GATER_TIMEOUT_MS}).
 *
 * @category Configuration
 */
export type GaterResult = boolean | undefined | void | GaterDenial | Promise<boolean | undefined | void | GaterDenial>;

/**
 * Longest wait (ms) for a hook's Promise before the connection is denied: CometBFT's default filter timeout.
 *
 * @category Configuration
 */
export const GATER_TIMEOUT_MS = 5_000;

/**
 * A denial with its reasons.
 *
 * @category Configuration
 */
export interface GaterDenial {
  /** Why, for this node's journal and events (stays local). @default "denied by the gater" */
  readonly reason?: string;
  /**
   * Text the peer is told in its Goodbye (only after the handshake: `denyPeer`; a socket denied before TLS
   * is reset and learns nothing). @default none
   */
  readonly publicReason?: string;
  /**
   * The Goodbye reason sent when `denyPeer` denies: `peer_banned` (the peer should not come back soon),
   * `resource_constraint` (come back later), `normal` or `network_restructure`.
   * @default "peer_banned"
   */
  readonly goodbye?: GaterGoodbyeReason;
}

/**
 * The Goodbye reasons a gater may send: those that blame no protocol fault.
 *
 * @category Configuration
 */
export type GaterGoodbyeReason = "peer_banned" | "resource_constraint" | "normal" | "network_restructure";

/**
 * What the gater sees of a connection whose handshake is done.
 *
 * @category Configuration
 */
export interface GatedConnectionInfo {
  /** Who dialed. */
  readonly direction: "inbound" | "outbound";
  /** `"host:port"` of the remote end. */
  readonly remoteAddress: string;
}

/**
 * The application's connection gater (option `gater`). Every hook is optional, answers at once or with a
 * Promise (awaited at most {@link GATER_TIMEOUT_MS}), and allows by default. Denials are journaled (kind
 * `refused`, code `gated`) and reported as `inbound:refused` (reason `gated`) or `dial:refused` (error code
 * GATED). Allow-listed peers and addresses are gated
 * like any other: the allow-list lifts limits, not the application's judgement.
 *
 * @example
 * ```ts
 * const gater: ConnectionGater = {
 *   denyInboundAddress: (ip) => ip.startsWith("10.66."),
 *   denyPeer: (peer) => (blocked.has(peer) ? { reason: "on the block list", publicReason: "not welcome" } : false),
 * };
 * ```
 *
 * @category Configuration
 */
export interface ConnectionGater {
  /**
   * An inbound socket from `ip` (normalised, IPv4-mapped IPv6 as IPv4) arrived: deny to reset it before
   * any TLS work, like the other abuse-class refusals. Checked after bans, before the per-IP bounds (a
   * Promise answer is awaited after them, the socket holding its pending slot).
   */
  denyInboundAddress?(ip: string, port: number): GaterResult;
  /**
   * A connection (either direction) proved `peer` (printable peer id) in its handshake: deny to close it
   * with a Goodbye (`peer_banned` unless the denial names another reason) before anything of it reaches
   * the application. Checked after bans, before duplicate resolution and capacity.
   */
  denyPeer?(peer: string, connection: GatedConnectionInfo): GaterResult;
  /** A dial to `peer` is about to start: deny to reject it (GATED) before any socket. */
  denyDialPeer?(peer: string): GaterResult;
  /**
   * A dial is about to try `address` (`"host:port"` as given, before any name lookup), for `peer` when the
   * dial names one: deny to skip the address. A dial whose every address is denied rejects with GATED.
   */
  denyDialAddress?(address: string, peer: string | undefined): GaterResult;
}

/** The names of {@link ConnectionGater}'s hooks (option validation). */
export const GATER_HOOKS = ["denyInboundAddress", "denyPeer", "denyDialPeer", "denyDialAddress"] as const;

/** Longest reason text kept from a gater (journal, events, Goodbye detail). */
export const GATER_REASON_MAX_CHARS = 200;

/** A gater's decision, normalised. */
export type GateVerdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** Local text for the journal. */
      readonly reason: string;
      /** Goodbye detail, when the gater gave one. */
      readonly publicReason: string | undefined;
      /** Goodbye reason. */
      readonly goodbye: DisconnectReason;
      /** What the hook threw or returned wrongly, when it failed. */
      readonly error: unknown;
    };

const ALLOW: GateVerdict = Object.freeze({ allowed: true });

const GOODBYES: Readonly<Record<GaterGoodbyeReason, DisconnectReason>> = {
  peer_banned: DisconnectReason.PEER_BANNED,
  resource_constraint: DisconnectReason.RESOURCE_CONSTRAINT,
  normal: DisconnectReason.NORMAL,
  network_restructure: DisconnectReason.NETWORK_RESTRUCTURE,
};

/**
 * Runs one gater hook and normalises its answer. An absent hook allows. A hook that throws, rejects or
 * answers an unknown value denies, with `error` set and a process warning. A Promise answer gives a Promise
 * of the verdict that never rejects (unbounded here: the caller bounds the wait).
 */
export function runGate(gater: ConnectionGater | undefined, hook: (typeof GATER_HOOKS)[number], first: unknown, second?: unknown): GateOutcome {
  // Two plain parameters, not a rest list: every connection and every dial passes here, most with no gater.
  const fn = gater?.[hook] as ((a: unknown, b?: unknown) => unknown) | undefined;
  if (fn === undefined) return ALLOW;
  let result: unknown;
  try {
    // Each hook is called with as many arguments as it declares (denyDialPeer: one).
    result = hook === "denyDialPeer" ? fn.call(gater, first) : fn.call(gater, first, second);
  } catch (error) {
    return failed(hook, error, `threw: ${String(error)}`);
  }
  if (typeof result === "object" && result !== null && typeof (result as { then?: unknown }).then === "function") {
    return Promise.resolve(result as PromiseLike<unknown>).then(
      (answer) => normalise(hook, answer),
      (error: unknown) => failed(hook, error, `rejected: ${String(error)}`),
    );
  }
  return normalise(hook, result);
}

function normalise(hook: string, result: unknown): GateVerdict {
  if (result === false || result === undefined) return ALLOW;
  if (result === true) return deny(undefined, undefined, undefined);
  if (typeof result === "object" && result !== null) {
    const d = result as GaterDenial;
    const goodbye = d.goodbye === undefined ? undefined : GOODBYES[d.goodbye];
    if (d.goodbye !== undefined && goodbye === undefined) {
      return failed(hook, new TypeError(`${hook} returned an unknown goodbye reason ${JSON.stringify(d.goodbye)}`), "returned a bad goodbye reason");
    }
    return deny(text(d.reason), text(d.publicReason), goodbye);
  }
  return failed(hook, new TypeError(`${hook} returned ${typeof result}; expected a boolean or a denial object`), `returned ${typeof result}`);
}

function deny(reason: string | undefined, publicReason: string | undefined, goodbye: DisconnectReason | undefined): GateVerdict {
  return { allowed: false, reason: reason ?? "denied by the gater", publicReason, goodbye: goodbye ?? DisconnectReason.PEER_BANNED, error: undefined };
}

function failed(hook: string, error: unknown, what: string): GateVerdict {
  process.emitWarning(`peerlink: the connection gater's ${hook} ${what.slice(0, GATER_REASON_MAX_CHARS)}; denied`, "PeerlinkGaterWarning");
  return { allowed: false, reason: `gater ${hook} failed (${what.slice(0, GATER_REASON_MAX_CHARS)}): denied`, publicReason: undefined, goodbye: DisconnectReason.PEER_BANNED, error };
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  return String(value).slice(0, GATER_REASON_MAX_CHARS);
}

/** A gate's verdict now, or the Promise of it (it never rejects). */
export type GateOutcome = GateVerdict | Promise<GateVerdict>;

/** True when `outcome` is still to come. */
export function isPendingGate(outcome: GateOutcome): outcome is Promise<GateVerdict> {
  return outcome instanceof Promise;
}

/** The denial of a gate whose answer did not come within `timeoutMs` (or before the node stopped). */
export function gateTimedOut(hook: string, timeoutMs: number): GateVerdict {
  return failed(hook, new Error(`no answer within ${timeoutMs} ms`), `did not answer within ${timeoutMs} ms`);
}

/** The GATED error for a denial of `subject` (e.g. `"dial to 10.0.0.1:4001"`), its cause a hook's failure. */
export function gateError(verdict: Extract<GateVerdict, { allowed: false }>, subject: string): PeerlinkError {
  return new PeerlinkError(ErrorCode.GATED, `${subject} denied by the connection gater: ${verdict.reason}`, {
    initiator: "local",
    ...(verdict.error !== undefined ? { cause: verdict.error } : {}),
  });
}
