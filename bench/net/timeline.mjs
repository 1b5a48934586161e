// Where the first message's time goes, step by step, for raw TLS and peerlink in a warmed process
// (BENCHMARKS.md, eleventh pass). Informational: not a figure of `npm run bench:net`.
//
//   node bench/net/timeline.mjs [--processes N] [--dials N] [--warm N] [--dialers N] [--no-tickets]
//
// Each process runs one contender much as the `firstWarm` figure does: one listener, the figure's 32-byte message
// sent with the dial (0-RTT for peerlink, written at `secureConnect` for raw TLS), dials one at a time; unlike the
// figure, which has a dialer per dial in a process warmed on another contender, its dials come from one dialer (see
// `--dialers`) and warm this contender itself. After `warm` dials it records, for each of `dials` dials, when each
// step below first happened, in ms after `dial()` was called. The steps are read from Node's own objects (socket and
// server events, the TLS socket's writes), never from inside peerlink, so both contenders are timed at the same
// points; the hooks cost the same few µs in both. `--dialers N`: dials take N dialers (peerlink nodes, raw TLS
// identities) in turn, as the benchmark's figure has one per dial (default 1). `--no-tickets`: both listeners issue
// no resumable session tickets (OpenSSL 3 encrypts two per full handshake at the listener, between its TLS and its
// first read). Only the sockets of the dial in progress are timed: a late event of an earlier connection (its close)
// is not a step. Prints per step the median over the dials of each process, then the median and range over the
// processes (the lower middle one of an even count), and peerlink's difference. Processes alternate between the
// contenders.
import { execFile } from "node:child_process";
import net from "node:net";
import tls from "node:tls";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";
import { promisify } from "node:util";
import { numberOption, quantile, sleep } from "./common.mjs";
import { FIRST_MESSAGE } from "./figures.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const args = process.argv.slice(2);
const option = (name, fallback) => numberOption(args, name, fallback);
const CONTENDERS = ["raw", "peerlink"];
/** The steps, in the order they happen on a dial (`dial()` called is 0). */
const STEPS = [
  "connect() called",
  "listener accepted the TCP socket",
  "listener's accept handler returned",
  "dialer's TLS done",
  "dialer's first write",
  "listener's TLS done",
  "listener's first data",
  "message delivered",
  "dial() resolved",
];

if (args[0] === "--child") {
  console.log(JSON.stringify(await measure(args[1], Number(args[2]), Number(args[3]), Number(args[4]), args[5] === "true")));
  process.exit(0);
}

const processes = option("--processes", 4);
const dials = option("--dials", 2000);
const warm = option("--warm", 500);
const dialers = option("--dialers", 1);
const tickets = !args.includes("--no-tickets");
const run = promisify(execFile);
const results = Object.fromEntries(CONTENDERS.map((c) => [c, []]));
for (let p = 0; p < processes; p++) {
  for (const contender of p % 2 === 0 ? CONTENDERS : [...CONTENDERS].reverse()) {
    const child = [fileURLToPath(import.meta.url), "--child", contender, String(dials), String(warm), String(dialers), String(tickets)];
    const { stdout } = await run(process.execPath, child, { maxBuffer: 1 << 20, timeout: 15 * 60_000 });
    results[contender].push(JSON.parse(stdout.trim().split("\n").at(-1)));
    process.stderr.write(`process ${p + 1}/${processes} ${contender}: message at ${results[contender].at(-1)["message delivered"].toFixed(3)} ms\n`);
  }
}
const cell = (values) => {
  if (values.length === 0) return "–";
  const range = values.length > 1 ? ` (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})` : "";
  return `${quantile(values, 0.5).toFixed(2)}${range}`;
};
console.log(`| step (ms after \`dial()\`, median of ${dials} dials, median and range over ${processes} processes) | raw TLS | peerlink | difference |`);
console.log("|---|---:|---:|---:|");
for (const step of STEPS) {
  const raw = results.raw.map((r) => r[step]).filter((v) => v !== undefined);
  const peerlink = results.peerlink.map((r) => r[step]).filter((v) => v !== undefined);
  const d = raw.length > 0 && peerlink.length > 0 ? quantile(peerlink, 0.5) - quantile(raw, 0.5) : undefined;
  const diff = d === undefined ? "–" : `${d >= 0 ? "+" : ""}${d.toFixed(2)}`;
  console.log(`| ${step} | ${cell(raw)} | ${cell(peerlink)} | ${diff} |`);
}

