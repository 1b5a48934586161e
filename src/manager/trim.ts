/**
 * Choosing which connections to close when the node has too many (sans-IO:
 * a pure function of the candidates and `now`).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { ConnectionDirection } from "./connection-limits.js";

/** Health score assumed for a connection that has none yet: the middle of [0, 1]. */
export const UNKNOWN_HEALTH_SCORE = 0.5;

/** A connection that trimming may close. */
export interface TrimCandidate {
  /** Stable id of the connection. */
  readonly id: string;
  /** Direction as seen from this node. */
  readonly direction: ConnectionDirection;
  /** When the connection opened (ms, same clock as `now`). */
  readonly openedAt: number;
  /** Protected connections (pinned peers, the application's favourites) are never trimmed. @default false */
  readonly protected?: boolean | undefined;
  /** Overall health score in [0, 1] (1 is best); undefined or NaN = unknown, treated as 0.5. */
  readonly healthScore?: number | undefined;
  /** Sum of the application's tags on the peer (lowest trimmed first); undefined or NaN = 0. @default 0 */
  readonly tagValue?: number | undefined;
}

/** Options of {@link selectConnectionsToTrim}. */
export interface TrimOptions {
  /** Count to trim down to. */
  lowWatermark: number;
  /** Trimming starts when the count is above this. */
  highWatermark: number;
  /** Connections younger than this (ms) are never trimmed. */
  gracePeriodMs: number;
  /** Current time (ms). */
  now: number;
}

function score(candidate: TrimCandidate): number {
  const s = candidate.healthScore;
  if (s === undefined || Number.isNaN(s)) return UNKNOWN_HEALTH_SCORE;
  return Math.min(1, Math.max(0, s));
}

function tagValue(candidate: TrimCandidate): number {
  const v = candidate.tagValue;
  return v === undefined || Number.isNaN(v) ? 0 : v;
}

/**
 * Orders two trim candidates: negative when `a` should be closed before `b`.
 * Lowest tag value first (the application's weights, as in js-libp2p and go-libp2p);
 * then worst health (unknown = 0.5); on equal health inbound before outbound
 * (outbound peers were chosen by us and defend against eclipse attacks);
 * then the newest first (long-lived connections have proven themselves);
 * then by id, so the order is total and deterministic.
 */
export function compareForTrim(a: TrimCandidate, b: TrimCandidate): number {
  const tags = tagValue(a) - tagValue(b);
  if (tags !== 0) return tags;
  const health = score(a) - score(b);
  if (health !== 0) return health;
  if (a.direction !== b.direction) return a.direction === "inbound" ? -1 : 1;
  if (a.openedAt !== b.openedAt) return b.openedAt - a.openedAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Chooses the connections to close when there are more than
 * `highWatermark`: `count − lowWatermark` of them, best candidates first, or
 * fewer when not enough are eligible. Returns `[]` at or below the high
 * watermark.
 *
 * Ranking:
 * 1. protected connections are never chosen;
 * 2. connections younger than `gracePeriodMs` (`now − openedAt < gracePeriodMs`) are never chosen;
 * 3. lowest tag value first (untagged counts as 0);
 * 4. then worst health score (unknown counts as 0.5);
 * 5. on a tie, inbound before outbound;
 * 6. then the newest first (largest `openedAt`), then by id.
 *
 * All candidates count towards the total, protected and young ones included.
 *
 * @throws PeerlinkError INVALID_ARGUMENT when the watermarks are not integers with 0 <= low <= high, or the grace period is negative.
 */
export function selectConnectionsToTrim<T extends TrimCandidate>(candidates: readonly T[], options: TrimOptions): T[] {
  const { lowWatermark, highWatermark, gracePeriodMs, now } = options;
  if (!Number.isInteger(lowWatermark) || !Number.isInteger(highWatermark) || lowWatermark < 0 || lowWatermark > highWatermark) {
    throw new PeerlinkError(
      ErrorCode.INVALID_ARGUMENT,
      `trim needs integer watermarks with 0 <= lowWatermark (${String(lowWatermark)}) <= highWatermark (${String(highWatermark)})`,
    );
  }
  if (!(gracePeriodMs >= 0)) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `gracePeriodMs must be >= 0, got ${String(gracePeriodMs)}`);
  if (candidates.length <= highWatermark) return [];
  const wanted = candidates.length - lowWatermark;
  return candidates
    .filter((c) => c.protected !== true && now - c.openedAt >= gracePeriodMs)
    .sort(compareForTrim)
    .slice(0, wanted);
}
