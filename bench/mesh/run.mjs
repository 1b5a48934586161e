// `npm run mesh -- --nodes N`: a mesh of N peerlink nodes on this machine, each its own ConnectionManager on its
// own 127.x address, spread over a few child processes (bench/mesh/worker.mjs), started from a few bootstrap
// addresses with the target mesh on (mesh: { targetOutbound }, peer exchange). Phases:
//
//   start      all nodes start at once; time until 95 % of them hold their target (outbound >= target, or
//              connected to every other node)
//   churn      one child process of --procs (20 % of the nodes with the default 5) is killed with SIGKILL,
//              restarted after --down-s with the same addresses and fresh identities; time until 95 % again
//   partition  nftables drops every packet of the run's port between the two halves of the mesh
//              (127.21.0.0/16 and 127.22.0.0/16) for --partition-s; then the rules are removed (heal) and the mesh watched
//              for --heal-s. Needs root and nft; skipped otherwise (and with --no-partition).
//
// Reported (JSON, and an SVG chart of degree over time): time to 95 % per phase, the degree distribution,
// dials (mesh + reconnect) per second, CPU and memory per node, and budget violations: every node's dial
// starts replayed through its global reconnect budget (token bucket) — a dial that found no token counts.
//
//   node bench/mesh/run.mjs [--nodes 200] [--quick] [--procs 5] [--target 8] [--bootstraps 3] [--port 7400] [--max-dials N]
//                           [--limit-s 60] [--down-s 5] [--partition-s 60] [--heal-s 45] [--no-partition]
//                           [--no-tls] [--out DIR] [--json FILE]
//
// --quick: 30 nodes, no partition phase, results only where --json/--out say (the test suite runs it).
// Addresses: node i is in half i % 2 (127.21.x.y or 127.22.x.y), four nodes per /24; the mesh groups outbound
// peers by /24 for diversity (on 127.x every address is in one /16, the default group).
import { execFileSync, fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { renderChart } from "./chart.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const quick = flag("--quick");
const N = Number(option("--nodes", quick ? 30 : 200));
const P = Number(option("--procs", 5));
const target = Number(option("--target", 8));
const bootstraps = Number(option("--bootstraps", 3));
const maxDials = option("--max-dials", undefined); // mesh.maxConcurrentDials; its default when unset
const port = Number(option("--port", 7400));
const limitMs = Number(option("--limit-s", 60)) * 1000;
const downMs = Number(option("--down-s", 5)) * 1000;
const partitionMs = Number(option("--partition-s", 60)) * 1000;
const healMs = Number(option("--heal-s", 45)) * 1000;
const partition = !quick && !flag("--no-partition");
const tls = !flag("--no-tls");
const outDir = option("--out", quick ? undefined : path.join(here, "results"));
const jsonFile = option("--json", undefined);
const budget = { capacity: 10, refillPerSecond: 5 }; // the reconnect defaults, written out for the replay
const SAMPLE_MS = 1000;
const FRACTION = 0.95;

function addressOf(i) {
  const half = i % 2;
  const j = Math.floor(i / 2);
  return `127.${21 + half}.${Math.floor(j / 4)}.${(j % 4) + 1}`;
}
const specs = Array.from({ length: N }, (_, i) => ({
  index: i,
  ip: addressOf(i),
  port,
  bootstrap: Array.from({ length: Math.min(bootstraps, N) }, (_, b) => `${addressOf(b)}:${port}`).filter((a) => a !== `${addressOf(i)}:${port}`),
}));
const procOf = (i) => i % P;
const churnProc = P - 1; // holds no bootstrap while bootstraps < P
const log = (line) => process.stderr.write(`[mesh ${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);

// ---- children ----

const children = new Map(); // proc -> { child, generation, cpu: {at, us}[], rss, nodes }
const latest = new Map(); // node index -> row (with generation)
const dialTotals = new Map(); // `${proc}/${generation}` -> sum of dials
const budgetResults = [];
/** What the children reported beside their samples (a node that failed to start, for one). */
const logged = [];
let t0 = Date.now();

function spawn(proc, generation) {
  const child = fork(path.join(here, "worker.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const entry = { child, generation, cpu: [], rss: 0, heap: 0, nodes: specs.filter((s) => procOf(s.index) === proc), ready: false, final: undefined };
  children.set(proc, entry);
  child.on("message", (m) => {
    if (m.type === "sample") {
      entry.cpu.push({ at: m.at, us: m.cpuUs });
      entry.rss = m.rss;
      entry.heap = m.heapUsed;
      entry.failures = m.failures;
      let dials = 0;
      for (const row of m.rows) {
        latest.set(row.index, { ...row, generation });
        dials += row.dials;
      }
      dialTotals.set(`${proc}/${generation}`, dials);
    } else if (m.type === "ready") entry.ready = true;
    else if (m.type === "final") {
      entry.final = m.budget;
      budgetResults.push(...m.budget.map((b) => ({ ...b, proc, generation })));
    } else if (m.type === "log") {
      log(m.line);
      logged.push(m.line);
    }
  });
  child.send({ type: "start", nodes: entry.nodes, config: { target, nodes: N, tls, budget, sampleMs: SAMPLE_MS, maxDials: maxDials === undefined ? undefined : Number(maxDials) } });
  return entry;
}

function kill(proc) {
  const entry = children.get(proc);
  entry.child.kill("SIGKILL");
  for (const s of entry.nodes) latest.delete(s.index);
  children.delete(proc);
}

async function stopAll() {
  const waits = [];
  for (const entry of children.values()) {
    waits.push(
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          entry.child.kill("SIGKILL");
          resolve();
        }, 15_000);
        entry.child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        entry.child.send({ type: "stop" });
      }),
    );
  }
  await Promise.all(waits);
}

// ---- sampling ----

const timeline = [];
let phase = "start";
/** Node indexes seen at target in some sample (a restarted node keeps its index). */
const everAtTarget = new Set();

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function sample() {
  const rows = [...latest.values()];
  const degrees = rows.map((r) => r.outbound + r.inbound).sort((a, b) => a - b);
  // A node connected to every other node has no one left to dial: in a small mesh (--quick, 30 nodes) a
  // bootstrap node can collect more than N - 1 - target inbound connections and hold the best mesh it can.
  const atTargetRows = rows.filter((r) => r.outbound >= target || r.outbound + r.inbound >= N - 1);
  for (const r of atTargetRows) everAtTarget.add(r.index);
  const atTarget = atTargetRows.length;
  const dials = [...dialTotals.values()].reduce((a, b) => a + b, 0);
  const previous = timeline.at(-1);
  const t = Date.now() - t0;
  const point = {
    t,
    phase,
    running: rows.length,
    atTarget: atTarget / N,
    meanDegree: degrees.length ? degrees.reduce((a, b) => a + b, 0) / degrees.length : 0,
    p5: percentile(degrees, 0.05),
    p50: percentile(degrees, 0.5),
    p95: percentile(degrees, 0.95),
    maxDegree: degrees.at(-1) ?? 0,
    minOutbound: rows.length ? Math.min(...rows.map((r) => r.outbound)) : 0,
    cross: rows.reduce((a, r) => a + (r.cross ?? 0), 0),
    fromLoopback: rows.reduce((a, r) => a + (r.fromLoopback ?? 0), 0),
    dials,
    // Reconnections: dial starts of the mesh and the reconnect service together, over the whole mesh.
    dialsPerSecond: previous ? Math.max(0, (dials - previous.dials) / ((t - previous.t) / 1000)) : 0,
  };
  timeline.push(point);
  return point;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Samples every second until `done(point)` or `ms` elapsed; returns the time it took, or undefined. */
async function watch(ms, done) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    await sleep(SAMPLE_MS);
    const point = sample();
    if (timeline.length % 5 === 0) log(`${phase}: ${(point.atTarget * 100).toFixed(0)} % at target, mean degree ${point.meanDegree.toFixed(1)}, ${point.dialsPerSecond.toFixed(1)} dials/s`);
    if (done !== undefined && done(point)) return Date.now() - start;
  }
  return undefined;
}

function distribution(kind) {
  const hist = {};
  for (const r of latest.values()) {
    const d = kind === "outbound" ? r.outbound : kind === "inbound" ? r.inbound : r.outbound + r.inbound;
    hist[d] = (hist[d] ?? 0) + 1;
  }
  return hist;
}

function cpuAndMemory() {
  const perProc = [];
  for (const [proc, e] of children) {
    const first = e.cpu[0];
    const last = e.cpu.at(-1);
    const cpuPercent = first && last && last.at > first.at ? ((last.us - first.us) / 1000 / (last.at - first.at)) * 100 : 0;
    perProc.push({ proc, nodes: e.nodes.length, cpuPercentPerNode: cpuPercent / e.nodes.length, rssMiBPerNode: e.rss / 2 ** 20 / e.nodes.length, heapMiBPerNode: e.heap / 2 ** 20 / e.nodes.length });
  }
  const mean = (k) => perProc.reduce((a, p) => a + p[k], 0) / Math.max(1, perProc.length);
  return {
    cpuPercentOfOneCorePerNode: Number(mean("cpuPercentPerNode").toFixed(3)),
    rssMiBPerNode: Number(mean("rssMiBPerNode").toFixed(2)),
    heapMiBPerNode: Number(mean("heapMiBPerNode").toFixed(2)),
    note: "process totals divided by the nodes of each child (the runtime's own baseline included)",
  };
}

/** Failed outbound dials by error code, summed over the running children (cumulative since each started). */
function failureCounts() {
  const out = {};
  for (const e of children.values()) for (const [code, n] of Object.entries(e.failures ?? {})) out[code] = (out[code] ?? 0) + n;
  return out;
}

function dialRates(from, to) {
  const points = timeline.filter((p) => p.t > from && p.t <= to);
  const rates = points.map((p) => p.dialsPerSecond);
  return { max: Number(Math.max(0, ...rates).toFixed(1)), mean: Number((rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length)).toFixed(2)) };
}

// ---- partition ----

const TABLE = `peerlink_mesh_${process.pid}`;
function nft(script) {
  execFileSync("nft", ["-f", "-"], { input: script, stdio: ["pipe", "ignore", "pipe"] });
}
function canPartition() {
  try {
    nft(`add table inet ${TABLE}\ndelete table inet ${TABLE}\n`);
    return true;
  } catch {
    return false;
  }
}
function cut() {
  nft(
    `add table inet ${TABLE}\n` +
      `add chain inet ${TABLE} input { type filter hook input priority 0; policy accept; }\n` +
      // Only this run's port (both directions of its connections): other loopback traffic is left alone.
      `add rule inet ${TABLE} input ip saddr 127.21.0.0/16 ip daddr 127.22.0.0/16 tcp dport ${port} drop\n` +
      `add rule inet ${TABLE} input ip saddr 127.21.0.0/16 ip daddr 127.22.0.0/16 tcp sport ${port} drop\n` +
      `add rule inet ${TABLE} input ip saddr 127.22.0.0/16 ip daddr 127.21.0.0/16 tcp dport ${port} drop\n` +
      `add rule inet ${TABLE} input ip saddr 127.22.0.0/16 ip daddr 127.21.0.0/16 tcp sport ${port} drop\n`,
  );
}
function heal() {
  try {
    nft(`delete table inet ${TABLE}\n`);
  } catch {
    // Not there: nothing to heal.
  }
}

// ---- the run ----

async function main() {
  const load = () => os.loadavg().map((x) => Number(x.toFixed(2)));
  const result = { nodes: N, procs: P, target, bootstraps, tls, budget, cpus: os.cpus().length, loadBefore: load(), phases: {} };
  t0 = Date.now();
  for (let p = 0; p < P; p++) spawn(p, 0);
  const reached = (point) => point.atTarget >= FRACTION;

  phase = "start";
  const startMs = await watch(limitMs, reached);
  result.phases.start = { timeTo95Ms: startMs ?? null, reached: startMs !== undefined, atTargetAtEnd: timeline.at(-1)?.atTarget ?? 0 };
  log(`start: ${startMs === undefined ? "95 % NOT reached" : `95 % at target after ${(startMs / 1000).toFixed(1)} s`}`);
  phase = "steady";
  await watch(5_000);
  result.phases.start.degreeDistribution = distribution("total");
  result.phases.start.outboundDistribution = distribution("outbound");
  result.phases.start.inboundDistribution = distribution("inbound");
  result.phases.start.dialFailures = failureCounts();
  result.resources = cpuAndMemory();
  result.loadDuringStart = load();

  phase = "churn";
  const killedAt = Date.now() - t0;
  const killed = children.get(churnProc).nodes.length;
  kill(churnProc);
  log(`churn: killed child ${churnProc} (${killed} nodes, ${((killed / N) * 100).toFixed(0)} %)`);
  await watch(downMs);
  const restartedAt = Date.now() - t0;
  spawn(churnProc, 1);
  const churnMs = await watch(limitMs, reached);
  result.phases.churn = {
    killedNodes: killed,
    killedFraction: killed / N,
    downMs,
    timeTo95AfterRestartMs: churnMs ?? null,
    timeTo95AfterKillMs: churnMs === undefined ? null : churnMs + (restartedAt - killedAt),
    reached: churnMs !== undefined,
    lowestAtTarget: Math.min(...timeline.filter((p) => p.t >= killedAt).map((p) => p.atTarget)),
  };
  log(`churn: ${churnMs === undefined ? "95 % NOT reached again" : `95 % again ${(churnMs / 1000).toFixed(1)} s after the restart`}`);
  phase = "steady";
  await watch(5_000);
  result.phases.churn.degreeDistribution = distribution("total");

  if (partition && canPartition()) {
    phase = "partition";
    const crossBefore = timeline.at(-1).cross;
    cut();
    log(`partition: nftables drops 127.21/16 <-> 127.22/16, port ${port}`);
    try {
      await watch(partitionMs);
    } finally {
      heal();
    }
    const crossDuring = timeline.at(-1).cross;
    const loopbackDuring = timeline.at(-1).fromLoopback;
    const atTargetDuring = timeline.at(-1).atTarget;
    phase = "heal";
    log("heal: rules removed");
    const healStart = Date.now();
    const healMsTo95 = await watch(healMs, reached);
    if (healMsTo95 !== undefined) await watch(Math.max(0, healMs - (Date.now() - healStart)));
    result.phases.partition = {
      partitionMs,
      crossHalfConnectionsBefore: crossBefore,
      crossHalfConnectionsAtHealTime: crossDuring,
      atTargetAtHealTime: atTargetDuring,
      timeTo95AfterHealMs: healMsTo95 ?? null,
      crossHalfConnectionsAfterHeal: timeline.at(-1).cross,
      connectionsFromLoopbackAtHealTime: loopbackDuring,
      note:
        "cross = connections (counted at both ends) between the halves; dead ones linger until keepalive ends them. " +
        "Dials the OS sources from 127.0.0.1 (maintenance's replacement dials take no local address) pass the partition and are counted apart (fromLoopback)",
    };
  } else {
    result.phases.partition = { skipped: partition ? "nft unavailable (needs root and nftables)" : "off (--quick or --no-partition)" };
  }

  result.resourcesAtEnd = cpuAndMemory();
  result.loadAfter = load();
  await stopAll();
  const violations = budgetResults.reduce((a, b) => a + b.violations, 0);
  result.budget = {
    ...budget,
    violations,
    maxDialsInOneSecondPerNode: Math.max(0, ...budgetResults.map((b) => b.maxInOneSecond)),
    dialsPerNode: Number((budgetResults.reduce((a, b) => a + b.dials, 0) / Math.max(1, budgetResults.length)).toFixed(1)),
    nodesReported: budgetResults.length,
    note: "killed processes report no replay (their nodes' counts end with them); restarted ones are counted",
  };
  result.dialsPerSecond = { start: dialRates(0, killedAt), churn: dialRates(killedAt, Date.now()), whole: dialRates(0, Infinity) };
  result.childLog = logged;
  // Nodes never at target in any sample, as last seen: what to look at first when the mesh falls short.
  result.neverAtTarget = specs
    .filter((s) => !everAtTarget.has(s.index))
    .map((s) => ({ ip: s.ip, ...(latest.get(s.index) ?? { index: s.index }) }));
  // With, for each, the running nodes it is not connected to and what its database holds at their addresses.
  const running = new Map([...latest.values()].map((r) => [r.peerId, r]));
  result.belowTargetAtEnd = [...latest.values()]
    .filter((r) => r.outbound < target && r.outbound + r.inbound < N - 1)
    .map((r) => ({
      ip: specs[r.index].ip,
      ...r,
      short: {
        ...r.short,
        connected: undefined,
        notConnected: r.short?.notConnected.map((record) => ({ ...record, running: running.has(record.peerId) })),
        // Running nodes this one is neither connected to nor knows (their addresses).
        runningUnknown: [...running.values()]
          .filter((o) => o.peerId !== r.peerId && !(r.short?.connected ?? []).includes(o.peerId) && !(r.short?.notConnected ?? []).some((record) => record.peerId === o.peerId))
          .map((o) => `${specs[o.index].ip}:${port}`),
      },
    }));
  result.timeline = timeline;
  result.acceptance = {
    startWithinLimit: result.phases.start.reached,
    churnWithinLimit: result.phases.churn.reached,
    budgetNeverExceeded: violations === 0,
    limitMs,
  };

  const json = JSON.stringify(result, null, 2);
  if (jsonFile) writeFileSync(jsonFile, json);
  if (outDir) {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, `mesh-${N}.json`), json);
    writeFileSync(path.join(outDir, `mesh-${N}.svg`), renderChart(result));
  }
  const { timeline: _t, ...summary } = result;
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

const cleanup = () => {
  heal();
  for (const e of children.values()) e.child.kill("SIGKILL");
};
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});
main().catch((error) => {
  cleanup();
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
