// Races of a dial of one address against its callers and the node: whatever step a dial is cancelled at,
// every caller's promise settles once with ABORTED, the slot is freed once, no socket or listener is left,
// and nothing rejects unobserved.
import { getEventListeners } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import type { DialerHost } from "../../src/node/dialer.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { fakeDialer } from "../helpers/fake-dialer-host.js";

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const notReached: DialerHost["handshake"] = () => Promise.reject(new Error("not reached"));

/** Every promise rejection nobody observed while `run` ran (and a turn of the event loop after it). */
async function unhandledDuring(run: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void seen.push(reason);
  const listeners = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", onUnhandled);
  try {
    await run();
    await new Promise<void>((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(r));
  } finally {
    process.off("unhandledRejection", onUnhandled);
    for (const l of listeners) process.on("unhandledRejection", l);
  }
  return seen;
}

describe("a dial whose caller's signal is already aborted", () => {
  it("rejects with ABORTED, frees its slot, and leaves no rejection unobserved", async () => {
    const server = net.createServer((s) => sockets.add(s.on("error", () => undefined)));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const stop = new AbortController();
    const { dialer, slots } = fakeDialer({ stop: stop.signal, tls: undefined, handshake: notReached });
    const caller = new AbortController();
    caller.abort(new Error("gave up before"));
    const unhandled = await unhandledDuring(async () => {
      await rejectsWithCode(dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${port}`] }, { signal: caller.signal }), ErrorCode.ABORTED);
      await new Promise<void>((r) => setImmediate(r));
    });
    expect(unhandled).toEqual([]);
    expect(slots.reserved).toBe(slots.released);
    expect(dialer.size).toBe(0);
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });
});
