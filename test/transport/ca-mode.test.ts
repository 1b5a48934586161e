import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Socket } from "node:net";
import tls from "node:tls";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { classifyEarlyClose, tlsFailed } from "../../src/transport/early-close.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import { createTlsCredentials } from "../../src/transport/tls-credentials.js";
import { PEERLINK_ALPN, type ResolvedTls, type SecureChannel } from "../../src/transport/types.js";
import { destroyAll, readBytes, startTestServer } from "./fixtures.js";
import { closed, countTransportHandles, expectHandlesBackTo } from "./resources.js";
import { createTestCa, type TestCa } from "./test-ca.js";

let trusted: TestCa;
let foreign: TestCa;
let listenerTls: ResolvedTls;
let baseline: number;

beforeAll(async () => {
  baseline = countTransportHandles();
  trusted = await createTestCa("peerlink test CA");
  foreign = await createTestCa("some other CA");
  const identity = Identity.generate();
  listenerTls = await resolveTls(identity, { credentials: await trusted.issue(identity), ca: [trusted.certificate] });
});

afterAll(async () => {
  await expectHandlesBackTo(baseline);
});

/** TLS config of a dialer whose certificate comes from `issuer` and that trusts `trustedCa`. */
async function dialerTls(issuer: TestCa | "self-signed", trustedCa: TestCa = trusted): Promise<ResolvedTls> {
  const identity = Identity.generate();
  const credentials = issuer === "self-signed" ? await createTlsCredentials(identity) : await issuer.issue(identity);
  return resolveTls(identity, { credentials, ca: [trustedCa.certificate] });
}

/** Resolves with the error (or undefined) the socket ends with. */
function endOf(socket: Socket): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    socket.on("error", (e) => (error ??= e));
    socket.once("close", () => resolve(error));
    socket.resume();
  });
}

describe("CA mode with certificates from the trusted CA on both sides", () => {
  it("connects and carries bytes", async () => {
    const server = await startTestServer(listenerTls);
    let outbound: SecureChannel | undefined;
    let inbound: SecureChannel | undefined;
    try {
      const tlsConfig = await dialerTls(trusted);
      expect(tlsConfig.verifyPeer).toBe(true);
      outbound = await dialChannel({ host: "127.0.0.1", port: server.port, tls: tlsConfig });
      const result = await server.nextInbound();
      if (!result.ok) throw result.error;
      inbound = result.channel;
      expect((outbound.socket as tls.TLSSocket).authorized).toBe(true);
      const got = readBytes(inbound.socket, 2);
      outbound.socket.write("ok");
      expect((await got).toString()).toBe("ok");
    } finally {
      await destroyAll(outbound, inbound);
      await server.close();
    }
  });
});

describe("CA mode with a dialer whose certificate does not chain to the CA", () => {
  it.each(["foreign CA", "self-signed"] as const)(
    "(%s) is refused by the listener, and the dialer sees AUTHENTICATION_FAILED",
    async (kind) => {
      const server = await startTestServer(listenerTls);
      let outbound: SecureChannel | undefined;
      try {
        // TLS 1.3: the client finishes its side of the handshake before the server checks its certificate.
        outbound = await dialChannel({ host: "127.0.0.1", port: server.port, tls: await dialerTls(kind === "foreign CA" ? foreign : "self-signed") });
        const ended = endOf(outbound.socket);
        const result = await server.nextInbound();
        expect(result).toMatchObject({ ok: false, error: { code: ErrorCode.TLS_FAILED } });
        expect((result as { error: PeerlinkError }).error.message).toMatch(/client certificate rejected/);

        const cause = await ended; // a close_notify, then a close or ECONNRESET, never any data
        // The close_notify tells the dialer its certificate was judged (not a pending connection dropped mid-TLS).
        expect(outbound.receivedSinceSecure?.()).toBeGreaterThan(0);
        const error = classifyEarlyClose(outbound, cause);
        expect(error.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
        expect(error.initiator).toBe("remote");
      } finally {
        await destroyAll(outbound);
        await server.close();
      }
    },
  );
});

describe("CA mode with a client that sends no certificate", () => {
  it("is refused during the handshake with a certificate_required alert", async () => {
    const server = await startTestServer(listenerTls);
    const client = tls.connect({
      host: "127.0.0.1",
      port: server.port,
      ca: [trusted.certificate],
      checkServerIdentity: () => undefined,
      ALPNProtocols: [PEERLINK_ALPN],
    });
    try {
      const ended = endOf(client);
      const result = await server.nextInbound();
      expect(result).toMatchObject({ ok: false, error: { code: ErrorCode.TLS_FAILED } });
      const cause = await ended;
      expect(cause).toMatchObject({ code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" });
      expect(tlsFailed("dial", cause).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    } finally {
      client.destroy();
      await closed(client);
      await server.close();
    }
  });
});

describe("CA mode with a listener whose certificate does not chain to the CA", () => {
  it("makes the dial fail with TLS_FAILED", async () => {
    const identity = Identity.generate();
    const untrustedListener = await resolveTls(identity, { credentials: await foreign.issue(identity), ca: [trusted.certificate] });
    const server = await startTestServer(untrustedListener);
    try {
      const error = await dialChannel({ host: "127.0.0.1", port: server.port, tls: await dialerTls(trusted) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PeerlinkError);
      expect((error as PeerlinkError).code).toBe(ErrorCode.TLS_FAILED);
      const inbound = await server.nextInbound();
      if (inbound.ok) await closed(inbound.channel.socket); // the dialer hung up on it
    } finally {
      await server.close();
    }
  });
});

describe("resolving TLS options", () => {
  it("rejects an empty CA list with INVALID_ARGUMENT", async () => {
    await expect(resolveTls(Identity.generate(), { ca: [] })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
  });

  it("rejects a key that does not match the certificate with INVALID_ARGUMENT", async () => {
    const other = await createTlsCredentials(Identity.generate());
    const identity = Identity.generate();
    await expect(
      resolveTls(identity, { credentials: { key: identity.toPem(), cert: other.cert } }),
    ).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
  });

  it("rejects garbage PEM with INVALID_ARGUMENT", async () => {
    await expect(
      resolveTls(Identity.generate(), { credentials: { key: "nope", cert: "nope" } }),
    ).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
  });
});
