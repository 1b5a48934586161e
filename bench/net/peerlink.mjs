// Contender: peerlink through its public API only (ConnectionManager from dist/). Limits lifted for a
// benchmark from one address; maintenance and reconnection off (the raw baseline has neither).
import { deferred } from "./common.mjs";

const PROTOCOL = "/bench";
/** Limits lifted for a benchmark from one address (shared with idle-heap.mjs). */
export const LIMITS = {
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

/**
 * The options with the per-connection inbound rate bounds off: the benchmark streams flat out from one peer,
 * far past the defaults (an application doing so raises them the same way). A build without the option (a
 * "before" tree) rejects it as unknown and gets the options unchanged.
 */
function withoutRateBounds(lib, options) {
  const lifted = { ...options, misbehaviour: { inboundRate: false } };
  try {
    new lib.ConnectionManager(lifted);
    return lifted;
  } catch {
    return options;
  }
}

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

/** The options every node of the benchmark shares (see the module comment). */
function nodeOptions(lib) {
  return withoutRateBounds(lib, { limits: LIMITS, maintenance: false, reconnect: false, protocols: [{ name: PROTOCOL }], enable0Rtt: true });
}

/**
 * Starts a listener and `dialers` dialer nodes, each with its own identity: a peerlink node keeps one
 * connection per peer (a second one to the same peer is resolved as a duplicate and closed), so every
 * connection alive at once needs a dialer of its own, as when many peers connect to one server. The
 * dialers are made before anything is measured. `resume`: each dialer keeps its TLS session tickets. `tickets:
 * false`: the listener issues no resumable tickets (`tls.sessionTickets: false`).
 */
export async function start({ lib, resume = false, dialers: count = 1, name = "peerlink", tickets = true }) {
  const { ConnectionManager, TlsSessionCache } = lib;
  const common = nodeOptions(lib);
  // sessionTickets named only when false: a "before" build (--before) without the option rejects it as unknown.
  const listenerTls = tickets ? { sessionCache: false } : { sessionCache: false, sessionTickets: false };
  const listener = new ConnectionManager({ ...common, listen: ["127.0.0.1:0"], tls: listenerTls });
  await listener.start();
  const dialers = [];
  for (let i = 0; i < count; i++) {
    const d = new ConnectionManager({ ...common, tls: { sessionCache: resume ? new TlsSessionCache() : false } });
    await d.start();
    dialers.push(d);
  }
  let next = 0;
  let open = 0;
  let onAccept = () => {};
  listener.on("connection:open", ({ connection }) => {
    open++;
    onAccept(wrap(connection));
  });
  listener.on("connection:close", () => open--);
  const target = { peerId: listener.peerId, addresses: [listener.addresses[0]] };
  return {
    name,
    /** Where a dialer in another process connects (see {@link dialFrom}). */
    target: { peerId: target.peerId.toString(), addresses: target.addresses },
    onAccept(fn) {
      onAccept = fn;
    },
    /** Dials from the next dialer in turn (so up to `dialers` connections can be alive at once). */
    async dial({ early } = {}) {
      const dialer = dialers[next++ % dialers.length];
      const options = early === undefined ? {} : { earlyMessages: [{ protocol: PROTOCOL, data: early }] };
      return wrap(await dialer.dial(target, options));
    },
    /** Resolves once the listener holds no connection (after the benchmark closed its connections). */
    async settled() {
      for (let i = 0; open > 0 && i < 5000; i++) await new Promise((r) => setTimeout(r, 1));
    },
    async stop() {
      for (const d of dialers) await d.stop();
      await listener.stop();
    },
  };
}

/**
 * Dials `target` (a listener's `target`, from another process) from a dialer node of its own and resolves with
 * the connection: the sending side of the throughput figure with the dialer in its own process.
 */
export async function dialFrom({ lib, target }) {
  const { ConnectionManager, PeerId } = lib;
  const dialer = new ConnectionManager({ ...nodeOptions(lib), tls: { sessionCache: false } });
  await dialer.start();
  return wrap(await dialer.dial({ peerId: PeerId.parse(target.peerId), addresses: target.addresses }));
}
