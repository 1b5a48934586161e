import { afterAll, beforeAll, describe, expect, it } from "vitest";
import net from "node:net";
import tls from "node:tls";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { TlsSessionCache, sessionCacheKey } from "../../src/transport/session-cache.js";
import { secureInbound } from "../../src/transport/secure-inbound.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import { createTlsCredentials } from "../../src/transport/tls-credentials.js";
import { PEERLINK_ALPN, type ResolvedTls, type TlsCredentials } from "../../src/transport/types.js";
import { closedPort } from "../helpers/closed-port.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { startTestServer } from "./fixtures.js";
import { closed, countTransportHandles, expectHandlesBackTo } from "./resources.js";

let dialerTls: ResolvedTls;
let listenerTls: ResolvedTls;
let clientCredentials: TlsCredentials;
let baseline: number;

beforeAll(async () => {
  baseline = countTransportHandles();
  dialerTls = await resolveTls(Identity.generate());
  listenerTls = await resolveTls(Identity.generate());
  clientCredentials = await createTlsCredentials(Identity.generate());
});

afterAll(async () => {
  await expectHandlesBackTo(baseline);
});

/** A TCP server that accepts and then never sends a byte (it reads and drops what it gets, so it sees the close). */
async function startSilentServer(): Promise<{ port: number; accepted: Promise<net.Socket>; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  let onAccept!: (socket: net.Socket) => void;
  const accepted = new Promise<net.Socket>((resolve) => (onAccept = resolve));
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    socket.resume();
    onAccept(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted,
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(sockets.map(closed));
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("dialing a port nobody listens on", () => {
  it("fails with CONNECT_FAILED and keeps ECONNREFUSED as the cause", async () => {
    const port = await closedPort();
    const error = await rejectsWithCode(dialChannel({ host: "127.0.0.1", port, tls: dialerTls }), ErrorCode.CONNECT_FAILED);
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  it("leaves a cached session ticket for the next dial (it is used only once a ClientHello carries it)", async () => {
    const port = await closedPort();
    const cache = new TlsSessionCache();
    const key = sessionCacheKey("127.0.0.1", port);
    const session = Buffer.from("ticket");
    const peerKey = new Uint8Array(32).fill(1);
    cache.add(key, session, peerKey, dialerTls.ticketOwner);
    await rejectsWithCode(dialChannel({ host: "127.0.0.1", port, tls: { ...dialerTls, sessionCache: cache } }), ErrorCode.CONNECT_FAILED);
    expect(cache.takeTicket(key, dialerTls.ticketOwner)).toMatchObject({ session, peerCertificateKey: peerKey });
  });

  it("fails with CONNECT_FAILED over IPv6 too", async () => {
    const port = await closedPort();
    await rejectsWithCode(dialChannel({ host: "::1", port }), ErrorCode.CONNECT_FAILED);
  });
});

describe("dialing with bad arguments", () => {
  it.each([
    { host: "", port: 1 },
    { host: "127.0.0.1", port: 0 },
    { host: "127.0.0.1", port: 65_536 },
    { host: "127.0.0.1", port: 1.5 },
  ])("rejects host $host port $port with INVALID_ARGUMENT", async ({ host, port }) => {
    await rejectsWithCode(dialChannel({ host, port }), ErrorCode.INVALID_ARGUMENT);
  });

  it("rejects a non-finite deadline with INVALID_ARGUMENT", async () => {
    await rejectsWithCode(dialChannel({ host: "127.0.0.1", port: 1, deadline: Number.NaN }), ErrorCode.INVALID_ARGUMENT);
  });
});

describe("a listener that accepts TCP but never speaks TLS", () => {
  it("makes the dial fail with HANDSHAKE_TIMEOUT at the deadline and destroys the socket", async () => {
    const silent = await startSilentServer();
    try {
      const started = Date.now();
      const budget = 400;
      const dial = dialChannel({ host: "127.0.0.1", port: silent.port, tls: dialerTls, deadline: started + budget });
      const accepted = await silent.accepted;
      const peerSawClose = closed(accepted);
      await rejectsWithCode(dial, ErrorCode.HANDSHAKE_TIMEOUT);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(budget * 0.9);
      // A timer fires late on a busy machine, never early: the bound only tells the deadline from "never".
      expect(elapsed).toBeLessThan(budget + 5_000);
      await peerSawClose; // our side closed the connection
    } finally {
      await silent.close();
    }
  });
});

describe("a dialer that connects but never starts TLS", () => {
  it("makes secureInbound fail with HANDSHAKE_TIMEOUT at the deadline and destroys the socket", async () => {
    const server = await startTestServer(listenerTls, "127.0.0.1", 300);
    const client = net.connect({ host: "127.0.0.1", port: server.port });
    client.on("error", () => undefined);
    try {
      const started = Date.now();
      const clientSawClose = closed(client);
      const result = await server.nextInbound();
      expect(result.ok).toBe(false);
      expect((result as { error: unknown }).error).toMatchObject({ code: ErrorCode.HANDSHAKE_TIMEOUT });
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(300 * 0.9 - 20); // the deadline was set at accept, a little after connect
      expect(elapsed).toBeLessThan(300 + 5_000); // late on a busy machine, but not "never"
      await clientSawClose;
    } finally {
      client.destroy();
      await closed(client);
      await server.close();
    }
  });
});

describe("aborting a dial", () => {
  it("fails with ABORTED when the signal fires during the TLS handshake", async () => {
    const silent = await startSilentServer();
    try {
      const controller = new AbortController();
      const dial = dialChannel({ host: "127.0.0.1", port: silent.port, tls: dialerTls, signal: controller.signal });
      const accepted = await silent.accepted;
      const peerSawClose = closed(accepted);
      controller.abort(new Error("user cancelled"));
      const error = await rejectsWithCode(dial, ErrorCode.ABORTED);
      expect((error.cause as Error).message).toBe("user cancelled");
      await peerSawClose;
    } finally {
      await silent.close();
    }
  });

  it("fails with ABORTED at once when the signal is already aborted", async () => {
    const silent = await startSilentServer();
    try {
      let connected = false;
      void silent.accepted.then(() => (connected = true));
      await rejectsWithCode(
        dialChannel({ host: "127.0.0.1", port: silent.port, signal: AbortSignal.abort() }),
        ErrorCode.ABORTED,
      );
      expect(connected).toBe(false);
    } finally {
      await silent.close();
    }
  });

  it("fails with HANDSHAKE_TIMEOUT at once when the deadline has already passed", async () => {
    await rejectsWithCode(
      dialChannel({ host: "127.0.0.1", port: 9, deadline: Date.now() - 1 }),
      ErrorCode.HANDSHAKE_TIMEOUT,
    );
  });
});

describe("aborting secureInbound", () => {
  it("fails with ABORTED and destroys the accepted socket", async () => {
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = net.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port });
    client.on("error", () => undefined);
    try {
      const raw = await accepted;
      const controller = new AbortController();
      const securing = secureInbound(raw, { tls: listenerTls, signal: controller.signal });
      controller.abort();
      await rejectsWithCode(securing, ErrorCode.ABORTED);
      await closed(client);
      expect(raw.destroyed).toBe(true);
    } finally {
      client.destroy();
      await closed(client);
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("fails with CONNECTION_CLOSED for a socket that is already destroyed", async () => {
    const raw = new net.Socket();
    raw.destroy();
    await rejectsWithCode(secureInbound(raw, { tls: listenerTls }), ErrorCode.CONNECTION_CLOSED);
  });
});

describe("a TLS listener receiving something other than a peerlink TLS client", () => {
  it("fails secureInbound with TLS_FAILED on plain-text bytes", async () => {
    const server = await startTestServer(listenerTls);
    const client = net.connect({ host: "127.0.0.1", port: server.port });
    client.on("error", () => undefined);
    try {
      client.write("GET / HTTP/1.0\r\n\r\n");
      const result = await server.nextInbound();
      expect(result).toMatchObject({ ok: false, error: { code: ErrorCode.TLS_FAILED } });
    } finally {
      client.destroy();
      await closed(client);
      await server.close();
    }
  });

  it.each([
    { name: "another ALPN protocol", alpn: ["h2"] },
    { name: "no ALPN at all", alpn: undefined },
  ])("refuses a client offering $name with TLS_FAILED", async ({ alpn }) => {
    const server = await startTestServer(listenerTls);
    const client = tls.connect({
      host: "127.0.0.1",
      port: server.port,
      ...clientCredentials,
      rejectUnauthorized: false,
      minVersion: "TLSv1.3",
      ...(alpn === undefined ? {} : { ALPNProtocols: alpn }),
    });
    client.on("error", () => undefined);
    try {
      const result = await server.nextInbound();
      expect(result).toMatchObject({ ok: false, error: { code: ErrorCode.TLS_FAILED } });
      await closed(client);
    } finally {
      client.destroy();
      await closed(client);
      await server.close();
    }
  });

  it("refuses a client without a certificate with TLS_FAILED, and the client is told with an alert", async () => {
    const server = await startTestServer(listenerTls);
    const client = tls.connect({
      host: "127.0.0.1",
      port: server.port,
      rejectUnauthorized: false,
      ALPNProtocols: [PEERLINK_ALPN],
    });
    const clientError = new Promise<Error | undefined>((resolve) => {
      client.once("error", resolve);
      client.once("close", () => resolve(undefined));
    });
    client.resume();
    try {
      const result = await server.nextInbound();
      expect(result).toMatchObject({ ok: false, error: { code: ErrorCode.TLS_FAILED } });
      expect(await clientError).toMatchObject({ code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" });
    } finally {
      client.destroy();
      await closed(client);
      await server.close();
    }
  });
});

describe("a dialer reaching a TLS server that is not a peerlink node", () => {
  it("fails with TLS_FAILED when the server does not agree on ALPN peerlink/1", async () => {
    const credentials = await createTlsCredentials(Identity.generate());
    const sockets: tls.TLSSocket[] = [];
    const server = tls.createServer({ ...credentials, ALPNProtocols: ["h2"], minVersion: "TLSv1.3" }, (socket) => {
      sockets.push(socket);
      socket.on("error", () => undefined);
    });
    server.on("tlsClientError", () => undefined);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const error = await rejectsWithCode(
        dialChannel({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, tls: dialerTls }),
        ErrorCode.TLS_FAILED,
      );
      expect(error.message).toMatch(/ALPN|application protocol/i);
    } finally {
      for (const socket of sockets) socket.destroy();
      await Promise.all(sockets.map(closed));
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("fails with TLS_FAILED when the server closes during the TLS handshake", async () => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      await rejectsWithCode(
        dialChannel({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, tls: dialerTls }),
        ErrorCode.TLS_FAILED,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
