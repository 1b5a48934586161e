/**
 * The status page: one self-contained HTML document (inline CSS and script,
 * nothing fetched from elsewhere) that polls `status.json` next to it and
 * renders the peer table, the selected peer's RTT and health charts (inline
 * SVG) and the filtered decision journal. Everything from the node is inserted
 * as text, never as markup.
 *
 * @module
 */
import { createHash } from "node:crypto";

const STYLE = `
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d232a;color:#fff;padding:8px 16px;display:flex;gap:24px;flex-wrap:wrap;align-items:baseline}
header h1{font-size:16px;margin:0}
header code{color:#9fd3ff}
main{padding:12px 16px;display:grid;gap:16px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 12px;overflow:auto}
h2{font-size:14px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eef0f3;white-space:nowrap}
th{font-weight:600;color:#555;position:sticky;top:0;background:#fff}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.peer{cursor:pointer}
tr.peer:hover,tr.selected{background:#eaf4ff}
.grade{padding:1px 6px;border-radius:8px;color:#fff;font-size:12px}
.g-excellent{background:#1a7f37}.g-good{background:#4c9a2a}.g-fair{background:#bf8700}.g-poor{background:#d1570b}.g-critical{background:#cf222e}.g-none{background:#8c959f}
.charts{display:flex;gap:16px;flex-wrap:wrap}
figure{margin:0}
figcaption{color:#555;font-size:12px}
svg.chart{background:#fbfcfd;border:1px solid #eef0f3}
svg.chart polyline{fill:none;stroke:#0969da;stroke-width:1.5}
svg.chart circle{fill:#0969da}
svg.chart text{font-size:10px;fill:#666}
.filters{display:flex;gap:8px;margin-bottom:8px;flex-wrap:wrap}
.k-refused{color:#cf222e}.k-banned{color:#8250df;font-weight:600}.k-trimmed,.k-replaced{color:#bf8700}.k-opened{color:#1a7f37}
#error{color:#cf222e}
.muted{color:#8c959f}
`;

