/**
 * Regression tests for defects 2–7 and 12 of issue 11 (node layer), each over real loopback sockets with
 * real ConnectionManager nodes. Defects 1, 8, 9, 10 and 11 have their own files (pending-exhaustion,
 * admission-deadlines, capacity-refusal, test/connection, options-validation).
 *
 * Each fails on the main the issue started from (953980c; checked there with a copy of this file, its
 * manager then in src/manager/), for the defect's reason:
 * - 2, 0-RTT after ban by id and IP, from another IP: the 15 early messages are emitted as `message` (15 of 15).
 * - 2, banned while streaming: 127 more messages are delivered after `ban()` returned (127 in each of three runs).
 * - 2, a raw client ignoring the PEER_BANNED Goodbye: 7,584 of its 7,584 messages are delivered.
 * - 3: after `ban(p)`, `peers.isBanned(p)` is false and `peers.candidates()` offers p; `peers.isProtected` does
 *   not exist; a protected peer is evicted from a full peer database.
 * - 4: the dial made right after the aborted one rejects with ABORTED (it joined the dead attempt).
 * - 5: 0 of 10 connections deliver the peer's first message to the listener attached after `await dial()`.
 * - 6 (reset and FIN): the close is reported as `normal` and the redial scheduled as `normal` with delay 0.
 * - 7: the Goodbye detail is "private note"; with `publicReason: "spam"` it is still "private note".
 * - 12: the dial opens a connection (the early messages are dropped silently).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { DisconnectReason } from "../../src/reasons.js";
import { encodeDataFrame } from "../../src/wire/frame-encoder.js";
import { cleanup, nextEvent, startManager } from "../manager/fixtures.js";
import { handshakeThenIgnoreRefusal, startRelay, type CuttableRelay } from "./defect-peers.js";

const relays = new Set<CuttableRelay>();

afterEach(async () => {
  await Promise.all([...relays].map((r) => r.close()));
  relays.clear();
  await cleanup();
});

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Resolves after the current loop turn's I/O (a message already read would have been emitted by then). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The result of `promise`: its value, or the error it rejected with. */
function settle<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

describe("defect 2: a banned peer's data never reaches the application", () => {
  it("a peer banned by id and IP that dials again from another IP with 0-RTT messages gets none of them delivered", async () => {
    const node = await startManager();
    const peer = await startManager({ listen: [], reconnect: false });
    const fromPeer: string[] = [];
    node.on("message", (m) => {
      if (m.peer === peer.peerId.toString()) fromPeer.push(new TextDecoder().decode(m.data));
    });
    const early = Array.from({ length: 15 }, (_, i) => ({ protocol: "/test", data: bytes(`early ${i}`) }));

    // Control: before the ban, the same 0-RTT messages from 127.21.0.1 are delivered, all 15.
    const first = await peer.dial(node.addresses[0]!, { localAddress: "127.21.0.1", earlyMessages: early });
    await vi.waitFor(() => expect(fromPeer).toHaveLength(15));

    const closed = first.closed;
    node.ban({ peerId: peer.peerId.toString() }, { reason: "test ban" });
    node.ban({ ip: "127.21.0.1" }, { reason: "test ban" });
    expect((await closed).reason).toBe(DisconnectReason.PEER_BANNED);
    fromPeer.length = 0;

    // The banned peer comes back from another IP, with 15 early messages.
    const refused = nextEvent(node, "inbound:refused", (e) => e.peer === peer.peerId.toString());
    const again = await settle(peer.dial(node.addresses[0]!, { localAddress: "127.22.0.1", earlyMessages: early }));
    const refusal = await refused;
    expect(refusal.reason).toBe("banned");
    // The dialer learns it is banned, on the dial or on the connection's close: by then the node has read
    // everything the peer sent (the early messages came before the peer's Hello was even answered).
    if ("value" in again) expect((await again.value.closed).reason).toBe(DisconnectReason.PEER_BANNED);
    else expect((again.error as PeerlinkError).code).toBe(ErrorCode.PEER_BANNED);
    await node.settled();
    await nextTurn();

    expect(fromPeer).toEqual([]);
    expect(node.connections()).toHaveLength(0);
  });

  it("a peer banned while connected and streaming delivers 0 messages after ban() returned", async () => {
    const node = await startManager();
    const peer = await startManager({ listen: [], reconnect: false });
    let received = 0;
    node.on("message", (m) => {
      if (m.peer === peer.peerId.toString()) received++;
    });
    const conn = await peer.dial(node.addresses[0]!);
    const payload = new Uint8Array(256);
    let sent = 0;
    const streaming = (async () => {
      // Runs of 64 sends, so there is always data in flight. Bounded: the ban ends it long before.
      for (let i = 0; i < 5_000 && conn.state === "open"; i++) {
        const run = Array.from({ length: 64 }, () => conn.send("/test", payload).then(() => sent++));
        if ((await Promise.allSettled(run)).some((r) => r.status === "rejected")) return;
      }
    })();
    await vi.waitFor(() => expect(received).toBeGreaterThanOrEqual(500), { timeout: 10_000 });

    const closed = nextEvent(node, "connection:close", (e) => e.peer === peer.peerId.toString());
    node.ban({ peerId: peer.peerId.toString() });
    const atBan = received;
    const close = await closed;
    await streaming;
    await nextTurn();

    expect(close.reason).toBe(DisconnectReason.PEER_BANNED);
    expect(sent).toBeGreaterThan(atBan); // the peer was still streaming when it was banned
    expect(received - atBan, `${sent} sent in all, ${atBan} received before the ban`).toBe(0);
  });

  it("a banned peer whose client ignores the PEER_BANNED Goodbye and keeps sending gets nothing delivered", async () => {
    const node = await startManager({ tls: false, gracefulShutdownTimeoutMs: 500 });
    const identity = Identity.generate();
    node.ban({ peerId: identity.peerId.toString() }, { reason: "test ban" });
    let received = 0;
    node.on("message", () => received++);
    const refused = nextEvent(node, "inbound:refused", (e) => e.peer === identity.peerId.toString());

    const raw = await handshakeThenIgnoreRefusal(Number(node.addresses[0]!.split(":")[1]), identity);
    const batch = new Uint8Array(Array.from({ length: 32 }, () => [...encodeDataFrame(1, new Uint8Array(512))]).flat());
    let batches = 0;
    // Bounded: the node ends the socket at its graceful-close timeout (500 ms) whatever the peer does.
    for (let i = 0; i < 20_000 && !raw.gone; i++) {
      if (!(await raw.write(batch))) break;
      batches++;
    }
    expect((await refused).reason).toBe("banned");
    await node.settled();
    await nextTurn();

    expect(raw.goodbyeReason).toBe(DisconnectReason.PEER_BANNED);
    expect(batches).toBeGreaterThan(0);
    expect(raw.gone).toBe(true);
    expect(received, `of ${batches * 32} sent`).toBe(0);
    raw.destroy();
  });
});

