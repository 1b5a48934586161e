/**
 * What the status page shows, as JSON: the node, its peers (direction, age,
 * RTT, traffic rates, health and its components, protocols), the decision
 * journal (filtered) and one peer's RTT and health over the last minutes. The
 * history is sampled on a timer, so a page opened later still sees the
 * minutes before it.
 *
 * @module
 */
import type { Connection } from "../../connection/connection.js";
import { emptyConnectionStats } from "../../connection/stats.js";
import type { ConnectionCounts } from "../../manager/connection-limits.js";
import type { JournalEntry, JournalKind, JournalQuery } from "../../manager/journal.js";
import type { ObservedNode } from "../node-view.js";

/**
 * One peer row of the status page.
 *
 * @category Observability
 */
export interface StatusPeer {
  /** Printable peer id. */
  readonly peer: string;
  /** Remote `"host:port"`. */
  readonly address: string;
  /** Who dialed. */
  readonly direction: "inbound" | "outbound";
  /** Time since the connection opened (ms). */
  readonly ageMs: number;
  /** Smoothed RTT (ms), once measured. */
  readonly rttMs: number | null;
  /** Bytes received since the connection opened. */
  readonly bytesIn: number;
  /** Bytes sent since the connection opened. */
  readonly bytesOut: number;
  /** Received bytes per second over the last sampling interval (0 before two samples). */
  readonly bytesInPerSec: number;
  /** Sent bytes per second over the last sampling interval (0 before two samples). */
  readonly bytesOutPerSec: number;
  /** The published health: grade, overall score and its three components, each in [0, 1]. */
  readonly health: {
    /** The health grade. */
    readonly grade: string;
    /** Overall score. */
    readonly overall: number;
    /** Latency component. */
    readonly latency: number;
    /** Reliability component. */
    readonly reliability: number;
    /** Bandwidth component. */
    readonly bandwidth: number;
  } | null;
  /** Agreed protocols, `name@version`. */
  readonly protocols: readonly string[];
}

/**
 * One point of a peer's history: `[time ms, rtt ms or null, overall health or null]`.
 *
 * @category Observability
 */
export type HistoryPoint = readonly [number, number | null, number | null];

/**
 * The JSON the status page reads (`status.json`).
 *
 * @category Observability
 */
export interface StatusSnapshot {
  /** The node itself. */
  readonly node: {
    /** Its peer id. */
    readonly peerId: string;
    /** Its listen addresses. */
    readonly addresses: readonly string[];
    /** The node's clock when the snapshot was taken (ms). */
    readonly now: number;
    /** Pending and open connections per direction. */
    readonly counts: ConnectionCounts;
    /** Bans in force. */
    readonly activeBans: number;
  };
  /** One row per connected peer. */
  readonly peers: readonly StatusPeer[];
  /** Journal entries matching the query, oldest first, and how many the journal holds in all. */
  readonly journal: {
    /** The matching entries. */
    readonly entries: readonly JournalEntry[];
    /** Entries the journal holds in all. */
    readonly held: number;
  };
  /** The history of the peer asked for (`history=<peer>`; by default the first peer), if any. */
  readonly history: {
    /** Its peer id. */
    readonly peer: string;
    /** How far back the points go (ms). */
    readonly windowMs: number;
    /** The samples, oldest first. */
    readonly points: readonly HistoryPoint[];
  } | null;
}

/** Options of a {@link StatusModel}. */
export interface StatusModelOptions {
  /** How often peers are sampled for the charts and rates (ms). @default 1000 */
  readonly sampleIntervalMs?: number;
  /** How much history is kept per peer (ms). @default 300000 (5 minutes) */
  readonly historyMs?: number;
}

