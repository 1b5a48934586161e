// Time to the first application message at the listener, measured from the dialer's dial() call:
// without and with 0-RTT early data, TLS fresh vs resumed (session ticket), and plain TCP; on direct
// loopback and through a userspace relay adding a one-way delay (so round trips are visible).
// Median of ROUNDS dials per cell. Prints a Markdown table. Run via `npm run bench` (builds dist/ first).
import net from "node:net";
import { ConnectionManager, TlsSessionCache } from "../dist/src/index.js";

const ROUNDS = Number(process.env.BENCH_HANDSHAKE_ROUNDS ?? 15);
const DELAY_MS = Number(process.env.BENCH_DELAY_MS ?? 10);
const enc = new TextEncoder();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A TCP relay that delays every chunk by `delayMs` in each direction, preserving order. */
async function startRelay(targetPort, delayMs) {
  const sockets = new Set();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, "127.0.0.1");
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    const pipe = (from, to) => {
      from.on("data", (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs));
      from.on("end", () => setTimeout(() => to.destroyed || to.end(), delayMs));
    };
    pipe(inbound, outbound);
    pipe(outbound, inbound);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

async function measure({ tls, resumed, early, delayMs }) {
  // Every dial comes from 127.0.0.1: lift the per-IP inbound rate limit for the bench.
  const limits = { inboundRateBurst: 10_000, inboundRatePerSecond: 10_000 };
  const listener = new ConnectionManager({ listen: ["127.0.0.1:0"], tls, limits, protocols: [{ name: "/bench" }] });
  await listener.start();
  const relay = delayMs > 0 ? await startRelay(Number(listener.addresses[0].split(":")[1]), delayMs) : undefined;
  const address = relay ? `127.0.0.1:${relay.port}` : listener.addresses[0];
  const cache = resumed ? new TlsSessionCache() : false;
  const dialerTls = tls === false ? false : { sessionCache: cache };
  const dialer = new ConnectionManager({ tls: dialerTls, protocols: [{ name: "/bench" }] });
  await dialer.start();
  const samples = [];
  let misses = 0;
  let waiting;
  listener.on("message", () => waiting?.());
  for (let i = 0; samples.length < ROUNDS && i < ROUNDS * 3; i++) {
    const arrived = new Promise((r) => (waiting = r));
    const started = performance.now();
    const options = early ? { earlyMessages: [{ protocol: "/bench", data: enc.encode("first") }] } : {};
    const conn = await dialer.dial({ peerId: listener.peerId, addresses: [address] }, options);
    if (!early) await conn.send("/bench", enc.encode("first"));
    await arrived;
    const elapsed = performance.now() - started;
    // The first dial of a resumed series only fills the ticket cache.
    // The first dial of a resumed series only fills the ticket cache; count only dials that resumed.
    if (!resumed || conn.sessionReused) samples.push(elapsed);
    else if (i > 0) misses++;
    // TLS 1.3 tickets arrive after the handshake: keep the connection until one is cached (bounded).
    for (let wait = 0; cache && cache.size === 0 && wait < 100; wait++) await new Promise((r) => setTimeout(r, 2));
    await conn.close("normal", { timeoutMs: 1000 });
    await conn.closed;
  }
  await dialer.stop();
  await listener.stop();
  await relay?.close();
  return { median: median(samples), misses };
}

const rows = [];
for (const delayMs of [0, DELAY_MS]) {
  for (const [label, tls, resumed] of [
    ["TLS 1.3, fresh session", true, false],
    ["TLS 1.3, resumed session", true, true],
    ["plain TCP", false, false],
  ]) {
    const a = await measure({ tls, resumed, early: false, delayMs });
    const b = await measure({ tls, resumed, early: true, delayMs });
    rows.push({ delayMs, label, without: a.median, withEarly: b.median, misses: a.misses + b.misses });
  }
}

console.log(`## Handshake: time to first application message (median of ${ROUNDS} dials)\n`);
console.log("Measured at the listener from the dialer's `dial()` call, including TCP connect, TLS and the peerlink");
console.log(`handshake. "delay" is a userspace relay adding that much one-way delay (RTT = 2 × delay).\n`);
console.log("| path | one-way delay | send after open | 0-RTT early message | saved | resumption misses |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const r of rows) {
  const saved = r.without - r.withEarly;
  console.log(
    `| ${r.label} | ${r.delayMs} ms | ${r.without.toFixed(2)} ms | ${r.withEarly.toFixed(2)} ms | ${saved.toFixed(2)} ms (${((saved / r.without) * 100).toFixed(0)} %) | ${r.label.includes("resumed") ? r.misses : "–"} |`,
  );
}
