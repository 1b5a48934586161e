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
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { cleanup, nextEvent, rawConnect, startManager } from "../manager/fixtures.js";

const TLS_RECORD_HEADER_BYTES = 5;

interface HoldingRelay {
  readonly port: number;
  /** Resolves once the dialer sent something after its ClientHello: its side of TLS is finished. */
  readonly dialerFinishedTls: Promise<void>;
  close(): Promise<void>;
}

const relays = new Set<HoldingRelay>();

afterEach(async () => {
  await Promise.all([...relays].map((r) => r.close()));
  relays.clear();
  await cleanup();
});

/**
 * A one-connection TCP relay on 127.0.0.1 to `targetPort`, connecting from `sourceAddress`: the first TLS record
 * from the dialer (its ClientHello) goes through, the rest is held; the listener's bytes go through. A reset of
 * either leg resets the other, so the dialer sees what the listener did.
 */
async function holdingRelay(targetPort: number, sourceAddress: string): Promise<HoldingRelay> {
  let markFinished!: () => void;
  const dialerFinishedTls = new Promise<void>((resolve) => (markFinished = resolve));
  const legs = new Set<net.Socket>();
  const server = net.createServer((down) => {
    server.close(); // one connection is all this relay serves
    const up = net.connect({ host: "127.0.0.1", port: targetPort, localAddress: sourceAddress });
    for (const leg of [down, up]) {
      legs.add(leg);
      leg.on("error", () => undefined);
    }
    down.on("close", () => (up.destroyed ? undefined : up.resetAndDestroy()));
    up.on("close", () => (down.destroyed ? undefined : down.resetAndDestroy()));
    up.on("data", (chunk: Buffer) => down.write(chunk));
    let pending = Buffer.alloc(0);
    let forwardedClientHello = false;
    down.on("data", (chunk: Buffer) => {
      if (forwardedClientHello) {
        markFinished();
        return; // held: the listener never sees the dialer's Finished or Hello
      }
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < TLS_RECORD_HEADER_BYTES) return;
      const recordEnd = TLS_RECORD_HEADER_BYTES + pending.readUInt16BE(3);
      if (pending.length < recordEnd) return;
      up.write(pending.subarray(0, recordEnd));
      forwardedClientHello = true;
      if (pending.length > recordEnd) markFinished();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const relay: HoldingRelay = {
    port: (server.address() as net.AddressInfo).port,
    dialerFinishedTls,
    async close() {
      for (const leg of legs) leg.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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