interface Sample {
  readonly at: number;
  readonly rttMs: number | null;
  readonly overall: number | null;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

const JOURNAL_KINDS: readonly JournalKind[] = ["refused", "trimmed", "banned", "unbanned", "closed", "opened", "replaced"];
/** Most journal entries one response carries. */
const MAX_JOURNAL_ENTRIES = 1000;

/** The journal query of a request's search parameters (`kind`, `peer`, `address`, `since`, `limit`). */
export function journalQuery(params: URLSearchParams): JournalQuery {
  const kinds = params.getAll("kind").flatMap((k) => k.split(",")).filter((k): k is JournalKind => (JOURNAL_KINDS as readonly string[]).includes(k));
  const limit = Number(params.get("limit") ?? 200);
  const since = Number(params.get("since"));
  const peer = params.get("peer");
  const address = params.get("address");
  return {
    limit: Number.isInteger(limit) && limit >= 0 ? Math.min(limit, MAX_JOURNAL_ENTRIES) : 200,
    ...(kinds.length > 0 ? { kind: kinds } : {}),
    ...(peer ? { peerId: peer } : {}),
    ...(address ? { address } : {}),
    ...(params.has("since") && Number.isFinite(since) ? { since } : {}),
  };
}

/** Samples a node's peers on a timer and makes {@link StatusSnapshot}s. */
export class StatusModel {
  readonly #node: ObservedNode;
  readonly #historyMs: number;
  readonly #history = new Map<string, Sample[]>();
  readonly #scratch = emptyConnectionStats();
  #timer: NodeJS.Timeout | undefined;

  constructor(node: ObservedNode, options: StatusModelOptions = {}) {
    this.#node = node;
    this.#historyMs = options.historyMs ?? 300_000;
    const interval = options.sampleIntervalMs ?? 1000;
    this.sample();
    this.#timer = setInterval(() => this.sample(), interval);
    this.#timer.unref();
  }

  /** Records one point per connected peer and forgets points older than the window. */
  sample(): void {
    const now = this.#node.options.clock();
    for (const connection of this.#node.connections()) {
      const peer = connection.remotePeer.toString();
      const stats = connection.readStats(this.#scratch);
      let points = this.#history.get(peer);
      if (points === undefined) this.#history.set(peer, (points = []));
      points.push({ at: now, rttMs: connection.rtt ?? null, overall: connection.health?.overall ?? null, bytesIn: stats.bytesIn, bytesOut: stats.bytesOut });
    }
    const oldest = now - this.#historyMs;
    for (const [peer, points] of this.#history) {
      let drop = 0;
      while (drop < points.length && points[drop]!.at < oldest) drop++;
      if (drop > 0) points.splice(0, drop);
      if (points.length === 0) this.#history.delete(peer);
    }
  }

  /** The snapshot for a request with `params` (journal filters, `history=<peer>`). */
  snapshot(params: URLSearchParams = new URLSearchParams()): StatusSnapshot {
    const node = this.#node;
    const now = node.options.clock();
    const peers = node.connections().map((c) => this.#row(c, now));
    const historyPeer = params.get("history") || peers[0]?.peer;
    const points = historyPeer === undefined ? undefined : this.#history.get(historyPeer);
    return {
      node: { peerId: node.peerId.toString(), addresses: node.addresses, now, counts: node.counts, activeBans: node.peers.activeBans(now).length },
      peers,
      journal: { entries: node.journal.query(journalQuery(params)), held: node.journal.size },
      history:
        historyPeer === undefined
          ? null
          : { peer: historyPeer, windowMs: this.#historyMs, points: (points ?? []).map((p): HistoryPoint => [p.at, p.rttMs, p.overall]) },
    };
  }

  #row(connection: Connection, now: number): StatusPeer {
    const peer = connection.remotePeer.toString();
    const stats = connection.readStats(this.#scratch);
    const health = connection.health;
    // Rates from the latest sample taken at least half a second ago (or the one before, right after sampling).
    let inRate = 0;
    let outRate = 0;
    const points = this.#history.get(peer);
    if (points !== undefined) {
      for (let i = points.length - 1; i >= 0; i--) {
        const p = points[i]!;
        const dt = (now - p.at) / 1000;
        if (dt >= 0.5) {
          inRate = Math.max(0, stats.bytesIn - p.bytesIn) / dt;
          outRate = Math.max(0, stats.bytesOut - p.bytesOut) / dt;
          break;
        }
      }
    }
    return {
      peer,
      address: connection.remoteAddress,
      direction: connection.direction,
      ageMs: stats.openedAt === undefined ? 0 : Math.max(0, Date.now() - stats.openedAt),
      rttMs: connection.rtt ?? null,
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      bytesInPerSec: Math.round(inRate),
      bytesOutPerSec: Math.round(outRate),
      health:
        health === undefined
          ? null
          : { grade: health.grade, overall: health.overall, latency: health.latency, reliability: health.reliability, bandwidth: health.bandwidth },
      protocols: connection.protocols.map((p) => `${p.name}@${p.version}`),
    };
  }

  /** Stops sampling (idempotent). */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
