import { getEventListeners } from "node:events";
import net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openConnection } from "../../src/connection/open-connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Handshake } from "../../src/handshake/handshake.js";
import { Identity } from "../../src/identity/identity.js";
import { createTlsCredentials } from "../../src/transport/tls-credentials.js";
import { listenTcp } from "../../src/transport/listen.js";
import { secureInbound } from "../../src/transport/secure-inbound.js";
import type { ResolvedTls, SecureChannel } from "../../src/transport/types.js";
import { encodePingFrame } from "../../src/wire/frame-encoder.js";
import { activeHandles, handlesAfterClose, startNode, trackTimers, type TestNode } from "./nodes.js";

const modes = [
  ["with TLS", true],
  ["over plain TCP", false],
] as const;

/** Waits until `socket` is fully closed. */
function socketClosed(socket: net.Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once("close", () => resolve()));
}

describe.each(modes)("handshake failures between real nodes %s", (_name, tls) => {
  const nodes: TestNode[] = [];
  let baseline: Record<string, number>;
  let timers: ReturnType<typeof trackTimers>;
  const node = async (opts: Partial<Parameters<typeof startNode>[0]> = {}) => {
    const n = await startNode({ tls, ...opts });
    nodes.push(n);
    return n;
  };

  beforeEach(() => {
    baseline = activeHandles({ timers: false });
    timers = trackTimers();
  });

  afterEach(async () => {
    // Closing the nodes also aborts failed handshakes whose Goodbye is still lingering.
    await Promise.all(nodes.splice(0).map((n) => n.close()));
    timers.restore();
    expect(await handlesAfterClose({ timers: false })).toEqual(baseline);
    expect(timers.pending()).toEqual([]);
  });

  it("a dialer expecting another peer id rejects with IDENTITY_MISMATCH and the listener hears unexpected_identity", async () => {
    const a = await node();
    const b = await node();
    const stranger = Identity.generate();
    await expect(a.dial(b.port, { expectedPeerId: stranger.peerId })).rejects.toMatchObject({
      code: ErrorCode.IDENTITY_MISMATCH,
      initiator: "local",
    });
    const inbound = await b.nextInbound();
    // The listener verified the dialer (and may have opened) before the dialer's verdict arrived.
    const info = inbound.connection ? await inbound.connection.closed : { reason: "unexpected_identity", initiator: "remote", error: inbound.error };
    expect(info).toMatchObject({ reason: "unexpected_identity", initiator: "remote", error: { code: ErrorCode.IDENTITY_MISMATCH } });
  });

  it("disjoint wire versions reject on both sides with PROTOCOL_MISMATCH", async () => {
    const a = await node({ handshake: { versions: { min: 2, max: 3 } } });
    const b = await node();
    await expect(a.dial(b.port)).rejects.toMatchObject({ code: ErrorCode.PROTOCOL_MISMATCH });
    expect((await b.nextInbound()).error).toMatchObject({ code: ErrorCode.PROTOCOL_MISMATCH });
  });

  it("an unknown required capability rejects on both sides with PROTOCOL_MISMATCH", async () => {
    const a = await node({ handshake: { capabilities: [{ name: "x.quantum", version: 1, required: true }] } });
    const b = await node();
    await expect(a.dial(b.port)).rejects.toMatchObject({ code: ErrorCode.PROTOCOL_MISMATCH });
    const inbound = await b.nextInbound();
    expect(inbound.error?.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
    expect(inbound.error?.message).toContain("x.quantum");
  });

  it("a node dialing itself rejects with SELF_CONNECTION on both ends", async () => {
    const a = await node();
    await expect(a.dial(a.port)).rejects.toMatchObject({ code: ErrorCode.SELF_CONNECTION });
    expect((await a.nextInbound()).error).toMatchObject({ code: ErrorCode.SELF_CONNECTION });
  });

  it("a listener that never answers fails the dialer with HANDSHAKE_TIMEOUT at the deadline", async () => {
    const a = await node();
    const held: SecureChannel[] = [];
    const silentTls = tls ? a.tls : undefined;
    const silent = await listenTcp({
      host: "127.0.0.1",
      port: 0,
      onSocket: (raw) => {
        secureInbound(raw, { tls: silentTls, deadline: Date.now() + 5_000 }).then((ch) => held.push(ch), () => undefined);
      },
    });
    try {
      const started = Date.now();
      await expect(a.dial(silent.addresses[0]?.port as number, {}, { deadline: Date.now() + 400 })).rejects.toMatchObject({
        code: ErrorCode.HANDSHAKE_TIMEOUT,
      });
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(390);
      // A timer fires late on a busy machine, never early: the bound only tells the deadline from "never".
      expect(elapsed).toBeLessThan(400 + 5_000);
    } finally {
      await silent.close();
      for (const ch of held) ch.socket.destroy();
      await Promise.all(held.map((ch) => socketClosed(ch.socket)));
    }
  });

  it("a dialer that sends garbage is rejected by the listener with MALFORMED_FRAME", async () => {
    const a = await node();
    const b = await node();
    const channel = await a.dialChannel(b.port);
    channel.socket.on("error", () => undefined).resume();
    channel.socket.write(Uint8Array.of(0x04, 0xff, 0xff, 0xff, 0xff));
    expect((await b.nextInbound()).error).toMatchObject({ code: ErrorCode.MALFORMED_FRAME });
    await socketClosed(channel.socket);
  });

  it("a dialer whose first frame is a Ping is rejected with PROTOCOL_VIOLATION and told so", async () => {
    const a = await node();
    const b = await node();
    const channel = await a.dialChannel(b.port);
    const received: Buffer[] = [];
    channel.socket.on("data", (c: Buffer) => received.push(c));
    channel.socket.on("error", () => undefined);
    channel.socket.write(encodePingFrame(1, 2));
    expect((await b.nextInbound()).error).toMatchObject({ code: ErrorCode.PROTOCOL_VIOLATION });
    await socketClosed(channel.socket);
    // The listener's Hello, then Goodbye{PROTOCOL_VIOLATION}: field 6 (0x32) … reason 4.
    const bytes = Buffer.concat(received);
    expect(bytes.includes(Buffer.from([0x32]))).toBe(true);
  });

  it("a length prefix over the maximum frame size is rejected with FRAME_TOO_LARGE before the body arrives", async () => {
    const a = await node();
    const b = await node({ connection: { maxFrameSize: 4096 } });
    const channel = await a.dialChannel(b.port);
    channel.socket.on("error", () => undefined).resume();
    channel.socket.write(Uint8Array.of(0x80, 0x80, 0x01)); // 16384 > 4096
    expect((await b.nextInbound()).error).toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE });
    await socketClosed(channel.socket);
  });

  it("a listener that sends garbage is rejected by the dialer with MALFORMED_FRAME", async () => {
    const a = await node();
    const liar = await listenTcp({
      host: "127.0.0.1",
      port: 0,
      onSocket: (raw) => {
        secureInbound(raw, { tls: tls ? a.tls : undefined, deadline: Date.now() + 5_000 }).then(
          (ch) => {
            ch.socket.on("error", () => undefined);
            ch.socket.on("data", () => undefined);
            ch.socket.write(Uint8Array.of(0x03, 0x22, 0x99, 0x99));
          },
          () => undefined,
        );
      },
    });
    try {
      await expect(a.dial(liar.addresses[0]?.port as number)).rejects.toMatchObject({ code: ErrorCode.MALFORMED_FRAME });
    } finally {
      await liar.close();
    }
  });

  it("aborting the signal during the handshake rejects with ABORTED and releases the socket", async () => {
    const a = await node();
    const quiet = await quietListener(tls ? a.tls : undefined);
    try {
      const controller = new AbortController();
      const channel = await a.dialChannel(quiet.port);
      const opening = openConnection(channel, { identity: a.identity }, { signal: controller.signal });
      controller.abort();
      await expect(opening).rejects.toMatchObject({ code: ErrorCode.ABORTED });
      expect(channel.socket.destroyed).toBe(true);
    } finally {
      await quiet.close();
    }
  });
});

