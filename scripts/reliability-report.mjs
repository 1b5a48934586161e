#!/usr/bin/env node
// Regenerates docs/RELIABILITY.md from a run of the abuse, fault and soak tests: what each test proves (its
// file's opening comment and its name), whether it passed on this run, how long it took, and the figures it
// measured (its `RELIABILITY {json}` lines, from test/helpers/reliability.ts, and its printed closing notes).
// Nothing in the page is typed by hand except the grouping below. Usage: `npm run reliability`
// (builds dist/ first; child-process tests import it). Exit code 1 when a test failed (the page is still written).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const page = join(root, "docs/RELIABILITY.md");

/** The abuse, fault and soak tests, grouped by what they attack. */
const GROUPS = [
  ["Malformed frames and oversized prefixes", [
    "test/wire/frame-decoder.garbage.test.ts",
    "test/connection/preauth-frame-limit.test.ts",
    "test/connection/connection-core-chaos.test.ts",
    "test/wire/frame-shape.test.ts",
    "test/connection/early-data-cost.test.ts",
  ]],
  ["Floods", [
    "test/connection/connection-abuse.test.ts",
    "test/node/flood.test.ts",
    "test/node/pending-exhaustion.test.ts",
    "test/connection/inbound-rate-core.test.ts",
    "test/node/misbehaviour.test.ts",
  ]],
  ["Silent and slow peers", [
    "test/node/admission-deadlines.test.ts",
    "test/node/dial-silent-tls.test.ts",
    "test/node/node-abuse.test.ts",
    "test/transport/failures.test.ts",
    "test/transport/early-close.test.ts",
    "test/connection/send-backpressure.test.ts",
  ]],
  ["Identity attacks and bans", [
    "test/transport/mitm-relay.test.ts",
    "test/connection/certificate-binding.test.ts",
    "test/handshake/certificate-binding.test.ts",
    "test/identity/small-order.test.ts",
    "test/security-review/certificate-chain-leaf.test.ts",
    "test/security-review/shared-session-cache.test.ts",
    "test/security-review/hello-fast-path-edges.test.ts",
    "test/security-review/session-der-rewrite.test.ts",
    "test/node/connection-manager-robustness.test.ts",
    "test/node/capacity-refusal.test.ts",
    "test/node/retry-after-dial.test.ts",
  ]],
  ["Dead, frozen and impaired peers", [
    "test/maintenance/keepalive-loopback.test.ts",
    "test/connection/connection-lost.test.ts",
    "test/maintenance/health-delay.test.ts",
    "test/maintenance/impairment-netns.test.ts",
    "test/maintenance/sleep-resume.test.ts",
    "test/maintenance/zombie.test.ts",
    "test/maintenance/probe-on-demand.test.ts",
  ]],
  ["Operator surfaces: the status server, terminal output, journal and bans", [
    "test/observability/status-server.test.ts",
    "test/util/printable.test.ts",
    "test/cli/failure-lines.test.ts",
    "test/manager/journal.test.ts",
    "test/manager/ban-list.test.ts",
  ]],
  ["The peer database and the mesh under floods of identities and peer-exchange reports", [
    "test/peers/origin-eviction.test.ts",
    "test/mesh/mesh.test.ts",
    "test/mesh/mesh-core.test.ts",
    "test/mesh/mesh-service-ticks.test.ts",
  ]],
  ["Shutdown with stalled peers, reconnect storms", [
    "test/reconnect/shutdown.test.ts",
    "test/reconnect/reconnect-storm.test.ts",
  ]],
  ["Peer-database crashes", [
    "test/peers/file-peer-store-crash.test.ts",
    "test/reconnect/peer-database-restart.test.ts",
  ]],
  ["Leaks: soak and resource release", [
    "test/reconnect/soak.test.ts",
    "test/reconnect/resource-release.test.ts",
    "test/node/dial-lifecycle.test.ts",
  ]],
];

