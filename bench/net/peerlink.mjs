// Contender: peerlink through its public API only (ConnectionManager from dist/). Limits lifted for a
// benchmark from one address; maintenance and reconnection off (the raw baseline has neither).
import { deferred } from "./common.mjs";

const PROTOCOL = "/bench";
const LIMITS = {
  maxConnections: 100_000,
  maxInbound: 100_000,
  maxOutbound: 100_000,
  highWatermark: 100_000,
  lowWatermark: 100_000,
  maxPerIp: 100_000,
  maxPerSubnet: 100_000,
  maxPendingInbound: 10_000,
  maxPendingPerIp: 10_000,
  maxPendingPerSubnet: 10_000,
  maxPendingOutbound: 10_000,
  inboundRateBurst: 1_000_000,
  inboundRatePerSecond: 1_000_000,
};

function wrap(connection) {
  let onMessage = () => {};
  let nonce = 0;
  let pendingPing;
  connection.on("message", ({ data }) => onMessage(data.length, data, 0));
  connection.on("pong", (p) => {
    if (pendingPing !== undefined && p.nonce === pendingPing.nonce) pendingPing.resolve();
  });
  return {
    connection,
    resumed: connection.sessionReused,
    onMessage(fn) {
      onMessage = fn;
    },
    send(payload) {
      return connection.send(PROTOCOL, payload);
    },
    async ping() {
      pendingPing = deferred();
      pendingPing.nonce = nonce = (nonce + 1) >>> 0;
      const started = performance.now();
      connection.sendPing(nonce, 0);
      await pendingPing.promise;
      return performance.now() - started;
    },
    close() {
      connection.abort();
    },
  };
}

/** Starts a listener and a dialer (`resume`: with a session cache big enough for every dial to find a ticket). */
export async function start({ lib, resume = false, name = "peerlink" }) {
  const { ConnectionManager, TlsSessionCache } = lib;
  const common = { limits: LIMITS, maintenance: false, reconnect: false, protocols: [{ name: PROTOCOL }], enable0Rtt: true };
  const listener = new ConnectionManager({ ...common, listen: ["127.0.0.1:0"], tls: { sessionCache: false } });
  await listener.start();
  const sessionCache = resume ? new TlsSessionCache({ maxTicketsPerAddress: 4096 }) : false;
  const dialer = new ConnectionManager({ ...common, tls: { sessionCache } });
  await dialer.start();
  let onAccept = () => {};
  listener.on("connection:open", ({ connection }) => onAccept(wrap(connection)));
  const target = { peerId: listener.peerId, addresses: [listener.addresses[0]] };
  return {
    name,
    onAccept(fn) {
      onAccept = fn;
    },
    async dial({ early } = {}) {
      const options = { force: true, ...(early === undefined ? {} : { earlyMessages: [{ protocol: PROTOCOL, data: early }] }) };
      return wrap(await dialer.dial(target, options));
    },
    async stop() {
      await dialer.stop();
      await listener.stop();
    },
  };
}
