// JavaScript calls per connection at setup, counted by V8 rather than timed: a yardstick for the fresh-process
// figures that this machine's timing noise does not move (BENCHMARKS.md, thirteenth pass). Informational: not a
// figure of `npm run bench:net`.
//
//   node bench/net/calls.mjs [--connections N] [--warm N] [--top N] [--functions N] [--json]
//
// Each contender (raw TLS and peerlink, the bench:net contenders, one dialer identity per connection) runs in a
// fresh process: `warm` batches of `connections` connections, 64 dials at a time, each closed before the next, so
// that what a process does once (module loading, first uses) is behind it; then one more batch under V8's precise
// coverage with call counts, taken once every connection is accepted (setup only: the close comes after). Prints
// per connection peerlink's functions and calls by part of the library, then the calls into Node's own JavaScript
// (`node:` modules) of both contenders and, with `--top`, the Node functions peerlink calls most more often; with
// `--functions`, peerlink's own functions by calls per connection.
// The counts vary by a few calls between runs (timers, the order reads arrive in); the parts are what a redesign
// for the fresh figures has to thin (BENCHMARKS.md, twelfth pass).
import { numberOption } from "./common.mjs";
import { measureOneBatch, runYardstick } from "./one-batch.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => numberOption(args, name, fallback);

/** The library's parts, by the first matching prefix of a file's path under dist/src/. */
const PARTS = [
  ["the Hello exchange (handshake/, the Hello decoder, identity/)", ["handshake/", "wire/hello-fast-path", "identity/"]],
  ["the connection (connection/, frame decoding)", ["connection/", "wire/"]],
  ["the node's admission and adoption policy (node/core/, manager/, node/policy/)", ["node/core/", "manager/", "node/policy/"]],
  ["the node's dial, accept and adoption adapters (the rest of node/)", ["node/"]],
  ["the transport (transport/)", ["transport/"]],
  ["the peer database (peers/)", ["peers/"]],
  ["shared helpers (util/, errors, reasons)", ["util/", "errors.js", "reasons.js"]],
];
const OTHER = "elsewhere in the library";

const { connections, byContender } = await runYardstick(import.meta.url, args, measure);
const top = option("--top", 0);
const functionsShown = option("--functions", 0);
const report = summarise(byContender, connections);
if (args.includes("--json")) console.log(JSON.stringify(report, null, 2));
else print(report);

/** Runs `contender` for `warm` batches, then counts the calls of one more batch's setup. */
async function measure(contender, size, warmBatches) {
  const scripts = await measureOneBatch(contender, size, warmBatches, {
    async begin(session) {
      await session.post("Profiler.enable");
      await session.post("Profiler.startPreciseCoverage", { callCount: true, detailed: false });
      await session.post("Profiler.takePreciseCoverage"); // counts from here
    },
    end: async (session) => (await session.post("Profiler.takePreciseCoverage")).result,
  });
  const calls = [];
  for (const script of scripts) {
    const where = locate(script.url);
    if (where === undefined) continue;
    for (const f of script.functions) {
      // The first range is the function's own: its count is the number of calls.
      const count = f.ranges[0].count;
      if (count > 0) calls.push({ where, name: f.functionName || `(anonymous at ${f.ranges[0].startOffset})`, count });
    }
  }
  return calls;
}

/** "node:<module>" for Node's own JavaScript, a path under dist/src/ for peerlink's, undefined for the rest. */
function locate(url) {
  if (url.startsWith("node:")) return url;
  const at = url.indexOf("/dist/src/");
  return at < 0 ? undefined : url.slice(at + "/dist/src/".length);
}

function partOf(file) {
  for (const [part, prefixes] of PARTS) if (prefixes.some((p) => file.startsWith(p))) return part;
  return OTHER;
}

function summarise({ raw, peerlink }, size) {
  const perConnection = (n) => Math.round((n / size) * 10) / 10;
  const parts = new Map([...PARTS.map(([part]) => [part, { functions: 0, calls: 0 }]), [OTHER, { functions: 0, calls: 0 }]]);
  let functions = 0;
  let calls = 0;
  for (const c of peerlink) {
    if (c.where.startsWith("node:")) continue;
    const part = parts.get(partOf(c.where));
    part.functions++;
    part.calls += c.count;
    functions++;
    calls += c.count;
  }
  const nodeCalls = (list) => list.filter((c) => c.where.startsWith("node:"));
  const key = (c) => `${c.where} ${c.name}`;
  const rawByKey = new Map(nodeCalls(raw).map((c) => [key(c), c.count]));
  const more = new Map();
  for (const c of nodeCalls(peerlink)) more.set(key(c), c.count - (rawByKey.get(key(c)) ?? 0));
  for (const [k, count] of rawByKey) if (!more.has(k)) more.set(k, -count);
  const sum = (list) => list.reduce((n, c) => n + c.count, 0);
  const own = peerlink
    .filter((c) => !c.where.startsWith("node:"))
    .sort((a, b) => b.count - a.count)
    .slice(0, functionsShown)
    .map((c) => ({ function: `${c.where} ${c.name}`, callsPerConnection: perConnection(c.count) }));
  return {
    connections: size,
    peerlink: {
      functions,
      top: own,
      callsPerConnection: perConnection(calls),
      parts: [...parts].filter(([, p]) => p.functions > 0).map(([part, p]) => ({ part, functions: p.functions, callsPerConnection: perConnection(p.calls) })),
    },
    nodeCallsPerConnection: { raw: perConnection(sum(nodeCalls(raw))), peerlink: perConnection(sum(nodeCalls(peerlink))) },
    nodeCallsMore: [...more]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, n]) => ({ function: fn, callsPerConnection: perConnection(n) })),
  };
}

function print(r) {
  console.log(`Per connection at setup, both ends, counted over one batch of ${r.connections} after the warm-up:\n`);
  console.log("| peerlink's part | functions run | calls per connection |\n|---|---:|---:|");
  for (const p of r.peerlink.parts) console.log(`| ${p.part} | ${p.functions} | ${p.callsPerConnection} |`);
  console.log(`| all | ${r.peerlink.functions} | ${r.peerlink.callsPerConnection} |\n`);
  if (r.peerlink.top.length > 0) {
    console.log("| peerlink function | calls per connection |\n|---|---:|");
    for (const f of r.peerlink.top) console.log(`| ${f.function} | ${f.callsPerConnection} |`);
    console.log("");
  }
  const { raw, peerlink } = r.nodeCallsPerConnection;
  console.log(`Calls into Node's own JavaScript per connection: raw TLS ${raw}, peerlink ${peerlink} (${Math.round((peerlink - raw) * 10) / 10} more).`);
  if (r.nodeCallsMore.length > 0) {
    console.log("\n| Node function | calls per connection more than raw TLS |\n|---|---:|");
    for (const m of r.nodeCallsMore) console.log(`| ${m.function} | ${m.callsPerConnection} |`);
  }
}
