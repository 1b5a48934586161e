// Bytes allocated per connection at setup, both ends, by V8's sampling heap profiler with nothing left out for
// having been collected: what a connection gives the garbage collector to do. Informational, like calls.mjs: a
// yardstick that timing noise does not move, not a figure of `npm run bench:net`.
//
//   node bench/net/allocation.mjs [--connections N] [--warm N] [--top N] [--json]
//
// Each contender (raw TLS and peerlink, one dialer identity per connection) runs in a fresh process: `warm`
// batches of `connections` connections, 64 dials at a time, each closed before the next; then one more batch
// under the sampling profiler (one sample per 256 bytes on average), stopped once every connection is accepted.
// Prints KiB per connection for each contender, peerlink's by part of the library (the innermost frame of
// peerlink's own on the allocating stack; "Node" when none), and with `--top` peerlink's allocating functions.
// Sampling makes each figure vary by a few per cent between runs.
import { numberOption } from "./common.mjs";
import { measureOneBatch, runYardstick } from "./one-batch.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => numberOption(args, name, fallback);
const SAMPLING_INTERVAL = 256;

const { connections, byContender } = await runYardstick(import.meta.url, args, measure);
const top = option("--top", 0);
const report = { connections, contenders: {} };
for (const [contender, sites] of Object.entries(byContender)) report.contenders[contender] = summarise(sites, connections);
if (args.includes("--json")) console.log(JSON.stringify(report, null, 2));
else print(report);

/** Runs `contender` for `warm` batches, then samples the allocations of one more batch's setup. */
async function measure(contender, size, warmBatches) {
  const profile = await measureOneBatch(contender, size, warmBatches, {
    async begin(session) {
      await session.post("HeapProfiler.enable");
      await session.post("HeapProfiler.startSampling", {
        samplingInterval: SAMPLING_INTERVAL,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    },
    end: async (session) => (await session.post("HeapProfiler.stopSampling")).profile,
  });
  // Attribute every sample to the innermost frame of peerlink's own on its stack.
  const sites = new Map();
  const walk = (node, owner) => {
    const where = locate(node.callFrame.url);
    const here = where === undefined ? owner : `${where} ${node.callFrame.functionName || "(anonymous)"}`;
    if (node.selfSize > 0) sites.set(here ?? "Node", (sites.get(here ?? "Node") ?? 0) + node.selfSize);
    for (const child of node.children) walk(child, here);
  };
  walk(profile.head, undefined);
  return [...sites].map(([site, bytes]) => ({ site, bytes }));
}

/** A path under dist/src/ for peerlink's own code, undefined for the rest. */
function locate(url) {
  const at = url.indexOf("/dist/src/");
  return at < 0 ? undefined : url.slice(at + "/dist/src/".length);
}

function summarise(sites, size) {
  const kib = (bytes) => Math.round((bytes / size / 1024) * 10) / 10;
  const parts = new Map();
  let total = 0;
  for (const { site, bytes } of sites) {
    total += bytes;
    const part = site === "Node" ? "Node (no frame of peerlink's)" : site.split("/")[0];
    parts.set(part, (parts.get(part) ?? 0) + bytes);
  }
  return {
    kibPerConnection: kib(total),
    parts: [...parts].sort((a, b) => b[1] - a[1]).map(([part, bytes]) => ({ part, kibPerConnection: kib(bytes) })),
    top: sites
      .filter((s) => s.site !== "Node")
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, top)
      .map((s) => ({ site: s.site, kibPerConnection: kib(s.bytes) })),
  };
}

function print(r) {
  const { raw, peerlink } = r.contenders;
  console.log(`Allocated per connection at setup, both ends, sampled over one batch of ${r.connections} after the warm-up:`);
  console.log(`raw TLS ${raw.kibPerConnection} KiB, peerlink ${peerlink.kibPerConnection} KiB.\n`);
  console.log("| peerlink, by where it was allocated | KiB per connection |\n|---|---:|");
  for (const p of peerlink.parts) console.log(`| ${p.part} | ${p.kibPerConnection} |`);
  if (peerlink.top.length > 0) {
    console.log("\n| peerlink function | KiB per connection |\n|---|---:|");
    for (const t of peerlink.top) console.log(`| ${t.site} | ${t.kibPerConnection} |`);
  }
}
