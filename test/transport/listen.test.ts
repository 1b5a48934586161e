import { afterAll, beforeAll, describe, expect, it } from "vitest";
import net from "node:net";
import { ErrorCode } from "../../src/errors.js";
import { listenTcp } from "../../src/transport/listen.js";
import { closed, countTransportHandles, expectHandlesBackTo } from "./resources.js";

let baseline: number;
beforeAll(() => {
  baseline = countTransportHandles();
});
afterAll(async () => {
  await expectHandlesBackTo(baseline);
});

function connectOnce(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

describe("listening on port 0", () => {
  it("reports the real port and hands out raw sockets from IPv4 and IPv6 clients", async () => {
    const accepted: net.Socket[] = [];
    let onAccept: () => void = () => undefined;
    const listener = await listenTcp({
      host: ["127.0.0.1", "::1"],
      port: 0,
      onSocket(socket) {
        accepted.push(socket);
        onAccept();
      },
    });
    const clients: net.Socket[] = [];
    try {
      expect(listener.addresses).toHaveLength(2);
      const [v4, v6] = listener.addresses;
      expect(v4?.host).toBe("127.0.0.1");
      expect(v6?.host).toBe("::1");
      expect(v4?.port).toBeGreaterThan(0);
      expect(v6?.port).toBe(v4?.port); // port 0 picked once, shared
      const twoAccepted = new Promise<void>((resolve) => (onAccept = () => accepted.length === 2 && resolve()));
      clients.push(await connectOnce("127.0.0.1", v4?.port ?? 0));
      clients.push(await connectOnce("::1", v6?.port ?? 0));
      await twoAccepted;
      expect(accepted.map((s) => s.remoteAddress).sort()).toEqual(["127.0.0.1", "::1"].sort());
      expect(accepted.every((s) => !(s as { encrypted?: boolean }).encrypted)).toBe(true);
    } finally {
      for (const s of [...clients, ...accepted]) s.destroy();
      await Promise.all([...clients, ...accepted].map(closed));
      await listener.close();
    }
  });

  it("accepts bracketed IPv6 literals", async () => {
    const listener = await listenTcp({ host: "[::1]", port: 0, onSocket: (s) => s.destroy() });
    expect(listener.addresses[0]?.host).toBe("::1");
    await listener.close();
  });
});

describe("closing a listener", () => {
  it("frees the port at once even while an accepted connection is still open, and is idempotent", async () => {
    const accepted: net.Socket[] = [];
    let onAccept: () => void = () => undefined;
    const gotOne = new Promise<void>((resolve) => (onAccept = resolve));
    const listener = await listenTcp({
      host: "127.0.0.1",
      port: 0,
      onSocket(socket) {
        accepted.push(socket);
        onAccept();
      },
    });
    const port = listener.addresses[0]?.port ?? 0;
    const client = await connectOnce("127.0.0.1", port);
    try {
      await gotOne;
      await listener.close();
      await listener.close();
      expect(accepted[0]?.destroyed).toBe(false); // the accepted socket belongs to its receiver
      const again = await listenTcp({ host: "127.0.0.1", port, onSocket: (s) => s.destroy() });
      expect(again.addresses[0]?.port).toBe(port);
      await again.close();
    } finally {
      client.destroy();
      for (const s of accepted) s.destroy();
      await Promise.all([client, ...accepted].map(closed));
    }
  });
});

describe("a failing onSocket", () => {
  it("gets its socket destroyed instead of leaked", async () => {
    const listener = await listenTcp({
      host: "127.0.0.1",
      port: 0,
      onSocket() {
        throw new Error("receiver bug");
      },
    });
    try {
      const client = await connectOnce("127.0.0.1", listener.addresses[0]?.port ?? 0);
      client.on("error", () => undefined);
      client.resume();
      await closed(client);
    } finally {
      await listener.close();
    }
  });
});

describe("listening with bad options", () => {
  it.each([
    { host: "localhost", port: 0 },
    { host: [], port: 0 },
    { host: "127.0.0.1", port: -1 },
    { host: "127.0.0.1", port: 70_000 },
  ])("rejects host $host port $port with INVALID_ARGUMENT", async ({ host, port }) => {
    await expect(listenTcp({ host, port, onSocket: () => undefined })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
    });
  });

  it("rejects a port in use with INVALID_ARGUMENT and leaves nothing bound", async () => {
    const first = await listenTcp({ host: "127.0.0.1", port: 0, onSocket: (s) => s.destroy() });
    try {
      const port = first.addresses[0]?.port ?? 0;
      const error = await listenTcp({ host: ["::1", "127.0.0.1"], port, onSocket: () => undefined }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
      expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe("EADDRINUSE");
    } finally {
      await first.close();
    }
  });

  it("rejects with ABORTED when the signal is already aborted", async () => {
    await expect(
      listenTcp({ host: "127.0.0.1", port: 0, onSocket: () => undefined, signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ code: ErrorCode.ABORTED });
  });
});
