// peerlink maintenance benchmark: `node bench/maintenance.mjs` (after `npm run build:wasm && npm run build:ts`).
//
// Measures ONE maintenance cycle over 10,000 connections: the real service (createMaintenanceService from
// dist/) driven through `runCycle()` with a fake manager host (its setHealth does what ConnectionManager's
// does: the connection's metrics slot and the managed entry) and fake connections (no sockets), on a clock
// the benchmark advances. The fake connection has the shape of the real one where the cycle touches it: a
// Connection object holding a core holding a counters object; `stats` returns a fresh copy (as
// Connection.stats does) and `readStats(into)` writes the counters in place (as Connection.readStats does).
//
// Every cycle is measured on its own: CPU time (process.cpuUsage, user + system, whole process: GC and
// helper threads count) and wall time (performance.now) around `runCycle()` only; the fake traffic
// (bumping each connection's counters) happens between measurements. Before each measured cycle the
// caches are evicted (a 64 MiB buffer is written; this machine's L3 is 32 MiB): a node with 10,000
// connections does plenty of other work between two health checks, so a check starts cold. Reported:
// median and p95 over all cycles of all runs. The scenarios are interleaved cycle by cycle (a round is
// one cycle of each), so machine load hits them alike:
//   - busy:        every connection received traffic since the last cycle (no ping due), health check due:
//                  read counters, meters, batch fill, ONE scoreBatch(), hysteresis; scores steady;
//   - busy, warm cache: the same right after another such cycle (caches warm: the best case);
//   - busy, moving: the same, but every connection just received 20 MB (its bandwidth component jumps),
//                  so every score moves and is re-published (the worst case of the health pass); an
//                  unmeasured cycle after a minute of light traffic brings them back before the next round;
//   - keepalive:   every connection was quiet for a ping interval: 10,000 pings (answered synchronously by
//                  the fake) + health check;
//   - no check:    busy traffic, no health check due (deadline scan only).
// Baselines measured in the same processes, same way (cold): the scoring call alone (scoreBatch over
// 10,000 filled entries) and a bare pass reading every connection's counters (the memory any cycle must
// touch).
//
// Each engine (wasm, js) runs in its own child process (its own heap holding only its connections), runs
// alternating. `--baseline=DIR` also measures another build (DIR holds its dist/, e.g. an older commit
// built with `git archive <commit> | tar -x -C DIR` + node_modules and build/ linked + `npx tsc -p
// tsconfig.json`) in alternating processes: the "before" columns. Prints a Markdown section on stdout;
// `--write` also replaces the "## Maintenance" section of BENCHMARKS.md with it.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, resolve } from "node:path";
import os from "node:os";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10_000);
/** Measured cycles of each scenario per child process. */
const CYCLES = Number(process.env.BENCH_CYCLES ?? 100);
/** Child processes per (build, engine). */
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
/** Rounds of all scenarios run before measuring, per child process. */
const WARMUP_ROUNDS = 5;
const TARGET_MS = 2;
/** Bytes written between measurements to evict the caches (this machine's L3: 32 MiB). */
const EVICT_BYTES = Number(process.env.BENCH_EVICT_MIB ?? 64) * 1024 * 1024;
const HEALTH_INTERVAL_MS = 1_000;
const PING_INTERVAL_MS = 15_000;
const HERE = dirname(fileURLToPath(import.meta.url));
const OWN_ROOT = resolve(HERE, "..");

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);
const p95 = (xs) => quantile(xs, 0.95);

// ---------------------------------------------------------------- child: one build, one engine

/** The counters of a connection, behind a core, as in ConnectionCore. */
class FakeCore {
  #stats = {
    bytesIn: 0,
    bytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    lastSentAt: undefined,
    lastReceivedAt: undefined,
    openedAt: 0,
    unknownProtocolFrames: 0,
  };
  get stats() {
    return { ...this.#stats };
  }
  readStats(into) {
    const s = this.#stats;
    into.bytesIn = s.bytesIn;
    into.bytesOut = s.bytesOut;
    into.framesIn = s.framesIn;
    into.framesOut = s.framesOut;
    into.lastSentAt = s.lastSentAt;
    into.lastReceivedAt = s.lastReceivedAt;
    into.openedAt = s.openedAt;
    into.unknownProtocolFrames = s.unknownProtocolFrames;
    return into;
  }
  received(bytes, now) {
    this.#stats.bytesIn += bytes;
    this.#stats.framesIn += 1;
    this.#stats.lastReceivedAt = now;
  }
  sent(bytes, now) {
    this.#stats.bytesOut += bytes;
    this.#stats.framesOut += 1;
    this.#stats.lastSentAt = now;
  }
}

