/**
 * A hostile or careless peer on a real connection: floods of tiny messages, pings it never reads the
 * answers to, a transport torn down under TLS, sends pending when the connection goes.
 */
import type { Socket } from "node:net";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { openConnection } from "../../src/connection/open-connection.js";
import { Identity } from "../../src/identity/identity.js";
import { encodePingFrame } from "../../src/wire/frame-encoder.js";
import { corePair } from "./core-pair.js";
import { startNode, type TestNode } from "./nodes.js";

const chat = { name: "/chat", versions: [1], alias: 1 };

describe("a core whose transport is not taking writes", () => {
  it("does not answer Pings while blocked, and answers again once unblocked", () => {
    const alice = Identity.generate();
    const bob = Identity.generate();
    const pair = corePair({ secure: false, handshake: { identity: alice, protocols: [chat] } }, { secure: false, handshake: { identity: bob, protocols: [chat] } }, { type: "nonces" });
    pair.pump();
    const core = pair.listener.core;
    expect(core.state).toBe("open");
    const writes = (actions: readonly { type: string }[]) => actions.filter((a) => a.type === "write").length;
    core.writesBlocked = true;
    expect(writes(core.receive(encodePingFrame(1, 10), pair.now))).toBe(0);
    core.writesBlocked = false;
    expect(writes(core.receive(encodePingFrame(2, 20), pair.now))).toBe(1);
  });
});

describe.each([
  ["TLS", true],
  ["plain TCP", false],
])("a connection over %s", (_name, tls) => {
  let a: TestNode;
  let b: TestNode;

  beforeEach(async () => {
    a = await startNode({ tls });
    b = await startNode({ tls, connection: { messageQueueHighWaterBytes: 256 * 1024 } });
  });

  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it("stops reading from a peer that floods empty messages nobody consumes (each message counts for flow control)", async () => {
    const out = await a.dial(b.port);
    const inbound = await b.nextInbound();
    if (inbound.connection === undefined) throw inbound.error;
    const inc = inbound.connection;
    const count = 200_000;
    const empty = new Uint8Array(0);
    const sent = Array.from({ length: count }, () => out.send("/chat", empty).catch(() => undefined));
    // The receiver pauses its socket at the high-water mark: from then on it reads nothing more.
    await vi.waitFor(() => expect(inbound.socket?.isPaused()).toBe(true), { timeout: 20_000, interval: 10 });
    const received = inc.stats.framesIn;
    // Paused at the high-water mark (256 KiB / 64 B = 4,096 messages) plus what one socket read carries;
    // without a per-message cost nothing would ever pause and all 200,000 would be read and held.
    expect(received).toBeLessThan(count / 2);
    out.abort();
    await Promise.all(sent);
  });

  it("settles `closed` and `close()` when its transport is torn down under it locally", async () => {
    const channel = await a.dialChannel(b.port);
    const conn = await openConnection(channel, { identity: a.identity, protocols: [chat] });
    const raw = tls ? ((channel.socket as unknown as { _parent?: Socket })._parent ?? channel.socket) : channel.socket;
    raw.destroy();
    const info = await conn.closed;
    expect(info.initiator).toBe("remote");
    await conn.close();
    expect(conn.state).toBe("closed");
  });

  it("cuts a Goodbye detail to 1 KiB: the peer sees a normal close with the start of the text", async () => {
    const out = await a.dial(b.port);
    const inbound = await b.nextInbound();
    if (inbound.connection === undefined) throw inbound.error;
    const inc = inbound.connection;
    const goodbye = new Promise<{ reason: string; detail: string }>((resolve) => inc.on("goodbye", (g) => resolve(g)));
    await out.close("normal", { detail: "x".repeat(2_000_000) });
    const seen = await goodbye;
    expect(seen.reason).toBe("normal");
    expect(seen.detail).toBe("x".repeat(1024));
    expect((await inc.closed).reason).toBe("normal");
  });

  it("opens with a handshake deadline beyond what a timer can hold (30 days), without timer warnings", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      const conn = await a.dial(b.port, {}, { deadline: Date.now() + 30 * 24 * 3_600_000 });
      expect(conn.state).toBe("open");
      // Warnings arrive in the order they were raised: once this one arrives, any earlier one has.
      const probe = new Promise<void>((resolve) => {
        const onProbe = (w: Error): void => {
          if (w.name !== "ProbeWarning") return;
          process.off("warning", onProbe);
          resolve();
        };
        process.on("warning", onProbe);
      });
      process.emitWarning("probe", "ProbeWarning");
      await probe;
      expect(warnings).not.toContain("TimeoutOverflowWarning");
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("rejects and releases the connection when the onConnection callback throws", async () => {
    const channel = await a.dialChannel(b.port);
    const boom = new Error("callback failed");
    let created: Connection | undefined;
    await expect(
      openConnection(channel, { identity: a.identity, protocols: [chat] }, {
        onConnection: (c) => {
          created = c;
          throw boom;
        },
      }),
    ).rejects.toMatchObject({ code: "INTERNAL" });
    expect(created).toBeDefined();
    await created!.closed;
    expect(channel.socket.destroyed).toBe(true);
  });

  it("rejects the sends still pending when the connection is aborted, never reports them written", async () => {
    const channel = await a.dialChannel(b.port);
    const inbound = b.nextInbound();
    const conn: Connection = await openConnection(channel, { identity: a.identity, protocols: [chat] });
    const peer = await inbound;
    if (peer.connection === undefined) throw peer.error;
    // The peer has no message consumer: it pauses reading at its 256 KiB high-water mark, our writes back up.
    let aborted = false;
    const block = new Uint8Array(512 * 1024);
    const outcomes = Array.from({ length: 40 }, () =>
      conn.send("/chat", block).then(
        () => (aborted ? "resolved after abort" : "written"),
        () => "rejected",
      ),
    );
    // Abort once the first sends have been written: the rest are queued behind the paused reader.
    await Promise.race(outcomes);
    aborted = true;
    conn.abort();
    const results = await Promise.all(outcomes);
    expect(results).not.toContain("resolved after abort");
    expect(results).toContain("rejected");
  });
});
