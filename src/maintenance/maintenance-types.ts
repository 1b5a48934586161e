/**
 * Event payloads and read-only views of the maintenance service.
 *
 * @module
 */
import type { Connection } from "../connection/connection.js";
import type { HealthGrade, HealthScore } from "../health/types.js";

/**
 * Payload of the manager event `health:change`: the published (hysteresis-
 * filtered) grade of a connection changed. `score` holds the three components
 * and the overall score of the check that published it; `score.grade === to`.
 *
 * @category Maintenance
 */
export interface HealthChangeEvent {
  /** The connection. */
  readonly connection: Connection;
  /** Printable peer id of the remote side. */
  readonly peer: string;
  /** The grade published before; `undefined` for the first grade of the connection. */
  readonly from: HealthGrade | undefined;
  /** The grade published now. */
  readonly to: HealthGrade;
  /** Latency, reliability and bandwidth components, overall score, and `grade` equal to `to`. */
  readonly score: HealthScore;
}

/**
 * Everything maintenance knows about one connection, for diagnostics (see `MaintenanceService.inspect`).
 *
 * @category Maintenance
 */
export interface MaintenanceSnapshot {
  /** Smoothed RTT in ms (EWMA, RFC 6298), `undefined` before the first sample. */
  readonly srttMs: number | undefined;
  /** RTT mean deviation (jitter) in ms, `undefined` before the first sample. */
  readonly rttVarMs: number | undefined;
  /** Smallest RTT sample in ms. */
  readonly minRttMs: number | undefined;
  /** RTT samples taken. */
  readonly rttSamples: number;
  /** Pings sent and resolved (answered or timed out). */
  readonly pingsResolved: number;
  /** Pings answered. */
  readonly pongsReceived: number;
  /** Age in ms of the oldest ping still waiting for its Pong (0 when none); it raises the latency input when longer than the smoothed RTT. */
  readonly outstandingPingMs: number;
  /** Consecutive unanswered keepalive pings right now. */
  readonly consecutiveMissed: number;
  /** Received bytes per second (EWMA). */
  readonly rateInBps: number;
  /** Written bytes per second (EWMA). */
  readonly rateOutBps: number;
  /** Last bandwidth measured by an active probe, bytes per second. */
  readonly probedBandwidthBps: number | undefined;
  /** Active probes completed (report received). */
  readonly probesCompleted: number;
  /** The bandwidth the health score uses, bytes per second; NaN when not measured. */
  readonly bandwidthInputBps: number;
  /** Published health (components of the last check, hysteresis-filtered grade), `undefined` before the first check. */
  readonly health: HealthScore | undefined;
  /** Milliseconds the published grade has been Poor or Critical (0 when it is not). */
  readonly degradedForMs: number;
  /** Peer id of the replacement being dialed, if any. */
  readonly replacingWith: string | undefined;
  /** True once the connection was declared dead (it is being closed). */
  readonly dead: boolean;
}

/**
 * Payload of the manager event `node:resumed`: this process (or machine) did not run for a while (a timer
 * fired late, or the wall clock jumped against the monotonic one: sleep, suspend, SIGSTOP). Every
 * connection was re-checked at once: a Ping each, and a health check once the pongs are due whose grades
 * are published as they are (no hysteresis: the grades from before say nothing of the network now).
 *
 * @category Maintenance
 */
export interface NodeResumedEvent {
  /** `timer-late`: the process did not run; `clock-jump`: the wall clock jumped against the monotonic one. */
  readonly cause: "timer-late" | "clock-jump";
  /** How long it was away, as measured (ms). */
  readonly sleptMs: number;
  /** Connections re-checked. */
  readonly connections: number;
}

/**
 * Payload of the manager event `network:changed`: the local addresses changed (another network, a VPN,
 * an interface down). Every connection was re-checked at once, as for `node:resumed`.
 *
 * @category Maintenance
 */
export interface NetworkChangedEvent {
  /** Local addresses that appeared. */
  readonly added: readonly string[];
  /** Local addresses that went away. */
  readonly removed: readonly string[];
  /** Connections re-checked. */
  readonly connections: number;
}
