import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { TLSSocket } from "node:tls";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { TlsSessionCache } from "../../src/transport/session-cache.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import { PEERLINK_CERT_ALPN, type ResolvedTls, type SecureChannel } from "../../src/transport/types.js";
import { destroyAll, readBytes, startTestServer, type TestServer } from "./fixtures.js";
import { countTransportHandles, expectHandlesBackTo } from "./resources.js";

let dialerTls: ResolvedTls;
let listenerTls: ResolvedTls;
let baseline: number;

beforeAll(async () => {
  baseline = countTransportHandles();
  dialerTls = await resolveTls(Identity.generate());
  listenerTls = await resolveTls(Identity.generate());
});

afterAll(async () => {
  await expectHandlesBackTo(baseline);
});

const cases = [
  { name: "TLS over IPv4", host: "127.0.0.1", secure: true },
  { name: "TLS over IPv6", host: "::1", secure: true },
  { name: "plain TCP over IPv4", host: "127.0.0.1", secure: false },
  { name: "plain TCP over IPv6", host: "::1", secure: false },
] as const;

describe.each(cases)("dialing and accepting with $name", ({ host, secure }) => {
  it("carries bytes both ways and reports matching endpoints", async () => {
    const server = await startTestServer(secure ? listenerTls : undefined, host);
    let outbound: SecureChannel | undefined;
    let inbound: SecureChannel | undefined;
    try {
      outbound = await dialChannel({ host, port: server.port, tls: secure ? dialerTls : undefined, deadline: Date.now() + 5000 });
      const result = await server.nextInbound();
      if (!result.ok) throw result.error;
      inbound = result.channel;

      expect(outbound.direction).toBe("outbound");
      expect(inbound.direction).toBe("inbound");
      expect(outbound.secure).toBe(secure);
      expect(inbound.secure).toBe(secure);
      expect(outbound.socket instanceof TLSSocket).toBe(secure);
      expect(outbound.remoteAddress).toBe(host);
      expect(outbound.remotePort).toBe(server.port);
      expect(inbound.remotePort).toBe(outbound.localPort);
      expect(inbound.localPort).toBe(server.port);
      expect(inbound.remoteAddress).toBe(outbound.localAddress);

      const toListener = readBytes(inbound.socket, 5);
      const toDialer = readBytes(outbound.socket, 6);
      outbound.socket.write("hello");
      inbound.socket.write("world!");
      expect((await toListener).toString()).toBe("hello");
      expect((await toDialer).toString()).toBe("world!");
    } finally {
      await destroyAll(outbound, inbound);
      await server.close();
    }
  });

  it(secure ? "exposes the same 32-byte tls-exporter on both ends" : "has no tls-exporter", async () => {
    const server = await startTestServer(secure ? listenerTls : undefined, host);
    let outbound: SecureChannel | undefined;
    let inbound: SecureChannel | undefined;
    try {
      outbound = await dialChannel({ host: host.includes(":") ? `[${host}]` : host, port: server.port, tls: secure ? dialerTls : undefined });
      const result = await server.nextInbound();
      if (!result.ok) throw result.error;
      inbound = result.channel;
      if (secure) {
        expect(outbound.tlsExporter).toHaveLength(32);
        expect(Buffer.from(outbound.tlsExporter ?? [])).toEqual(Buffer.from(inbound.tlsExporter ?? []));
        // Without a context (what Go's ExportKeyingMaterial(label, nil, 32) does): same value in TLS 1.3.
        const raw = (outbound.socket as TLSSocket).exportKeyingMaterial(32, "EXPORTER-Channel-Binding", undefined as unknown as Buffer);
        expect(Buffer.from(outbound.tlsExporter ?? [])).toEqual(raw);
        expect((outbound.socket as TLSSocket).alpnProtocol).toBe(PEERLINK_CERT_ALPN);
        expect((outbound.socket as TLSSocket).getProtocol()).toBe("TLSv1.3");
      } else {
        expect(outbound.tlsExporter).toBeUndefined();
        expect(inbound.tlsExporter).toBeUndefined();
      }
    } finally {
      await destroyAll(outbound, inbound);
      await server.close();
    }
  });
});

/** Starts a test server with `listener`, runs `body`, then destroys every channel `body` pushed and closes the server. */
async function withServer(listener: ResolvedTls, body: (server: TestServer, channels: SecureChannel[]) => Promise<void>): Promise<void> {
  const server = await startTestServer(listener);
  const channels: SecureChannel[] = [];
  try {
    await body(server, channels);
  } finally {
    await destroyAll(...channels);
    await server.close();
  }
}

