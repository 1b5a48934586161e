/**
 * The peers a CLI node knows (connected, redialing, or closed earlier), as
 * rows of the live table and of the `peers` event.
 *
 * @module
 */
import type { ConnectionManager } from "../node/connection-manager.js";
import type { PeerRow } from "./events.js";

interface Known {
  direction: "inbound" | "outbound" | null;
  address: string;
  lastClose: string | null;
}

/** Most closed peers remembered for the table (the oldest is forgotten first). */
const MAX_CLOSED_PEERS = 64;

/** Follows a manager's connections and keeps the last address and close reason of every peer it saw. */
export class PeerBook {
  readonly #manager: ConnectionManager;
  readonly #known = new Map<string, Known>();

  constructor(manager: ConnectionManager) {
    this.#manager = manager;
    manager.on("connection:open", ({ connection }) => {
      const peer = connection.remotePeer.toString();
      const known = this.#known.get(peer);
      this.#known.delete(peer);
      this.#known.set(peer, { direction: connection.direction, address: connection.remoteAddress, lastClose: known?.lastClose ?? null });
    });
    manager.on("connection:close", ({ connection, peer, reason, initiator }) => {
      const known = this.#known.get(peer) ?? { direction: connection.direction, address: connection.remoteAddress, lastClose: null };
      known.lastClose = `${reason}/${initiator}`;
      this.#remember(peer, known);
    });
    manager.on("reconnect:attempt", ({ peer, addresses }) => {
      if (!this.#known.has(peer)) this.#remember(peer, { direction: null, address: addresses[0] ?? "?", lastClose: null });
    });
  }

  #remember(peer: string, known: Known): void {
    this.#known.delete(peer);
    this.#known.set(peer, known);
    if (this.#known.size > MAX_CLOSED_PEERS * 2) {
      for (const [id] of this.#known) {
        if (this.#known.size <= MAX_CLOSED_PEERS) break;
        if (this.#manager.getConnection(id) === undefined) this.#known.delete(id);
      }
    }
  }

  /** Peer ids that start with `prefix`, connected ones first. */
  match(prefix: string): string[] {
    const ids = new Set([...this.#manager.connections().map((c) => c.remotePeer.toString()), ...this.#known.keys()]);
    return [...ids].filter((id) => id.startsWith(prefix));
  }

  /** Every known peer: open connections first (by peer id), then the others, most recent first. */
  rows(): PeerRow[] {
    const rows: PeerRow[] = [];
    const seen = new Set<string>();
    const connections = this.#manager.connections().sort((a, b) => (a.remotePeer.toString() < b.remotePeer.toString() ? -1 : 1));
    for (const c of connections) {
      const peer = c.remotePeer.toString();
      seen.add(peer);
      const snapshot = this.#manager.maintenance?.inspect(c);
      const h = c.health;
      rows.push({
        peer,
        direction: c.direction,
        state: c.state === "open" ? "open" : "closing",
        address: c.remoteAddress,
        rttMs: c.rtt ?? null,
        inBps: snapshot?.rateInBps ?? null,
        outBps: snapshot?.rateOutBps ?? null,
        health: h ? { grade: h.grade, latency: h.latency, reliability: h.reliability, bandwidth: h.bandwidth } : null,
        lastClose: this.#known.get(peer)?.lastClose ?? null,
      });
    }
    for (const [peer, k] of [...this.#known].reverse()) {
      if (seen.has(peer)) continue;
      const status = this.#manager.reconnect?.status(peer);
      const redialing = status !== undefined && status.wanted && (status.dialing || status.dueAt !== undefined || status.waitingForResources);
      rows.push({ peer, direction: null, state: redialing ? "redialing" : "closed", address: k.address, rttMs: null, inBps: null, outBps: null, health: null, lastClose: k.lastClose });
    }
    return rows;
  }
}
