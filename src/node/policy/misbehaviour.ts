/**
 * The misbehaviour policy: which failures count as violations, against whom (the peer id once it is
 * proved, else the IP address), and when the violations of one source within a window become an automatic
 * ban, whose duration doubles with each repeat up to a cap. Sans-IO: violations and `now` in, a ban
 * decision out; the strikes themselves live in the peer database (the one owner), passed in as a
 * {@link StrikeKeeper}.
 *
 * @module
 */
import { ErrorCode, type PeerlinkError } from "../../errors.js";
import type { BanTarget } from "../../manager/ban-list.js";
import type { MisbehaviourEvidence, Strike } from "../../peers/strike-ledger.js";
import { DisconnectReason } from "../../reasons.js";

/**
 * Thresholds of automatic bans (see `misbehaviour.autoBan` in `ConnectionManagerOptions`).
 *
 * @category Manager
 */
export interface AutoBanSettings {
  /** Violations within `windowMs` that ban their source. */
  readonly strikes: number;
  /** The window (ms) those violations must fall in. */
  readonly windowMs: number;
  /** Duration (ms) of a first automatic ban; each repeat doubles it. */
  readonly banMs: number;
  /** Longest automatic ban (ms). */
  readonly maxBanMs: number;
}

/** One violation, attributed to its source. */
export interface Violation {
  /** The proved peer id, or the IP address of a source that proved nothing. */
  readonly subject: { readonly peerId: string } | { readonly ip: string };
  /** The error code of the failure. */
  readonly code: string;
  /** What happened. */
  readonly detail: string;
  /** The remote `"host:port"`, when known. */
  readonly address?: string | undefined;
}

/** An automatic ban to issue. */
export interface AutoBanDecision {
  /** Whom to ban. */
  readonly target: BanTarget;
  /** For how long (ms). */
  readonly durationMs: number;
  /** Why: the strikes counted. */
  readonly evidence: MisbehaviourEvidence;
  /** The evidence in one line, for the ban's (local) reason. */
  readonly reason: string;
}

/** The peer database's strike and offence bookkeeping, as the policy uses it. */
export interface StrikeKeeper {
  /** Counts a strike; returns the target's strikes at or after `since`, this one included. */
  recordStrike(target: BanTarget, strike: Strike, since: number): readonly Strike[];
  /** Forgets the target's strikes. */
  clearStrikes(target: BanTarget): void;
  /** Offences of the target the ban list still remembers at `now`. */
  banOffences(target: BanTarget, now: number): number;
}

/**
 * Failure codes that count as violations when this node decided them: malformed or forbidden frames, a
 * peer's failed identity proof, and a broken inbound rate bound. Timeouts, closes, TLS failures (a port
 * scanner, a clock or CA problem), version mismatches and refusals by the peer are not the peer's
 * misbehaviour and never count.
 */
export const VIOLATION_CODES: ReadonlySet<string> = new Set<string>([
  ErrorCode.PROTOCOL_VIOLATION,
  ErrorCode.MALFORMED_FRAME,
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.UNKNOWN_PROTOCOL,
  ErrorCode.AUTHENTICATION_FAILED,
  ErrorCode.RATE_LIMITED,
]);

const VIOLATION_REASONS: ReadonlySet<string> = new Set<string>([
  DisconnectReason.PROTOCOL_VIOLATION,
  DisconnectReason.AUTHENTICATION_FAILED,
  DisconnectReason.RATE_LIMITED,
]);

/**
 * The violation a kept connection's close counts for, against the proved peer id: this side ended it for a
 * protocol violation or a broken rate bound. `undefined` for every other close.
 */
export function violationOfClose(
  peerId: string,
  address: string,
  info: { readonly reason: DisconnectReason; readonly initiator: "local" | "remote"; readonly error?: PeerlinkError | undefined },
): Violation | undefined {
  if (info.initiator !== "local" || !VIOLATION_REASONS.has(info.reason)) return undefined;
  const code = info.error?.code ?? (info.reason === DisconnectReason.RATE_LIMITED ? ErrorCode.RATE_LIMITED : ErrorCode.PROTOCOL_VIOLATION);
  if (!VIOLATION_CODES.has(code)) return undefined;
  return { subject: { peerId }, code, detail: info.error?.rawMessage ?? info.reason, address };
}

/**
 * The violation an inbound handshake failure counts for, against the source IP (nothing was proved): this
 * node failed it for a bad proof or a bad frame. `undefined` for every other failure.
 */
export function violationOfHandshake(ip: string, address: string, error: PeerlinkError): Violation | undefined {
  if (error.initiator !== "local" || !VIOLATION_CODES.has(error.code) || error.code === ErrorCode.RATE_LIMITED) return undefined;
  return { subject: { ip }, code: error.code, detail: error.rawMessage, address };
}

/**
 * Counts violations and decides automatic bans: `strikes` violations of one source within `windowMs` ban
 * it for `banMs · 2^k` (at most `maxBanMs`), where `k` is the number of its earlier offences the ban list
 * still remembers. A ban clears the strikes that caused it, so the count starts again when it ends.
 *
 * @example
 * ```ts
 * const policy = new MisbehaviourPolicy({ strikes: 5, windowMs: 600_000, banMs: 600_000, maxBanMs: 86_400_000 });
 * const ban = policy.onViolation(peers, { subject: { ip }, code: "MALFORMED_FRAME", detail }, Date.now());
 * if (ban) manager.ban(ban.target, { durationMs: ban.durationMs, reason: ban.reason });
 * ```
 */
export class MisbehaviourPolicy {
  readonly settings: AutoBanSettings;

  constructor(settings: AutoBanSettings) {
    this.settings = Object.freeze({ ...settings });
  }

  /** Counts `violation` at `now` in `keeper`; returns the ban to issue when it completes a pattern. */
  onViolation(keeper: StrikeKeeper, violation: Violation, now: number): AutoBanDecision | undefined {
    const { strikes: threshold, windowMs, banMs, maxBanMs } = this.settings;
    const target: BanTarget = "peerId" in violation.subject ? { peerId: violation.subject.peerId } : { ip: violation.subject.ip };
    const strike: Strike = {
      at: now,
      code: violation.code,
      detail: violation.detail,
      ...(violation.address !== undefined ? { address: violation.address } : {}),
    };
    const strikes = keeper.recordStrike(target, strike, now - windowMs);
    if (strikes.length < threshold) return undefined;
    keeper.clearStrikes(target);
    const earlier = keeper.banOffences(target, now);
    const durationMs = Math.min(maxBanMs, banMs * 2 ** Math.min(earlier, 52));
    const evidence: MisbehaviourEvidence = { strikes, windowMs, threshold, offence: earlier + 1 };
    return { target, durationMs, evidence, reason: describeEvidence(evidence, durationMs) };
  }
}

/** One line for the journal: `automatic ban (offence 2, 1200 s): 5 violations within 600 s: MALFORMED_FRAME ×3, RATE_LIMITED ×2`. */
export function describeEvidence(evidence: MisbehaviourEvidence, durationMs: number): string {
  const counts = new Map<string, number>();
  for (const s of evidence.strikes) counts.set(s.code, (counts.get(s.code) ?? 0) + 1);
  const codes = [...counts].map(([code, n]) => `${code} ×${n}`).join(", ");
  const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;
  return `automatic ban (offence ${evidence.offence}, ${seconds(durationMs)}): ${evidence.strikes.length} violations within ${seconds(evidence.windowMs)}: ${codes}`;
}
