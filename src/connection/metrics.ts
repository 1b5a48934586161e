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

/** An object that carries its own metrics slot (a `Connection` does: a property read, no lookup). */
interface WithMetrics {
  readonly metrics?: ConnectionMetrics;
}

/** Slots of objects without their own (test doubles and benchmark fakes). */
const fallback = new WeakMap<object, ConnectionMetrics>();

/** The metrics slot of `connection` (its own, or one created on first use). */
export function metricsOf(connection: object): ConnectionMetrics {
  const own = (connection as WithMetrics).metrics;
  if (own !== undefined) return own;
  let slot = fallback.get(connection);
  if (!slot) fallback.set(connection, (slot = {}));
  return slot;
}
