/**
 * Security review: a listener whose certificate key is not Ed25519 (an organisation's ECDSA certificate, which
 * docs/PROTOCOL.md §2 allows) proves its identity by a signed Hello, so its tickets need no certificate key.
 * The dialer must tell "known not to be Ed25519" from "not known" (a ticket of the latter kind is not offered
 * under `peerlink/1+cert`), or such a listener is never resumed (§3.5).
 */
import "reflect-metadata";
import { randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sessionCacheKey } from "../../src/transport/session-cache.js";
import { startNode, type TestNode } from "../connection/nodes.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const nodes: TestNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});
async function node(options: Parameters<typeof startNode>[0]): Promise<TestNode> {
  const n = await startNode(options);
  nodes.push(n);
  return n;
}

async function ecdsaCredentials(): Promise<{ key: string; cert: string }> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString("hex"),
    name: "CN=organisation-issued",
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys,
    signingAlgorithm: algorithm,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as unknown as webcrypto.CryptoKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END PRIVATE KEY-----\n`;
  return { key, cert: cert.toString("pem") };
}

describe("a listener presenting an ECDSA certificate (identity proved by a signed Hello)", () => {
  it("is resumed on redial (its ticket is offered under peerlink/1+cert)", async () => {
    const b = await node({ tls: true, tlsOptions: { credentials: await ecdsaCredentials() } });
    const a = await node({ tls: true });
    const first = await a.dial(b.port, { expectedPeerId: b.identity.peerId });
    expect(first.handshake?.peerProof).toBe("signature");
    await vi.waitFor(() => expect(a.tls?.sessionCache?.has(sessionCacheKey("127.0.0.1", b.port))).toBe(true));
    await first.close();
    const second = await a.dial(b.port, { expectedPeerId: b.identity.peerId });
    expect(second.remotePeer.equals(b.identity.peerId)).toBe(true);
    expect(second.sessionReused).toBe(true);
  });
});
