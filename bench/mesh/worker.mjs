// One child process of the mesh harness (bench/mesh/run.mjs): runs the nodes it is given, each its own
// ConnectionManager on its own 127.x address, and reports their degrees, the dials they started, and the
// process's CPU and memory. Talks to the parent over the IPC channel only.
//
// Every dial start (mesh:dial, reconnect:attempt) is replayed through a token bucket of the node's global
// reconnect budget: a dial that finds no token is a budget violation (the harness asserts there are none).
import { ConnectionManager } from "../../dist/src/index.js";

const nodes = new Map(); // index -> { manager, dials: number[], spec }
/** Outbound dials that failed, by error code (the refusals of this node's own limits included). */
const failures = {};
const countFailure = (error, own) => {
  const reason = error?.cause?.reason;
  const key = `${error?.code ?? "unknown"}${error?.initiator === "remote" ? ` (remote${typeof reason === "string" ? `: ${reason}` : ""})` : ""}`;
  failures[key] = (failures[key] ?? 0) + 1;
  own[key] = (own[key] ?? 0) + 1;
};
let config;
let stopping = false;

// The nodes' clock, held still for the rest of a synchronous run: a budget token is taken and its dial event
// (mesh:dial, reconnect:attempt) emitted in one run, so the event is stamped with the very time the token was
// taken and the replay below sees what the bucket saw. Stamping events with a fresh Date.now() instead let the
// replay see less refill than the bucket had whenever an earlier dial's event came later in its run than a
// later one's (the mesh's first dials wait for the candidate snapshot), which reads as a violation.
let heldNow;
const releaseNow = () => {
  heldNow = undefined;
};
const clock = () => {
  if (heldNow === undefined) {
    heldNow = Date.now();
    queueMicrotask(releaseNow);
  }
  return heldNow;
};

process.on("message", (message) => {
  if (message.type === "start") void start(message);
  else if (message.type === "stop") void stop();
});
process.on("disconnect", () => void stop());

async function start(message) {
  config = message.config;
  // Start the nodes a few at a time: the key and certificate of each take a moment of CPU.
  const specs = message.nodes;
  for (let i = 0; i < specs.length; i += 8) {
    await Promise.all(specs.slice(i, i + 8).map((spec) => startNode(spec)));
  }
  process.send({ type: "ready" });
  const timer = setInterval(() => report(), config.sampleMs);
  timer.unref();
}

async function startNode(spec) {
  const dials = [];
  const failed = {};
  const manager = new ConnectionManager({
    listen: [`${spec.ip}:${spec.port}`],
    tls: config.tls,
    mesh: {
      targetOutbound: config.target,
      ...(config.maxDials !== undefined ? { maxConcurrentDials: config.maxDials } : {}),
      bootstrap: spec.bootstrap,
      localAddress: spec.ip,
      // Every address here is in 127.0.0.0/16: group by /24 (each /24 holds a few nodes of the harness).
      diversity: { ipv4Prefix: 24 },
    },
    reconnect: { localAddress: spec.ip, budget: config.budget },
    clock,
  });
  manager.on("mesh:dial", () => dials.push(clock()));
  manager.on("reconnect:attempt", () => dials.push(clock()));
  // The last closes of each peer (for the nodes below target: flap dampening counts every close).
  const closes = new Map();
  manager.on("connection:close", ({ peer, reason, initiator, connection }) => {
    const list = closes.get(peer) ?? [];
    list.push(`${Math.round(Date.now() / 1000) % 1000}s ${connection.direction} ${reason} (${initiator})`);
    if (list.length > 4) list.shift();
    closes.delete(peer);
    closes.set(peer, list);
    if (closes.size > 64) closes.delete(closes.keys().next().value);
  });
  manager.on("dial:refused", ({ error }) => countFailure(error, failed));
  manager.on("handshake:failed", ({ direction, error }) => {
    if (direction === "outbound") countFailure(error, failed);
  });
  // A refused or failed connection is part of the run, not an error of the harness.
  manager.on("error", () => {});
  nodes.set(spec.index, { manager, dials, failed, closes, spec, startedAt: Date.now() });
  try {
    await manager.start();
  } catch (error) {
    process.send({ type: "log", line: `node ${spec.index} failed to start: ${String(error)}` });
  }
}