describe("defect 3: the peer database sees the node's bans and protection", () => {
  it("after ban(p), peers.isBanned(p) is true and peers.candidates() no longer offers p for replacement", async () => {
    const node = await startManager();
    const p = await startManager({ reconnect: false });
    const opened = nextEvent(node, "connection:open");
    await p.dial(node.addresses[0]!);
    await opened;
    const id = p.peerId.toString();
    const now = (): number => node.options.clock();
    // Control: p is known with the address it advertised, so it is a replacement candidate.
    expect(node.peers.candidates({ now: now() }).map((c) => c.peerId)).toContain(id);

    node.ban(p.peerId, { reason: "test ban" });

    const offered = node.peers.candidates({ now: now() }).map((c) => c.peerId);
    expect({ isBanned: node.peers.isBanned(id, now()), offered: offered.includes(id) }).toEqual({ isBanned: true, offered: false });
  });

  it("protect(q) is seen by the peer database: peers.isProtected(q) is true", async () => {
    const node = await startManager();
    const q = await startManager({ reconnect: false });
    const opened = nextEvent(node, "connection:open");
    await q.dial(node.addresses[0]!);
    await opened;

    node.protect(q.peerId);

    expect(node.peers.isProtected(q.peerId.toString())).toBe(true);
  });

  it("a protected peer survives peer-database eviction when the database overflows with newer peers", async () => {
    const node = await startManager();
    const q = await startManager({ reconnect: false });
    const opened = nextEvent(node, "connection:open");
    await q.dial(node.addresses[0]!);
    await opened;
    await q.stop();
    const id = q.peerId.toString();
    node.protect(q.peerId);
    expect(node.peers.has(id)).toBe(true);

    // 1,000 peers (the default bound), each seen after q: q is the least recently seen, the first to go.
    const later = node.options.clock() + 60_000;
    for (let i = 0; i < 1_000; i++) node.peers.upsert(`filler-${i}`, { lastSeen: later + i }, later + i);

    expect(node.peers.has(id)).toBe(true);
    expect(node.peers.has("filler-0")).toBe(false); // the bound was enforced, on someone else
  });
});

describe("defect 4: an aborted dial does not poison the next one", () => {
  it("dial(addr) made right after an aborted dial(addr, {signal}) opens a connection", async () => {
    const node = await startManager();
    const dialer = await startManager({ listen: [], reconnect: false });
    const controller = new AbortController();
    const aborted = settle(dialer.dial(node.addresses[0]!, { signal: controller.signal }));
    controller.abort();
    // In the same turn: the aborted attempt is still being torn down.
    const second = settle(dialer.dial(node.addresses[0]!));

    const first = await aborted;
    expect("error" in first && (first.error as PeerlinkError).code).toBe(ErrorCode.ABORTED);
    const result = await second;
    expect("error" in result ? String(result.error) : result.value.state).toBe("open");
    expect(dialer.connections()).toHaveLength(1);
  });
});

