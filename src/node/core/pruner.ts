/**
 * Trimming: which kept connections to close when the node holds more than its
 * high watermark, and when to look again — a pure function of the kept
 * connections and `now`.
 *
 * @module
 */
import { selectConnectionsToTrim, type TrimCandidate } from "../../manager/trim.js";

/** The watermarks and grace period trimming works with. */
export interface PrunerLimits {
  readonly lowWatermark: number;
  readonly highWatermark: number;
  readonly trimGracePeriodMs: number;
}

/** What {@link planTrim} decided. */
export interface TrimPlan<T extends TrimCandidate> {
  /** Connections to close (NETWORK_RESTRUCTURE), worst first. */
  readonly victims: T[];
  /**
   * When to trim again (ms): still above the low watermark after sparing connections in their grace
   * period, the moment the first of them comes of age (else a burst of young connections could keep the
   * node full until some other connection opened). Undefined when no recheck is needed.
   */
  readonly recheckAt: number | undefined;
}

/**
 * Plans a trim of the open, kept connections. A trim starts above the high watermark and goes on down to
 * the low one; `continuing` (a recheck) trims down to the low watermark even once under the high one.
 */
export function planTrim<T extends TrimCandidate>(open: readonly T[], limits: PrunerLimits, now: number, continuing: boolean): TrimPlan<T> {
  if (!continuing && open.length <= limits.highWatermark) return { victims: [], recheckAt: undefined };
  const victims = selectConnectionsToTrim(open, {
    lowWatermark: limits.lowWatermark,
    highWatermark: continuing ? limits.lowWatermark : limits.highWatermark,
    gracePeriodMs: limits.trimGracePeriodMs,
    now,
  });
  let recheckAt: number | undefined;
  if (open.length - victims.length > limits.lowWatermark) {
    for (const c of open) {
      const ofAge = c.openedAt + limits.trimGracePeriodMs;
      if (!c.protected && ofAge > now && (recheckAt === undefined || ofAge < recheckAt)) recheckAt = ofAge + 1;
    }
  }
  return { victims, recheckAt };
}