/** Enough of a Connection for the service (same indirection as Connection → ConnectionCore); answers pings at once. */
class FakeConnection {
  #core = new FakeCore();
  #pong = undefined;
  /** The metrics slot, as on the real Connection (maintenance writes RTT and health here). */
  metrics = {};
  constructor(index, clock) {
    this.clock = clock;
    this.state = "open";
    this.remoteAddress = `10.0.${index >> 8}.${index & 255}:4001`;
  }
  get stats() {
    return this.#core.stats;
  }
  readStats(into) {
    return this.#core.readStats(into);
  }
  on(type, listener) {
    if (type === "pong") this.#pong = listener;
    return () => {
      if (type === "pong") this.#pong = undefined;
    };
  }
  receive(bytes) {
    this.#core.received(bytes, this.clock.now);
  }
  sendPing(nonce, timestampUs) {
    this.#core.sent(12, this.clock.now);
    this.receive(12);
    this.#pong?.({ nonce, timestampUs });
  }
  sendControl() {}
  close() {
    this.state = "closed";
    return Promise.resolve();
  }
}

async function runChild(root, engine) {
  const dist = (path) => import(pathToFileURL(resolve(root, "dist", path)).href);
  const { createMaintenanceService } = await dist("src/maintenance/maintenance-service.js");
  const { PeerDatabase } = await dist("src/peers/peer-database.js");
  const { MemoryPeerStore } = await dist("src/peers/peer-store.js");
  const { createHealthScorer } = await dist("src/health/scorer.js");
  const { metricsOf } = await dist("src/connection/metrics.js");

  const clock = { now: 1_700_000_000_000 };
  const managed = new Map();
  const host = {
    clock: () => clock.now,
    peerId: undefined,
    peers: new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0 }),
    managed: () => [...managed.values()],
    isProtected: () => false,
    dial: () => new Promise(() => {}),
    // What ConnectionManager's host does: write the connection's metrics slot.
    setHealth: (connection, score) => {
      metricsOf(connection).health = score;
    },
    journal: () => {},
    emit: () => {},
    running: true,
  };
  const service = createMaintenanceService({
    engine,
    pingIntervalMs: PING_INTERVAL_MS,
    healthCheckIntervalMs: HEALTH_INTERVAL_MS,
    rttSampleIntervalMs: 1e9,
    minCycleIntervalMs: 0,
  })(host);
  service.start();
  const connections = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const c = new FakeConnection(i, clock);
    connections.push(c);
    const m = { connection: c, peer: `peer-${i}`, openedAt: clock.now, health: undefined };
    managed.set(c, m);
    service.onOpen(m);
  }
  // Warm up: the RTT ping at open, checks until every connection has RTT samples and a settled grade.
  for (let i = 0; i < 30; i++) {
    clock.now += HEALTH_INTERVAL_MS;
    for (const c of connections) c.receive(100);
    service.runCycle();
  }
  if (service.size !== CONNECTIONS) throw new Error(`expected ${CONNECTIONS} monitored connections, got ${service.size}`);
  if (service.engine !== engine) throw new Error(`asked for the ${engine} engine, the service uses ${service.engine}`);

  // Evicts the caches (a buffer twice the size of a large L3 is written line by line): a node with
  // 10,000 connections does plenty between two health checks, so a check starts with cold caches.
  const evictBuffer = new Float64Array(EVICT_BYTES / 8);
  const evict = () => {
    for (let i = 0; i < evictBuffer.length; i += 8) evictBuffer[i] += 1;
  };
  const busyTraffic = () => {
    clock.now += HEALTH_INTERVAL_MS;
    for (const c of connections) c.receive(100);
  };
  const scenarios = {
    busy: () => {
      busyTraffic();
      evict();
    },
    "busy, warm cache": () => {
      // The cycle just before, unmeasured, leaves the caches warm.
      busyTraffic();
      service.runCycle();
      busyTraffic();
    },
    "busy, moving": () => {
      clock.now += HEALTH_INTERVAL_MS;
      for (const c of connections) c.receive(20_000_000);
      evict();
    },
    keepalive: () => {
      clock.now += PING_INTERVAL_MS; // quiet for a whole ping interval: every connection pings
      evict();
    },
    "no check": () => {
      clock.now += 1;
      for (const c of connections) c.receive(100);
      evict();
    },
  };
  const out = { engine: service.engine, samples: {} };
  const sample = (name, fn) => {
    const into = (out.samples[name] ??= { cpu: [], wall: [] });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const wall = performance.now() - t0;
    const d = process.cpuUsage(cpu0);
    into.cpu.push((d.user + d.system) / 1000);
    into.wall.push(wall);
  };
  const cycle = () => service.runCycle();
  // The first rounds are not measured: every path (pings, re-published scores) gets compiled.
  for (let round = -WARMUP_ROUNDS; round < CYCLES; round++) {
    for (const [name, prepare] of Object.entries(scenarios)) {
      prepare();
      if (round < 0) cycle();
      else sample(name, cycle);
      if (name === "busy, moving") {
        // Not measured: a minute of light traffic brings the rates (and scores) back to where "busy" finds them.
        clock.now += 60_000;
        for (const c of connections) c.receive(100);
        service.runCycle();
      }
    }
  }
  service.stop();

  // Baseline 1: the scoring call alone, on a batch of CONNECTIONS varied entries.
  const scorer = createHealthScorer({ engine, capacity: CONNECTIONS });
  const b = scorer.batch;
  for (let i = 0; i < CONNECTIONS; i++) {
    b.rttMs[i] = 5 + (i % 300);
    b.jitterMs[i] = i % 17;
    b.pingsSent[i] = 40 + (i % 9);
    b.pingsAnswered[i] = 38 + (i % 5);
    b.framesOk[i] = 10_000 + i;
    b.framesFailed[i] = i % 13;
    b.bandwidthBps[i] = i % 4 === 0 ? Number.NaN : 100_000 + i * 1_000;
  }
  for (let k = 0; k < 30; k++) scorer.scoreBatch(CONNECTIONS);
  for (let k = 0; k < CYCLES; k++) {
    evict();
    sample("scoring call alone", () => scorer.scoreBatch(CONNECTIONS));
  }

  // Baseline 2: one pass reading every connection's counters in place (no allocation), nothing else.
  const scratch = { ...connections[0].stats };
  let sink = 0;
  const readAll = () => {
    for (let i = 0; i < connections.length; i++) sink += connections[i].readStats(scratch).bytesIn;
  };
  for (let k = 0; k < CYCLES; k++) {
    for (const c of connections) c.receive(100);
    evict();
    sample("counters read alone", readAll);
  }
  out.sink = sink;
  process.stdout.write(JSON.stringify(out));
}