/** Dial starts beyond what a token bucket (capacity, refill per second), full at the first dial, allows. */
function budgetViolations(times) {
  const { capacity, refillPerSecond } = config.budget;
  let tokens = capacity;
  let last = times[0] ?? 0;
  let violations = 0;
  let maxInOneSecond = 0;
  let windowStart = 0;
  for (let i = 0; i < times.length; i++) {
    const t = times[i];
    tokens = Math.min(capacity, tokens + ((t - last) / 1000) * refillPerSecond);
    last = t;
    if (tokens + 1e-6 < 1) violations++;
    else tokens -= 1;
    while (times[windowStart] <= t - 1000) windowStart++;
    maxInOneSecond = Math.max(maxInOneSecond, i - windowStart + 1);
  }
  return { violations, maxInOneSecond };
}

function report() {
  if (stopping) return;
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const rows = [];
  for (const [index, node] of nodes) {
    const m = node.manager;
    let outbound = 0;
    let inbound = 0;
    let cross = 0;
    let fromLoopback = 0;
    const half = node.spec.ip.split(".")[1];
    for (const c of m.connections()) {
      if (c.direction === "outbound") outbound++;
      else inbound++;
      // Only dials with a node's own source address cross between halves; a dial the OS sourced from
      // 127.0.0.1 (maintenance's replacement dials take no local address) is not partitioned, nor counted.
      const remoteHalf = c.remoteAddress.split(".")[1];
      if (remoteHalf === "0") fromLoopback++;
      else if (remoteHalf !== half) cross++;
    }
    const row = { index, peerId: m.peerId.toString(), outbound, inbound, cross, fromLoopback, dials: node.dials.length, known: m.peers.size, failed: node.failed };
    if (outbound < config.target && outbound + inbound < config.nodes - 1) row.short = shortOf(m, node.closes);
    rows.push(row);
  }
  process.send({ type: "sample", at: Date.now(), rows, cpuUs: cpu.user + cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, failures });
}

/**
 * What a node below its target knows of the peers it is not connected to: each record's addresses with their
 * failed dials, its origin, and whether the mesh has a dial in flight; the harness matches them with the nodes
 * that are running (a live node known under an old identity, or not known at all, is what keeps a node short).
 */
function shortOf(m, closes) {
  const now = Date.now();
  const connected = new Set(m.connections().map((c) => c.remotePeer.toString()));
  const records = [];
  for (const peerId of m.peers.peerIds()) {
    if (connected.has(peerId)) continue;
    const r = m.peers.get(peerId);
    records.push({
      peerId,
      origin: r.origin?.kind ?? "own",
      closes: closes.get(peerId),
      addresses: r.addresses.map((a) => `${a.address} failures=${a.failures}${a.lastFailure === undefined ? "" : ` ${Math.round((now - a.lastFailure) / 1000)}s ago`}${a.lastSuccess === undefined ? "" : " reached"}`),
    });
  }
  return { mesh: m.mesh?.status(), nextMeshWakeInMs: m.mesh?.nextWakeAt === undefined ? null : m.mesh.nextWakeAt - now, connected: [...connected], notConnected: records };
}

async function stop() {
  if (stopping) return;
  stopping = true;
  const budget = [];
  for (const [index, node] of nodes) budget.push({ index, ...budgetViolations(node.dials), dials: node.dials.length });
  await Promise.allSettled([...nodes.values()].map((n) => n.manager.stop({ timeoutMs: 1000 })));
  if (process.connected) process.send({ type: "final", budget }, () => process.exit(0));
  else process.exit(0);
}