// Plain ES2017 without template literals (this text is itself a template literal).
const SCRIPT = `
"use strict";
var state = { selected: null, renders: 0, lastRenderMs: 0, lastUpdate: 0, busy: false };
window.peerlinkStatus = state;
function $(id) { return document.getElementById(id); }
function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; }
function short(id) { return id.length > 16 ? id.slice(0, 8) + "\\u2026" + id.slice(-6) : id; }
function age(ms) { var s = Math.floor(ms / 1000); if (s < 60) return s + " s"; var m = Math.floor(s / 60); if (m < 60) return m + " min " + (s % 60) + " s"; return Math.floor(m / 60) + " h " + (m % 60) + " min"; }
function rate(b) { if (b < 1024) return b + " B/s"; if (b < 1048576) return (b / 1024).toFixed(1) + " KiB/s"; return (b / 1048576).toFixed(1) + " MiB/s"; }
function pct(x) { return Math.round(x * 100); }
function query() {
  var p = new URLSearchParams();
  var kind = $("f-kind").value; if (kind) p.set("kind", kind);
  var peer = $("f-peer").value.trim(); if (peer) p.set("peer", peer);
  var address = $("f-address").value.trim(); if (address) p.set("address", address);
  p.set("limit", $("f-limit").value);
  if (state.selected) p.set("history", state.selected);
  return p.toString();
}
function renderNode(n) {
  $("node-id").textContent = n.peerId;
  $("node-addr").textContent = n.addresses.join(" ") || "(dial only)";
  var c = n.counts;
  $("node-counts").textContent = "open " + c.openInbound + " in / " + c.openOutbound + " out, pending " + c.pendingInbound + " in / " + c.pendingOutbound + " out, bans " + n.activeBans;
}
function renderPeers(peers) {
  var body = document.createDocumentFragment();
  peers.forEach(function (p) {
    var tr = el("tr", null, "peer" + (p.peer === state.selected ? " selected" : ""));
    tr.dataset.peer = p.peer;
    var id = el("td", short(p.peer)); id.title = p.peer; tr.appendChild(id);
    tr.appendChild(el("td", p.address));
    tr.appendChild(el("td", p.direction));
    tr.appendChild(el("td", age(p.ageMs), "num"));
    tr.appendChild(el("td", p.rttMs === null ? "\\u2013" : p.rttMs.toFixed(1) + " ms", "num"));
    tr.appendChild(el("td", rate(p.bytesInPerSec), "num"));
    tr.appendChild(el("td", rate(p.bytesOutPerSec), "num"));
    var h = el("td");
    var g = p.health ? p.health.grade : "none";
    h.appendChild(el("span", g, "grade g-" + g));
    if (p.health) h.appendChild(el("span", " lat " + pct(p.health.latency) + " \\u00b7 rel " + pct(p.health.reliability) + " \\u00b7 bw " + pct(p.health.bandwidth), "muted"));
    tr.appendChild(h);
    tr.appendChild(el("td", p.protocols.join(", ")));
    body.appendChild(tr);
  });
  var tbody = $("peers-body");
  tbody.replaceChildren(body);
  $("peers-count").textContent = String(peers.length);
  $("peers-empty").hidden = peers.length > 0;
}
var SVGNS = "http://www.w3.org/2000/svg";
function chart(svg, points, index, max, unit, window_) {
  var w = 360, h = 120, pad = 24;
  var t1 = points.length ? points[points.length - 1][0] : 0;
  var xs = [], ys = [];
  points.forEach(function (p) { if (p[index] !== null) { xs.push(p[0]); ys.push(p[index]); } });
  var top = max !== null ? max : Math.max.apply(null, ys.concat([1])) * 1.2;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  var label = document.createElementNS(SVGNS, "text"); label.setAttribute("x", "2"); label.setAttribute("y", "10");
  label.textContent = (max !== null ? top : top.toFixed(1)) + unit; svg.appendChild(label);
  // The x axis spans the history held (up to the window), so a page opened early is not a sliver.
  var span = Math.max(1000, Math.min(window_, xs.length ? t1 - xs[0] : 0));
  var axis = document.createElementNS(SVGNS, "text"); axis.setAttribute("x", "2"); axis.setAttribute("y", String(h - 2));
  axis.textContent = "last " + Math.round(span / 1000) + " s"; svg.appendChild(axis);
  var coords = xs.map(function (x, i) {
    var cx = pad + (w - pad - 4) * (1 - Math.min(1, (t1 - x) / span));
    var cy = h - 12 - (h - 24) * Math.min(1, ys[i] / top);
    return [cx, cy];
  });
  var line = document.createElementNS(SVGNS, "polyline");
  line.setAttribute("points", coords.map(function (c) { return c[0].toFixed(1) + "," + c[1].toFixed(1); }).join(" "));
  svg.appendChild(line);
  if (coords.length) { var last = coords[coords.length - 1]; var dot = document.createElementNS(SVGNS, "circle"); dot.setAttribute("cx", last[0]); dot.setAttribute("cy", last[1]); dot.setAttribute("r", "2.5"); svg.appendChild(dot); }
  svg.setAttribute("data-points", String(coords.length));
}
function renderHistory(history) {
  $("chart-peer").textContent = history ? history.peer : "(no peer)";
  var points = history ? history.points : [];
  var windowMs = history ? history.windowMs : 300000;
  chart($("chart-rtt"), points, 1, null, " ms", windowMs);
  chart($("chart-health"), points, 2, 1, "", windowMs);
}
function renderJournal(journal) {
  var body = document.createDocumentFragment();
  journal.entries.slice().reverse().forEach(function (e) {
    var tr = el("tr", null, "k-" + e.kind);
    tr.appendChild(el("td", new Date(e.at).toISOString().replace("T", " ").slice(0, 23)));
    tr.appendChild(el("td", e.kind));
    tr.appendChild(el("td", e.code));
    var who = el("td", e.peerId ? short(e.peerId) : (e.address || "")); if (e.peerId) who.title = e.peerId; tr.appendChild(who);
    tr.appendChild(el("td", e.address && e.peerId ? e.address : ""));
    var d = el("td", e.detail); d.style.whiteSpace = "normal"; tr.appendChild(d);
    body.appendChild(tr);
  });
  $("journal-body").replaceChildren(body);
  $("journal-count").textContent = journal.entries.length + " shown, " + journal.held + " held";
}
function render(s) {
  var t0 = performance.now();
  if (!state.selected && s.peers.length) state.selected = s.peers[0].peer;
  renderNode(s.node);
  renderPeers(s.peers);
  renderHistory(s.history);
  renderJournal(s.journal);
  state.lastRenderMs = performance.now() - t0;
  state.renders++;
  state.lastUpdate = Date.now();
  $("render").textContent = "rendered " + s.peers.length + " peers in " + state.lastRenderMs.toFixed(1) + " ms";
}
function refresh() {
  if (state.busy) return;
  state.busy = true;
  fetch("status.json?" + query(), { cache: "no-store" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (s) { $("error").textContent = ""; render(s); })
    .catch(function (e) { $("error").textContent = "update failed: " + e.message; })
    .then(function () { state.busy = false; });
}
$("peers-body").addEventListener("click", function (ev) {
  var tr = ev.target.closest("tr.peer"); if (!tr) return;
  state.selected = tr.dataset.peer; refresh();
});
["f-kind", "f-peer", "f-address", "f-limit"].forEach(function (id) { $(id).addEventListener("input", refresh); });
refresh();
setInterval(refresh, 1000);
`;

