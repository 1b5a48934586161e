/**
 * A TCP relay on 127.0.0.1 that forwards to a target port and can reset the
 * client side of every relayed connection (RST), so the dialer's socket fails
 * with ECONNRESET: the "error" disconnect path, which a well-behaved peer
 * never produces on its own.
 */
import net from "node:net";

/** A started relay. */
export interface ResetRelay {
  /** `"127.0.0.1:port"` to dial instead of the target. */
  readonly address: string;
  /** Resets every relayed client connection (RST) and destroys its upstream. */
  resetAll(): void;
  /** Closes the listener and every relayed connection. */
  close(): Promise<void>;
}

/** Starts a relay to `127.0.0.1:targetPort`. */
export async function startResetRelay(targetPort: number): Promise<ResetRelay> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: targetPort, host: "127.0.0.1" });
    const pair = { client, upstream };
    pairs.add(pair);
    client.on("error", () => {});
    upstream.on("error", () => {});
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.once("close", drop);
    upstream.once("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    resetAll() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
