/**
 * A one-connection TCP relay on 127.0.0.1 that lets the dialer's first TLS record (its ClientHello) through,
 * and everything the listener sends, then stops the dialer at its next bytes (its Finished: its side of TLS
 * is done) — while the listener has not read the dialer's Finished. `"hold"` keeps those bytes (the listener
 * waits), `"drop"` resets both legs (as a listener dropping a pending connection does). A reset or close of
 * either leg resets the other, so the dialer sees what the listener did.
 *
 * @module
 */
import net from "node:net";

const TLS_RECORD_HEADER_BYTES = 5;

/** A running relay. */
export interface ClientHelloRelay {
  readonly port: number;
  /** Resolves once the dialer sent something after its ClientHello (held or dropped, as asked). */
  readonly dialerFinishedTls: Promise<void>;
  /** Destroys both legs and stops listening. */
  close(): Promise<void>;
}

/** Starts a relay to 127.0.0.1:`targetPort`, connecting from `sourceAddress` when given. */
export async function startClientHelloRelay(
  targetPort: number,
  afterClientHello: "hold" | "drop",
  sourceAddress?: string,
): Promise<ClientHelloRelay> {
  let markFinished!: () => void;
  const dialerFinishedTls = new Promise<void>((resolve) => (markFinished = resolve));
  const legs = new Set<net.Socket>();
  const server = net.createServer((down) => {
    server.close(); // one connection is all this relay serves
    const up = net.connect({ host: "127.0.0.1", port: targetPort, ...(sourceAddress === undefined ? {} : { localAddress: sourceAddress }) });
    for (const leg of [down, up]) {
      legs.add(leg);
      leg.on("error", () => undefined);
    }
    const finished = (): void => {
      if (afterClientHello === "drop") {
        up.resetAndDestroy();
        down.resetAndDestroy();
      }
      markFinished();
    };
    down.on("close", () => (up.destroyed ? undefined : up.resetAndDestroy()));
    up.on("close", () => (down.destroyed ? undefined : down.resetAndDestroy()));
    up.on("data", (chunk: Buffer) => down.write(chunk));
    let pending = Buffer.alloc(0);
    let forwardedClientHello = false;
    down.on("data", (chunk: Buffer) => {
      if (forwardedClientHello) return finished();
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < TLS_RECORD_HEADER_BYTES) return;
      const recordEnd = TLS_RECORD_HEADER_BYTES + pending.readUInt16BE(3);
      if (pending.length < recordEnd) return;
      up.write(pending.subarray(0, recordEnd));
      forwardedClientHello = true;
      if (pending.length > recordEnd) finished();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    dialerFinishedTls,
    async close() {
      for (const leg of legs) leg.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