/** The file's opening `/** ... *\/` comment as plain text, or "" when it has none. */
function openingComment(file) {
  const text = readFileSync(join(root, file), "utf8");
  const match = /^\s*\/\*\*([\s\S]*?)\*\//.exec(text);
  if (match === null) return "";
  return match[1]
    .split("\n")
    .map((line) => line.replace(/^\s*\* ?/, "").trimEnd())
    .join("\n")
    .trim()
    .replace(/\n(?!\n)/g, " ");
}

const cell = (text) => String(text).replace(/\|/g, "\\|").replace(/\n/g, " ");

function formatFigures(figures) {
  return figures.map((f) => Object.entries(f).map(([k, v]) => `${k} ${typeof v === "number" ? v.toLocaleString("en-US") : v}`).join(", ")).join("; ");
}

function run(files) {
  const dir = mkdtempSync(join(os.tmpdir(), "peerlink-reliability-"));
  const results = join(dir, "results.json");
  try {
    const started = Date.now();
    const load = os.loadavg();
    const child = spawnSync(
      process.execPath,
      [join(root, "node_modules/vitest/vitest.mjs"), "run", ...files, "--reporter=default", "--reporter=./scripts/reliability-reporter.mjs"],
      { cwd: root, stdio: "inherit", env: { ...process.env, RELIABILITY_RESULTS: results, NO_COLOR: "1" } },
    );
    if (!existsSync(results)) throw new Error(`vitest wrote no results (exit ${child.status})`);
    return { ...JSON.parse(readFileSync(results, "utf8")), wallMs: Date.now() - started, loadBefore: load, loadAfter: os.loadavg() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const files = GROUPS.flatMap(([, list]) => list).filter((f) => existsSync(join(root, f)));
const run_ = run(files);
const byFile = new Map();
for (const test of run_.tests) byFile.set(test.file, [...(byFile.get(test.file) ?? []), test]);

const passed = run_.tests.filter((t) => t.state === "passed").length;
const failed = run_.tests.filter((t) => t.state === "failed").length;
const load = (l) => l.map((x) => x.toFixed(2)).join(" / ");
const out = [
  "# Reliability",
  "",
  "What peerlink survives: every abuse, fault and soak test, what it proves and what it measured on its",
  "last run. **Generated** by `npm run reliability` (scripts/reliability-report.mjs) from the tests' own",
  "output; do not edit by hand. A test's name says what it proves; its file's opening comment says how.",
  "Figures are measurements of that run on that machine, not guarantees: the tests assert bounds, the",
  "figures show where a run landed inside them.",
  "",
  `Last run: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, Node ${process.version}, ` +
    `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "cpu"}, load average (1/5/15 min) ${load(run_.loadBefore)} before, ` +
    `${load(run_.loadAfter)} after; ${passed} passed, ${failed} failed` +
    `${run_.tests.length - passed - failed > 0 ? `, ${run_.tests.length - passed - failed} skipped` : ""}; ${(run_.wallMs / 1000).toFixed(0)} s.`,
  "",
];
for (const [title, list] of GROUPS) {
  out.push(`## ${title}`, "");
  for (const file of list) {
    const tests = byFile.get(file);
    out.push(`### \`${file}\``, "");
    const about = existsSync(join(root, file)) ? openingComment(file) : "";
    if (about !== "") out.push(about, "");
    if (tests === undefined) {
      out.push("_Not run (file missing or collected no tests)._", "");
      continue;
    }
    out.push("| Test (what it proves) | Result | Time | Measured |", "|---|---|---|---|");
    for (const t of tests) {
      const measured = [formatFigures(t.figures), ...t.notes].filter((s) => s !== "").join("; ");
      out.push(`| ${cell(t.name)} | ${t.state} | ${(t.durationMs / 1000).toFixed(1)} s | ${cell(measured)} |`);
    }
    out.push("");
  }
}
writeFileSync(page, out.join("\n"));
console.log(`wrote ${page}: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
