// The demo's tables: every connection of every node (the live view), and the closing summary per node.
// Built only on the public API: `node.connections()`, `connection.health`, `connection.rtt`,
// `node.maintenance.inspect(connection)` for the byte rates.

const pad = (text, width, right = false) => {
  const t = String(text).slice(0, width);
  return right ? t.padStart(width) : t.padEnd(width);
};
const rate = (bps) => (bps === undefined || !Number.isFinite(bps) ? "-" : bps < 1000 ? bps.toFixed(0) : bps < 1e6 ? `${(bps / 1e3).toFixed(1)}k` : `${(bps / 1e6).toFixed(1)}M`);
const num = (x) => (x === undefined ? "-" : x.toFixed(2));

/** One line per connection of every node: who, to whom, direction, RTT, rates, health and its components. */
export function renderConnections(nodes, names) {
  const head = [pad("NODE", 6), pad("PEER", 6), pad("DIR", 3), pad("ADDRESS", 16), pad("RTT ms", 7, true), pad("IN B/s", 7, true), pad("OUT B/s", 7, true), pad("HEALTH", 9), pad("LAT", 4, true), pad("REL", 4, true), pad("BW", 4, true)];
  const lines = [head.join(" ")];
  for (const [name, node] of nodes) {
    const conns = node.connections().sort((a, b) => ((names.get(a.remotePeer.toString()) ?? "") < (names.get(b.remotePeer.toString()) ?? "") ? -1 : 1));
    for (const c of conns) {
      const snap = node.maintenance?.inspect(c);
      const h = c.health;
      lines.push(
        [
          pad(name, 6),
          pad(names.get(c.remotePeer.toString()) ?? c.remotePeer.toString(), 6),
          pad(c.direction === "inbound" ? "in" : "out", 3),
          pad(c.remoteAddress, 16),
          pad(c.rtt === undefined ? "-" : c.rtt.toFixed(1), 7, true),
          pad(rate(snap?.rateInBps), 7, true),
          pad(rate(snap?.rateOutBps), 7, true),
          pad(h?.grade ?? "-", 9),
          pad(num(h?.latency), 4, true),
          pad(num(h?.reliability), 4, true),
          pad(num(h?.bandwidth), 4, true),
        ].join(" "),
      );
    }
  }
  return lines;
}

/** Counts per node for the closing summary. */
export class SummaryCounters {
  #rows = new Map();
  #row(name) {
    let row = this.#rows.get(name);
    if (!row) this.#rows.set(name, (row = { opened: 0, closes: new Map(), sent: 0, received: 0, refused: 0, bans: 0, replaced: 0, redials: 0 }));
    return row;
  }
  opened(name) { this.#row(name).opened++; }
  closed(name, reason) { const c = this.#row(name).closes; c.set(reason, (c.get(reason) ?? 0) + 1); }
  sent(name) { this.#row(name).sent++; }
  received(name) { this.#row(name).received++; }
  refused(name) { this.#row(name).refused++; }
  banned(name) { this.#row(name).bans++; }
  replaced(name) { this.#row(name).replaced++; }
  redialed(name) { this.#row(name).redials++; }
  get(name) { return this.#row(name); }
}

/** The closing table: per node, connections now and in all, closes by reason, messages, refusals, bans, replacements, redials. */
export function renderSummary(nodes, counters) {
  const lines = [
    "summary",
    [pad("NODE", 6), pad("OPEN", 4, true), pad("OPENED", 6, true), pad("MSGS OUT", 8, true), pad("MSGS IN", 7, true), pad("REFUSED", 7, true), pad("BANS", 4, true), pad("REPLACED", 8, true), pad("REDIALS", 7, true), "CLOSES BY REASON"].join(" "),
  ];
  for (const [name, node] of nodes) {
    const r = counters.get(name);
    const closes = [...r.closes].map(([reason, n]) => `${reason} ${n}`).join(", ") || "-";
    lines.push([pad(name, 6), pad(node.connections().length, 4, true), pad(r.opened, 6, true), pad(r.sent, 8, true), pad(r.received, 7, true), pad(r.refused, 7, true), pad(r.bans, 4, true), pad(r.replaced, 8, true), pad(r.redials, 7, true), closes].join(" "));
  }
  return lines;
}
