// `npm run bench:net`: raw Node mutual TLS 1.3, peerlink (public API) and js-libp2p in one run. Each
// (contender, figure) runs in a fresh process (both ends inside it), rounds interleaved, the contenders'
// order alternated between figures and rounds; ratios are taken within a round; median and min–max reported,
// with the load average before each measurement (the machine is shared: read the ratios, not the absolutes).
//
//   node bench/net/run.mjs [--quick] [--rounds N] [--figures setup,ping,...]
//                          [--contenders raw,peerlink,before,libp2p,raw-shared]
//                          [--before PATH] [--write] [--json FILE]
//
// --quick: tiny sizes, one round, contenders in parallel; prints the JSON (the test suite checks that every
// figure is reported). --before PATH: adds "peerlink (before)", the same benchmark on another build of
// peerlink (PATH = its dist/src/index.js), for before/after figures in the same run. --write: results to
// bench/net/results.json and the table into BENCHMARKS.md. raw-shared (only when named in --contenders): raw TLS
// with one client identity for every dial (the listener's), as the baseline was before the tenth pass but for
// its certificate check (see raw-tls.mjs), with peerlink's ratio to it beside the others.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { median } from "./common.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const quick = flag("--quick");
const rounds = quick ? 1 : Number(option("--rounds", 5));
const before = option("--before", undefined);
const ALL_FIGURES = ["setup", "resumed", "setupWarm", "resumedWarm", "ping", "bulk", "bulkSplit", "small", "idle", "first", "firstWarm"];
const figures = option("--figures", ALL_FIGURES.join(",")).split(",");

/** The figures made on one connection: raw-shared makes them as raw TLS does, so it skips them. */
const ONE_CONNECTION = Object.fromEntries(["ping", "bulk", "bulkSplit", "small"].map((f) => [f, "one connection: as raw TLS"]));

/** Contenders: id, label, worker spec, and the figures they cannot give (with why). */
const only = option("--contenders", undefined)?.split(",");
const contenders = [
  { id: "raw", label: "raw TLS", spec: { contender: "raw" } },
  ...(only?.includes("raw-shared") ? [{ id: "raw-shared", label: "raw TLS, one client identity", spec: { contender: "raw", sharedClient: true }, lacks: ONE_CONNECTION }] : []),
  { id: "peerlink", label: "peerlink", spec: { contender: "peerlink" } },
  ...(before ? [{ id: "before", label: "peerlink (before)", spec: { contender: "peerlink", lib: path.resolve(before) } }] : []),
  {
    id: "libp2p",
    label: "js-libp2p",
    spec: { contender: "libp2p" },
    lacks: { resumed: "no session resumption in libp2p's TCP + Noise", resumedWarm: "no session resumption in libp2p's TCP + Noise" },
  },
].filter((c) => only === undefined || only.includes(c.id));

