/**
 * Security review: which certificate of a chain the certificate binding judges (docs/PROTOCOL.md §3.3: "the
 * leaf of the chain it presented"). A listener may send any certificates after its leaf, including a public
 * certificate carrying another node's identity key. Node's `getPeerX509Certificate()` on a client socket
 * takes the leaf out of OpenSSL's peer chain: the first call returns it, later calls nothing (Node 20), so
 * the dialer must read once, before anything else does. Pinned here for both roles, with and without a CA.
 */
import { once } from "node:events";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { KeyType, ChannelBinding } from "../../generated/peerlink/v1/handshake_pb.js";
import { ErrorCode } from "../../src/errors.js";
import { encodeHelloFrame } from "../../src/handshake/hello-encoder.js";
import { Identity } from "../../src/identity/identity.js";
import { ed25519KeyOf } from "../../src/transport/certificate-key.js";
import { dialChannel } from "../../src/transport/dial.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import { createTlsCredentials } from "../../src/transport/tls-credentials.js";
import { startNode, type TestNode } from "../connection/nodes.js";
import { startTestServer, type TestServer } from "../transport/fixtures.js";
import { createTestCa } from "../transport/test-ca.js";

const nodes: TestNode[] = [];
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

/** A Hello claiming `victim`'s identity by certificate binding, with no proof. */
function claimByCertificate(victim: Identity): Uint8Array {
  return encodeHelloFrame({
    minVersion: 1,
    maxVersion: 1,
    peerId: victim.peerId.bytes,
    keyType: KeyType.ED25519,
    publicKey: victim.publicKey,
    nonce: new Uint8Array(32).fill(7),
    protocols: [{ name: "/chat", versions: [1], alias: 1 }],
    capabilities: [],
    listenAddrs: [],
    binding: ChannelBinding.TLS_CERTIFICATE,
    proof: new Uint8Array(0),
    earlyData: false,
    agent: "impostor",
  }).bytes;
}

describe("Node's getPeerX509Certificate on a client socket (what dialChannel relies on)", () => {
  it("returns the leaf to the first call, even with more certificates in the chain, and nothing to the next", async () => {
    const leafOwner = Identity.generate();
    const other = Identity.generate();
    const leaf = await createTlsCredentials(leafOwner);
    const extra = await createTlsCredentials(other);
    const server = tls.createServer({ key: leaf.key, cert: `${leaf.cert.trim()}\n${extra.cert}`, minVersion: "TLSv1.3" }, (s) => s.end());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const socket = tls.connect({ host: "127.0.0.1", port: (server.address() as AddressInfo).port, rejectUnauthorized: false });
    socket.on("error", () => undefined);
    await once(socket, "secureConnect");
    const first = socket.getPeerX509Certificate();
    const second = socket.getPeerX509Certificate();
    socket.destroy();
    server.close();
    expect(first && Buffer.from(ed25519KeyOf(first) ?? []).equals(leafOwner.publicKey)).toBe(true);
    // Never the certificate after the leaf (which carries a key the listener need not hold).
    expect(second).toBeUndefined();
  });
});

/**
 * An impostor's credentials whose chain carries, after its own leaf, a certificate with the victim's key
 * (issued by a test CA when `withCa`, self-signed otherwise).
 */
async function impostorChain(withCa: boolean) {
  const ca = await createTestCa("review CA");
  const victim = Identity.generate();
  const impostor = Identity.generate();
  const victimCert = withCa ? (await ca.issue(victim)).cert : (await createTlsCredentials(victim)).cert;
  const own = withCa ? await ca.issue(impostor) : await createTlsCredentials(impostor);
  const caOption = withCa ? { ca: [ca.certificate] } : {};
  return { ca, victim, impostor, chained: { key: own.key, cert: `${own.cert.trim()}\n${victimCert}` }, caOption };
}

describe.each([
  ["without a CA", false],
  ["with a CA", true],
])("a listener whose chain carries, after its own leaf, a certificate with the key of the node it claims to be (%s)", (_mode, withCa) => {
  it("is judged by its leaf: the dialer fails its certificate-bound Hello with AUTHENTICATION_FAILED", async () => {
    const { ca, victim, impostor, chained, caOption } = await impostorChain(withCa);
    const server = await startTestServer(await resolveTls(impostor, { credentials: chained, ...caOption }));
    servers.push(server);
    const dialerIdentity = Identity.generate();
    const dialer = await startNode({
      tls: true,
      identity: dialerIdentity,
      tlsOptions: withCa ? { credentials: await ca.issue(dialerIdentity), ...caOption } : {},
    });
    nodes.push(dialer);
    const dialed = dialer.dial(server.port, { expectedPeerId: victim.peerId });
    const inbound = await server.nextInbound();
    if (!inbound.ok) throw inbound.error;
    inbound.channel.socket.write(claimByCertificate(victim));
    const error = await dialed.then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED, initiator: "local" });
    expect((error as Error).message).toMatch(/certificate does not carry the identity key/);
  });
});

describe.each([
  ["without a CA", false],
  ["with a CA", true],
])("a dialer whose chain carries, after its own leaf, a certificate with the key of the node it claims to be (%s)", (_mode, withCa) => {
  it("is judged by its leaf: the listener fails its certificate-bound Hello with AUTHENTICATION_FAILED", async () => {
    const { ca, victim, impostor, chained, caOption } = await impostorChain(withCa);
    const listenerIdentity = Identity.generate();
    const listener = await startNode({
      tls: true,
      identity: listenerIdentity,
      tlsOptions: withCa ? { credentials: await ca.issue(listenerIdentity), ...caOption } : {},
    });
    nodes.push(listener);
    const tls = await resolveTls(impostor, { credentials: chained, sessionCache: false, ...caOption });
    const channel = await dialChannel({ host: "127.0.0.1", port: listener.port, tls, deadline: Date.now() + 10_000 });
    try {
      channel.socket.on("error", () => undefined);
      channel.socket.resume();
      channel.socket.write(claimByCertificate(victim));
      const inbound = await listener.nextInbound();
      expect(inbound.error).toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED });
      expect(inbound.error?.message).toMatch(/certificate does not carry the identity key/);
    } finally {
      channel.socket.destroy();
    }
  });
});
