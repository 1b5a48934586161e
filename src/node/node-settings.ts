/**
 * The node-core settings derived from the resolved limits.
 *
 * @module
 */
import type { ResolvedLimits } from "../manager/config.js";
import { CAPACITY_RETRY_AFTER_MS } from "./defaults.js";

/** Pending bounds, first-flight deadline and capacity retry-after for the node core. */
export function nodeSettings(limits: ResolvedLimits): {
  maxPendingPerIp: number;
  maxPendingPerSubnet: number;
  firstFlightTimeoutMs: number;
  capacityRetryAfterMs: number;
} {
  return {
    maxPendingPerIp: limits.maxPendingPerIp,
    maxPendingPerSubnet: limits.maxPendingPerSubnet,
    firstFlightTimeoutMs: limits.firstFlightTimeoutMs,
    capacityRetryAfterMs: CAPACITY_RETRY_AFTER_MS,
  };
}
