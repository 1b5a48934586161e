// Data frames with observability off vs on: the same stream of Data messages between two nodes over
// loopback TLS, received and counted through the node's "message" event, in three variants:
//   off      no registry, no logger (the default);
//   metrics  both nodes publish on a prom-client registry, scraped every 100 ms while the stream runs
//            (a real Prometheus scrapes every 15 s or so: this is the harsher case);
//   +logger  metrics as above plus a structured logger that keeps every record.
// Variants run interleaved (the order rotates every round), each round on fresh nodes; median of ROUNDS.
// Prints a Markdown section; `--write` replaces the "## Observability" section of BENCHMARKS.md with it.
// Run via `npm run bench:metrics` (builds dist/ first).
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { Registry } from "prom-client";
import { ConnectionManager } from "../dist/src/index.js";

const ROUNDS = Number(process.env.BENCH_METRICS_ROUNDS ?? 9);
const MESSAGES = Number(process.env.BENCH_METRICS_MESSAGES ?? 100_000);
const SIZE = Number(process.env.BENCH_METRICS_SIZE ?? 256);
/** Sends in flight before awaiting one (keeps the socket busy while respecting backpressure). */
const WINDOW = 64;
const SCRAPE_MS = 100;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const VARIANTS = {
  off: () => ({}),
  metrics: () => ({ metrics: new Registry() }),
  "+logger": () => {
    const records = [];
    return { metrics: new Registry(), logger: { log: (r) => records.push(r) } };
  },
};

async function runOnce(variant) {
  const extra = () => VARIANTS[variant]();
  // 100,000 messages flat out on one connection: at the default inbound burst, so the bounds are lifted.
  const listener = new ConnectionManager({ listen: ["127.0.0.1:0"], protocols: [{ name: "/bench" }], reconnect: false, misbehaviour: { inboundRate: false }, ...extra() });
  const dialer = new ConnectionManager({ protocols: [{ name: "/bench" }], reconnect: false, ...extra() });
  await listener.start();
  await dialer.start();
  const scrapers = [listener, dialer]
    .map((n) => n.options.metrics)
    .filter((r) => r !== undefined)
    .map((registry) => setInterval(() => void registry.metrics(), SCRAPE_MS));
  try {
    const connection = await dialer.dial(listener.addresses[0]);
    let received = 0;
    const done = new Promise((resolve) => {
      listener.on("message", () => {
        if (++received === MESSAGES) resolve();
      });
    });
    const payload = new Uint8Array(SIZE).fill(7);
    const t0 = process.hrtime.bigint();
    let pending = [];
    for (let i = 0; i < MESSAGES; i++) {
      pending.push(connection.send("/bench", payload));
      if (pending.length === WINDOW) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    await done;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (variant !== "off") await Promise.all([listener.options.metrics.metrics(), dialer.options.metrics.metrics()]);
    return MESSAGES / seconds;
  } finally {
    for (const s of scrapers) clearInterval(s);
    await dialer.stop({ timeoutMs: 1000 });
    await listener.stop({ timeoutMs: 1000 });
  }
}

const names = Object.keys(VARIANTS);
const results = Object.fromEntries(names.map((n) => [n, []]));
for (const n of names) await runOnce(n); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < names.length; k++) {
    const n = names[(round + k) % names.length];
    results[n].push(await runOnce(n));
  }
}

const off = median(results.off);
const fmt = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : `${(x / 1e3).toFixed(1)} k/s`);
const rows = names.map((n) => {
  const m = median(results[n]);
  const sorted = [...results[n]].sort((a, b) => a - b);
  return `| ${n} | ${fmt(m)} | ${fmt(sorted[0])} – ${fmt(sorted[sorted.length - 1])} | ${(m / off).toFixed(3)} |`;
});
const cpu = os.cpus()[0]?.model.trim() ?? "unknown";
const section = [
  "## Observability: Data frames with metrics off vs on",
  "",
  `${MESSAGES} Data messages of ${SIZE} B from one node to another over loopback TLS, counted by the receiver's`,
  `"message" event; ${ROUNDS} rounds, variants interleaved, fresh nodes each run, median. "metrics": both nodes publish on a`,
  `prom-client registry, scraped every ${SCRAPE_MS} ms during the stream; "+logger": also a structured logger keeping every record.`,
  "",
  "| variant | messages/s (median) | range | ratio to off |",
  "|---|---:|---:|---:|",
  ...rows,
  "",
  `\`npm run bench:metrics\`, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${cpu}), Node ${process.version}, shared machine.`,
  "Metrics and logs hang off the node's events and the connections' own counters, read at scrape time: the data",
  "path itself does no extra work, so a ratio within the run-to-run range (see the range column) is noise.",
  "",
].join("\n");
process.stdout.write(`${section}\n`);

if (process.argv.includes("--write")) {
  const file = new URL("../BENCHMARKS.md", import.meta.url);
  const text = readFileSync(file, "utf8");
  const start = text.indexOf("\n## Observability");
  const next = start === -1 ? -1 : text.indexOf("\n## ", start + 1);
  const updated = start === -1 ? `${text.trimEnd()}\n\n${section}` : `${text.slice(0, start)}\n${section}${next === -1 ? "" : text.slice(next)}`;
  writeFileSync(file, updated.endsWith("\n") ? updated : `${updated}\n`);
}