/** One process: the median time of each step over `dials` dials, after `warm` dials. */
async function measure(contender, dials, warm, dialers, tickets) {
  let marks;
  let t0 = 0;
  let dial = 0;
  /** The dial each socket was first seen in: a socket of an earlier dial marks nothing. */
  const dialOf = new WeakMap();
  const mark = (step, socket) => {
    if (socket !== undefined) {
      if (!dialOf.has(socket)) dialOf.set(socket, dial);
      if (dialOf.get(socket) !== dial) return;
    }
    if (marks !== undefined && !marks.has(step)) marks.set(step, performance.now() - t0);
  };
  hookNode(mark);
  const lib = await import(pathToFileURL(path.join(root, "dist/src/index.js")).href);
  const node =
    contender === "raw"
      ? await (await import("./raw-tls.mjs")).start({ makeCredentials: () => lib.createTlsCredentials(lib.Identity.generate()), resume: false, dialers, tickets })
      : await (await import("./peerlink.mjs")).start({ lib, resume: false, dialers, tickets });
  let arrived;
  node.onAccept((c) => c.onMessage(() => arrived?.()));
  const samples = new Map(STEPS.map((s) => [s, []]));
  for (let i = 0; i < warm + dials; i++) {
    const got = new Promise((resolve) => {
      arrived = () => {
        mark("message delivered");
        resolve();
      };
    });
    marks = new Map();
    dial = i;
    t0 = performance.now();
    const conn = await node.dial({ early: FIRST_MESSAGE });
    mark("dial() resolved");
    await bounded(got, `the message of dial ${i}`);
    if (i >= warm) for (const [step, at] of marks) samples.get(step)?.push(at);
    marks = undefined;
    conn.close();
    await sleep(0);
  }
  await node.stop();
  return Object.fromEntries([...samples].filter(([, v]) => v.length > 0).map(([step, v]) => [step, quantile(v, 0.5)]));
}

/** `promise`, or a rejection naming `what` after 10 s: a lost message ends the process instead of hanging it. */
function bounded(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Marks the steps at Node's own objects (see the module comment). */
function hookNode(mark) {
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...rest) {
    mark("connect() called", this);
    return connect.apply(this, rest);
  };
  const serverEmit = net.Server.prototype.emit;
  net.Server.prototype.emit = function (event, ...rest) {
    if (event !== "connection") return serverEmit.call(this, event, ...rest);
    mark("listener accepted the TCP socket", rest[0]);
    const result = serverEmit.call(this, event, ...rest);
    mark("listener's accept handler returned", rest[0]);
    return result;
  };
  const tlsEmit = tls.TLSSocket.prototype.emit;
  tls.TLSSocket.prototype.emit = function (event, ...rest) {
    const listener = this._tlsOptions?.isServer === true;
    if (event === "secure") mark(listener ? "listener's TLS done" : "dialer's TLS done", this);
    else if (event === "data" && listener) mark("listener's first data", this);
    return tlsEmit.call(this, event, ...rest);
  };
  for (const method of ["_writeGeneric", "_writev"]) {
    const write = net.Socket.prototype[method];
    net.Socket.prototype[method] = function (...rest) {
      if (this instanceof tls.TLSSocket && this._tlsOptions?.isServer !== true) mark("dialer's first write", this);
      return write.apply(this, rest);
    };
  }
}
