/**
 * Whether a connection that finished its handshake is kept, and what this
 * node learns from it — pure functions of the node's state, no sockets.
 *
 * The order of the checks is the policy: a node that is stopping keeps
 * nothing; a banned peer (by id, IP or subnet) is refused before anything of
 * it reaches the application, then a peer the application's gater denies; a duplicate is resolved before capacity (a
 * duplicate that replaces an existing connection adds nothing); capacity is
 * checked last, and its refusal carries a retry-after so the dialer can tell
 * "full, come back later" from a fault.
 *
 * @module
 */
import { ErrorCode } from "../../errors.js";
import { DisconnectReason } from "../../reasons.js";
import type { BanEntry } from "../../manager/ban-list.js";
import type { LimitRefusal } from "../../manager/connection-limits.js";
import { chooseSurvivor } from "../../manager/tie-break.js";
import { mayAdvertise } from "../../manager/address-scope.js";
import { formatHostPort, ipOf, parseHostPort } from "../../manager/ip.js";
import { isHostPort } from "../../peers/peer-record.js";

/** Most advertised addresses recorded for a peer from one Hello. */
export const MAX_RECORDED_ADDRESSES = 8;

/** What the adoption check needs to know about the node and the candidate. */
export interface AdoptionInput<T extends { readonly direction: "inbound" | "outbound" }> {
  /** False once the node is stopping. */
  readonly running: boolean;
  /** The ban covering the peer id or its IP now, if any. */
  readonly ban: BanEntry | undefined;
  /** The gater's denial of the peer, if it denied. */
  readonly gate?: { readonly reason: string; readonly publicReason: string | undefined; readonly goodbye: DisconnectReason } | undefined;
  /** The kept connection to the same peer, if any. */
  readonly existing: T | undefined;
  /** The candidate. */
  readonly incoming: T;
  /** This node's and the peer's id bytes (the duplicate tie-break). */
  readonly localId: Uint8Array;
  readonly remoteId: Uint8Array;
  /** The capacity refusal for one more open connection of the candidate's direction, if full. */
  readonly capacity: LimitRefusal | undefined;
  /** Retry-after (ms) to send with a capacity refusal. */
  readonly capacityRetryAfterMs: number;
}

/** The verdict on a candidate connection. */
export type AdoptionVerdict<T> =
  | {
      readonly kind: "refuse";
      /** Goodbye reason sent to the peer. */
      readonly reason: DisconnectReason;
      /** Error code of the refusal (thrown to a dialer, reported in events). */
      readonly code: ErrorCode;
      /** Local explanation (journal, error message); never sent. */
      readonly detail: string;
      /** Goodbye detail sent to the peer (public text only). */
      readonly goodbyeDetail: string | undefined;
      /** Goodbye retry-after (ms), for capacity refusals. */
      readonly retryAfterMs: number | undefined;
      /** The limit that refused, for capacity refusals. */
      readonly refusal: LimitRefusal | undefined;
    }
  /** Keep the candidate; `close` (the existing duplicate) is closed as ALREADY_CONNECTED. */
  | { readonly kind: "keep"; readonly close: T | undefined }
  /** Keep the existing connection; the candidate is closed as ALREADY_CONNECTED. */
  | { readonly kind: "duplicate" };

