// A remote that completes TLS and then never sends its Hello: the node's dial ends with HANDSHAKE_TIMEOUT at
// its handshake deadline (or with the node's stop), its pending slot is freed and its socket closed.
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { listenTcp } from "../../src/transport/listen.js";
import { secureInbound } from "../../src/transport/secure-inbound.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import type { SecureChannel, TcpListener } from "../../src/transport/types.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { cleanup, startManager } from "../manager/fixtures.js";

const listeners: TcpListener[] = [];
const held: SecureChannel[] = [];
afterEach(async () => {
  for (const ch of held.splice(0)) ch.socket.destroy();
  await Promise.all(listeners.splice(0).map((l) => l.close()));
  await cleanup();
});

/** A TLS listener that finishes TLS and then says nothing; `closed` resolves when the dialer closes its end. */
async function quietAfterTls(): Promise<{ port: number; secured: Promise<void>; closed: Promise<void> }> {
  const tls = await resolveTls(Identity.generate());
  let secured!: () => void;
  let closed!: () => void;
  const securedP = new Promise<void>((r) => (secured = r));
  const closedP = new Promise<void>((r) => (closed = r));
  const listener = await listenTcp({
    host: "127.0.0.1",
    port: 0,
    onSocket: (raw) => {
      secureInbound(raw, { tls, deadline: Date.now() + 60_000 }).then(
        (ch) => {
          held.push(ch);
          // Silent until the dialer gives up; its end of stream is then answered with ours (it closes at once
          // rather than after its linger).
          ch.socket.on("error", () => undefined).once("close", closed);
          ch.socket.once("end", () => ch.socket.end()).resume();
          secured();
        },
        () => undefined,
      );
    },
  });
  listeners.push(listener);
  return { port: listener.addresses[0]!.port, secured: securedP, closed: closedP };
}

describe("a dial to a remote that completes TLS and never sends a Hello", () => {
  it("ends with HANDSHAKE_TIMEOUT, frees its pending slot and closes its socket", async () => {
    const remote = await quietAfterTls();
    const a = await startManager({ limits: { handshakeTimeoutMs: 800 } });
    const dialing = a.dial(`127.0.0.1:${remote.port}`);
    await remote.secured;
    expect(a.counts.pendingOutbound).toBe(1);
    await rejectsWithCode(dialing, ErrorCode.HANDSHAKE_TIMEOUT);
    await remote.closed;
    expect(await eventually(() => a.counts.pendingOutbound === 0)).toBe(true);
  });

  it("ends when the node stops meanwhile, its socket closed", async () => {
    const remote = await quietAfterTls();
    const a = await startManager({ limits: { handshakeTimeoutMs: 600_000 } });
    const dialing = a.dial(`127.0.0.1:${remote.port}`);
    await remote.secured;
    await a.stop();
    const error = await dialing.then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect([ErrorCode.ABORTED, ErrorCode.STOPPED]).toContain(error?.code);
    await remote.closed;
    expect(a.counts.pendingOutbound).toBe(0);
  });
});

/** Waits (bounded in turns of the event loop) until `check` holds; false if it never did. */
async function eventually(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 2_000 && !check(); i++) await new Promise<void>((r) => setImmediate(r));
  return check();
}
