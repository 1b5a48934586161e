// What an idle peerlink connection keeps on the JS heap, by owner: a heap-snapshot diff over N idle connection
// pairs made through ConnectionManager, as the benchmark's idle figure makes them (one dialer node per
// connection, reconnection off, limits lifted; maintenance off unless asked). Prints the bytes of JS objects
// that are new in the second snapshot, per pair (both ends), and the largest groups of new objects by retained
// size (dominator tree; "dom" is the old object that holds them). Code objects (compiled functions, feedback)
// and native memory are left out of the figure.
//
//   npm run build:ts && node --expose-gc bench/net/idle-heap.mjs [--pairs 100] [--top 25]
//        [--maintenance off|on|listener] [--lib dist/src/index.js] [--class Connection]
//
// --maintenance listener: the listener node runs maintenance, the dialers do not, so the growth over "off" is
// maintenance's cost per connection on one side. --class NAME: also the retained size of NAME's instances by
// field. Snapshots are written to a temporary directory and removed.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { writeHeapSnapshot } from "node:v8";
import { LIMITS } from "./peerlink.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const pairs = Number(option("--pairs", 100));
const top = Number(option("--top", 25));
const maintenance = option("--maintenance", "off");
const className = option("--class", undefined);
const here = path.dirname(new URL(import.meta.url).pathname);
const libPath = path.resolve(option("--lib", path.join(here, "../../dist/src/index.js")));
if (typeof global.gc !== "function") throw new Error("run with node --expose-gc");
if (!["off", "on", "listener"].includes(maintenance)) throw new Error("--maintenance is off, on or listener");

const lib = await import(pathToFileURL(libPath).href);
const base = { limits: LIMITS, reconnect: false, protocols: [{ name: "/bench" }], enable0Rtt: true, misbehaviour: { inboundRate: false } };
const node = (withMaintenance, extra) => new lib.ConnectionManager({ ...base, ...(withMaintenance ? {} : { maintenance: false }), ...extra });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const settle = async () => {
  for (let i = 0; i < 6; i++) {
    global.gc();
    await sleep(20);
  }
};

const WARM = 16;
const listener = node(maintenance !== "off", { listen: ["127.0.0.1:0"], tls: { sessionCache: false } });
await listener.start();
const dialers = [];
for (let i = 0; i < pairs + WARM; i++) {
  const d = node(maintenance === "on", { tls: { sessionCache: false } });
  await d.start();
  dialers.push(d);
}
let accepted = 0;
listener.on("connection:open", () => accepted++);
const target = { peerId: listener.peerId, addresses: [listener.addresses[0]] };
// A warm-up round, closed again, so that code compiled on first use is in both snapshots.
const warm = await Promise.all(dialers.slice(pairs).map((d) => d.dial(target)));
for (let i = 0; accepted < WARM && i < 10_000; i++) await sleep(1);
for (const c of warm) c.abort();
await sleep(100);
await settle();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "idle-heap-"));
const before = writeHeapSnapshot(path.join(dir, "before.heapsnapshot"));
await settle();
const open = [];
for (let i = 0; i < pairs; i += 16) {
  await Promise.all(dialers.slice(i, Math.min(pairs, i + 16)).map(async (d) => open.push(await d.dial(target))));
}
for (let i = 0; accepted - WARM < pairs && i < 60_000; i++) await sleep(1);
await sleep(maintenance === "off" ? 100 : 3000);
await settle();
const after = writeHeapSnapshot(path.join(dir, "after.heapsnapshot"));
const report = analyse(before, after, pairs, top, className);
fs.rmSync(dir, { recursive: true, force: true });
console.log(report);
process.exit(0);

function load(file) {
  const json = JSON.parse(fs.readFileSync(file, "utf8"));
  const meta = json.snapshot.meta;
  const f = meta.node_fields;
  const e = meta.edge_fields;
  return {
    nodes: json.nodes,
    edges: json.edges,
    strings: json.strings,
    nf: f.length,
    ef: e.length,
    type: f.indexOf("type"),
    name: f.indexOf("name"),
    id: f.indexOf("id"),
    size: f.indexOf("self_size"),
    edgeCount: f.indexOf("edge_count"),
    nodeTypes: meta.node_types[0],
    edgeTypes: meta.edge_types[0],
    edgeType: e.indexOf("type"),
    edgeName: e.indexOf("name_or_index"),
    edgeTo: e.indexOf("to_node"),
  };
}

