/**
 * Prometheus metrics of peerlink nodes on a prom-client registry. Counters of
 * decisions move on the node's events (connection opened or closed, dial and
 * inbound refusals, bans, reconnect attempts); everything that is a level
 * (connections, pending, bans, reconnect queue, health grades) and the byte and
 * frame counters are read from the node and its connections' own counters when
 * the registry is scraped (`collect()`), so the data path does no extra work.
 *
 * Several nodes may share one registry: the metrics are created once per
 * registry and sum over its nodes.
 *
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Connection } from "../connection/connection.js";
import { emptyConnectionStats } from "../connection/stats.js";
import { HealthGrade } from "../health/types.js";
import type { ObservedNode } from "./node-view.js";

/** Buckets of `peerlink_rtt_seconds`: 1 ms to 5 s. */
const RTT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Buckets of `peerlink_handshake_duration_seconds`: 1 ms to 10 s (the default handshake deadline). */
const HANDSHAKE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Bytes and frames each way, the sums behind the `_total` traffic counters. */
interface Traffic {
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
}

function zeroTraffic(): Traffic {
  return { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0 };
}

/** One observed node: its live connections and the traffic of those already closed. */
interface NodeState {
  readonly node: ObservedNode;
  readonly live: Map<Connection, () => void>;
  readonly closed: Traffic;
}

/** The metrics of one registry, shared by every node attached to it. */
class RegistryMetrics {
  readonly nodes = new Set<NodeState>();
  /** Traffic of nodes detached from this registry: the counters never go back. */
  readonly #detached = zeroTraffic();
  /** What the traffic counters reported last; each scrape adds the difference. */
  readonly #reported = zeroTraffic();
  readonly #scratch = emptyConnectionStats();

  readonly opened: Counter<"direction">;
  readonly closed: Counter<"reason" | "initiator">;
  readonly dials: Counter<"outcome">;
  readonly refusals: Counter<"direction" | "reason">;
  readonly handshakeFailures: Counter<"direction" | "code">;
  readonly bansIssued: Counter<"kind">;
  readonly decisions: Counter<"kind" | "code">;
  readonly reconnectAttempts: Counter;
  readonly reconnectAbandoned: Counter<"reason">;
  readonly rtt: Histogram;
  readonly handshakeDuration: Histogram<"direction">;

