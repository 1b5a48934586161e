/**
 * A listener that drops a dialer while the listener's side of TLS is unfinished has not judged the dialer's
 * identity, and the dialer must not report that it did. In TLS 1.3 the client is done one flight before the
 * server: its `secureConnect` fires and it sends its Hello while the listener has yet to read the client's
 * Finished. A listener whose pending pool is full evicts the least advanced pending connection (§3.1, a reset
 * with no frame); when that is a dialer in this window, the dialer sees a close before the listener's Hello.
 * It was reported as AUTHENTICATION_FAILED from the peer (the 200-node mesh counted a few per start phase).
 *
 * The window is held open deterministically by a relay that forwards the dialer's ClientHello and holds
 * everything the dialer sends after it (its Finished and Hello), while the listener's bytes pass at once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { startClientHelloRelay, type ClientHelloRelay } from "../helpers/client-hello-relay.js";
import { cleanup, nextEvent, rawConnect, startManager } from "../manager/fixtures.js";

const relays = new Set<ClientHelloRelay>();

afterEach(async () => {
  await Promise.all([...relays].map((r) => r.close()));
  relays.clear();
  await cleanup();
});

/** A relay from `sourceAddress` that holds everything the dialer sends after its ClientHello. */
async function holdingRelay(targetPort: number, sourceAddress: string): Promise<ClientHelloRelay> {
  const relay = await startClientHelloRelay(targetPort, "hold", sourceAddress);
  relays.add(relay);
  return relay;
}

describe("a dialer evicted from the listener's full pending pool after its own TLS finished", () => {
  it("fails with CONNECTION_CLOSED from the peer, not AUTHENTICATION_FAILED", async () => {
    const listener = await startManager({ tls: true, limits: { maxPendingInbound: 1 } });
    const listenerPort = Number(listener.addresses[0]!.split(":").pop());
    const relay = await holdingRelay(listenerPort, "127.14.1.1");
    const dialer = await startManager({ listen: [], tls: true, reconnect: false });

    const outcome = dialer.dial(`127.0.0.1:${relay.port}`).then(
      (connection) => new Error(`the dial opened (${connection.state}) though the listener never read our Finished`),
      (e: unknown) => e,
    );
    await relay.dialerFinishedTls;
    // The pool is full with the relayed dialer: the next arrival (another subnet) evicts it.
    const evicted = nextEvent(listener, "inbound:evicted");
    await rawConnect(listenerPort, "127.14.2.1");
    await evicted;

    const error = await outcome;
    expect(error, String(error)).toBeInstanceOf(PeerlinkError);
    expect((error as PeerlinkError).code).toBe(ErrorCode.CONNECTION_CLOSED);
    expect((error as PeerlinkError).initiator).toBe("remote");
    expect((error as PeerlinkError).message).toMatch(/before finishing its side of the TLS handshake/);
  });
});
