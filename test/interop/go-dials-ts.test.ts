import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { DisconnectReason } from "../../src/reasons.js";
import { GoPeerProcess } from "./go-peer-process.js";
import { buildGoPeer, GO_BUILD_TIMEOUT_MS } from "./go-toolchain.js";
import { nextEvent, TsNode } from "./ts-node.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
const GO_PROTOCOLS = ["--protocol", "/echo@1", "--protocol", "/chat@1"];

/** Echoes every message on `/chat` back to the sender, as the TypeScript application would. */
function echoChat(conn: Connection): void {
  conn.on("message", (m) => {
    if (m.protocol === "/chat") conn.send("/chat", m.data).catch(() => undefined);
  });
}

let binary: string;
beforeAll(async () => {
  binary = await buildGoPeer();
}, GO_BUILD_TIMEOUT_MS);
afterAll(() => GoPeerProcess.killAll());

describe.each([
  { binding: "TLS 1.3 (tls-exporter proof)", secure: true },
  { binding: "plain TCP (nonce-transcript proof)", secure: false },
])("the Go peer dials TypeScript over $binding", ({ secure }) => {
  const flags = secure ? ["--tls"] : [];
  let ts: TsNode;

  beforeEach(async () => {
    ts = await TsNode.create(secure);
    await ts.listen({}, echoChat);
  });
  afterEach(async () => {
    await ts.close();
    await GoPeerProcess.killAll();
  });

  const dial = (...args: string[]): GoPeerProcess =>
    GoPeerProcess.start(binary, ["dial", "--addr", `127.0.0.1:${ts.port}`, ...flags, ...GO_PROTOCOLS, ...args]);

  it("opens on both sides with each other's verified peer id", async () => {
    const go = dial("--expect", ts.peerId);
    const conn = await ts.nextConnection();
    const open = await go.waitFor((e) => e.event === "open", "Go open");
    expect(open).toMatchObject({ peer: ts.peerId, version: 1, tls: secure, direction: "outbound" });
    expect(conn.direction).toBe("inbound");
    const dialing = await go.waitFor((e) => e.event === "dialing", "Go dialing");
    expect(conn.remotePeer.toString()).toBe(dialing["peerId"]);
    expect(conn.handshake?.remoteAgent).toBe("peerlink-go/0.1");
    expect(conn.protocols.map((p) => [p.name, p.localAlias, p.remoteAlias])).toEqual([
      ["/chat", 2, 8],
      ["/echo", 1, 7],
    ]);
  });

  it("carries data both ways: TypeScript echoes Go's /chat, Go echoes TypeScript's /echo", async () => {
    const go = dial("--send", "/chat=hello from Go");
    const conn = await ts.nextConnection();
    expect(await go.waitFor((e) => e.event === "data", "echo of /chat")).toMatchObject({
      protocol: "/chat",
      alias: 2, // the TypeScript side's own alias for /chat
      text: "hello from Go",
    });
    const echoed = nextEvent(conn, "message", (m) => m.protocol === "/echo");
    await conn.send("/echo", text("hello from TypeScript"));
    expect(decode((await echoed).data)).toBe("hello from TypeScript");
  });

  it("answers the Go peer's ping, and the Go peer answers TypeScript's", async () => {
    const go = dial();
    const conn = await ts.nextConnection();
    const pong = await go.waitFor((e) => e.event === "pong", "Go pong");
    expect(pong).toMatchObject({ nonce: 1 });
    expect(pong["rttUs"]).toBeGreaterThanOrEqual(0);
    const answered = nextEvent(conn, "pong");
    conn.sendPing(7, 1000);
    expect(await answered).toEqual({ nonce: 7, timestampUs: 1000 });
  });

  it("delivers the Go dialer's 0-RTT early data first, exactly once and in order", async () => {
    const messages: string[] = [];
    await ts.close();
    ts = await TsNode.create(secure);
    await ts.listen({}, (conn) => conn.on("message", (m) => messages.push(`${m.protocol}:${decode(m.data)}`)));
    const go = dial("--early", "/chat=zero", "--early", "/echo=one", "--send", "/chat=two");
    const conn = await ts.nextConnection();
    expect(conn.handshake?.earlyData).toBe(true);
    await go.waitFor((e) => e.event === "open", "Go open");
    const last = nextEvent(conn, "message", (m) => decode(m.data) === "three");
    go.command({ cmd: "send", protocol: "/chat", text: "three" });
    await last;
    expect(messages).toEqual(["/chat:zero", "/echo:one", "/chat:two", "/chat:three"]);
  });

  it("reports the reason of the Go peer's Goodbye", async () => {
    const go = dial();
    const conn = await ts.nextConnection();
    await go.waitFor((e) => e.event === "open", "Go open");
    const goodbye = nextEvent(conn, "goodbye");
    go.command({ cmd: "goodbye", reason: "RATE_LIMITED", detail: "slow down" });
    expect(await goodbye).toMatchObject({ reason: "rate_limited", detail: "slow down" });
    expect(await conn.closed).toMatchObject({ reason: "rate_limited", initiator: "remote" });
    expect(await go.exited).toEqual({ code: 0, signal: null });
  });

  it("says Goodbye{SHUTDOWN} that the Go peer reports, and the Go peer then exits", async () => {
    const go = dial();
    const conn = await ts.nextConnection();
    await go.waitFor((e) => e.event === "open", "Go open");
    await conn.close(DisconnectReason.SHUTDOWN, { detail: "node stopping" });
    expect(await go.waitFor((e) => e.event === "goodbye", "Go goodbye")).toMatchObject({
      from: "remote",
      reason: "SHUTDOWN",
      detail: "node stopping",
    });
    expect(await go.exited).toEqual({ code: 0, signal: null });
    expect(await conn.closed).toMatchObject({ reason: "shutdown", initiator: "local" });
  });

  it("sees a Go dialer that expected another peer reject it with UNEXPECTED_IDENTITY", async () => {
    const go = dial("--expect", Identity.generate().peerId.toString());
    expect(await go.waitFor((e) => e.event === "handshake-failed", "Go handshake failure")).toMatchObject({ code: "IDENTITY_MISMATCH" });
    expect(await go.exited).toMatchObject({ code: 1 });
    const attempt = await ts.nextInbound();
    // The listener may open (the dialer's Hello and Auth came first) and then read the Goodbye.
    const reason = attempt.connection ? (await attempt.connection.closed).reason : attempt.error.code;
    expect([DisconnectReason.UNEXPECTED_IDENTITY, ErrorCode.IDENTITY_MISMATCH]).toContain(reason);
    if (attempt.connection) expect(attempt.connection.remoteGoodbye?.reason).toBe("unexpected_identity");
  });

  it("rejects a Go dialer whose identity proof does not verify", async () => {
    const go = dial("--bad-proof");
    const attempt = await ts.nextInbound();
    expect(attempt.error?.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(await go.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "Go goodbye")).toMatchObject({
      reason: "AUTHENTICATION_FAILED",
    });
  });
});
