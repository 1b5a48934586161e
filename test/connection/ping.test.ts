// Connection.ping(): the round-trip time of one Ping/Pong, its abort and its rejection on close.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { startNode, type TestNode } from "./nodes.js";

describe("Connection.ping", () => {
  let a: TestNode;
  let b: TestNode;

  beforeEach(async () => {
    a = await startNode({ tls: true });
    b = await startNode({ tls: true });
  });

  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it("resolves with the round-trip time once the peer's Pong arrives, several pings at once included", async () => {
    const conn = await a.dial(b.port);
    const inbound = await b.nextInbound();
    if (inbound.connection === undefined) throw inbound.error;
    const pongs: number[] = [];
    conn.on("pong", ({ nonce }) => pongs.push(nonce));
    const rtts = await Promise.all([conn.ping(), conn.ping(), conn.ping()]);
    for (const rtt of rtts) {
      expect(rtt).toBeGreaterThan(0);
      expect(Number.isFinite(rtt)).toBe(true);
    }
    // Each ping was answered by its own Pong (distinct nonces).
    expect(new Set(pongs).size).toBe(3);
  });

  it("rejects with ABORTED when the signal aborts, before or while waiting", async () => {
    const conn = await a.dial(b.port);
    const inbound = await b.nextInbound();
    if (inbound.connection === undefined) throw inbound.error;
    await expect(conn.ping({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: ErrorCode.ABORTED });
    // The peer stops reading, so no Pong comes: only the abort ends the wait.
    inbound.socket?.pause();
    const controller = new AbortController();
    const pending = conn.ping({ signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.ABORTED });
  });

  it("rejects with CONNECTION_CLOSED when the connection closes before the Pong, and when it is not open", async () => {
    const conn = await a.dial(b.port);
    const inbound = await b.nextInbound();
    if (inbound.connection === undefined) throw inbound.error;
    inbound.socket?.pause();
    const pending = conn.ping();
    conn.abort();
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.CONNECTION_CLOSED });
    await expect(conn.ping()).rejects.toMatchObject({ code: ErrorCode.CONNECTION_CLOSED });
  });
});
