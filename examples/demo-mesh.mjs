#!/usr/bin/env node
// The peerlink story in under a minute, on 127.0.0.1: a ring of DEMO_NODES nodes (3..12, default 5) plus
// a guest, with mutual TLS and 0-RTT hellos. Then, in order: a limit refusal (node1 is full), a ban, a
// degraded link (a delay relay between node0 and node1) whose health grade falls until node0 replaces it
// make-before-break, a goodbye (the guest restarts) and the redial its reason calls for, and a closing
// summary. On a terminal a live table shows every connection; in a pipe, one line per step.
// `npm run demo`, or `node examples/demo-mesh.mjs [--forever]` (keep running until Ctrl-C).
import { Registry } from "prom-client";
import { ConnectionManager, serveStatus } from "../dist/src/index.js";
import { DelayRelay } from "./delay-relay.mjs";
import { SummaryCounters, renderConnections, renderSummary } from "./demo-view.mjs";

const N = Number(process.env.DEMO_NODES ?? 5);
if (!Number.isInteger(N) || N < 3 || N > 12) {
  console.error(`DEMO_NODES must be an integer from 3 to 12, got ${JSON.stringify(process.env.DEMO_NODES)}`);
  process.exit(2);
}
const forever = process.argv.includes("--forever");
const tty = process.stdout.isTTY === true && process.env.DEMO_PLAIN === undefined;
const enc = new TextEncoder();
const dec = new TextDecoder();
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Resolves when `promise` does or after `ms`, whichever comes first, leaving no timer behind. */
async function within(promise, ms) {
  let timer;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

// Short intervals so that a minute shows what takes minutes with the defaults (ping 15 s, health every
// 10 s, replacement after 60 s of Poor, shutdown redial after 1-10 s).
const maintenance = {
  pingIntervalMs: 500,
  rttSampleIntervalMs: 500,
  healthCheckIntervalMs: 500,
  hysteresisSamples: 2,
  degradedReplaceAfterMs: 2_500,
  minPongTimeoutMs: 1_000,
  maxPongTimeoutMs: 2_000,
  bandwidthProbe: { intervalMs: 1_500, initialDelayMs: 300, frameCount: 4, paddingBytes: 16_384 },
};
const reconnect = { policy: { strategies: { shutdown: { kind: "backoff", backoff: { baseMs: 3_000, factor: 2, maxMs: 30_000, minMs: 2_000, jitter: "full" } } } } };
// Every node dials from 127.0.0.1: lift the per-IP bounds meant for the open internet.
const openLimits = { inboundRateBurst: 100, inboundRatePerSecond: 100 };

const registry = new Registry();
const names = new Map(); // peer id -> node name
const counters = new SummaryCounters();
const story = [];
let phase = "starting";
let ending = false;

function say(text) {
  if (ending) return;
  const line = `${elapsed()}  ${text}`;
  story.push(line);
  if (story.length > 14) story.shift();
  if (!tty) console.log(line);
}
const nameOf = (peer) => names.get(String(peer)) ?? String(peer).slice(0, 8);

function makeNode(name, limits = {}, maintenanceOverrides = {}) {
  const node = new ConnectionManager({
    listen: ["127.0.0.1:0"],
    protocols: [{ name: "/chat", versions: [1] }],
    maintenance: { ...maintenance, ...maintenanceOverrides },
    reconnect,
    limits: { ...openLimits, ...limits },
    metrics: registry,
  });
  names.set(node.peerId.toString(), name);
  watch(name, node);
  return node;
}

function watch(name, node) {
  node.on("connection:open", ({ connection }) => {
    counters.opened(name);
    if (connection.direction === "outbound") say(`${name} -> ${nameOf(connection.remotePeer)}  open (${connection.secure ? "TLS 1.3" : "plain"}, ${connection.remoteAddress})`);
  });
  node.on("message", ({ peer, data }) => {
    counters.received(name);
    const text = dec.decode(data);
    if (text.includes("0-RTT")) say(`${name} <- ${nameOf(peer)}  "${text}"`);
  });
  node.on("connection:close", ({ peer, reason, initiator }) => {
    counters.closed(name, reason);
    if (initiator === "local") say(`${name} x  ${nameOf(peer)}  goodbye ${reason}`);
  });
  node.on("inbound:refused", ({ peer, error }) => {
    counters.refused(name);
    if (peer !== undefined) say(`${name} refuses ${nameOf(peer)}: ${error.code} (${error.rawMessage})`);
  });
  node.on("dial:refused", ({ target, error }) => say(`${name} dial to ${target} refused: ${error.code}`));
  node.on("peer:banned", ({ entry }) => {
    counters.banned(name);
    say(`${name} bans ${nameOf(entry.value)} for ${Math.round((entry.expiresAt - Date.now()) / 60_000)} min: "${entry.reason}" (kept local)`);
  });
  node.on("health:change", ({ peer, from, to, score }) => {
    if (name === "node0" || to === "poor" || to === "critical") {
      say(`${name} sees ${nameOf(peer)} ${from ?? "-"} -> ${to} (latency ${score.latency.toFixed(2)}, reliability ${score.reliability.toFixed(2)}, bandwidth ${score.bandwidth.toFixed(2)})`);
    }
  });
  node.on("reconnect:scheduled", ({ peer, reason, delayMs }) => say(`${name} will redial ${nameOf(peer)} in ${(delayMs / 1000).toFixed(1)} s (after ${reason})`));
  node.on("reconnect:attempt", ({ peer }) => {
    counters.redialed(name);
    say(`${name} redials ${nameOf(peer)}`);
  });
  node.on("reconnect:abandoned", ({ peer, reason }) => say(`${name} will never redial ${nameOf(peer)} (${reason})`));
}

function draw() {
  if (!tty) return;
  const lines = [
    `peerlink demo: ${N} nodes + guest on 127.0.0.1   ${elapsed()}   ${phase}`,
    status ? `status page of node0: ${status.url}   (Prometheus: ${status.url}metrics)` : "",
    "",
    ...renderConnections(all(), names),
    "",
    ...story,
  ];
  process.stdout.write(`\x1b[H\x1b[J${lines.join("\n")}\n`);
}

function setPhase(text) {
  phase = text;
  say(`== ${text}`);
}

// ---- establishment: a ring, 0-RTT hellos, a limit refusal -----------------------------------------
const nodes = [];
// node1 accepts one inbound connection, and leaves replacing the link it shares with node0 to node0.
for (let i = 0; i < N; i++) nodes.push(i === 1 ? makeNode("node1", { maxInbound: 1 }, { replaceDegraded: false }) : makeNode(`node${i}`));
let guest = makeNode("guest");
const all = () => [...nodes.map((n, i) => [`node${i}`, n]), ["guest", guest]];
for (const node of [...nodes, guest]) await node.start();
const status = await serveStatus(nodes[0], { host: "127.0.0.1", port: 0, registry });
if (!tty) console.log(`status page of node0: ${status.url}  (Prometheus: ${status.url}metrics)`);
const timer = tty ? setInterval(draw, 250) : undefined;
setPhase(`establishment: ${N} nodes dial the next in a ring with a 0-RTT hello; node1 accepts one inbound connection`);

// node0 reaches node1 through a relay that will later degrade the link.
const relay = await DelayRelay.start(Number(nodes[1].addresses[0].split(":").pop()));
await Promise.all(
  nodes.map(async (node, i) => {
    const next = nodes[(i + 1) % N];
    const addresses = i === 0 ? [`127.0.0.1:${relay.port}`] : next.addresses;
    const conn = await node.dial({ peerId: next.peerId, addresses }, { earlyMessages: [{ protocol: "/chat", data: enc.encode(`hello from node${i} (0-RTT)`) }] });
    counters.sent(`node${i}`);
    return conn;
  }),
);
// Traffic on every connection, so rates and the bandwidth meters move.
const chatter = setInterval(() => {
  for (const [name, node] of all()) {
    for (const conn of node.connections()) if (conn.canSend) conn.send("/chat", enc.encode(`${name} at ${elapsed()}`)).then(() => counters.sent(name), () => {});
  }
}, 400);
await sleep(1_000);
// From another loopback subnet: from 127.0.0.1 the per-IP bound (a reset, before TLS) would refuse it first.
say("guest dials node1 from 127.0.1.1; node1 already holds its one inbound connection");
await guest.dial({ peerId: nodes[1].peerId, addresses: nodes[1].addresses }, { localAddress: "127.0.1.1" }).catch((error) => {
  counters.refused("guest");
  say(`guest's dial rejected: ${error.code} (node1 said Goodbye resource_constraint, retry after ${Math.round((error.cause?.retryAfterMs ?? 0) / 1000)} s)`);
});
await sleep(2_000);

// ---- a ban -----------------------------------------------------------------------------------------
setPhase("ban: node2 bans node1; the ban's reason stays local, node1 is told peer_banned and never redials");
nodes[2].ban(nodes[1].peerId, { reason: "demo: spamming /chat" });
await sleep(2_500);

// ---- a degraded link, graded and replaced ----------------------------------------------------------
setPhase("degraded link: 300 ms each way and 20 kB/s between node0 and node1; node0 knows the guest as a spare");
nodes[0].peers.addAddress(guest.peerId.toString(), guest.addresses[0], Date.now());
const replaced = new Promise((resolve) => {
  const onClose = ({ peer, reason }) => {
    if (peer === nodes[1].peerId.toString() && reason === "network_restructure") {
      nodes[0].off("connection:close", onClose);
      counters.replaced("node0");
      resolve();
    }
  };
  nodes[0].on("connection:close", onClose);
});
relay.set({ delayMs: 300, bytesPerSecond: 20_000 });
await within(replaced, 25_000);
say(nodes[0].getConnection(guest.peerId) ? "node0 replaced node1 by the guest: the new connection opened before the old one closed" : "node0 did not replace node1 in time");
await sleep(1_500);

// ---- goodbye and the redial its reason calls for -----------------------------------------------------
setPhase("goodbye: the guest restarts (Goodbye shutdown); node0 redials it after the shutdown backoff");
const guestKey = guest.identity;
const guestAddress = guest.addresses[0];
const back = new Promise((resolve) => {
  const onOpen = ({ connection }) => {
    if (connection.remotePeer.toString() === guestKey.peerId.toString()) {
      nodes[0].off("connection:open", onOpen);
      resolve();
    }
  };
  nodes[0].on("connection:open", onOpen);
});
await guest.stop();
await sleep(1_000);
guest = new ConnectionManager({ identity: guestKey, listen: [guestAddress], protocols: [{ name: "/chat" }], maintenance, reconnect, limits: openLimits, metrics: registry });
watch("guest", guest);
await guest.start();
say(`guest is back on ${guestAddress}`);
await within(back, 20_000);
await sleep(1_500);

// ---- the end ---------------------------------------------------------------------------------------
setPhase(forever ? "running until Ctrl-C" : "summary");
if (forever) await new Promise((resolve) => process.once("SIGINT", resolve));
clearInterval(chatter);
if (timer) clearInterval(timer);
draw();
ending = true;
const summary = renderSummary(all(), counters);
await status.close();
for (const [, node] of all()) await node.stop();
await relay.close();
console.log(["", ...summary, "", `demo finished in ${((performance.now() - started) / 1000).toFixed(1)} s`].join("\n"));
