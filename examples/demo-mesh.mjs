#!/usr/bin/env node
// A local demo mesh on loopback: five peerlink nodes with mutual TLS dial each
// other, exchange chat messages, measure health, then one node leaves with a
// goodbye and the others see why. Run with `npm run demo`.
import { ConnectionManager } from "../dist/src/index.js";

const NODES = Number(process.env.DEMO_NODES ?? 5);
const enc = new TextEncoder();
const dec = new TextDecoder();
const short = (id) => String(id).slice(0, 8);
const log = (who, text) => console.log(`${new Date().toISOString().slice(11, 23)}  ${who.padEnd(8)}  ${text}`);

const nodes = [];
let node4BanClosed;
for (let i = 0; i < NODES; i++) {
  const node = new ConnectionManager({
    listen: ["127.0.0.1:0"],
    protocols: [{ name: "/chat", versions: [1] }],
    // Short intervals so the demo shows keepalive and health within seconds (defaults: 15 s and 10 s).
    maintenance: { pingIntervalMs: 500, rttSampleIntervalMs: 500, healthCheckIntervalMs: 500, bandwidthProbe: { intervalMs: 1000, initialDelayMs: 200 } },
    // Every node dials from 127.0.0.1: lift the per-IP rate limit meant for the open internet.
    limits: { inboundRateBurst: 100, inboundRatePerSecond: 100 },
  });
  const me = `node${i}`;
  node.on("connection:open", ({ connection }) =>
    log(me, `open   ${connection.direction.padEnd(8)} ${short(connection.remotePeer)} v${connection.protocolVersion} via ${connection.remoteAddress}`),
  );
  node.on("connection:close", ({ peer, reason, initiator }) => log(me, `close  ${short(peer)} reason=${reason} by ${initiator}`));
  node.on("message", ({ peer, protocol, data }) => log(me, `recv   ${protocol} from ${short(peer)}: ${dec.decode(data)}`));
  node.on("health:change", ({ peer, to, score }) =>
    log(me, `health ${short(peer)} → ${to} (latency ${score.latency.toFixed(2)}, reliability ${score.reliability.toFixed(2)}, bandwidth ${score.bandwidth.toFixed(2)})`),
  );
  node.on("reconnect:scheduled", ({ peer, reason, delayMs }) => log(me, `redial ${short(peer)} after ${reason} in ${Math.round(delayMs)} ms`));
  node.on("reconnect:abandoned", ({ peer, reason }) => log(me, `never redial ${short(peer)} (${reason})`));
  node.on("peer:banned", ({ entry }) => log(me, `banned ${entry.key.slice(0, 13)} until ${new Date(entry.expiresAt).toISOString().slice(11, 19)}: ${entry.reason}`));
  await node.start();
  log(me, `listening on ${node.addresses.join(", ")} as ${node.peerId}`);
  nodes.push(node);
}

// A ring plus one chord per node: every node dials the next and the one after it.
await Promise.all(
  nodes.flatMap((node, i) =>
    [1, 2].map(async (step) => {
      const other = nodes[(i + step) % NODES];
      if (other === node) return;
      const conn = await node.dial({ peerId: other.peerId, addresses: other.addresses }, {
        earlyMessages: [{ protocol: "/chat", data: enc.encode(`hello from node${i} (0-RTT)`) }],
      });
      await conn.send("/chat", enc.encode(`node${i} says hi after the handshake`));
    }),
  ),
);

await new Promise((r) => setTimeout(r, 2500));
for (const [i, node] of nodes.entries()) {
  for (const c of node.connections()) {
    const h = c.health;
    log(
      `node${i}`,
      `peer ${short(c.remotePeer)} rtt=${c.rtt === undefined ? "?" : c.rtt.toFixed(2)} ms health=${h?.grade ?? "unknown"}` +
        (h ? ` (latency ${h.latency.toFixed(2)}, reliability ${h.reliability.toFixed(2)}, bandwidth ${h.bandwidth.toFixed(2)})` : ""),
    );
  }
}

log("demo", "node1 bans node4");
node4BanClosed = new Promise((resolve) => nodes[4].once("connection:close", resolve));
nodes[1].ban(nodes[4].peerId, { reason: "demo: misbehaving peer" });
await node4BanClosed;
const decisions = nodes[1].decisions({ peerId: nodes[4].peerId.toString() });
log("node1", `journal for ${short(nodes[4].peerId)}: ${decisions.map((d) => `${d.kind}/${d.code}`).join(", ")}`);

log("demo", "node0 leaves the mesh");
await nodes[0].stop();
await new Promise((r) => setTimeout(r, 300));
for (const node of nodes.slice(1)) await node.stop();
log("demo", "all nodes stopped");
