import { once } from "node:events";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { DelayRelay } from "./delay-relay.js";

/** Things to close after each test, last opened first. */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (let c = cleanups.pop(); c !== undefined; c = cleanups.pop()) await c();
});

async function echoServer(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.pipe(socket);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  return address.port;
}

async function relayTo(port: number, options: { delayMs?: number; bytesPerSecond?: number } = {}): Promise<DelayRelay> {
  const relay = await DelayRelay.start({ targetPort: port, ...options });
  cleanups.push(() => relay.close());
  return relay;
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: "127.0.0.1", noDelay: true });
  cleanups.push(() => {
    socket.destroy();
  });
  await once(socket, "connect");
  return socket;
}

/** Reads from `socket` until `n` bytes arrived (rejects if it closes first). */
function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      got += chunk.length;
      if (got >= n) {
        cleanup();
        resolve(Buffer.concat(parts));
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`socket closed after ${got} of ${n} bytes`));
    };
    const cleanup = (): void => {
      socket.off("data", onData);
      socket.off("close", onClose);
    };
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

/** Median round-trip time (ms) of `rounds` small messages echoed through `socket`. */
async function medianRtt(socket: net.Socket, rounds: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const reply = readBytes(socket, 4);
    socket.write("ping");
    await reply;
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN;
}

describe("a delay relay in front of an echo server", () => {
  // Lower bounds only: the relay holds each message at least its delay each way, while a loaded machine
  // may add any time on top.
  it.each([20, 100])("holds each message its one-way delay of %d ms in each direction", async (delayMs) => {
    const relay = await relayTo(await echoServer(), { delayMs });
    const socket = await connect(relay.listenPort);
    const rtt = await medianRtt(socket, delayMs === 20 ? 7 : 3);
    expect(rtt).toBeGreaterThanOrEqual(2 * delayMs * 0.95);
  });

  it("applies a delay changed at run time to later messages", async () => {
    const relay = await relayTo(await echoServer(), { delayMs: 5 });
    const socket = await connect(relay.listenPort);
    const before = await medianRtt(socket, 3);
    relay.setDelay(40);
    const after = await medianRtt(socket, 3);
    expect(before).toBeGreaterThanOrEqual(2 * 5 * 0.95);
    expect(after).toBeGreaterThanOrEqual(2 * 40 * 0.95);
  });

  it("keeps byte order when the delay shrinks between two writes", async () => {
    const relay = await relayTo(await echoServer(), { delayMs: 60 });
    const socket = await connect(relay.listenPort);
    const reply = readBytes(socket, 2);
    socket.write("A");
    await relay.waitForBytesIn(1, { signal: AbortSignal.timeout(5_000) });
    const start = performance.now();
    relay.setDelay(0);
    socket.write("B");
    expect((await reply).toString()).toBe("AB");
    expect(performance.now() - start).toBeGreaterThanOrEqual(40);
  });

  it("forwards a megabyte intact in both directions", async () => {
    const relay = await relayTo(await echoServer(), { delayMs: 2 });
    const socket = await connect(relay.listenPort);
    const data = randomBytes(1024 * 1024);
    const reply = readBytes(socket, data.length);
    socket.write(data);
    expect((await reply).equals(data)).toBe(true);
  });

  it("relays a half-close after the delayed bytes ahead of it", async () => {
    const relay = await relayTo(await echoServer(), { delayMs: 30 });
    const socket = await connect(relay.listenPort);
    const data = randomBytes(50_000);
    const reply = readBytes(socket, data.length);
    const ended = once(socket, "end");
    socket.end(data);
    expect((await reply).equals(data)).toBe(true);
    await ended;
  });

  it("caps the throughput of each direction at the configured byte rate", async () => {
    const relay = await relayTo(await echoServer(), { bytesPerSecond: 1_000_000 });
    const socket = await connect(relay.listenPort);
    const data = randomBytes(100_000);
    const start = performance.now();
    const reply = readBytes(socket, data.length);
    socket.write(data);
    await reply;
    // 100 kB through two capped directions pipelined: at least 100 ms (no upper bound: a loaded machine
    // may take any longer)
    const elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(90);
  });
});

describe("closing a delay relay", () => {
  it("destroys its open connections and stops accepting", async () => {
    const relay = await DelayRelay.start({ targetPort: await echoServer(), delayMs: 10 });
    const socket = await connect(relay.listenPort);
    await medianRtt(socket, 1);
    expect(relay.openConnections).toBe(1);
    const closed = once(socket, "close");
    await relay.close();
    await closed;
    expect(relay.openConnections).toBe(0);
    const refused = net.connect({ port: relay.listenPort, host: "127.0.0.1" });
    const [error] = (await once(refused, "error")) as [NodeJS.ErrnoException];
    expect(error.code).toBe("ECONNREFUSED");
    refused.destroy();
    await relay.close(); // idempotent
  });

  it("closes the client connection when the target refuses", async () => {
    const unused = net.createServer().listen(0, "127.0.0.1");
    await once(unused, "listening");
    const address = unused.address();
    await new Promise<void>((resolve) => unused.close(() => resolve()));
    if (address === null || typeof address === "string") throw new Error("no address");
    const relay = await relayTo(address.port);
    const socket = net.connect({ port: relay.listenPort, host: "127.0.0.1" });
    cleanups.push(() => {
      socket.destroy();
    });
    await once(socket, "close");
    expect(relay.acceptedConnections).toBe(1);
    expect(relay.openConnections).toBe(0);
  });

  it("rejects pending byte waiters when it closes", async () => {
    const relay = await DelayRelay.start({ targetPort: await echoServer() });
    const waiting = relay.waitForBytesIn(10);
    await relay.close();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.CONNECTION_CLOSED });
  });

  it("rejects a negative delay or a zero rate with INVALID_ARGUMENT", async () => {
    await expect(DelayRelay.start({ targetPort: 1, delayMs: -1 })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
    });
    const relay = await relayTo(await echoServer());
    expect(() => relay.setRate(0)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    expect(() => relay.setDelay(Number.NaN)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});
