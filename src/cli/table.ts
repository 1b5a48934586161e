/**
 * The live peer table of `peerlink node` on a terminal (and of the demo):
 * pure rendering of {@link PeerRow}s into fixed-width text, and the escape
 * codes that redraw it in place, like `top`.
 *
 * @module
 */
import type { PeerRow } from "./events.js";

/** Moves the cursor home and clears the screen below it: the next frame replaces the previous one. */
export const REDRAW = "\x1b[H\x1b[J";

/** A byte rate in short form: `812`, `12.3k`, `4.1M` (bytes per second). */
export function formatRate(bps: number | null): string {
  if (bps === null || !Number.isFinite(bps)) return "-";
  if (bps < 1000) return bps.toFixed(0);
  if (bps < 1e6) return `${(bps / 1e3).toFixed(1)}k`;
  return `${(bps / 1e6).toFixed(1)}M`;
}

const COLUMNS = [
  ["PEER", 12],
  ["DIR", 4],
  ["STATE", 9],
  ["ADDRESS", 21],
  ["RTT ms", 7],
  ["IN B/s", 7],
  ["OUT B/s", 7],
  ["HEALTH", 9],
  ["LAT", 4],
  ["REL", 4],
  ["BW", 4],
  ["LAST CLOSE", 24],
] as const;

const RIGHT = new Set(["RTT ms", "IN B/s", "OUT B/s", "LAT", "REL", "BW"]);

function cell(text: string, width: number, right: boolean): string {
  const t = text.length > width ? text.slice(0, width) : text;
  return right ? t.padStart(width) : t.padEnd(width);
}

/** One table line per row, with a header line first; `label` (optional) prefixes every line (the demo's node names). */
export function renderPeerTable(rows: readonly PeerRow[], options: { readonly label?: (row: PeerRow) => string; readonly labelWidth?: number } = {}): string[] {
  const lw = options.labelWidth ?? 0;
  const head = (lw ? "".padEnd(lw + 1) : "") + COLUMNS.map(([name, w]) => cell(name, w, RIGHT.has(name))).join(" ");
  const lines = [head.trimEnd()];
  for (const r of rows) {
    const h = r.health;
    const values = [
      r.peer.slice(0, 12),
      r.direction === null ? "-" : r.direction === "inbound" ? "in" : "out",
      r.state,
      r.address,
      r.rttMs === null ? "-" : r.rttMs.toFixed(1),
      formatRate(r.inBps),
      formatRate(r.outBps),
      h?.grade ?? "-",
      h ? h.latency.toFixed(2) : "-",
      h ? h.reliability.toFixed(2) : "-",
      h ? h.bandwidth.toFixed(2) : "-",
      r.lastClose ?? "-",
    ];
    const prefix = lw ? `${(options.label?.(r) ?? "").padEnd(lw)} ` : "";
    lines.push((prefix + values.map((v, i) => cell(v, COLUMNS[i]?.[1] ?? 8, RIGHT.has(COLUMNS[i]?.[0] ?? ""))).join(" ")).trimEnd());
  }
  return lines;
}