/**
 * A listener that completes TLS (when `tls` is given) and then never answers: handshakes to it wait. `close`
 * stops it and closes every socket it accepted.
 */
async function quietListener(tls: ResolvedTls | undefined): Promise<{ port: number; close(): Promise<void> }> {
  const held: SecureChannel[] = [];
  const accepting: Promise<unknown>[] = [];
  const listener = await listenTcp({
    host: "127.0.0.1",
    port: 0,
    onSocket: (raw) => {
      accepting.push(secureInbound(raw, { tls }).then((ch) => held.push(ch), () => undefined));
    },
  });
  return {
    port: listener.addresses[0]?.port as number,
    async close() {
      await listener.close();
      await Promise.all(accepting);
      for (const ch of held) ch.socket.destroy();
      await Promise.all(held.map((ch) => socketClosed(ch.socket)));
    },
  };
}

describe.each(modes)("handshakes sharing one signal %s", (_name, tls) => {
  it("an abort ends every handshake in progress, and no listener stays on the signal once they ended", async () => {
    const a = await startNode({ tls });
    const b = await startNode({ tls });
    const quiet = await quietListener(tls ? a.tls : undefined);
    try {
      const shared = new AbortController();
      // Two handshakes that open (their listener answers) on the shared signal leave nothing on it.
      for (let i = 0; i < 2; i++) {
        const opened = await openConnection(await a.dialChannel(b.port), { identity: a.identity }, { signal: shared.signal });
        expect(opened.state).toBe("open");
        await opened.close();
      }
      expect(getEventListeners(shared.signal, "abort")).toHaveLength(0);
      // Three to a silent listener wait on it: one abort ends all three.
      const channels = await Promise.all([0, 1, 2].map(() => a.dialChannel(quiet.port)));
      const opening = channels.map((channel) => openConnection(channel, { identity: a.identity }, { signal: shared.signal }));
      expect(getEventListeners(shared.signal, "abort")).toHaveLength(1);
      shared.abort(new Error("stopping"));
      for (const o of opening) await expect(o).rejects.toMatchObject({ code: ErrorCode.ABORTED });
      for (const channel of channels) expect(channel.socket.destroyed).toBe(true);
      expect(getEventListeners(shared.signal, "abort")).toHaveLength(0);
    } finally {
      await quiet.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe("a slow peer that sends its Hello one byte per second", () => {
  it.each(modes)("is disconnected at the 1.5 s handshake timeout (±10 %%) %s", async (_name, tls) => {
    const baseline = activeHandles({ timers: false });
    const timers = trackTimers();
    const b = await startNode({ tls, handshakeTimeoutMs: 1_500 });
    const slow = await startNode({ tls });
    try {
      const hello = new Handshake({ identity: slow.identity, role: "dialer", binding: tls ? { type: "tls", exporter: new Uint8Array(32) } : { type: "nonces" } }).start();
      const bytes = hello[0]?.type === "send" ? hello[0].bytes : new Uint8Array();
      const startedAt = Date.now();
      const channel = await slow.dialChannel(b.port);
      channel.socket.on("error", () => undefined);
      channel.socket.on("data", () => undefined);
      let i = 0;
      channel.socket.write(bytes.subarray(i, ++i));
      const drip = setInterval(() => {
        if (i < bytes.length && !channel.socket.destroyed) channel.socket.write(bytes.subarray(i, ++i));
      }, 1_000);
      const ended = new Promise<number>((resolve) => channel.socket.once("end", () => resolve(Date.now())));
      try {
        const inbound = await b.nextInbound();
        const endedAt = await ended;
        expect(inbound.error).toBeInstanceOf(PeerlinkError);
        expect(inbound.error?.code).toBe(ErrorCode.HANDSHAKE_TIMEOUT);
        const elapsed = endedAt - startedAt;
        expect(elapsed).toBeGreaterThanOrEqual(1_350);
        // Late on a busy machine, but long before the drip could finish its Hello (a byte a second).
        expect(elapsed).toBeLessThan(1_500 + 5_000);
        expect(i).toBeLessThan(bytes.length); // it never finished its Hello
      } finally {
        clearInterval(drip);
        channel.socket.destroy();
        await socketClosed(channel.socket);
      }
    } finally {
      await b.close();
      await slow.close();
      timers.restore();
    }
    expect(await handlesAfterClose({ timers: false })).toEqual(baseline);
    expect(timers.pending()).toEqual([]);
  });
});

describe("a TLS listener that rejects the dialer's client certificate", () => {
  it("makes the dialer reject with AUTHENTICATION_FAILED, not a generic close", async () => {
    const baseline = activeHandles({ timers: false });
    const foreignCa = await createTlsCredentials(Identity.generate());
    const strict = await startNode({ tls: true, tlsOptions: { ca: [foreignCa.cert] } });
    const a = await startNode({ tls: true });
    try {
      await expect(a.dial(strict.port)).rejects.toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED });
      expect((await strict.nextInbound()).error?.code).toBe(ErrorCode.TLS_FAILED);
    } finally {
      await a.close();
      await strict.close();
    }
    expect(await handlesAfterClose({ timers: false })).toEqual(baseline);
  });
});
