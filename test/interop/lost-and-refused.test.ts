/**
 * The Go and Python peers and TypeScript agree on two endings of PROTOCOL.md §8:
 * a connection lost without a Goodbye (a crash, a reset, an EOF) is reported as
 * `CONNECTION_LOST` / `connection_lost` on every side and never travels in a
 * Goodbye; a capacity refusal (Goodbye{RESOURCE_CONSTRAINT} with a
 * retry-after, right after the handshake or ending it) is reported with its
 * reason and retry-after, not as a generic failure.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { encodeGoodbye } from "../../src/handshake/handshake.js";
import { DisconnectReason } from "../../src/reasons.js";
import { GoPeerProcess } from "./go-peer-process.js";
import { buildGoPeer, GO_BUILD_TIMEOUT_MS } from "./go-toolchain.js";
import type { PeerProcess } from "./peer-process.js";
import { PythonPeerProcess, requirePython } from "./python-peer-process.js";
import { nextEvent, TsNode } from "./ts-node.js";

let binary: string;
let ts: TsNode | undefined;
let raw: Server | undefined;

beforeAll(async () => {
  await requirePython();
  binary = await buildGoPeer();
}, GO_BUILD_TIMEOUT_MS);
afterEach(async () => {
  await ts?.close();
  ts = undefined;
  await new Promise<void>((resolve) => (raw ? raw.close(() => resolve()) : resolve()));
  raw = undefined;
  await GoPeerProcess.killAll();
  await PythonPeerProcess.killAll();
});
afterAll(async () => {
  await GoPeerProcess.killAll();
  await PythonPeerProcess.killAll();
});

const PEERS = [
  { name: "Go", dial: (port: number): PeerProcess => GoPeerProcess.start(binary, ["dial", "--addr", `127.0.0.1:${port}`, "--no-ping"]) },
  { name: "Python", dial: (port: number): PeerProcess => PythonPeerProcess.start(["dial", "--addr", `127.0.0.1:${port}`, "--no-ping"]) },
];

/** A plain TCP TypeScript listener; `onOpen` sees each connection once it is open. */
async function tsListener(onOpen?: Parameters<TsNode["listen"]>[1]): Promise<TsNode> {
  ts = await TsNode.create(false);
  await ts.listen({}, onOpen);
  return ts;
}

describe.each(PEERS)("the $name peer and TypeScript, on a connection lost without a Goodbye", ({ dial }) => {
  it("TypeScript reports a peer killed with SIGKILL as connection_lost (not normal, which is redialed at once)", async () => {
    const node = await tsListener();
    const peer = dial(node.port);
    const conn = await node.nextConnection();
    await peer.waitFor((e) => e.event === "open", "peer open");
    expect(await peer.terminate("SIGKILL")).toMatchObject({ signal: "SIGKILL" });
    expect(await conn.closed).toMatchObject({ reason: DisconnectReason.CONNECTION_LOST, initiator: "remote" });
    expect(conn.remoteGoodbye).toBeUndefined();
  });

  it("the peer reports a TypeScript connection dropped without a Goodbye as closed{reason: CONNECTION_LOST}", async () => {
    const node = await tsListener();
    const peer = dial(node.port);
    const conn = await node.nextConnection();
    await peer.waitFor((e) => e.event === "open", "peer open");
    conn.abort();
    expect(await peer.waitFor((e) => e.event === "closed", "peer closed")).toMatchObject({ reason: "CONNECTION_LOST" });
    expect(peer.events.filter((e) => e.event === "goodbye")).toEqual([]);
  });

  it("TypeScript reads a Goodbye that carries CONNECTION_LOST (which must never be sent) as normal", async () => {
    const node = await tsListener();
    const peer = dial(node.port);
    const conn = await node.nextConnection();
    await peer.waitFor((e) => e.event === "open", "peer open");
    const goodbye = nextEvent(conn, "goodbye");
    peer.command({ cmd: "raw", hex: "043202080e" }); // Frame{goodbye: {reason: 14}}
    expect((await goodbye).reason).toBe(DisconnectReason.NORMAL);
    expect(await conn.closed).toMatchObject({ reason: DisconnectReason.NORMAL, initiator: "remote" });
  });

  it("the peer refuses to send CONNECTION_LOST in a Goodbye", async () => {
    const node = await tsListener();
    const peer = dial(node.port);
    const conn = await node.nextConnection();
    await peer.waitFor((e) => e.event === "open", "peer open");
    peer.command({ cmd: "goodbye", reason: "CONNECTION_LOST" });
    expect(await peer.waitFor((e) => e.event === "error", "refused command")).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(conn.state).toBe("open");
  });
});

describe.each(PEERS)("the $name peer dialing a node that refuses it for capacity (§8.1)", ({ dial }) => {
  it("reports a Goodbye{RESOURCE_CONSTRAINT} right after the handshake with its reason and retry-after, and exits 0", async () => {
    const node = await tsListener((conn) => {
      void conn.close(DisconnectReason.RESOURCE_CONSTRAINT, { detail: "inbound_full", retryAfterMs: 30_000 });
    });
    const peer = dial(node.port);
    await peer.waitFor((e) => e.event === "open", "peer open");
    expect(await peer.waitFor((e) => e.event === "goodbye", "refusal")).toMatchObject({
      from: "remote",
      reason: "RESOURCE_CONSTRAINT",
      reasonCode: 5,
      detail: "inbound_full",
      retryAfterMs: 30_000,
    });
    expect(await peer.exited).toEqual({ code: 0, signal: null });
  });

  it("reports a Goodbye{RESOURCE_CONSTRAINT} that ends the handshake as CONNECTION_LIMIT with its retry-after", async () => {
    const sockets = new Set<Socket>();
    raw = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.resume(); // read the dialer's Hello and discard it
      socket.end(encodeGoodbye(DisconnectReason.RESOURCE_CONSTRAINT, "total_full", 45_000));
    });
    await new Promise<void>((resolve) => raw!.listen(0, "127.0.0.1", resolve));
    const peer = dial((raw.address() as { port: number }).port);
    expect(await peer.waitFor((e) => e.event === "goodbye", "refusal")).toMatchObject({
      from: "remote",
      stage: "handshake",
      reason: "RESOURCE_CONSTRAINT",
      detail: "total_full",
      retryAfterMs: 45_000,
    });
    expect(await peer.waitFor((e) => e.event === "handshake-failed", "handshake failed")).toMatchObject({ code: "CONNECTION_LIMIT" });
    expect(await peer.exited).toMatchObject({ code: 1 });
    for (const s of sockets) s.destroy();
  });
});