/** Every reported metric: [figure, key, label, unit, higher is better, target for peerlink ÷ raw]. */
export const METRICS = [
  ["setup", "connsPerSec", "setup, 64 concurrent dials (second batch of a fresh process)", "conns/s", true, "≥ 0.8"],
  ["setup", "cpuMsPerConn", "CPU per connection, both ends (second batch of a fresh process)", "ms", false, "≤ 1.3"],
  ["setup", "coldConnsPerSec", "setup, first batch of a fresh process (informational)", "conns/s", true, "–"],
  ["setup", "coldCpuMsPerConn", "CPU per connection, first batch of a fresh process (informational)", "ms", false, "–"],
  ["resumed", "connsPerSec", "setup with TLS resumption (second batch of a fresh process)", "conns/s", true, "≥ 0.8"],
  ["resumed", "cpuMsPerConn", "CPU per resumed connection, both ends (second batch of a fresh process)", "ms", false, "≤ 1.3"],
  ["resumed", "resumedShare", "share of the measured dials that resumed (informational)", "", true, "–"],
  ["setupWarm", "connsPerSec", "setup, 64 concurrent dials, in a process warmed by 2,048 connections", "conns/s", true, "≥ 0.8"],
  ["setupWarm", "cpuMsPerConn", "CPU per connection, both ends, in a process warmed by 2,048 connections", "ms", false, "≤ 1.3"],
  ["resumedWarm", "connsPerSec", "setup with TLS resumption, in a process warmed by 2,048 connections", "conns/s", true, "≥ 0.8"],
  ["resumedWarm", "cpuMsPerConn", "CPU per resumed connection, both ends, in a process warmed by 2,048 connections", "ms", false, "≤ 1.3"],
  ["resumedWarm", "resumedShare", "share of the measured dials that resumed, in a warmed process (informational)", "", true, "–"],
  ["ping", "p50Us", "ping RTT p50", "µs", false, "≤ 1.1"],
  ["ping", "p99Us", "ping RTT p99", "µs", false, "≤ 1.3"],
  ["bulk", "MBps", "256 MiB in 64 KiB messages", "MB/s", true, "≥ 0.9"],
  ["bulkSplit", "MBps", "256 MiB in 64 KiB messages, dialer in another process", "MB/s", true, "≥ 0.9"],
  ["bulkSplit", "receiverCpuMsPerMiB", "CPU per MiB at the listener, dialer in another process (informational)", "ms", false, "–"],
  ["bulkSplit", "senderCpuMsPerMiB", "CPU per MiB at the dialer, dialer in another process (informational)", "ms", false, "–"],
  ["small", "kps", "64 B messages, 1,024 in flight", "k msg/s", true, "≥ 0.7"],
  ["idle", "rssKiB", "memory per idle connection, both ends: RSS", "KiB", false, "≤ 1.2"],
  ["idle", "heapKiB", "memory per idle connection, both ends: JS heap", "KiB", false, "≤ 12 KiB"],
  ["first", "p50Ms", "first message at the listener, p50 (peerlink: 0-RTT)", "ms", false, "≤ 1.2"],
  ["first", "dialP50Ms", "dial() resolved, p50, same dials (informational)", "ms", false, "–"],
  ["firstWarm", "p50Ms", "first message at the listener, p50 (peerlink: 0-RTT), in a process warmed by 2,048 connections with a first message", "ms", false, "≤ 1.2"],
  ["firstWarm", "dialP50Ms", "dial() resolved, p50, same dials, warmed process (informational)", "ms", false, "–"],
];

const run = promisify(execFile);
async function measure(contender, figureList) {
  const spec = { ...contender.spec, figures: figureList, quick };
  const { stdout } = await run(process.execPath, ["--expose-gc", path.join(here, "worker.mjs"), JSON.stringify(spec)], {
    cwd: root,
    maxBuffer: 1 << 20,
    timeout: quick ? 60_000 : 600_000,
  });
  return JSON.parse(stdout.trim().split("\n").pop());
}

const figuresOf = (c) => figures.filter((f) => c.lacks?.[f] === undefined);
// results[contenderId][figure] = [result per round]; loads[round] = [loadavg1 before each measurement]
const results = Object.fromEntries(contenders.map((c) => [c.id, Object.fromEntries(figures.map((f) => [f, []]))]));
const loads = [];
const started = new Date();

if (quick) {
  loads.push([os.loadavg()[0]]);
  const all = await Promise.all(contenders.map((c) => measure(c, figuresOf(c))));
  contenders.forEach((c, i) => {
    for (const f of figuresOf(c)) results[c.id][f].push(all[i][f]);
  });
} else {
  for (let round = 0; round < rounds; round++) {
    const roundLoads = [];
    for (const [fi, figure] of figures.entries()) {
      const order = (round + fi) % 2 === 0 ? contenders : [...contenders].reverse();
      for (const c of order) {
        if (c.lacks?.[figure] !== undefined) continue;
        roundLoads.push(os.loadavg()[0]);
        const r = await measure(c, [figure]);
        results[c.id][figure].push(r[figure]);
        process.stderr.write(`round ${round + 1}/${rounds} ${figure} ${c.label}: ${JSON.stringify(r[figure])}\n`);
      }
    }
    loads.push(roundLoads);
  }
}

/** Per metric: per contender median/min/max, and per-round ratios to raw TLS (and peerlink ÷ before, libp2p ÷ peerlink). */
function summarize() {
  const out = [];
  for (const [figure, key, label, unit, higherBetter, target] of METRICS) {
    if (!figures.includes(figure)) continue;
    const row = { figure, key, label, unit, higherBetter, target, contenders: {}, ratios: {} };
    for (const c of contenders) {
      const xs = (results[c.id][figure] ?? []).map((r) => r?.[key]).filter((x) => typeof x === "number");
      row.contenders[c.id] = xs.length === 0 ? { missing: c.lacks?.[figure] ?? "not measured" } : { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), rounds: xs };
    }
    const ratio = (a, b) => {
      if (results[a] === undefined || results[b] === undefined) return undefined;
      const xs = results[a][figure] ?? [];
      const ys = results[b][figure] ?? [];
      const rs = xs.map((x, i) => x?.[key] / ys[i]?.[key]).filter((r) => Number.isFinite(r));
      return rs.length === 0 ? undefined : { median: median(rs), min: Math.min(...rs), max: Math.max(...rs), rounds: rs };
    };
    row.ratios.peerlinkOverRaw = ratio("peerlink", "raw");
    if (results["raw-shared"] !== undefined) row.ratios.peerlinkOverRawShared = ratio("peerlink", "raw-shared");
    if (before) {
      row.ratios.beforeOverRaw = ratio("before", "raw");
      row.ratios.peerlinkOverBefore = ratio("peerlink", "before");
    }
    row.ratios.libp2pOverPeerlink = ratio("libp2p", "peerlink");
    out.push(row);
  }
  return out;
}

