// The figures, each measured on a fresh contender (listener and dialer in this process, so CPU and memory
// are both ends). Every figure returns plain numbers; sizes come from `size` (full or quick).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cpuMs, pool, quantile, sendWindowed, settleHeap, sleep } from "./common.mjs";

export const FULL = { warmBatches: 8, setupConns: 256, concurrency: 64, pings: 2000, bulkBytes: 256 * 2 ** 20, bulkMessage: 64 * 1024, bulkWindow: 16, smallCount: 400_000, smallWindow: 1024, idleConns: 256, idleWarm: 64, firstMessages: 200 };
export const QUICK = { warmBatches: 1, setupConns: 16, concurrency: 8, pings: 50, bulkBytes: 2 * 2 ** 20, bulkMessage: 64 * 1024, bulkWindow: 16, smallCount: 3_000, smallWindow: 1024, idleConns: 8, idleWarm: 2, firstMessages: 2 };

/** Waits until `cond()` holds, polling each `everyMs` (bounded by `maxMs`; throws on timeout). */
async function until(cond, what, maxMs = 60_000, everyMs = 1) {
  const deadline = Date.now() + maxMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * `count` dials, `concurrency` at once, until both ends hold every connection: conns/s and CPU ms per connection.
 * A first batch of the same size warms the contender (with `resume`, its ticket stores) and closes; the figure is
 * the second batch. The first batch is reported too, as `cold*`. In a fresh process the second batch is not yet
 * the steady state: V8 optimises a function only after many calls, so each contender's code is still being
 * compiled (on a background thread whose CPU counts) over its first ~2,000 connections, more of it for a bigger
 * library. `setupWarm`/`resumedWarm` measure the same after {@link warmProcess}.
 */
async function setup(node, size, { resume }) {
  let accepted = 0;
  node.onAccept(() => accepted++);
  const conns = [];
  const warm = [];
  const warmCpu0 = cpuMs();
  const warmT0 = performance.now();
  await pool(size.setupConns, size.concurrency, async () => warm.push(await node.dial()));
  await until(() => accepted >= size.setupConns, "the listener's side of the warm-up");
  const cold = { coldConnsPerSec: (size.setupConns / (performance.now() - warmT0)) * 1000, coldCpuMsPerConn: (cpuMs() - warmCpu0) / size.setupConns };
  if (resume) await node.ticketsReady?.(size.setupConns);
  await sleep(50);
  for (const c of warm) c.close();
  await node.settled?.();
  const before = accepted;
  const cpu0 = cpuMs();
  const t0 = performance.now();
  let resumed = 0;
  await pool(size.setupConns, size.concurrency, async () => {
    const c = await node.dial();
    if (c.resumed) resumed++;
    conns.push(c);
  });
  await until(() => accepted - before >= size.setupConns, "the listener's side");
  const elapsed = performance.now() - t0;
  const cpu = cpuMs() - cpu0;
  for (const c of conns) c.close();
  return { connsPerSec: (size.setupConns / elapsed) * 1000, cpuMsPerConn: cpu / size.setupConns, resumedShare: resumed / size.setupConns, ...(resume ? {} : cold) };
}

/**
 * `size.warmBatches` batches of full setups (each closed before the next) on a contender made for the purpose:
 * the process's code is then optimised as in a server that has accepted a few thousand connections. `early`:
 * each dial carries that first message (0-RTT for peerlink) and the listener takes it, so that the path a first
 * message takes is warm too (a process warmed by plain connections left it unoptimised for the figure's 200
 * dials: BENCHMARKS.md, eleventh pass).
 */
export async function warmProcess(node, size, { early } = {}) {
  let accepted = 0;
  let delivered = 0;
  node.onAccept((c) => {
    accepted++;
    if (early !== undefined) c.onMessage(() => delivered++);
  });
  for (let b = 1; b <= size.warmBatches; b++) {
    const conns = [];
    await pool(size.setupConns, size.concurrency, async () => conns.push(await node.dial(early === undefined ? {} : { early })));
    await until(() => accepted >= b * size.setupConns, "the listener's side of the process warm-up");
    if (early !== undefined) await until(() => delivered >= b * size.setupConns, "the warm-up's first messages");
    for (const c of conns) c.close();
    await node.settled?.();
  }
}

async function onePair(node) {
  let server;
  node.onAccept((c) => (server ??= c));
  const client = await node.dial();
  await until(() => server !== undefined, "the accepted connection");
  return { client, server };
}

/**
 * Sequential pings on one connection after as many of warm-up: p50 and p99 in microseconds. A warm-up of 200
 * left both contenders' round trips still falling (not yet optimized code), and the ratio between them moved by
 * ±0.15 from one process to the next.
 */
async function ping(node, size) {
  const { client } = await onePair(node);
  for (let i = 0; i < size.pings; i++) await client.ping();
  const samples = [];
  for (let i = 0; i < size.pings; i++) samples.push(await client.ping());
  return { p50Us: quantile(samples, 0.5) * 1000, p99Us: quantile(samples, 0.99) * 1000 };
}

/** `count` messages of `bytes` with at most `window` sends unsettled, until the receiver has every byte. */
async function stream(node, count, bytes, window) {
  const { client, server } = await onePair(node);
  let received = 0;
  const total = count * bytes;
  let done;
  const finished = new Promise((r) => (done = r));
  server.onMessage((length) => {
    received += length;
    if (received >= total) done();
  });
  const payload = new Uint8Array(bytes).fill(7);
  const t0 = performance.now();
  await sendWindowed(count, window, () => client.send(payload));
  await finished;
  return performance.now() - t0;
}

async function bulk(node, size) {
  const count = size.bulkBytes / size.bulkMessage;
  const ms = await stream(node, count, size.bulkMessage, size.bulkWindow);
  return { MBps: size.bulkBytes / 1e6 / (ms / 1000) };
}

/**
 * The bulk transfer with the dialer in a process of its own (`sender.mjs`), as between two machines: each end
 * has its own event loop and core, so the rate is the slower end's, not the sum of both ends' work on one
 * thread. The rate is timed at the listener from the first message to the last byte (connection setup and the
 * sender's start-up left out). `spec` says which contender the sender is (the worker's own spec).
 */
async function bulkSplit(node, size, spec) {
  const total = size.bulkBytes;
  const count = total / size.bulkMessage;
  let received = 0;
  let t0;
  let cpu0;
  let done;
  const finished = new Promise((r) => (done = r));
  node.onAccept((c) =>
    c.onMessage((length) => {
      if (t0 === undefined) {
        t0 = performance.now();
        cpu0 = cpuMs();
      }
      received += length;
      if (received >= total) done({ ms: performance.now() - t0, cpuMs: cpuMs() - cpu0 });
    }),
  );
  const args = JSON.stringify({ contender: spec.contender, lib: spec.lib, target: node.target, count, bytes: size.bulkMessage, window: size.bulkWindow });
  const child = spawn(process.execPath, [fileURLToPath(new URL("./sender.mjs", import.meta.url)), args], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const exited = new Promise((r) => child.once("exit", r));
  const failed = exited.then((code) => {
    throw new Error(`the sender process exited (${code}) before the listener had every byte`);
  });
  try {
    const { ms, cpuMs: receiverCpuMs } = await Promise.race([finished, failed]);
    child.stdin.end();
    await exited;
    const sender = JSON.parse(out.trim().split("\n").pop());
    const mib = total / 2 ** 20;
    return { MBps: total / 1e6 / (ms / 1000), receiverCpuMsPerMiB: receiverCpuMs / mib, senderCpuMsPerMiB: sender.cpuMs / mib };
  } finally {
    child.kill();
  }
}

async function small(node, size) {
  // A short warm-up run on the same connection pair would change nothing measured: the JIT warms in the first
  // tens of thousands of messages, a small share of the run.
  const ms = await stream(node, size.smallCount, 64, size.smallWindow);
  return { kps: size.smallCount / ms };
}

/**
 * `idleConns` idle connections held: RSS and JS heap grown per connection (both ends), after full GCs. A first
 * batch of `idleWarm` connections, made the same way and closed, runs before the baseline: the code compiled on a
 * process's first connections (optimized code lives on the JS heap) is no memory per connection.
 */
async function idle(node, size) {
  let accepted = 0;
  node.onAccept(() => accepted++);
  const warm = [];
  await pool(size.idleWarm, 16, async () => warm.push(await node.dial()));
  await until(() => accepted === size.idleWarm, "the warm-up connections");
  for (const c of warm) c.close();
  await sleep(50);
  await node.settled?.();
  await settleHeap();
  const m0 = process.memoryUsage();
  const conns = [];
  await pool(size.idleConns, 16, async () => conns.push(await node.dial()));
  await until(() => accepted - size.idleWarm >= size.idleConns, "the listener's side");
  await sleep(100);
  await settleHeap();
  const m1 = process.memoryUsage();
  const result = { rssKiB: (m1.rss - m0.rss) / 1024 / size.idleConns, heapKiB: (m1.heapUsed - m0.heapUsed) / 1024 / size.idleConns };
  for (const c of conns) c.close();
  return result;
}

/** The first message of {@link firstMessage} (and of the process warm-up before `firstWarm`, and of timeline.mjs). */
export const FIRST_MESSAGE = new Uint8Array(32).fill(1);

/**
 * Time from the dial to the first message at the listener (0-RTT where the contender has it), p50 in ms, timed
 * where the message arrives. Also, informational, the time until `dial()` resolved: raw TLS resolves at its
 * `secureConnect` (before the message is written); a peerlink dial resolves once the listener's Hello came back,
 * half a round trip after its own Hello and message left.
 */
async function firstMessage(node, size) {
  let arrived;
  node.onAccept((c) => c.onMessage(() => arrived?.(performance.now())));
  const samples = [];
  const dialSamples = [];
  for (let i = 0; i < size.firstMessages + 2; i++) {
    const got = new Promise((r) => (arrived = r));
    const t0 = performance.now();
    const c = await node.dial({ early: FIRST_MESSAGE });
    const dialed = performance.now();
    const at = await got;
    if (i >= 2) {
      samples.push(at - t0);
      dialSamples.push(dialed - t0);
    }
    c.close();
  }
  return { p50Ms: quantile(samples, 0.5), dialP50Ms: quantile(dialSamples, 0.5) };
}

/**
 * Figure name → { resume, warmProcess (first warm the process: {@link warmProcess}; `warmEarly`: with the figure's
 * first message on every warm-up dial), run(node, size, spec) }.
 */
export const FIGURES = {
  setup: { resume: false, run: (node, size) => setup(node, size, { resume: false }) },
  resumed: { resume: true, run: (node, size) => setup(node, size, { resume: true }) },
  setupWarm: { resume: false, warmProcess: true, run: (node, size) => setup(node, size, { resume: false }) },
  resumedWarm: { resume: true, warmProcess: true, run: (node, size) => setup(node, size, { resume: true }) },
  ping: { resume: false, run: ping },
  bulk: { resume: false, run: bulk },
  bulkSplit: { resume: false, run: bulkSplit },
  small: { resume: false, run: small },
  idle: { resume: false, run: idle },
  first: { resume: false, run: firstMessage },
  firstWarm: { resume: false, warmProcess: true, warmEarly: FIRST_MESSAGE, run: firstMessage },
};