  constructor(registry: Registry) {
    const registers = [registry];
    const self = this;
    this.opened = new Counter({ name: "peerlink_connections_opened_total", help: "Connections kept after their handshake.", labelNames: ["direction"], registers });
    this.closed = new Counter({
      name: "peerlink_connections_closed_total",
      help: "Kept connections that ended, by disconnect reason and by the side that ended them.",
      labelNames: ["reason", "initiator"],
      registers,
    });
    this.dials = new Counter({
      name: "peerlink_dials_total",
      help: "Dials by outcome: success (kept), refused (by this node's limits or bans, or a banned peer reached), failed (connect, TLS or handshake).",
      labelNames: ["outcome"],
      registers,
    });
    this.refusals = new Counter({
      name: "peerlink_refusals_total",
      help: "Connections refused by this node, by direction and reason (inbound: the limit or ban; outbound: the error code).",
      labelNames: ["direction", "reason"],
      registers,
    });
    this.handshakeFailures = new Counter({
      name: "peerlink_handshake_failures_total",
      help: "Connections that failed during connect, TLS or the peerlink handshake, by direction and error code.",
      labelNames: ["direction", "code"],
      registers,
    });
    this.bansIssued = new Counter({ name: "peerlink_bans_issued_total", help: "Bans issued, by kind (peer, ip, subnet).", labelNames: ["kind"], registers });
    this.decisions = new Counter({
      name: "peerlink_decisions_total",
      help: "Entries of the decision journal, by kind (refused, trimmed, replaced, banned, unbanned, opened, closed) and code.",
      labelNames: ["kind", "code"],
      registers,
    });
    this.reconnectAttempts = new Counter({ name: "peerlink_reconnect_attempts_total", help: "Redials started by the reconnect service.", registers });
    this.reconnectAbandoned = new Counter({
      name: "peerlink_reconnect_abandoned_total",
      help: "Peers the reconnect service stopped redialing, by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.rtt = new Histogram({
      name: "peerlink_rtt_seconds",
      help: "Smoothed round-trip time of a connection, observed at each keepalive pong.",
      buckets: RTT_BUCKETS,
      registers,
    });
    this.handshakeDuration = new Histogram({
      name: "peerlink_handshake_duration_seconds",
      help: "Duration of the peerlink handshake of kept connections, from the secured channel to the open connection.",
      labelNames: ["direction"],
      buckets: HANDSHAKE_BUCKETS,
      registers,
    });

    new Gauge({
      name: "peerlink_connections",
      help: "Kept (open) connections, by direction.",
      labelNames: ["direction"],
      registers,
      collect() {
        let inbound = 0;
        let outbound = 0;
        for (const { node } of self.nodes) {
          const c = node.counts;
          inbound += c.openInbound;
          outbound += c.openOutbound;
        }
        this.set({ direction: "inbound" }, inbound);
        this.set({ direction: "outbound" }, outbound);
      },
    });
    new Gauge({
      name: "peerlink_connections_pending",
      help: "Connections still connecting or handshaking, by direction.",
      labelNames: ["direction"],
      registers,
      collect() {
        let inbound = 0;
        let outbound = 0;
        for (const { node } of self.nodes) {
          const c = node.counts;
          inbound += c.pendingInbound;
          outbound += c.pendingOutbound;
        }
        this.set({ direction: "inbound" }, inbound);
        this.set({ direction: "outbound" }, outbound);
      },
    });
    new Gauge({
      name: "peerlink_bans_active",
      help: "Bans in force now, by kind.",
      labelNames: ["kind"],
      registers,
      collect() {
        const counts = { peer: 0, ip: 0, subnet: 0 };
        for (const { node } of self.nodes) for (const ban of node.peers.activeBans(node.options.clock())) counts[ban.kind]++;
        for (const kind of Object.keys(counts) as (keyof typeof counts)[]) this.set({ kind }, counts[kind]);
      },
    });
    new Gauge({
      name: "peerlink_health_grade_connections",
      help: "Kept connections by their published health grade (none: not graded yet).",
      labelNames: ["grade"],
      registers,
      collect() {
        const counts: Record<string, number> = { none: 0 };
        for (const grade of Object.values(HealthGrade)) counts[grade] = 0;
        for (const { live } of self.nodes) for (const connection of live.keys()) counts[connection.health?.grade ?? "none"]! += 1;
        for (const grade of Object.keys(counts)) this.set({ grade }, counts[grade]!);
      },
    });
    new Gauge({
      name: "peerlink_reconnect_peers",
      help: "Peers the reconnect service wants, by state: scheduled (a redial is due), waiting (for a free slot), dialing, suppressed (flap dampening), connected.",
      labelNames: ["state"],
      registers,
      collect() {
        const counts = { scheduled: 0, waiting: 0, dialing: 0, suppressed: 0, connected: 0 };
        for (const { node } of self.nodes) {
          const reconnect = node.reconnect;
          if (reconnect === undefined) continue;
          for (const peer of reconnect.wanted()) {
            const s = reconnect.status(peer);
            if (s.connected) counts.connected++;
            if (s.dialing) counts.dialing++;
            if (s.waitingForResources) counts.waiting++;
            else if (s.dueAt !== undefined) counts.scheduled++;
            if (s.suppressed) counts.suppressed++;
          }
        }
        for (const state of Object.keys(counts) as (keyof typeof counts)[]) this.set({ state }, counts[state]);
      },
    });
    // The traffic counters: one collect sums every connection once, then each counter adds its difference.
    const traffic = (name: string, help: string, key: keyof Traffic): Counter =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          if (key === "bytesIn") self.#sumTraffic();
          const delta = self.#total[key] - self.#reported[key];
          if (delta > 0) {
            this.inc(delta);
            self.#reported[key] = self.#total[key];
          }
        },
      });
    // prom-client collects metrics in registration order: bytesIn first, so the sum is fresh for the others.
    traffic("peerlink_received_bytes_total", "Bytes received on kept connections, length prefixes included.", "bytesIn");
    traffic("peerlink_sent_bytes_total", "Bytes sent on kept connections, length prefixes included.", "bytesOut");
    traffic("peerlink_received_frames_total", "Frames received on kept connections (every kind).", "framesIn");
    traffic("peerlink_sent_frames_total", "Frames sent on kept connections (every kind).", "framesOut");
  }

  /** The sum of every connection's counters, made by {@link RegistryMetrics.#sumTraffic}. */
  readonly #total = zeroTraffic();

  #sumTraffic(): void {
    const t = this.#total;
    Object.assign(t, this.#detached);
    for (const state of this.nodes) {
      add(t, state.closed);
      for (const connection of state.live.keys()) add(t, connection.readStats(this.#scratch));
    }
  }

  /** Keeps the traffic of a node that leaves this registry. */
  retire(state: NodeState): void {
    add(this.#detached, state.closed);
    for (const connection of state.live.keys()) add(this.#detached, connection.readStats(this.#scratch));
  }
}

function add(into: Traffic, from: Traffic): void {
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
  into.framesIn += from.framesIn;
  into.framesOut += from.framesOut;
}

const byRegistry = new WeakMap<Registry, RegistryMetrics>();

/**
 * Publishes `node`'s metrics on `registry` (prom-client) until the returned function is called. Every
 * metric is named `peerlink_…` in base units (seconds, bytes); see the module documentation.
 *
 * @category Observability
 */
export function attachMetrics(node: ObservedNode, registry: Registry): () => void {
  let metrics = byRegistry.get(registry);
  if (metrics === undefined) byRegistry.set(registry, (metrics = new RegistryMetrics(registry)));
  const m = metrics;
  const state: NodeState = { node, live: new Map(), closed: zeroTraffic() };
  const track = (connection: Connection): void => {
    if (state.live.has(connection)) return;
    // The RTT histogram reads the smoothed RTT after maintenance has taken the pong in.
    const off = connection.on("pong", () =>
      queueMicrotask(() => {
        const rtt = connection.rtt;
        if (rtt !== undefined) m.rtt.observe(rtt / 1000);
      }),
    );
    state.live.set(connection, off);
  };
  for (const connection of node.connections()) track(connection);
  m.nodes.add(state);

  const offs = [
    node.on("connection:open", ({ connection }) => {
      track(connection);
      m.opened.inc({ direction: connection.direction });
      if (connection.direction === "outbound") m.dials.inc({ outcome: "success" });
      const openedAt = connection.stats.openedAt;
      if (openedAt !== undefined) m.handshakeDuration.observe({ direction: connection.direction }, Math.max(0, openedAt - connection.createdAt) / 1000);
    }),
    node.on("connection:close", ({ connection, reason, initiator }) => {
      const off = state.live.get(connection);
      if (off !== undefined) {
        off();
        state.live.delete(connection);
        add(state.closed, connection.readStats(emptyConnectionStats()));
      }
      m.closed.inc({ reason, initiator });
    }),
    node.on("dial:refused", ({ error }) => {
      m.dials.inc({ outcome: "refused" });
      m.refusals.inc({ direction: "outbound", reason: error.code.toLowerCase() });
    }),
    node.on("inbound:refused", ({ reason }) => m.refusals.inc({ direction: "inbound", reason })),
    node.on("inbound:evicted", () => m.refusals.inc({ direction: "inbound", reason: "pending_evicted" })),
    node.on("handshake:failed", ({ direction, error }) => {
      if (direction === "outbound") m.dials.inc({ outcome: "failed" });
      m.handshakeFailures.inc({ direction, code: error.code.toLowerCase() });
    }),
    node.on("peer:banned", ({ entry }) => m.bansIssued.inc({ kind: entry.kind })),
    node.on("reconnect:attempt", () => m.reconnectAttempts.inc()),
    node.on("reconnect:abandoned", ({ reason }) => m.reconnectAbandoned.inc({ reason: String(reason).toLowerCase() })),
    node.journal.subscribe((entry) => m.decisions.inc({ kind: entry.kind, code: entry.code.toLowerCase() })),
  ];

  let attached = true;
  return () => {
    if (!attached) return;
    attached = false;
    for (const off of offs) off();
    m.retire(state);
    for (const off of state.live.values()) off();
    state.live.clear();
    m.nodes.delete(state);
  };
}
