/**
 * Certificate binding over real TLS sockets (docs/PROTOCOL.md §2, §3.3): which ALPN is agreed, how each side
 * proves its identity, resumed sessions, and the dialer's check of a resumed session against the key it kept.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TLSSocket } from "node:tls";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { createTlsCredentials } from "../../src/transport/tls-credentials.js";
import { sessionCacheKey } from "../../src/transport/session-cache.js";
import { PEERLINK_ALPN, PEERLINK_CERT_ALPN } from "../../src/transport/types.js";
import { activeHandles, handlesAfterClose, startNode, type TestNode } from "./nodes.js";

const nodes: TestNode[] = [];
let baseline: Record<string, number>;

beforeEach(() => {
  baseline = activeHandles({ timers: false });
});

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  expect(await handlesAfterClose({ timers: false })).toEqual(baseline);
});

async function node(options: Parameters<typeof startNode>[0]): Promise<TestNode> {
  const n = await startNode(options);
  nodes.push(n);
  return n;
}

async function pair(a: TestNode, b: TestNode) {
  const out = await a.dial(b.port, { expectedPeerId: b.identity.peerId });
  const inbound = await b.nextInbound();
  if (inbound.connection === undefined) throw inbound.error;
  return { out, in: inbound.connection, alpn: (inbound.socket as TLSSocket).alpnProtocol };
}

/**
 * Connects `a` to `b` once, then leaves `a`'s cache with one ticket for `b`'s address, stored with `peerKey`
 * as the listener's certificate key in place of the one `a` read.
 */
async function keepOneTicketAs(a: TestNode, b: TestNode, peerKey: Uint8Array | undefined): Promise<void> {
  const first = await pair(a, b);
  const key = sessionCacheKey("127.0.0.1", b.port);
  await vi.waitFor(() => expect(a.tls?.sessionCache?.has(key)).toBe(true));
  await first.out.close();
  const cache = a.tls?.sessionCache;
  const ticket = cache?.takeTicket(key);
  if (cache === undefined || ticket === undefined) throw new Error("no ticket");
  cache.clear();
  cache.add(key, ticket.session, peerKey);
}

describe("two peerlink nodes with default TLS", () => {
  it("agree on peerlink/1+cert and each proves its identity by its certificate", async () => {
    const b = await node({ tls: true });
    const a = await node({ tls: true });
    const c = await pair(a, b);
    expect(c.alpn).toBe(PEERLINK_CERT_ALPN);
    expect(c.out.handshake?.peerProof).toBe("certificate");
    expect(c.in.handshake?.peerProof).toBe("certificate");
    expect(c.in.remotePeer.equals(a.identity.peerId)).toBe(true);
  });

  it("a resumed session is still certificate-bound on both ends (the dialer checks the key kept with its ticket)", async () => {
    const b = await node({ tls: true });
    const a = await node({ tls: true });
    const first = await pair(a, b);
    await vi.waitFor(() => expect(a.tls?.sessionCache?.has(sessionCacheKey("127.0.0.1", b.port))).toBe(true));
    await first.out.close();
    const second = await pair(a, b);
    expect(second.out.sessionReused).toBe(true);
    expect(second.in.sessionReused).toBe(true);
    expect(second.out.handshake?.peerProof).toBe("certificate");
    expect(second.in.handshake?.peerProof).toBe("certificate");
  });

  it("a resumed session whose kept key is not the listener's identity key fails with AUTHENTICATION_FAILED", async () => {
    const b = await node({ tls: true });
    const a = await node({ tls: true });
    // As if the ticket had been issued by another node at this address: the kept key names someone else.
    await keepOneTicketAs(a, b, Identity.generate().publicKey);
    await expect(a.dial(b.port)).rejects.toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED, initiator: "local" });
  });

  it("a ticket stored without the listener's key is not offered: the redial is a full handshake and opens", async () => {
    const b = await node({ tls: true });
    const a = await node({ tls: true });
    await keepOneTicketAs(a, b, undefined);
    const second = await pair(a, b);
    expect(second.out.sessionReused).toBe(false);
    expect(second.out.handshake?.peerProof).toBe("certificate");
  });
});

describe.each([
  ["the listener", { listener: false, dialer: true }],
  ["the dialer", { listener: true, dialer: false }],
])("with certificateBinding: false on %s", (_who, on) => {
  it("peerlink/1 is agreed and both sides sign their Hellos", async () => {
    const b = await node({ tls: true, tlsOptions: { certificateBinding: on.listener } });
    const a = await node({ tls: true, tlsOptions: { certificateBinding: on.dialer } });
    const c = await pair(a, b);
    expect(c.alpn).toBe(PEERLINK_ALPN);
    expect(c.out.handshake?.peerProof).toBe("signature");
    expect(c.in.handshake?.peerProof).toBe("signature");
  });
});

describe("a node presenting a certificate for another key (e.g. issued by an organisation)", () => {
  it("signs its own Hello, while its peer still relies on its certificate", async () => {
    const b = await node({ tls: true });
    const orgCredentials = await createTlsCredentials(Identity.generate());
    const a = await node({ tls: true, tlsOptions: { credentials: orgCredentials } });
    const c = await pair(a, b);
    expect(c.alpn).toBe(PEERLINK_CERT_ALPN);
    expect(c.in.handshake?.peerProof).toBe("signature");
    expect(c.out.handshake?.peerProof).toBe("certificate");
  });
});
