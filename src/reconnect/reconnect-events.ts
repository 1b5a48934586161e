/**
 * What the reconnect service tells the application: the payloads of its
 * manager events (`reconnect:scheduled`, `reconnect:attempt`,
 * `reconnect:abandoned`), their map {@link ReconnectServiceEvents} for the
 * manager's composed event map, and one peer's status. Types only.
 *
 * @module
 */
import type { ErrorCode } from "../errors.js";
import type { DisconnectReason } from "../reasons.js";

/**
 * What triggered a scheduled attempt: a disconnect reason, or one of the service's own causes.
 *
 * @category Reconnection
 */
export type ReconnectTrigger =
  | DisconnectReason
  /** The previous reconnect dial failed; this is the next backoff step. */
  | "dial_failed"
  /** `ReconnectService.schedule` or `ReconnectService.want` asked for it. */
  | "requested"
  /** A connection slot was freed while the peer waited for resources. */
  | "resources_available"
  /** Restored at start: a saved wanted peer with nothing scheduled. */
  | "resumed";

/**
 * Payload of the manager event `reconnect:scheduled`: an attempt to redial `peer` is planned.
 *
 * @category Reconnection
 */
export interface ReconnectScheduledEvent {
  /** Printable peer id. */
  readonly peer: string;
  /** Why. */
  readonly reason: ReconnectTrigger;
  /** Milliseconds from now until the attempt is due (retry-after floor and dampening included). */
  readonly delayMs: number;
  /** When the attempt is due, manager clock (ms). The budget may delay it further. */
  readonly at: number;
  /** Failed redials since the last established connection. */
  readonly attempt: number;
  /** True when the peer waits for a freed slot (then `at` is the latest fallback time). */
  readonly waitingForResources: boolean;
  /** True when flap dampening holds the peer back (then `at` is its release time). */
  readonly suppressed: boolean;
}

/**
 * Payload of the manager event `reconnect:attempt`: the service is dialing `peer` now.
 *
 * @category Reconnection
 */
export interface ReconnectAttemptEvent {
  /** Printable peer id. */
  readonly peer: string;
  /** Failed redials before this one. */
  readonly attempt: number;
  /** The addresses dialed, best first. */
  readonly addresses: readonly string[];
}

/**
 * Payload of the manager event `reconnect:abandoned`: `peer` will not be redialed (until asked again).
 *
 * @category Reconnection
 */
export interface ReconnectAbandonedEvent {
  /** Printable peer id. */
  readonly peer: string;
  /**
   * The disconnect reason whose strategy is "never", or the error code that refused the redial
   * (`PEER_BANNED` too when the peer database reports the peer banned, before any dial).
   */
  readonly reason: DisconnectReason | ErrorCode;
}

/**
 * The events the reconnect service emits on the manager, for the manager's event map.
 *
 * @category Reconnection
 */
export interface ReconnectServiceEvents {
  /** An attempt is planned. */
  "reconnect:scheduled": ReconnectScheduledEvent;
  /** A redial starts. */
  "reconnect:attempt": ReconnectAttemptEvent;
  /** A peer will not be redialed (a "never" reason, or a ban/self refusal). */
  "reconnect:abandoned": ReconnectAbandonedEvent;
}

/**
 * One peer's reconnect state, as `ReconnectService.status` reports it.
 *
 * @category Reconnection
 */
export interface ReconnectServiceStatus {
  /** True when the service redials the peer when it is lost. */
  readonly wanted: boolean;
  /** True when wanted through `ReconnectService.want`. */
  readonly explicit: boolean;
  /** True when the manager keeps a connection to the peer now. */
  readonly connected: boolean;
  /** True while a redial of the peer is in flight. */
  readonly dialing: boolean;
  /** Failed redials since the last established connection. */
  readonly attempt: number;
  /** When the next attempt is due (manager clock, ms); undefined when none is scheduled. */
  readonly dueAt: number | undefined;
  /** True while waiting for a freed connection slot. */
  readonly waitingForResources: boolean;
  /** True while flap dampening suppresses redials. */
  readonly suppressed: boolean;
  /** The flap penalty now. */
  readonly penalty: number;
}
