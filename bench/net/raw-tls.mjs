// Contender: raw Node mutual TLS 1.3 with self-signed Ed25519 certificates (the practical limit).
// Frames: 4-byte big-endian length + 1 type byte (0 data, 1 ping, 2 pong) + payload. A peer is accepted when
// it presented a certificate (the same kind of check peerlink's TLS layer leaves to its handshake). Sends
// resolve on the socket's write callback: the same flow control as peerlink's `send`.
import { constants, createHash } from "node:crypto";
import tls from "node:tls";
import { deferred, lengthPrefixDecoder } from "./common.mjs";

const TYPE_DATA = 0;
const TYPE_PING = 1;
const TYPE_PONG = 2;

function encode(type, payload) {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out.writeUInt32BE(payload.length + 1, 0);
  out[4] = type;
  out.set(payload, 5);
  return out;
}

/**
 * The peer showed a certificate, or resumed a session that was authenticated when it was made. Read as an
 * `X509Certificate`, as peerlink's transport reads it: the legacy `getPeerCertificate()` object (subject,
 * issuer, fingerprints as strings) cost raw TLS 0.05–0.18 ms more per connection (BENCHMARKS.md, tenth pass).
 */
function authenticated(socket) {
  // Called once per socket: on a client socket, Node 20 hands out the peer's certificate to the first call only.
  return socket.isSessionReused() || socket.getPeerX509Certificate() !== undefined;
}

/** Wraps a secured socket as a benchmark connection. */
function wrap(socket) {
  let onMessage = () => {};
  let pendingPing;
  const pingFrame = encode(TYPE_PING, new Uint8Array(8));
  const push = lengthPrefixDecoder((bytes, offset, length) => {
    const type = bytes[offset];
    if (type === TYPE_DATA) onMessage(length - 1, bytes, offset + 1);
    else if (type === TYPE_PING) socket.write(encode(TYPE_PONG, bytes.subarray(offset + 1, offset + length)));
    else if (type === TYPE_PONG) pendingPing?.resolve();
  });
  socket.on("data", push);
  socket.on("error", () => {});
  return {
    socket,
    onMessage(fn) {
      onMessage = fn;
    },
    send(payload) {
      return new Promise((resolve, reject) => socket.write(encode(TYPE_DATA, payload), (e) => (e ? reject(e) : resolve())));
    },
    async ping() {
      pendingPing = deferred();
      const started = performance.now();
      socket.write(pingFrame);
      await pendingPing.promise;
      return performance.now() - started;
    },
    close() {
      socket.destroy();
    },
  };
}

/** TLS options both ends use: mutual TLS 1.3, a peer accepted when it shows a certificate (see `authenticated`). */
function tlsOptions({ key, cert }) {
  return { key, cert, minVersion: "TLSv1.3", maxVersion: "TLSv1.3", rejectUnauthorized: false };
}

/**
 * Starts a listener and `dialers` dialer identities in this process, as peerlink's benchmark has one dialer node
 * per connection alive at once: each identity has its own key and certificate (from `makeCredentials()`, as the
 * listener's) and client context, and dials take them in turn. `shared`: one client identity for every dial
 * instead (the listener's own key and certificate), which one process of many identities cannot match: in a fresh process, 256 client contexts cost raw TLS
 * 0.3–0.5 ms more CPU per connection than one (BENCHMARKS.md, tenth pass). `resume`: each identity keeps the
 * tickets it is given and offers one (single use) per dial, as peerlink's session cache does. `tickets: false`: the
 * listener issues no resumable tickets (`SSL_OP_NO_TICKET`, as peerlink's `tls.sessionTickets: false`).
 */
export async function start({ makeCredentials, resume = false, dialers = 1, shared = false, tickets = true }) {
  const credentials = await makeCredentials();
  const common = tlsOptions(credentials);
  const sessionIdContext = createHash("sha256").update(credentials.cert).digest("hex").slice(0, 32);
  // One client context per identity, made before anything is measured, as peerlink keeps one per node: passing
  // key and cert to each tls.connect would parse them again each time (~0.57 ms per dial here).
  const clients = [];
  for (let i = 0; i < (shared ? 1 : dialers); i++) {
    const own = shared ? credentials : await makeCredentials();
    clients.push({ context: tls.createSecureContext(tlsOptions(own)), tickets: [] });
  }
  let next = 0;
  // Tickets kept per identity: 4,096 in all, as when one identity dialed every connection.
  const keptTickets = Math.max(2, Math.floor(4096 / clients.length));
  let onAccept = () => {};
  const noTickets = tickets ? {} : { secureOptions: constants.SSL_OP_NO_TICKET };
  const server = tls.createServer({ ...common, requestCert: true, sessionIdContext, ...noTickets }, (socket) => {
    socket.setNoDelay(true);
    if (!authenticated(socket)) return socket.destroy();
    onAccept(wrap(socket));
  });
  server.on("tlsClientError", () => {});
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  // Tickets are offered only once `ticketsReady` was called (after the warm-up batch): the warm-up makes full
  // handshakes and stores their tickets, as each peerlink dialer's first dial does. Offering them during the
  // warm-up would use them up: a resumed session brings no new ticket (OpenSSL 3 sends none after a
  // resumption), so the measured batch found the list empty for about a quarter of its dials.
  let offering = false;
  const sockets = new Set();
  return {
    name: "raw TLS",
    /** Where a dialer in another process connects (see {@link dialFrom}). */
    target: { port },
    onAccept(fn) {
      onAccept = fn;
    },
    /** Dials; with `early`, writes it as the first message once TLS is done. Resolves with the connection. */
    dial({ early } = {}) {
      const client = clients[next++ % clients.length];
      const session = resume && offering ? client.tickets.pop() : undefined;
      return new Promise((resolve, reject) => {
        const socket = tls.connect({ secureContext: client.context, rejectUnauthorized: false, host: "127.0.0.1", port, ...(session ? { session } : {}) }, () => {
          if (!authenticated(socket)) return reject(new Error("no peer certificate"));
          const conn = wrap(socket);
          conn.resumed = socket.isSessionReused();
          if (early !== undefined) socket.write(encode(TYPE_DATA, early));
          resolve(conn);
        });
        socket.setNoDelay(true);
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        if (resume) socket.on("session", (s) => client.tickets.length < keptTickets && client.tickets.push(s));
        socket.once("error", reject);
      });
    },
    /**
     * Waits (bounded) until each identity holds a ticket for every one of the next `count` dials that will use
     * it (dials take the identities in turn from where the last one stopped); warns when the bound runs out.
     */
    async ticketsReady(count) {
      const demand = clients.map(() => 0);
      for (let k = 0; k < count; k++) demand[(next + k) % clients.length]++;
      const ready = () => clients.every((c, i) => c.tickets.length >= Math.min(demand[i], keptTickets));
      let waited = 0;
      while (!ready() && waited++ < 2000) await new Promise((r) => setTimeout(r, 1));
      if (!ready()) process.emitWarning("raw TLS: some identities have fewer tickets than their measured dials; those dials make full handshakes");
      offering = true;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Dials `target` (a raw listener's `target`, from another process) with credentials of its own and resolves with
 * the connection: the sending side of the throughput figure with the dialer in its own process.
 */
export async function dialFrom({ credentials, target }) {
  const secureContext = tls.createSecureContext(tlsOptions(credentials));
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ secureContext, rejectUnauthorized: false, host: "127.0.0.1", port: target.port }, () => resolve(wrap(socket)));
    socket.setNoDelay(true);
    socket.once("error", reject);
  });
}