const summary = summarize();
const report = {
  date: started.toISOString(),
  quick,
  rounds,
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, platform: `${os.platform()} ${os.release()}`, node: process.version },
  versions: versions(),
  loadAverage1m: loads,
  figures: summary,
};

function versions() {
  const read = (p) => {
    try {
      return JSON.parse(readFileSync(path.join(root, p), "utf8")).version;
    } catch {
      return undefined;
    }
  };
  return {
    peerlink: read("package.json"),
    libp2p: read("node_modules/libp2p/package.json"),
    "@libp2p/tcp": read("node_modules/@libp2p/tcp/package.json"),
    "@chainsafe/libp2p-noise": read("node_modules/@chainsafe/libp2p-noise/package.json"),
    "@chainsafe/libp2p-yamux": read("node_modules/@chainsafe/libp2p-yamux/package.json"),
    openssl: process.versions.openssl,
  };
}

const fmt = (x) => (x === undefined ? "–" : x >= 100 ? Math.round(x).toLocaleString("en-US") : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const cell = (s) => (s?.median === undefined ? "–" : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`);
const rcell = (s) => (s === undefined ? "–" : `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`);

function table() {
  const cols = contenders.map((c) => c.label);
  const shared = results["raw-shared"] !== undefined;
  const head = `| figure | unit | ${cols.join(" | ")} | peerlink ÷ raw |${shared ? " peerlink ÷ raw, one client identity |" : ""}${before ? " before ÷ raw | after ÷ before |" : ""} libp2p ÷ peerlink | target (÷ raw) |`;
  const sep = `|---|---|${cols.map(() => "---:").join("|")}|---:|${shared ? "---:|" : ""}${before ? "---:|---:|" : ""}---:|---|`;
  const lines = summary.map(
    (r) =>
      `| ${r.label} | ${r.unit} | ${contenders.map((c) => cell(r.contenders[c.id])).join(" | ")} | ${rcell(r.ratios.peerlinkOverRaw)} |` +
      `${shared ? ` ${rcell(r.ratios.peerlinkOverRawShared)} |` : ""}` +
      `${before ? ` ${rcell(r.ratios.beforeOverRaw)} | ${rcell(r.ratios.peerlinkOverBefore)} |` : ""} ${rcell(r.ratios.libp2pOverPeerlink)} | ${r.target} |`,
  );
  const allLoads = loads.flat();
  return [
    `#### Run ${report.date}`,
    "",
    `Machine: ${report.machine.cpus} cores, "${report.machine.cpu}", ${report.machine.platform}, Node ${report.machine.node}, OpenSSL ${report.versions.openssl}. ` +
      `peerlink ${report.versions.peerlink}, libp2p ${report.versions.libp2p} (tcp ${report.versions["@libp2p/tcp"]}, noise ${report.versions["@chainsafe/libp2p-noise"]}, yamux ${report.versions["@chainsafe/libp2p-yamux"]}). ` +
      `${rounds} rounds; median (min–max); ratios per round. Load average (1 min) before the measurements: ${Math.min(...allLoads).toFixed(2)}–${Math.max(...allLoads).toFixed(2)} (median ${median(allLoads).toFixed(2)}).`,
    "",
    head,
    sep,
    ...lines,
    "",
  ].join("\n");
}

if (quick) {
  process.stdout.write(`${JSON.stringify(report)}\n`);
} else {
  const md = table();
  process.stdout.write(`${md}\n`);
  const jsonPath = option("--json", flag("--write") ? path.join(here, "results.json") : undefined);
  if (jsonPath) writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  if (flag("--write")) {
    const file = path.join(root, "BENCHMARKS.md");
    const text = readFileSync(file, "utf8");
    const start = "<!-- bench:net -->";
    const end = "<!-- /bench:net -->";
    const block = `${start}\n${md}${end}`;
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    writeFileSync(file, i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`);
  }
}