/** New objects of `after` (by node id), their dominator tree (weak and shortcut edges left out), grouped. */
function analyse(beforeFile, afterFile, n, limit, cls) {
  const old = load(beforeFile);
  const ids = new Set();
  for (let i = 0; i < old.nodes.length; i += old.nf) ids.add(old.nodes[i + old.id]);
  const s = load(afterFile);
  const count = s.nodes.length / s.nf;
  const typeOf = (k) => s.nodeTypes[s.nodes[k * s.nf + s.type]];
  const sizeOf = (k) => s.nodes[k * s.nf + s.size];
  const isNew = (k) => !ids.has(s.nodes[k * s.nf + s.id]);
  const label = (k) => {
    const t = typeOf(k);
    return ["string", "concatenated string", "sliced string", "number"].includes(t) ? t : `${t}:${s.strings[s.nodes[k * s.nf + s.name]].slice(0, 50)}`;
  };
  const first = new Uint32Array(count + 1);
  for (let k = 0, e = 0; k < count; k++) {
    first[k] = e;
    e += s.nodes[k * s.nf + s.edgeCount] * s.ef;
  }
  first[count] = s.edges.length;
  const skip = new Set([s.edgeTypes.indexOf("weak"), s.edgeTypes.indexOf("shortcut")]);
  const followed = (e) => !skip.has(s.edges[e + s.edgeType]);
  // Post-order from the root (node 0), iterative.
  const post = new Int32Array(count).fill(-1);
  const order = new Int32Array(count);
  const seen = new Uint8Array(count);
  const stack = new Int32Array(count + 1);
  const next = new Uint32Array(count + 1);
  let reached = 0;
  let sp = 0;
  stack[0] = 0;
  next[0] = first[0];
  seen[0] = 1;
  while (sp >= 0) {
    const v = stack[sp];
    if (next[sp] < first[v + 1]) {
      const e = next[sp];
      next[sp] += s.ef;
      if (!followed(e)) continue;
      const w = s.edges[e + s.edgeTo] / s.nf;
      if (!seen[w]) {
        seen[w] = 1;
        stack[++sp] = w;
        next[sp] = first[w];
      }
    } else {
      post[v] = reached;
      order[reached++] = v;
      sp--;
    }
  }
  const predStart = new Uint32Array(count + 1);
  for (let v = 0; v < count; v++) if (seen[v]) for (let e = first[v]; e < first[v + 1]; e += s.ef) if (followed(e)) predStart[s.edges[e + s.edgeTo] / s.nf + 1]++;
  for (let v = 0; v < count; v++) predStart[v + 1] += predStart[v];
  const preds = new Int32Array(predStart[count]);
  const fill = predStart.slice();
  for (let v = 0; v < count; v++) if (seen[v]) for (let e = first[v]; e < first[v + 1]; e += s.ef) if (followed(e)) preds[fill[s.edges[e + s.edgeTo] / s.nf]++] = v;
  // Dominators by the iterative algorithm of Cooper, Harvey and Kennedy, on post-order numbers.
  const idom = new Int32Array(reached).fill(-1);
  idom[post[0]] = post[0];
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = reached - 2; i >= 0; i--) {
      const v = order[i];
      let d = -1;
      for (let p = predStart[v]; p < predStart[v + 1]; p++) {
        const u = preds[p];
        if (!seen[u] || idom[post[u]] === -1) continue;
        if (d === -1) {
          d = post[u];
          continue;
        }
        let a = post[u];
        let b = d;
        while (a !== b) {
          while (a < b) a = idom[a];
          while (b < a) b = idom[b];
        }
        d = a;
      }
      if (d !== -1 && idom[i] !== d) {
        idom[i] = d;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(reached);
  for (let i = 0; i < reached; i++) retained[i] += sizeOf(order[i]);
  for (let i = 0; i < reached - 1; i++) if (idom[i] >= 0 && idom[i] !== i) retained[idom[i]] += retained[i];

  let js = 0;
  const groups = new Map();
  for (let i = 0; i < reached; i++) {
    const v = order[i];
    if (!isNew(v)) continue;
    const t = typeOf(v);
    if (t !== "code" && t !== "native" && t !== "synthetic") js += sizeOf(v);
    const d = order[idom[i]];
    if (isNew(d) || t === "code") continue;
    const key = `${label(v)}  [dom ${label(d)}]`;
    const g = groups.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += retained[i];
    groups.set(key, g);
  }
  const lines = [`${n} idle pairs: JS objects ${(js / n / 1024).toFixed(2)} KiB per pair (both ends, code and native memory left out)`];
  lines.push("retained B/pair  count/pair  new object [held by]");
  for (const [key, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, limit)) {
    lines.push(`${(g.bytes / n).toFixed(0).padStart(15)}  ${(g.count / n).toFixed(2).padStart(10)}  ${key}`);
  }
  if (cls !== undefined) {
    const fields = new Map();
    let instances = 0;
    const children = new Map();
    for (let i = 0; i < reached; i++) if (idom[i] >= 0 && idom[i] !== i) (children.get(idom[i]) ?? children.set(idom[i], []).get(idom[i])).push(i);
    for (let i = 0; i < reached; i++) {
      const v = order[i];
      if (!isNew(v) || label(v) !== `object:${cls}`) continue;
      instances++;
      const names = new Map();
      for (let e = first[v]; e < first[v + 1]; e += s.ef) {
        const t = s.edgeTypes[s.edges[e + s.edgeType]];
        const name = t === "element" || t === "hidden" ? `[${s.edges[e + s.edgeName]}]` : String(s.strings[s.edges[e + s.edgeName]]);
        names.set(post[s.edges[e + s.edgeTo] / s.nf], name);
      }
      fields.set("(self)", (fields.get("(self)") ?? 0) + sizeOf(v));
      for (const c of children.get(i) ?? []) {
        const key = `${names.get(c) ?? "(through a closure or table)"} -> ${label(order[c])}`;
        fields.set(key, (fields.get(key) ?? 0) + retained[c]);
      }
    }
    lines.push("", `${cls}: ${(instances / n).toFixed(2)} per pair, retained by field (B/pair):`);
    for (const [key, bytes] of [...fields].sort((a, b) => b[1] - a[1])) if (bytes / n >= 8) lines.push(`${(bytes / n).toFixed(0).padStart(8)}  ${key}`);
  }
  return lines.join("\n");
}
