/**
 * How the reconnect service reads a failed redial: whether the peer refused
 * it with a Goodbye (its reason and retry-after), or this node's own
 * connection limits refused it before any socket was opened.
 *
 * @module
 */
import { ErrorCode, type PeerlinkError } from "../errors.js";
import { reasonForErrorCode } from "../handshake/failure-reasons.js";
import { isUnproven, UNPROVEN_RETRY_AFTER_MAX_MS } from "../handshake/proven-failures.js";
import { DisconnectReason, isDisconnectReason } from "../reasons.js";

/** The peer's Goodbye that ended a redial's handshake. */
export interface RemoteRefusal {
  /** The Goodbye's reason (unknown wire values read as `normal`). */
  readonly reason: DisconnectReason;
  /** Milliseconds the peer asked us to wait before dialing again; 0 when not set. */
  readonly retryAfterMs: number;
}

/**
 * The peer's Goodbye behind `error`, or undefined when the peer did not end
 * the dial with one. The handshake puts the received Goodbye (reason, detail,
 * retry-after) in the `cause` of the error it fails with, `initiator: "remote"`.
 */
export function remoteRefusalOf(error: PeerlinkError): RemoteRefusal | undefined {
  if (error.initiator !== "remote") return undefined;
  const cause: unknown = error.cause;
  if (typeof cause !== "object" || cause === null) return undefined;
  const { reason, retryAfterMs } = cause as { reason?: unknown; retryAfterMs?: unknown };
  if (!isDisconnectReason(reason)) return undefined;
  const retry = typeof retryAfterMs === "number" && Number.isFinite(retryAfterMs) && retryAfterMs > 0 ? retryAfterMs : 0;
  return { reason, retryAfterMs: retry };
}

/**
 * Local handshake failures whose verdict does not change by retrying soon: this node failed the
 * handshake with that code (and told the peer the matching Goodbye reason), so the redial takes that
 * reason's strategy (`incompatible_version`: never; `authentication_failed`, `protocol_violation`:
 * their long backoffs). Connect, TLS and timeout failures are not here: they take the ordinary backoff.
 */
const LOCAL_VERDICT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.PROTOCOL_MISMATCH,
  ErrorCode.AUTHENTICATION_FAILED,
  ErrorCode.PROTOCOL_VIOLATION,
  ErrorCode.MALFORMED_FRAME,
  ErrorCode.FRAME_TOO_LARGE,
]);

/** Why a redial's handshake failed, as a disconnect reason whose strategy applies. */
export interface RedialVerdict extends RemoteRefusal {
  /** `"remote"` when the peer's Goodbye said so, `"local"` when this node failed the handshake. */
  readonly initiator: "local" | "remote";
}

/**
 * The disconnect reason behind a failed redial's handshake, unless the dialer marked the failure unproven
 * (`isUnproven`: before the peer proved the identity it was dialed for): its Goodbye ({@link remoteRefusalOf}), or the reason this node sent when it failed
 * the handshake with one of the codes whose verdict stands (PROTOCOL_MISMATCH, AUTHENTICATION_FAILED,
 * PROTOCOL_VIOLATION, MALFORMED_FRAME, FRAME_TOO_LARGE). Before that proof, only a Goodbye's
 * RESOURCE_CONSTRAINT or RATE_LIMITED with its retry-after capped at {@link UNPROVEN_RETRY_AFTER_MAX_MS}.
 * Undefined for any other failure.
 */
export function redialVerdictOf(error: PeerlinkError): RedialVerdict | undefined {
  const proven = !isUnproven(error);
  const remote = remoteRefusalOf(error);
  if (remote !== undefined) {
    if (proven) return { ...remote, initiator: "remote" };
    // Said before the answering node proved it is the peer: anyone at the address may have said it (one a third
    // peer planted, say). Only "come back later" is heard from it, and not for long; never "never".
    if (remote.reason !== DisconnectReason.RESOURCE_CONSTRAINT && remote.reason !== DisconnectReason.RATE_LIMITED) return undefined;
    return { reason: remote.reason, retryAfterMs: Math.min(remote.retryAfterMs, UNPROVEN_RETRY_AFTER_MAX_MS), initiator: "remote" };
  }
  if (!proven || error.initiator === "remote" || !LOCAL_VERDICT_CODES.has(error.code)) return undefined;
  return { reason: reasonForErrorCode(error.code), retryAfterMs: 0, initiator: "local" };
}

/**
 * True when `error` is this node's own connection limits refusing a dial
 * (CONNECTION_LIMIT or TOO_MANY_PENDING with `initiator: "local"`, as the
 * manager's limiter reports them): no socket was opened, and retrying helps
 * only once a slot is free. The same codes from the peer (its Goodbye
 * `resource_constraint`) are not local.
 */
export function isLocalLimitRefusal(error: PeerlinkError): boolean {
  return error.initiator === "local" && (error.code === ErrorCode.CONNECTION_LIMIT || error.code === ErrorCode.TOO_MANY_PENDING);
}
