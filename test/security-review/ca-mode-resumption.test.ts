/**
 * Security review, CA mode (`tls.ca`) with resumption. secureInbound judges the client's chain with the TLS
 * handle's `verifyError()` after the handshake, also on a resumed session, which carries no certificate:
 * what it then judges is the verification result OpenSSL restores from the ticket. If that result were not
 * restored (reset to OK), a client refused once for its certificate would pass the CA policy by resuming
 * with a ticket it was issued before the refusal. peerlink's own listener sends a refused client no ticket
 * today (it ends the connection at once), so the property is pinned here on Node's TLS API directly.
 */
import { once } from "node:events";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/identity.js";
import { createTlsCredentials } from "../../src/transport/tls-credentials.js";
import { createTestCa } from "../transport/test-ca.js";

interface Verdict {
  readonly reused: boolean;
  readonly verifyError: Error | null;
  readonly peerCertificate: boolean;
}

describe("a TLS 1.3 server requesting client certificates from a CA (as secureInbound does)", () => {
  it("judges a resumed session by the verification result of the ticket's certificate, not as verified", async () => {
    const ca = await createTestCa("review CA");
    const serverIdentity = Identity.generate();
    const serverCredentials = await ca.issue(serverIdentity);
    const verdicts: Verdict[] = [];
    const server = tls.createServer(
      {
        ...serverCredentials,
        ca: [ca.certificate],
        minVersion: "TLSv1.3",
        requestCert: true,
        rejectUnauthorized: false, // judged below, like secureInbound
        sessionIdContext: "review",
      },
      (socket) => {
        const handle = (socket as unknown as { _handle: { verifyError(): Error | null } })._handle;
        verdicts.push({
          reused: socket.isSessionReused(),
          verifyError: handle.verifyError(),
          peerCertificate: socket.getPeerX509Certificate() !== undefined,
        });
        socket.on("error", () => undefined);
        socket.end("x"); // application data after the handshake: the tickets go out first
      },
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as AddressInfo).port;
    const intruder = Identity.generate();
    const credentials = await createTlsCredentials(intruder); // self-signed: does not chain to the CA

    const connect = async (session?: Buffer): Promise<Buffer | undefined> => {
      const socket = tls.connect({ host: "127.0.0.1", port, ...credentials, ca: [ca.certificate], checkServerIdentity: () => undefined, ...(session ? { session } : {}) });
      let ticket: Buffer | undefined;
      socket.on("session", (s: Buffer) => (ticket ??= s));
      socket.on("error", () => undefined);
      socket.resume();
      await once(socket, "close");
      return ticket;
    };
    try {
      const ticket = await connect();
      expect(ticket).toBeDefined();
      await connect(ticket);
    } finally {
      server.close();
    }
    expect(verdicts.map((v) => v.reused)).toEqual([false, true]);
    // Full handshake: the untrusted chain is reported.
    expect(verdicts[0]?.verifyError).toBeInstanceOf(Error);
    // Resumed: the certificate comes back from the ticket, and so does its verdict.
    expect(verdicts[1]?.peerCertificate).toBe(true);
    expect(verdicts[1]?.verifyError).toBeInstanceOf(Error);
    expect(verdicts[1]?.verifyError?.message).toBe(verdicts[0]?.verifyError?.message);
  });
});