if (process.env.BENCH_MAINTENANCE_CHILD) {
  const { root, engine } = JSON.parse(process.env.BENCH_MAINTENANCE_CHILD);
  await runChild(root, engine);
  process.exit(0);
}

// ---------------------------------------------------------------- parent

const baselineArg = process.argv.find((a) => a.startsWith("--baseline="));
const builds = [{ label: "after", root: OWN_ROOT }];
if (baselineArg !== undefined) builds.push({ label: "before", root: resolve(baselineArg.slice("--baseline=".length)) });
const engines = ["wasm", "js"];
const load0 = os.loadavg();
const collected = new Map();
const key = (build, engine) => `${build}/${engine}`;
for (let run = 0; run < RUNS; run++) {
  for (const engine of engines) {
    for (const build of builds) {
      const stdout = execFileSync(process.execPath, [fileURLToPath(import.meta.url)], {
        env: { ...process.env, BENCH_MAINTENANCE_CHILD: JSON.stringify({ root: build.root, engine }) },
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      });
      const result = JSON.parse(stdout);
      const k = key(build.label, engine);
      if (!collected.has(k)) collected.set(k, {});
      const into = collected.get(k);
      for (const [name, s] of Object.entries(result.samples)) {
        into[name] ??= { cpu: [], wall: [] };
        into[name].cpu.push(...s.cpu);
        into[name].wall.push(...s.wall);
      }
    }
  }
}
const load1 = os.loadavg();
const get = (build, engine, name) => collected.get(key(build, engine))[name];
const f = (x) => x.toFixed(3);
const cpus = os.cpus();
const cycleScenarios = ["busy", "busy, warm cache", "busy, moving", "keepalive", "no check"];
const baselines = ["scoring call alone", "counters read alone"];
const describe = {
  busy: "busy: health check (counters, meters, batch fill, one scoreBatch, hysteresis), scores steady",
  "busy, warm cache": "busy, warm cache: the same right after another such cycle (best case)",
  "busy, moving": "busy, moving: the same, every connection's score moves and is re-published",
  keepalive: "keepalive: every connection pings (+ pong, RTT sample) + health check",
  "no check": "no check: deadline scan only (no health check, no ping due)",
  "scoring call alone": "baseline: the scoreBatch call alone (10,000 entries)",
  "counters read alone": "baseline: reading every connection's counters in place, nothing else",
};
const samplesPerCell = get("after", "wasm", "busy").cpu.length;

