/**
 * Test helper: a listener that secures every accepted socket and queues the
 * results, plus helpers to read bytes from a channel.
 *
 * @module
 */
import type { Socket } from "node:net";
import { listenTcp } from "../../src/transport/listen.js";
import { secureInbound } from "../../src/transport/secure-inbound.js";
import type { ResolvedTls, SecureChannel, TcpListener } from "../../src/transport/types.js";

/** Outcome of one `secureInbound` call on the server side. */
export type InboundResult = { ok: true; channel: SecureChannel } | { ok: false; error: unknown };

/** A listener whose accepted sockets go through `secureInbound`; results are queued in order. */
export interface TestServer {
  readonly listener: TcpListener;
  readonly port: number;
  /** The next inbound result (resolved or rejected `secureInbound`), in accept order. */
  nextInbound(): Promise<InboundResult>;
  /** Closes the listener and destroys every accepted socket. */
  close(): Promise<void>;
}

/** Starts a {@link TestServer} on `host` (default 127.0.0.1) with the given TLS (or plain TCP). */
export async function startTestServer(tls: ResolvedTls | undefined, host = "127.0.0.1", deadlineMs?: number): Promise<TestServer> {
  const results: InboundResult[] = [];
  const waiters: Array<(result: InboundResult) => void> = [];
  const sockets = new Set<Socket>();
  const push = (result: InboundResult): void => {
    const waiter = waiters.shift();
    if (waiter) waiter(result);
    else results.push(result);
  };
  const listener = await listenTcp({
    host,
    port: 0,
    onSocket(raw) {
      sockets.add(raw);
      raw.once("close", () => sockets.delete(raw));
      const deadline = deadlineMs === undefined ? undefined : Date.now() + deadlineMs;
      secureInbound(raw, { tls, deadline }).then(
        (channel) => {
          sockets.add(channel.socket);
          channel.socket.once("close", () => sockets.delete(channel.socket));
          channel.socket.on("error", () => undefined);
          push({ ok: true, channel });
        },
        (error: unknown) => push({ ok: false, error }),
      );
    },
  });
  return {
    listener,
    port: listener.addresses[0]?.port ?? 0,
    nextInbound() {
      const ready = results.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiters.push(resolve));
    },
    async close() {
      const all = [...sockets];
      for (const socket of all) socket.destroy();
      await Promise.all(all.map((s) => (s.closed ? undefined : new Promise((r) => s.once("close", r)))));
      await listener.close();
    },
  };
}

/** Resolves with the first `length` bytes read from `socket` (switches it to flowing mode). */
export function readBytes(socket: Socket, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= length) {
        done();
        resolve(Buffer.concat(chunks).subarray(0, length));
      }
    };
    const onEnd = (): void => {
      done();
      reject(new Error(`stream ended after ${total} of ${length} bytes`));
    };
    const done = (): void => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
  });
}

/** Destroys the channels' sockets and waits until each has closed. */
export async function destroyAll(...channels: Array<SecureChannel | undefined>): Promise<void> {
  await Promise.all(
    channels.map((channel) => {
      if (channel === undefined) return undefined;
      const socket = channel.socket;
      if (socket.closed) return undefined;
      const done = new Promise((resolve) => socket.once("close", resolve));
      socket.destroy();
      return done;
    }),
  );
}