/** The status page's HTML. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>peerlink node status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>peerlink</h1>
<span>node <code id="node-id">…</code></span>
<span>listening <code id="node-addr">…</code></span>
<span id="node-counts"></span>
<span id="error" role="alert"></span>
</header>
<main>
<section aria-labelledby="peers-title">
<h2 id="peers-title">Peers (<span id="peers-count">0</span>) <span id="render" class="muted"></span></h2>
<table id="peers"><thead><tr><th>peer</th><th>address</th><th>direction</th><th>age</th><th>RTT</th><th>in</th><th>out</th><th>health (latency · reliability · bandwidth, %)</th><th>protocols</th></tr></thead>
<tbody id="peers-body"></tbody></table>
<p id="peers-empty" class="muted">No connection.</p>
</section>
<section aria-labelledby="charts-title">
<h2 id="charts-title">History of <code id="chart-peer"></code> (last 5 minutes; click a peer to choose)</h2>
<div class="charts">
<figure><figcaption>RTT (ms)</figcaption><svg id="chart-rtt" class="chart" width="360" height="120" role="img" aria-label="RTT chart"></svg></figure>
<figure><figcaption>Health (overall score, 0–1)</figcaption><svg id="chart-health" class="chart" width="360" height="120" role="img" aria-label="Health chart"></svg></figure>
</div>
</section>
<section aria-labelledby="journal-title">
<h2 id="journal-title">Decision journal <span id="journal-count" class="muted"></span></h2>
<div class="filters">
<label>kind <select id="f-kind"><option value="">all</option><option>refused</option><option>banned</option><option>unbanned</option><option>trimmed</option><option>replaced</option><option>opened</option><option>closed</option></select></label>
<label>peer id <input id="f-peer" size="30" placeholder="exact peer id"></label>
<label>address <input id="f-address" size="20" placeholder="ip or host:port"></label>
<label>show <select id="f-limit"><option>50</option><option selected>200</option><option>1000</option></select></label>
</div>
<table id="journal"><thead><tr><th>time</th><th>kind</th><th>code</th><th>peer</th><th>address</th><th>detail</th></tr></thead>
<tbody id="journal-body"></tbody></table>
</section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (text: string): string => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

/**
 * The page's Content-Security-Policy: its own inline script and style only (by hash), requests to its own origin
 * only, never framed. Peer text reaches the page only as text nodes; this holds even if that ever changed.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
