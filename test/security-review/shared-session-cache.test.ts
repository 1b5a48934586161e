/**
 * Security review: one TlsSessionCache given to two nodes (the `tls.sessionCache` option accepts any
 * instance). Were node B handed the ticket node A was issued for the same address, B's OpenSSL would refuse
 * to resume it ("attempt to reuse session in different context": the client context's sessionIdContext
 * hashes B's own certificate) and B's dial would fail with TLS_FAILED; that refusal is also what keeps a
 * listener from reading A's certificate out of the ticket and judging B's certificate-bound Hello against A's
 * key. Tickets carry their owner, so B takes none of A's and opens with a full handshake, as itself.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { TlsSessionCache, sessionCacheKey } from "../../src/transport/session-cache.js";
import { startNode, type TestNode } from "../connection/nodes.js";

const nodes: TestNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});
async function node(options: Parameters<typeof startNode>[0]): Promise<TestNode> {
  const n = await startNode(options);
  nodes.push(n);
  return n;
}

describe("a TlsSessionCache shared by two nodes of one process", () => {
  it("node B's dial is not resumed on node A's ticket: it opens, authenticated as B", async () => {
    const shared = new TlsSessionCache();
    const key = (port: number) => sessionCacheKey("127.0.0.1", port);
    const x = await node({ tls: true });
    const a = await node({ tls: true, tlsOptions: { sessionCache: shared } });
    const b = await node({ tls: true, tlsOptions: { sessionCache: shared } });
    const first = await a.dial(x.port, { expectedPeerId: x.identity.peerId });
    expect((await x.nextInbound()).connection?.remotePeer.equals(a.identity.peerId)).toBe(true);
    await vi.waitFor(() => expect(shared.has(key(x.port))).toBe(true));
    await first.close();

    const [dialed, inbound] = await Promise.allSettled([b.dial(x.port, { expectedPeerId: x.identity.peerId }), x.nextInbound()]);
    expect(dialed.status === "rejected" ? (dialed.reason as { code?: string }).code : "opened").toBe("opened");
    const seen = inbound.status === "fulfilled" ? inbound.value.connection : undefined;
    expect(seen?.remotePeer.equals(b.identity.peerId)).toBe(true);
    expect(seen?.sessionReused).toBe(false);
  });
});
