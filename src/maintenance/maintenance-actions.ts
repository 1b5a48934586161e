/**
 * What the sans-IO maintenance core asks its adapter to do, and the outbox it
 * collects those requests in during one call.
 *
 * @module
 */
import type { HealthGrade, HealthScore } from "../health/types.js";
import type { DisconnectReason } from "../reasons.js";
import type { ProbeFrame, ProbeReport } from "./bandwidth-probe.js";
import type { Entry } from "./connection-table.js";

/**
 * One thing for the adapter to do. Actions naming an entry are about that
 * connection; the adapter skips them once `entry.removed` is true (a callback
 * run by an earlier action may have closed it).
 */
export type MaintenanceAction<H> =
  /** Send `Ping { nonce, timestamp_us }` (keepalive or RTT ping). */
  | { readonly type: "ping"; readonly entry: Entry<H>; readonly nonce: number; readonly timestampUs: number }
  /** Send one BandwidthProbe frame of a burst (droppable: it only measures). */
  | { readonly type: "probe"; readonly entry: Entry<H>; readonly frame: ProbeFrame }
  /** Send a BandwidthReport answering the peer's burst (droppable). */
  | { readonly type: "report"; readonly entry: Entry<H>; readonly report: ProbeReport }
  /**
   * Journal and close the connection: it was declared dead (keepalive, inactivity) or broke the probe
   * protocol. `detail` goes in the Goodbye, `note` in the journal.
   */
  | {
      readonly type: "close";
      readonly entry: Entry<H>;
      readonly reason: DisconnectReason;
      readonly detail: string;
      readonly note: string;
      /** Missed pongs for a keepalive death, for the journal. */
      readonly missed: number | undefined;
      /** How long the close may wait for the Goodbye to drain; `undefined`: the connection's default. */
      readonly timeoutMs: number | undefined;
    }
  /**
   * Publish the connection's health (`connection.health`, trimming): `score`, or when `undefined` a
   * function that makes it on first read (see `MaintenanceCore.isLazy` and `MaintenanceCore.health`).
   */
  | { readonly type: "publish"; readonly entry: Entry<H>; readonly score: HealthScore | undefined }
  /** The published grade changed: emit `health:change`. */
  | {
      readonly type: "health-change";
      readonly entry: Entry<H>;
      readonly from: HealthGrade | undefined;
      readonly to: HealthGrade;
      readonly score: HealthScore;
    }
  /**
   * The connection has been degraded long enough: dial a replacement, then call
   * `MaintenanceCore.replacementOpened` (make-before-break).
   */
  | { readonly type: "replace"; readonly entry: Entry<H> }
  /** Something went wrong that must not stop maintenance (engine fallback, a bug in a cycle). */
  | { readonly type: "warn"; readonly message: string }
  /**
   * The timer fired late (this process was blocked): data that arrived meanwhile is still unread. Call
   * `tick` again, with the same planned time, after pending I/O has been read.
   */
  | { readonly type: "yield" };

const EMPTY: readonly never[] = Object.freeze([]);

/** Where the core collects actions during one call; {@link take} hands them over. */
export class Outbox<H> {
  #list: MaintenanceAction<H>[] = [];

  /** Adds an action. */
  push(action: MaintenanceAction<H>): void {
    this.#list.push(action);
  }

  /** The actions collected so far, in order; the outbox is empty afterwards. */
  take(): readonly MaintenanceAction<H>[] {
    const list = this.#list;
    if (list.length === 0) return EMPTY;
    this.#list = [];
    return list;
  }
}
