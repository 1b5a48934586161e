// The mesh harness's chart: degree over time (mean, 5th–95th percentile band, median), the fraction of nodes
// at target on a second axis, and the phases shaded. Plain SVG, no library.

const W = 960;
const H = 440;
const M = { left: 56, right: 64, top: 52, bottom: 48 };
const COLORS = { start: "#e8f0fe", steady: "#ffffff", churn: "#fdecea", partition: "#fff4e0", heal: "#e9f7ef" };

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

/** The SVG document for a harness result (its `timeline`, `nodes`, `target`). */
export function renderChart(result) {
  const points = result.timeline;
  const tMax = Math.max(1, ...points.map((p) => p.t)) / 1000;
  const dMax = Math.max(result.target * 2, ...points.map((p) => p.p95)) * 1.1;
  const x = (t) => M.left + (t / 1000 / tMax) * (W - M.left - M.right);
  const y = (d) => H - M.bottom - (d / dMax) * (H - M.top - M.bottom);
  const yf = (f) => H - M.bottom - f * (H - M.top - M.bottom);
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  // Phases.
  let from = 0;
  for (let i = 1; i <= points.length; i++) {
    if (i === points.length || points[i].phase !== points[from].phase) {
      const phase = points[from].phase;
      const x0 = x(from === 0 ? 0 : points[from - 1].t);
      const x1 = x(points[i - 1].t);
      parts.push(`<rect x="${x0.toFixed(1)}" y="${M.top}" width="${Math.max(0, x1 - x0).toFixed(1)}" height="${H - M.top - M.bottom}" fill="${COLORS[phase] ?? "#fff"}"/>`);
      if (phase !== "steady" && x1 - x0 > 30) parts.push(`<text x="${(x0 + 4).toFixed(1)}" y="${M.top + 14}" fill="#555">${esc(phase)}</text>`);
      from = i;
    }
  }
  // Axes and grid.
  for (let d = 0; d <= dMax; d += Math.max(1, Math.round(dMax / 8))) {
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(d).toFixed(1)}" y2="${y(d).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.left - 6}" y="${(y(d) + 4).toFixed(1)}" text-anchor="end">${d}</text>`);
  }
  for (let f = 0; f <= 1.0001; f += 0.25) parts.push(`<text x="${W - M.right + 6}" y="${(yf(f) + 4).toFixed(1)}" fill="#1a7f37">${Math.round(f * 100)} %</text>`);
  const step = tMax > 200 ? 30 : tMax > 60 ? 10 : 5;
  for (let t = 0; t <= tMax; t += step) parts.push(`<text x="${x(t * 1000).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle">${t}</text>`);
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#333"/>`);
  parts.push(`<text x="${(W / 2).toFixed(0)}" y="${H - 10}" text-anchor="middle">time (s)</text>`);
  parts.push(`<text x="16" y="${(H / 2).toFixed(0)}" transform="rotate(-90 16 ${(H / 2).toFixed(0)})" text-anchor="middle">degree (connections per node)</text>`);
  // Target line.
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(result.target).toFixed(1)}" y2="${y(result.target).toFixed(1)}" stroke="#888" stroke-dasharray="4 4"/>`);
  parts.push(`<text x="${M.left + 4}" y="${(y(result.target) - 4).toFixed(1)}" fill="#888">outbound target ${result.target}</text>`);
  // Band and lines.
  const band = [...points.map((p) => `${x(p.t).toFixed(1)},${y(p.p95).toFixed(1)}`), ...points.slice().reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.p5).toFixed(1)}`)];
  parts.push(`<polygon points="${band.join(" ")}" fill="#1f6feb" fill-opacity="0.15"/>`);
  const line = (key, scale, color, width) =>
    `<polyline fill="none" stroke="${color}" stroke-width="${width}" points="${points.map((p) => `${x(p.t).toFixed(1)},${scale(p[key]).toFixed(1)}`).join(" ")}"/>`;
  parts.push(line("meanDegree", y, "#1f6feb", 2));
  parts.push(line("p50", y, "#0b3d91", 1));
  parts.push(line("atTarget", yf, "#1a7f37", 2));
  // Legend and title.
  const title = `peerlink mesh: ${result.nodes} nodes in ${result.procs} processes, target ${result.target} outbound, ${result.cpus} CPUs`;
  parts.push(`<text x="${M.left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  const legend = [
    ["#1f6feb", "mean degree"],
    ["#0b3d91", "median degree"],
    ["#9dbdf5", "5th–95th percentile"],
    ["#1a7f37", "nodes at target (right axis)"],
  ];
  let lx = M.left;
  for (const [color, label] of legend) {
    parts.push(`<rect x="${lx}" y="31" width="12" height="10" fill="${color}"/><text x="${lx + 18}" y="40">${esc(label)}</text>`);
    lx += 30 + label.length * 6.5;
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
