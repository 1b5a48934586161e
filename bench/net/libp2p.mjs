// Contender: js-libp2p 3.x with TCP + Noise + yamux + identify (+ ping for the RTT figure), connection and
// stream limits lifted. One stream per connection carries the messages; its `send` returning false means
// "wait for drain" (libp2p's own flow control). Promise.withResolvers (Node 22+) is polyfilled here only.
import { deferred } from "./common.mjs";

if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = deferred;
}

const PROTOCOL = "/bench/1.0.0";

export async function load() {
  const [{ createLibp2p }, { tcp }, { noise }, { yamux }, { identify }, { ping }] = await Promise.all([
    import("libp2p"),
    import("@libp2p/tcp"),
    import("@chainsafe/libp2p-noise"),
    import("@chainsafe/libp2p-yamux"),
    import("@libp2p/identify"),
    import("@libp2p/ping"),
  ]);
  const make = (listen) =>
    createLibp2p({
      addresses: { listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping() },
      connectionManager: {
        maxConnections: 100_000,
        maxIncomingPendingConnections: 10_000,
        inboundConnectionThreshold: 1_000_000,
        maxParallelDials: 10_000,
        maxDialQueueLength: 100_000,
      },
    });
  return make;
}

function wrapStream(getStream) {
  return {
    async send(payload) {
      const stream = await getStream();
      if (!stream.send(payload)) await stream.onDrain();
    },
  };
}

/**
 * Starts a listener and `lanes` dialer nodes: libp2p's dial queue joins concurrent dials to one peer into one
 * connection even with `force`, so each concurrent dial needs a dialer of its own (made before measuring).
 */
export async function start({ make, lanes = 1 }) {
  const listener = await make(["/ip4/127.0.0.1/tcp/0"]);
  const dialers = await Promise.all(Array.from({ length: lanes }, () => make([])));
  const free = [...dialers];
  const waiting = [];
  const take = async () => free.pop() ?? (await new Promise((r) => waiting.push(r)));
  const give = (d) => (waiting.length > 0 ? waiting.shift()(d) : free.push(d));
  let onAccept = () => {};
  const accepted = new Map();
  // An inbound connection counts as accepted when libp2p opens it; its bench stream's bytes are reported as
  // message lengths (yamux keeps no message boundaries: the figures count bytes).
  listener.addEventListener("connection:open", (evt) => {
    const conn = { onMessage: (fn) => (conn.handler = fn), handler: () => {}, close: () => evt.detail.close() };
    accepted.set(evt.detail.id, conn);
    onAccept(conn);
  });
  await listener.handle(
    PROTOCOL,
    (stream, connection) => {
      const conn = accepted.get(connection.id);
      stream.addEventListener("message", (evt) => conn?.handler(evt.data.byteLength, evt.data, 0));
    },
    { maxInboundStreams: 1024, maxOutboundStreams: 1024 },
  );
  const address = listener.getMultiaddrs()[0];
  return {
    name: "js-libp2p",
    /** Where a dialer in another process connects (see {@link dialFrom}). */
    target: { address: address.toString() },
    onAccept(fn) {
      onAccept = fn;
    },
    async dial({ early } = {}) {
      const dialer = await take();
      let connection;
      try {
        connection = await dialer.dial(address, { force: true });
      } finally {
        give(dialer);
      }
      let stream;
      const getStream = () => (stream ??= connection.newStream(PROTOCOL, { runOnLimitedConnection: true }));
      const conn = {
        connection,
        resumed: false,
        ...wrapStream(getStream),
        async ping() {
          const started = performance.now();
          await dialer.services.ping.ping(connection.remotePeer);
          return performance.now() - started;
        },
        close: () => connection.close(),
      };
      if (early !== undefined) await conn.send(early);
      return conn;
    },
    async stop() {
      await Promise.all(dialers.map((d) => d.stop()));
      await listener.stop();
    },
  };
}

/**
 * Dials `target` (a listener's `target`, from another process) from a node of its own and resolves with a
 * connection whose `send` writes to one stream: the sending side of the throughput figure with the dialer in its
 * own process.
 */
export async function dialFrom({ make, target }) {
  const { multiaddr } = await import("@multiformats/multiaddr");
  const dialer = await make([]);
  const connection = await dialer.dial(multiaddr(target.address));
  const stream = await connection.newStream(PROTOCOL, { runOnLimitedConnection: true });
  return { ...wrapStream(() => stream), close: () => connection.close() };
}
