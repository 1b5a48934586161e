/**
 * Per-connection measurements written by maintenance (RTT, health) and read
 * through `Connection.rtt` / `Connection.health`. Kept outside the Connection
 * so the connection layer does not depend on the maintenance layer.
 *
 * @module
 */
import type { HealthScore } from "../health/types.js";

/** What maintenance knows about one connection. */
export interface ConnectionMetrics {
  /** Smoothed round-trip time (ms), once a pong was received. */
  rttMs?: number | undefined;
  /** Round-trip time variation (ms). */
  rttVarMs?: number | undefined;
  /** Latest published health score. */
  health?: HealthScore | undefined;
}

const metrics = new WeakMap<object, ConnectionMetrics>();

/** The metrics slot of `connection` (created on first use). */
export function metricsOf(connection: object): ConnectionMetrics {
  let slot = metrics.get(connection);
  if (!slot) metrics.set(connection, (slot = {}));
  return slot;
}

/** The metrics of `connection` if any were recorded. */
export function peekMetrics(connection: object): ConnectionMetrics | undefined {
  return metrics.get(connection);
}
