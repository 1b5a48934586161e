/**
 * The node-core settings derived from the resolved limits.
 *
 * @module
 */
import type { ResolvedLimits } from "../manager/config.js";
import { CAPACITY_RETRY_AFTER_MS, FIRST_FLIGHT_TIMEOUT_MS, MAX_PENDING_PER_IP, MAX_PENDING_PER_SUBNET } from "./defaults.js";

/** Pending bounds, first-flight deadline and capacity retry-after for the node core. */
export function nodeSettings(limits: ResolvedLimits): {
  maxPendingPerIp: number;
  maxPendingPerSubnet: number;
  firstFlightTimeoutMs: number;
  capacityRetryAfterMs: number;
} {
  const l = limits as ResolvedLimits & Partial<{ maxPendingPerIp: number; maxPendingPerSubnet: number; firstFlightTimeoutMs: number }>;
  return {
    maxPendingPerIp: l.maxPendingPerIp ?? MAX_PENDING_PER_IP,
    maxPendingPerSubnet: l.maxPendingPerSubnet ?? MAX_PENDING_PER_SUBNET,
    firstFlightTimeoutMs: Math.min(l.firstFlightTimeoutMs ?? FIRST_FLIGHT_TIMEOUT_MS, limits.handshakeTimeoutMs),
    capacityRetryAfterMs: CAPACITY_RETRY_AFTER_MS,
  };
}
