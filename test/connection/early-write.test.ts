/**
 * A 0-RTT dialer's Hello and the early messages sent with it leave in one write: the peer's first read holds
 * them all, handed to the transport as one write (over TLS: one record).
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { openConnection } from "../../src/connection/open-connection.js";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { splitFrames } from "../handshake/pair.js";

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe("a 0-RTT dialer", () => {
  it("writes its Hello and its early messages in one write", async () => {
    const firstRead = new Promise<Buffer>((resolve) => {
      const server = net.createServer((socket) => {
        sockets.push(socket);
        socket.on("error", () => undefined);
        socket.once("data", resolve);
      });
      servers.push(server);
      server.listen(0, "127.0.0.1");
    });
    const server = servers[0] as net.Server;
    await new Promise((resolve) => server.once("listening", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const channel = await dialChannel({ host: "127.0.0.1", port, deadline: Date.now() + 10_000 });
    sockets.push(channel.socket);
    // What the stream hands to the transport: one call per write reaching the socket (a corked batch is one).
    const stream = channel.socket as unknown as Record<"_write" | "_writev", (...args: unknown[]) => void>;
    let transportWrites = 0;
    for (const name of ["_write", "_writev"] as const) {
      const original = stream[name].bind(channel.socket);
      stream[name] = (...args: unknown[]) => {
        transportWrites++;
        original(...args);
      };
    }
    const opening = openConnection(
      channel,
      { identity: Identity.generate(), protocols: [{ name: "/chat", versions: [1], alias: 1 }], earlyData: true },
      { earlyMessages: [1, 2, 3].map((n) => ({ protocol: "/chat", data: Uint8Array.of(n) })), deadline: Date.now() + 10_000 },
    );
    opening.catch(() => undefined);
    const frames = splitFrames(new Uint8Array(await firstRead));
    expect(frames.map((f) => f.frame.kind.case)).toEqual(["hello", "data", "data", "data"]);
    expect(transportWrites).toBe(1);
    channel.socket.destroy();
    await opening.catch(() => undefined);
  });
});
