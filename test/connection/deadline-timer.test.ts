// The connection's one timer is set for a delay rounded down to the timer grain and set again for the rest:
// on a fake clock, a handshake deadline still fires exactly at its time, neither a grain early nor never.
import net from "node:net";
import { afterEach, expect, it, vi } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { startNode, type TestNode } from "./nodes.js";
import { handshakeThenIgnore, type RawPeer } from "./raw-peer.js";

const nodes: TestNode[] = [];
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
const peers: RawPeer[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const p of peers.splice(0)) p.destroy();
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

/** A few real turns of the event loop (setImmediate is not faked): promise reactions and socket events run. */
async function turns(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

for (const ms of [2_500, 3_072, 900]) {
  it(`a handshake deadline ${ms} ms away fires at ${ms} ms, not a timer grain early`, async () => {
    const a = await startNode({ tls: false });
    nodes.push(a);
    let heard!: () => void;
    const helloSent = new Promise<void>((r) => (heard = r));
    const silent = net.createServer((s) => sockets.add(s.on("error", () => undefined).once("data", () => heard())));
    servers.push(silent);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    let outcome: PeerlinkError | "open" | undefined;
    const dialing = a.dial((silent.address() as net.AddressInfo).port, {}, { deadline: Date.now() + ms }).then(
      (c) => {
        outcome = "open";
        return c;
      },
      (e: unknown) => void (outcome = e as PeerlinkError),
    );
    await helloSent; // the dialer's connection exists and its timer is set
    vi.advanceTimersByTime(ms - 1);
    await turns();
    expect(outcome).toBeUndefined();
    vi.advanceTimersByTime(1);
    await turns();
    await dialing;
    expect(outcome).toBeInstanceOf(PeerlinkError);
    expect((outcome as PeerlinkError).code).toBe(ErrorCode.HANDSHAKE_TIMEOUT);
  });
}

for (const ms of [3_000, 2_048]) {
  it(`a close's timeout of ${ms} ms (a peer that ignores the Goodbye) ends the connection at ${ms} ms`, async () => {
    const b = await startNode({ tls: false });
    nodes.push(b);
    peers.push(await handshakeThenIgnore(b.port, Identity.generate()));
    const inbound = await b.nextInbound();
    if (inbound.connection === undefined) throw inbound.error;
    const connection = inbound.connection;
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    let ended = false;
    const closing = connection.close("normal", { timeoutMs: ms }).then(() => void (ended = true));
    await turns();
    vi.advanceTimersByTime(ms - 1);
    await turns();
    expect(ended).toBe(false);
    expect(connection.state).not.toBe("closed");
    vi.advanceTimersByTime(1);
    await turns();
    await closing;
    expect(connection.transitions.at(-1)?.transition).toBe("close-timed-out");
  });
}