const lines = [];
lines.push("## Maintenance");
lines.push("");
lines.push(
  `\`node bench/maintenance.mjs${baselineArg ? " --baseline=DIR" : ""}\` (${new Date().toISOString()}): one maintenance ` +
    `cycle over ${CONNECTIONS.toLocaleString("en-US")} connections, the real service from dist/ driven by \`runCycle()\` ` +
    `with fake connections shaped like the real one (Connection → core → counters; \`stats\` copies, \`readStats\` writes ` +
    `in place; no sockets). Machine: ${cpus.length} cores, "${cpus[0]?.model ?? "?"}", Node ${process.version}, shared ` +
    `with other work (load average ${load0[0].toFixed(2)} at the start, ${load1[0].toFixed(2)} at the end). Each cycle ` +
    `is measured on its own around \`runCycle()\`: CPU time (process.cpuUsage, user + system of the whole process, GC ` +
    `included) and wall time, with the caches evicted before each measured cycle (${EVICT_BYTES / 1048576} MiB ` +
    `written; a node with 10,000 connections does other work between two checks) except in the warm-cache row; ` +
    `median and p95 over ${samplesPerCell} cycles per cell (${RUNS} child processes × ` +
    `${CYCLES} cycles, scenarios interleaved cycle by cycle, each engine in its own process, processes alternating). ` +
    `The fake traffic between cycles is not measured. Baselines measured in the same processes.`,
);
lines.push("");
lines.push("| scenario (after) | wasm CPU ms median | p95 | wall median | p95 | js CPU ms median | p95 | wall median | p95 |");
lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const name of [...cycleScenarios, ...baselines]) {
  const cells = engines.flatMap((e) => {
    const s = get("after", e, name);
    return [f(median(s.cpu)), f(p95(s.cpu)), f(median(s.wall)), f(p95(s.wall))];
  });
  lines.push(`| ${describe[name]} | ${cells.join(" | ")} |`);
}
lines.push("");
if (builds.length > 1) {
  lines.push(
    "Before/after in the same run (before: the build in `--baseline`, see below), CPU ms per cycle, median (p95):",
  );
  lines.push("");
  lines.push("| scenario | wasm before | wasm after | js before | js after |");
  lines.push("|---|---:|---:|---:|---:|");
  for (const name of cycleScenarios) {
    const cell = (build, e) => {
      const s = get(build, e, name).cpu;
      return `${f(median(s))} (${f(p95(s))})`;
    };
    lines.push(`| ${name} | ${cell("before", "wasm")} | ${cell("after", "wasm")} | ${cell("before", "js")} | ${cell("after", "js")} |`);
  }
  lines.push("");
}
const verdict = (engine, name) => {
  const s = get("after", engine, name).cpu;
  const m = median(s);
  const q = p95(s);
  const met = m < TARGET_MS ? (q < TARGET_MS ? "met, p95 too" : "met at the median, NOT at p95") : "NOT met";
  return `${engine} ${f(m)} ms median, ${f(q)} ms p95 (${met})`;
};
lines.push(
  `Target (issue 6): one cycle with scoring over 10,000 connections under ${TARGET_MS} ms of CPU. Busy, scores steady: ` +
    `${verdict("wasm", "busy")}; ${verdict("js", "busy")}. Busy with every score moving: ${verdict("wasm", "busy, moving")}; ` +
    `${verdict("js", "busy, moving")}. The keepalive scenario (all 10,000 connections pinging in the same cycle; ` +
    `in practice pings are spread over the ping interval and only quiet connections ping) is not held to the target; ` +
    `a real connection also encodes and writes each Ping.`,
);
lines.push("");
const section = lines.join("\n");
process.stdout.write(`${section}\n`);

if (process.argv.includes("--write")) {
  const file = new URL("../BENCHMARKS.md", import.meta.url);
  const text = readFileSync(file, "utf8");
  const start = text.indexOf("\n## Maintenance\n");
  const next = start === -1 ? -1 : text.indexOf("\n## ", start + 1);
  // Hand-written notes kept across rewrites: everything from this marker to the next section.
  const marker = "<!-- maintenance notes -->";
  const old = start === -1 ? "" : text.slice(start, next === -1 ? undefined : next);
  const notesAt = old.indexOf(marker);
  const notes = notesAt === -1 ? "" : `\n${old.slice(notesAt).trimEnd()}\n`;
  const updated =
    start === -1
      ? `${text.trimEnd()}\n\n${section}${notes}`
      : `${text.slice(0, start)}\n${section}${notes}${next === -1 ? "" : text.slice(next)}`;
  writeFileSync(file, updated.endsWith("\n") ? updated : `${updated}\n`);
}