/** Decides whether `input.incoming` is kept (see the module doc for the order of checks). */
export function decideAdoption<T extends { readonly direction: "inbound" | "outbound" }>(input: AdoptionInput<T>): AdoptionVerdict<T> {
  const refuse = (
    reason: DisconnectReason,
    code: ErrorCode,
    detail: string,
    extra: { goodbyeDetail?: string | undefined; retryAfterMs?: number; refusal?: LimitRefusal } = {},
  ): AdoptionVerdict<T> => ({
    kind: "refuse",
    reason,
    code,
    detail,
    goodbyeDetail: extra.goodbyeDetail,
    retryAfterMs: extra.retryAfterMs,
    refusal: extra.refusal,
  });
  if (!input.running) return refuse(DisconnectReason.SHUTDOWN, ErrorCode.STOPPED, "the node is stopping");
  if (input.ban !== undefined) {
    return refuse(DisconnectReason.PEER_BANNED, ErrorCode.PEER_BANNED, `${input.ban.key} is banned: ${input.ban.reason}`, {
      goodbyeDetail: input.ban.publicReason,
    });
  }
  if (input.gate !== undefined) {
    return refuse(input.gate.goodbye, ErrorCode.GATED, `denied by the connection gater: ${input.gate.reason}`, {
      goodbyeDetail: input.gate.publicReason,
      refusal: gatedRefusal(input.incoming.direction, undefined, input.gate.reason),
    });
  }
  if (input.existing !== undefined) {
    const choice = chooseSurvivor(input.localId, input.remoteId, input.existing, input.incoming);
    return choice.keep === input.existing ? { kind: "duplicate" } : { kind: "keep", close: input.existing };
  }
  if (input.capacity !== undefined) {
    return refuse(DisconnectReason.RESOURCE_CONSTRAINT, ErrorCode.CONNECTION_LIMIT, `${input.capacity.option ?? input.capacity.reason} reached`, {
      retryAfterMs: input.capacityRetryAfterMs,
      refusal: input.capacity,
    });
  }
  return { kind: "keep", close: undefined };
}

/** The refusal of a connection the gater denied (`key`: what it denied, e.g. `"ip:10.0.0.1"`). */
export function gatedRefusal(direction: "inbound" | "outbound", key: string | undefined, detail: string): LimitRefusal {
  return Object.freeze({ reason: "gated", direction, limit: 0, current: 0, detail, ...(key !== undefined ? { key } : {}) });
}

/**
 * The addresses from a peer's Hello worth recording for it: valid `host:port`, not the unspecified address
 * (a peer listening on `0.0.0.0:p` or `[::]:p` is recorded at the IP it connected from, when it dialed us),
 * reachable in scope from where the peer was seen (a public peer cannot plant `127.0.0.1:22` for this node
 * to dial later), and not another peer's (`ownerOf`): an advertisement does not move an address from one peer
 * to another; a dial that reaches the peer there does. One exception: an address whose owner's claim does not
 * hold (`held` false: no dial reached the owner there and it never connected to this node; a claim of peer
 * exchange, or an identity that answered there once) goes to the peer that proved its key from that very IP.
 * Otherwise an identity that answered a single dial at an address (a host that held the IP for a while) would
 * keep it from the peer that is back there. Peers that share an IP (behind one NAT) keep each other's
 * addresses. At most {@link MAX_RECORDED_ADDRESSES}.
 */
export function addressesToRecord(
  peer: string,
  advertised: readonly string[],
  connection: { readonly direction: "inbound" | "outbound"; readonly remoteAddress: string },
  ownerOf: (address: string) => string | undefined,
  held: (owner: string, address: string) => boolean,
): string[] {
  const out: string[] = [];
  for (const raw of advertised) {
    if (out.length >= MAX_RECORDED_ADDRESSES) break;
    const address = connection.direction === "inbound" ? bindToRemoteIp(raw, connection.remoteAddress) : raw;
    if (!isHostPort(address) || !mayAdvertise(address, connection.remoteAddress) || out.includes(address)) continue;
    const owner = ownerOf(address);
    if (owner === undefined || owner === peer || (!held(owner, address) && ipOf(address) === ipOf(connection.remoteAddress))) out.push(address);
  }
  return out;
}

/** `0.0.0.0:p` / `[::]:p` → `thatIp:p` for the IP the peer connected from; other addresses unchanged. */
function bindToRemoteIp(advertised: string, remoteAddress: string): string {
  try {
    const { host, port } = parseHostPort(advertised);
    if (host !== "0.0.0.0" && host !== "::") return advertised;
    return formatHostPort(parseHostPort(remoteAddress).host, port);
  } catch {
    return advertised;
  }
}
