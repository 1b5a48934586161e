/**
 * §8.1 at the foreign dialers: inside TLS a close before the listener's Hello is AUTHENTICATION_FAILED (that
 * is how a rejected client certificate looks in TLS 1.3), except when the dialer received nothing after its
 * own TLS Finished. A TLS 1.3 client is done one flight before the server, so a listener that drops a pending
 * connection before reading the client's Finished never judged it; one that judged it has sent its session
 * tickets, an alert or a close_notify since. Both are produced here against a real node: a relay drops the
 * connection in that window, and a node whose CA the peer's self-signed certificate does not chain to rejects it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/identity.js";
import { startClientHelloRelay, type ClientHelloRelay } from "../helpers/client-hello-relay.js";
import { createTestCa, type TestCa } from "../transport/test-ca.js";
import { GO_BUILD_TIMEOUT_MS } from "./go-toolchain.js";
import { GO, nextHandshakeFailure, portOf, PYTHON, startManager, stopManagers, type ForeignPeer } from "./matrix-fixtures.js";

const relays = new Set<ClientHelloRelay>();

/**
 * A relay that resets both legs at the dialer's first bytes after its ClientHello (its Finished), so the
 * listener never reads the dialer's Finished, as when a listener drops a pending connection (§3.1).
 */
async function droppingRelay(targetPort: number): Promise<ClientHelloRelay> {
  const relay = await startClientHelloRelay(targetPort, "drop");
  relays.add(relay);
  return relay;
}

let ca: TestCa;
beforeAll(async () => {
  ca = await createTestCa("interop early-close CA");
});

afterAll(async () => {
  await Promise.all([...relays].map((r) => r.close()));
  relays.clear();
});

describe.each([GO, PYTHON])("a $lang TLS dialer closed before the listener's Hello (§8.1)", (peer: ForeignPeer) => {
  beforeAll(() => peer.prepare(), GO_BUILD_TIMEOUT_MS);
  afterEach(async () => {
    await stopManagers();
    await peer.killAll();
  });

  it("reports CONNECTION_CLOSED when nothing arrived after its own TLS Finished (dropped while the listener's TLS was unfinished)", async () => {
    const manager = await startManager(true);
    const relay = await droppingRelay(portOf(manager));
    const proc = peer.start(["dial", "--addr", `127.0.0.1:${relay.port}`, "--tls"]);
    await relay.dialerFinishedTls;
    const verdict = await proc.waitFor((e) => e.event === "handshake-failed", "the dialer's verdict");
    expect(verdict).toMatchObject({ code: "CONNECTION_CLOSED" });
    expect(proc.events.filter((e) => e.event === "goodbye" || e.event === "open")).toEqual([]);
    expect(await proc.exited).toMatchObject({ code: 1 });
  });

  it("reports AUTHENTICATION_FAILED when the listener judged its certificate after TLS and closed", async () => {
    const identity = Identity.generate();
    const manager = await startManager(true, { identity, tls: { credentials: await ca.issue(identity), ca: [ca.certificate] } });
    const refused = nextHandshakeFailure(manager);
    const proc = peer.start(["dial", "--addr", `127.0.0.1:${portOf(manager)}`, "--tls"]);
    const verdict = await proc.waitFor((e) => e.event === "handshake-failed", "the dialer's verdict");
    expect(verdict).toMatchObject({ code: "AUTHENTICATION_FAILED" });
    expect(proc.events.filter((e) => e.event === "goodbye" || e.event === "open")).toEqual([]);
    expect((await refused).message).toMatch(/certificate/i);
  });
});
