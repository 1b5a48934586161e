/**
 * The writable form of a connection's counters, shared by the connection core (which owns them) and
 * periodic readers such as maintenance (which copy them with `readStats(into)` without allocating).
 *
 * @module
 */
import type { ConnectionStats } from "./types.js";

/** A writable {@link ConnectionStats}: what `readStats(into)` fills in. */
export type MutableConnectionStats = { -readonly [K in keyof ConnectionStats]: ConnectionStats[K] };

/** Counters of a connection that has seen nothing yet. */
export function emptyConnectionStats(): MutableConnectionStats {
  return {
    bytesIn: 0,
    bytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    lastSentAt: undefined,
    lastReceivedAt: undefined,
    openedAt: undefined,
    unknownProtocolFrames: 0,
    discardedFrames: 0,
  };
}
