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
  /**
   * Latest published health score, or a function that makes it on first read (maintenance publishes
   * scores lazily when many move at once). Read it with {@link readHealth}.
   */
  health?: HealthScore | (() => HealthScore | undefined) | undefined;
}

/** The latest published health in `metrics`, making (and keeping) the object if it was published lazily. */
export function readHealth(metrics: ConnectionMetrics): HealthScore | undefined {
  const health = metrics.health;
  if (typeof health !== "function") return health;
  const score = health();
  metrics.health = score;
  return score;
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