/** Dials `server` with `tls` and takes the accepted side; both channels are pushed to `channels`. */
async function dialAndAccept(server: TestServer, tls: ResolvedTls, channels: SecureChannel[]): Promise<[SecureChannel, SecureChannel]> {
  const out = await dialChannel({ host: "127.0.0.1", port: server.port, tls });
  channels.push(out);
  const result = await server.nextInbound();
  if (!result.ok) throw result.error;
  channels.push(result.channel);
  return [out, result.channel];
}

/** Resolves once `channel` received a session ticket: tickets arrive after the handshake, while the socket reads. */
function ticketOf(channel: SecureChannel): Promise<unknown> {
  const ticket = once(channel.socket, "session");
  channel.socket.resume();
  return ticket;
}

describe("two TLS connections", () => {
  it("have different tls-exporter values", async () => {
    await withServer(listenerTls, async (server, channels) => {
      const [first] = await dialAndAccept(server, dialerTls, channels);
      const [second] = await dialAndAccept(server, dialerTls, channels);
      expect(Buffer.from(first.tlsExporter ?? [])).not.toEqual(Buffer.from(second.tlsExporter ?? []));
    });
  });
});

describe("redialing with a session cache", () => {
  it("resumes the TLS session from a ticket of the first connection", async () => {
    const cache = new TlsSessionCache();
    const tls = await resolveTls(Identity.generate(), { sessionCache: cache });
    await withServer(listenerTls, async (server, channels) => {
      const [first] = await dialAndAccept(server, tls, channels);
      expect(first.sessionReused).toBe(false);
      await ticketOf(first);
      expect(cache.has(`127.0.0.1:${server.port}`)).toBe(true);

      const [second, secondIn] = await dialAndAccept(server, tls, channels);
      expect(second.sessionReused).toBe(true);
      expect(secondIn.sessionReused).toBe(true);
      expect(Buffer.from(second.tlsExporter ?? [])).toEqual(Buffer.from(secondIn.tlsExporter ?? []));
      expect(Buffer.from(second.tlsExporter ?? [])).not.toEqual(Buffer.from(first.tlsExporter ?? []));
    });
  });

  it("does not resume from a listener with sessionTickets: false, whose tickets name no kept session", async () => {
    const cache = new TlsSessionCache();
    const tls = await resolveTls(Identity.generate(), { sessionCache: cache });
    await withServer(await resolveTls(Identity.generate(), { sessionTickets: false }), async (server, channels) => {
      const [first, firstIn] = await dialAndAccept(server, tls, channels);
      expect([first.sessionReused, firstIn.sessionReused]).toEqual([false, false]);
      await ticketOf(first);
      expect(cache.has(`127.0.0.1:${server.port}`)).toBe(true);
      // The redial offers the ticket the first connection left in the cache: the listener cannot resume it.
      const [second, secondIn] = await dialAndAccept(server, tls, channels);
      expect([second.sessionReused, secondIn.sessionReused]).toEqual([false, false]);
    });
  });

  it("still resumes its own dials when it issues no resumable tickets itself", async () => {
    const tls = await resolveTls(Identity.generate(), { sessionCache: new TlsSessionCache(), sessionTickets: false });
    await withServer(listenerTls, async (server, channels) => {
      const [first] = await dialAndAccept(server, tls, channels);
      await ticketOf(first);
      const [second, secondIn] = await dialAndAccept(server, tls, channels);
      expect([second.sessionReused, secondIn.sessionReused]).toEqual([true, true]);
    });
  });

  it("rejects a sessionTickets that is not a boolean", async () => {
    await expect(resolveTls(Identity.generate(), { sessionTickets: 1 as unknown as boolean })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("does not resume when the cache is disabled", async () => {
    const tls = await resolveTls(Identity.generate(), { sessionCache: false });
    expect(tls.sessionCache).toBeUndefined();
    await withServer(listenerTls, async (server, channels) => {
      for (let i = 0; i < 2; i++) {
        const [out] = await dialAndAccept(server, tls, channels);
        await ticketOf(out); // the server did offer a ticket; the dialer just did not keep it
        expect(out.sessionReused).toBe(false);
      }
    });
  });
});
