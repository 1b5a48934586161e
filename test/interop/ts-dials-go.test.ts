import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { PeerId } from "../../src/identity/peer-id.js";
import { DisconnectReason } from "../../src/reasons.js";
import { GoPeerProcess } from "./go-peer-process.js";
import { buildGoPeer, GO_BUILD_TIMEOUT_MS } from "./go-toolchain.js";
import { nextEvent, TsNode } from "./ts-node.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
const GO_PROTOCOLS = ["--protocol", "/echo@1", "--protocol", "/chat@1"];

let binary: string;
beforeAll(async () => {
  binary = await buildGoPeer();
}, GO_BUILD_TIMEOUT_MS);

describe.each([
  { binding: "TLS 1.3 (tls-exporter proof)", secure: true },
  { binding: "plain TCP (nonce-transcript proof)", secure: false },
])("TypeScript dials the Go peer over $binding", ({ secure }) => {
  const flags = secure ? ["--tls"] : [];
  let go: Awaited<ReturnType<typeof GoPeerProcess.listen>>;
  let ts: TsNode;

  beforeAll(async () => {
    go = await GoPeerProcess.listen(binary, [...flags, ...GO_PROTOCOLS]);
  });
  // A fresh identity per test, so the Go listener's events of each test are told apart by peer id.
  beforeEach(async () => {
    ts = await TsNode.create(secure);
  });
  afterEach(() => ts.close());
  afterAll(async () => {
    await go.terminate();
    await GoPeerProcess.killAll();
  });

  /** The Go listener's events for the connection from `peer` (the TS side's peer id). */
  const goConnOf = async (peer: string): Promise<number> =>
    Number((await go.waitFor((e) => e.event === "open" && e["peer"] === peer, `Go open from ${peer}`))["conn"]);

  it("opens with the Go peer's verified id, version 1 and both sides' aliases", async () => {
    const conn = await ts.dial(go.port);
    expect(conn.remotePeer.toString()).toBe(go.peerId);
    expect(conn.protocolVersion).toBe(1);
    expect(conn.secure).toBe(secure);
    expect(conn.protocols).toEqual([
      { name: "/chat", version: 1, localAlias: 2, remoteAlias: 8 },
      { name: "/echo", version: 1, localAlias: 1, remoteAlias: 7 },
    ]);
    expect(conn.handshake?.remoteAgent).toBe("peerlink-go/0.1");
    const open = await go.waitFor((e) => e.event === "open" && e["peer"] === ts.peerId, "Go open");
    expect(open).toMatchObject({ direction: "inbound", tls: secure, version: 1 });
    expect(open["protocols"]).toEqual([
      { name: "/chat", version: 1, localAlias: 8, remoteAlias: 2 },
      { name: "/echo", version: 1, localAlias: 7, remoteAlias: 1 },
    ]);
  });

  it("gets its data echoed back by the Go peer", async () => {
    const conn = await ts.dial(go.port);
    const id = await goConnOf(ts.peerId);
    const echoed = nextEvent(conn, "message");
    await conn.send("/echo", text("hello from TypeScript"));
    const message = await echoed;
    expect(message.protocol).toBe("/echo");
    expect(decode(message.data)).toBe("hello from TypeScript");
    // The Go peer saw the TypeScript side's own alias (1) and echoed with its own (7).
    expect(await go.waitFor((e) => e.event === "data" && e["conn"] === id, "Go data")).toMatchObject({
      protocol: "/echo",
      alias: 1,
      text: "hello from TypeScript",
    });
    expect(conn.stats.unknownProtocolFrames).toBe(0);
  });

  it("answers the Go peer's ping and gets its own ping answered", async () => {
    const conn = await ts.dial(go.port);
    const id = await goConnOf(ts.peerId);
    expect(await go.waitFor((e) => e.event === "pong" && e["conn"] === id, "Go pong")).toMatchObject({ nonce: 1 });
    const pong = nextEvent(conn, "pong");
    conn.sendPing(4_000_000_000, 0xffff_fff0);
    expect(await pong).toEqual({ nonce: 4_000_000_000, timestampUs: 0xffff_fff0 });
    expect(await go.waitFor((e) => e.event === "ping" && e["conn"] === id, "Go ping")).toMatchObject({
      nonce: 4_000_000_000,
      answered: true,
    });
  });

  it("closes with a reason and detail that the Go peer reports", async () => {
    const conn = await ts.dial(go.port);
    const id = await goConnOf(ts.peerId);
    await conn.close(DisconnectReason.NETWORK_RESTRUCTURE, { detail: "rebalancing", retryAfterMs: 1500 });
    expect(await conn.closed).toMatchObject({ reason: "network_restructure", initiator: "local" });
    expect(conn.closeInfo?.error).toBeUndefined();
    expect(await go.waitFor((e) => e.event === "goodbye" && e["conn"] === id, "Go goodbye")).toMatchObject({
      from: "remote",
      reason: "NETWORK_RESTRUCTURE",
      detail: "rebalancing",
      retryAfterMs: 1500,
    });
    await go.waitFor((e) => e.event === "closed" && e["conn"] === id, "Go closed");
  });

  it("rejects a Go peer that is not the expected identity and tells it why", async () => {
    const other = Identity.generate();
    const attempt = ts.dial(go.port, { expectedPeerId: other.peerId });
    await expect(attempt).rejects.toMatchObject({ code: ErrorCode.IDENTITY_MISMATCH });
    const id = await goConnOf(ts.peerId);
    expect(await go.waitFor((e) => e.event === "goodbye" && e["conn"] === id, "Go goodbye")).toMatchObject({
      from: "remote",
      reason: "UNEXPECTED_IDENTITY",
    });
  });

  it("accepts the Go peer when the expected identity matches", async () => {
    const conn = await ts.dial(go.port, { expectedPeerId: PeerId.parse(go.peerId) });
    expect(conn.remotePeer.toString()).toBe(go.peerId);
  });

  it("sees the Go peer's SIGTERM as Goodbye{SHUTDOWN}", async () => {
    const stopping = await GoPeerProcess.listen(binary, flags);
    const conn = await ts.dial(stopping.port);
    await stopping.waitFor((e) => e.event === "open", "Go open");
    const goodbye = nextEvent(conn, "goodbye");
    expect(await stopping.terminate()).toEqual({ code: 0, signal: null });
    expect(await goodbye).toMatchObject({ reason: "shutdown", detail: "peerlink-go stopping" });
    expect(await conn.closed).toMatchObject({ reason: "shutdown", initiator: "remote" });
  });

  it("rejects a Go listener whose identity proof does not verify", async () => {
    const forger = await GoPeerProcess.listen(binary, [...flags, "--bad-proof"]);
    const error = await ts.dial(forger.port).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PeerlinkError);
    expect(error).toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED });
    expect(await forger.waitFor((e) => e.event === "goodbye", "Go goodbye")).toMatchObject({
      from: "remote",
      reason: "AUTHENTICATION_FAILED",
    });
    await forger.terminate();
  });
});

describe("TypeScript redialing the Go peer over TLS", () => {
  it("resumes its TLS session with the Go listener and still proves both identities", async () => {
    const go = await GoPeerProcess.listen(binary, ["--tls"]);
    const ts = await TsNode.create(true, Identity.generate(), true);
    try {
      const first = await ts.dial(go.port);
      expect(first.sessionReused).toBe(false);
      await first.close();
      const second = await ts.dial(go.port, { expectedPeerId: PeerId.parse(go.peerId) });
      expect(second.sessionReused).toBe(true);
      expect(second.remotePeer.toString()).toBe(go.peerId);
      const echoed = nextEvent(second, "message");
      await second.send("/echo", text("resumed"));
      expect(decode((await echoed).data)).toBe("resumed");
      // The Go peer prints its events asynchronously: wait for its second "open" line, then count.
      const isOpen = (e: { event: unknown; [k: string]: unknown }) => e.event === "open" && e["peer"] === ts.peerId;
      await go.waitFor((e) => isOpen(e) && go.events.filter(isOpen).length >= 2, "second Go open");
      expect(go.events.filter(isOpen)).toHaveLength(2);
    } finally {
      await ts.close();
      await go.terminate();
    }
  });
});