describe("defect 5: messages sent inside the peer's connection:open reach a listener attached after await dial()", () => {
  // Plain TCP: the peer's Hello and its first message reach the dialer in one read, so the message is held
  // before dial() resolves (over TLS the two records usually arrive apart and the race hides the defect).
  it("10 of 10 fresh connections deliver the peer's first message to conn.on('message') (plain TCP)", async () => {
    const node = await startManager({ reconnect: false, tls: false });
    node.on("connection:open", ({ connection }) => void connection.send("/test", bytes("welcome")).catch(() => undefined));
    let delivered = 0;
    for (let i = 0; i < 10; i++) {
      const dialer = await startManager({ listen: [], reconnect: false, tls: false });
      const seenByNode = nextEvent(dialer, "message");
      // A fresh source IP each time: ten dials a second from one IP would meet the node's rate limit.
      const conn: Connection = await dialer.dial(node.addresses[0]!, { localAddress: `127.23.0.${i + 1}` });
      const got: string[] = [];
      conn.on("message", (m) => got.push(new TextDecoder().decode(m.data)));
      // The dialer's own `message` event shows the message arrived; the connection's listener gets it
      // within the same turn if it gets it at all.
      await seenByNode;
      await nextTurn();
      if (got.length === 1 && got[0] === "welcome") delivered++;
      await dialer.stop();
    }
    expect(delivered).toBe(10);
  });
});

describe.each([
  ["is reset (RST)", "reset"],
  ["ends with a FIN and no Goodbye, as a killed process does", "end"],
] as const)("defect 6: a peer whose connection %s", (_name, how) => {
  it("is reported as connection_lost and redialed after a backoff, not at once", async () => {
    const remote = await startManager({ tls: false, reconnect: false });
    const relay = await startRelay(remote.addresses[0]!);
    relays.add(relay);
    const node = await startManager({ tls: false, listen: [] });
    const conn = await node.dial(relay.address);
    const peer = remote.peerId.toString();
    expect(conn.remotePeer.toString()).toBe(peer);

    const closed = nextEvent(node, "connection:close", (e) => e.peer === peer);
    const scheduled = nextEvent(node, "reconnect:scheduled", (e) => e.peer === peer);
    relay.cut(how);
    const close = await closed;
    const plan = await scheduled;

    // Literal strings: the main this issue started from had no such reason (its test reads it as "normal").
    expect({ closed: close.reason, scheduled: plan.reason, delayed: plan.delayMs > 0 }).toEqual({
      closed: "connection_lost",
      scheduled: "connection_lost",
      delayed: true,
    });
    expect(close.initiator).toBe("remote");
    expect(plan.at).toBeGreaterThan(node.options.clock());
  });
});

describe("defect 7: the ban reason stays local", () => {
  it("ban(p, {reason}) sends the banned peer a Goodbye without the private reason", async () => {
    const node = await startManager();
    const peer = await startManager({ listen: [], reconnect: false });
    const conn = await peer.dial(node.addresses[0]!);
    const closed = conn.closed;

    node.ban(peer.peerId, { reason: "private note" });
    const info = await closed;

    expect(info.reason).toBe(DisconnectReason.PEER_BANNED);
    expect(conn.remoteGoodbye?.reason).toBe(DisconnectReason.PEER_BANNED);
    expect(conn.remoteGoodbye?.detail ?? "").not.toContain("private note");
    expect(String(info.error?.message ?? "")).not.toContain("private note");
  });

  it("ban(p, {reason, publicReason}) sends exactly the public reason", async () => {
    const node = await startManager();
    const peer = await startManager({ listen: [], reconnect: false });
    const conn = await peer.dial(node.addresses[0]!);
    const closed = conn.closed;

    node.ban(peer.peerId, { reason: "private note", publicReason: "spam" });
    await closed;

    expect(conn.remoteGoodbye?.reason).toBe(DisconnectReason.PEER_BANNED);
    expect(conn.remoteGoodbye?.detail).toBe("spam");
  });
});

describe("defect 12: early messages with 0-RTT off", () => {
  it("dial(…, {earlyMessages}) on a node with enable0Rtt: false rejects with INVALID_ARGUMENT", async () => {
    const node = await startManager();
    const dialer = await startManager({ listen: [], reconnect: false, enable0Rtt: false });

    const result = await settle(dialer.dial(node.addresses[0]!, { earlyMessages: [{ protocol: "/test", data: bytes("hi") }] }));

    expect("error" in result ? result.error : `opened (${result.value.state})`).toBeInstanceOf(PeerlinkError);
    expect((result as { error: PeerlinkError }).error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(dialer.connections()).toHaveLength(0);
  });
});
