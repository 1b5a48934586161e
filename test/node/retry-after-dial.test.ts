/**
 * A peer's Goodbye retry-after binds a direct dial() too, not only the reconnect service (PROTOCOL.md §8.3:
 * the receiver of RATE_LIMITED MUST NOT reconnect sooner). Real sockets; time moves on the nodes' clock.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { DialBackoff } from "../../src/peers/dial-backoff.js";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";
import { Identity } from "../../src/identity/identity.js";
import { DisconnectReason } from "../../src/reasons.js";
import { cleanup, nextEvent, startManager } from "../manager/fixtures.js";

afterEach(cleanup);

// Without reconnection the default cap (24 h) applies; a reconnect policy's cap holds the direct dials too.
describe.each([
  ["reconnection off (default cap)", false, 60_000],
  ["a reconnect policy capping retry-afters at 5 s", { policy: { maxRetryAfterMs: 5_000 } }, 5_000],
] as const)("a direct dial after the peer's RATE_LIMITED goodbye, %s", (_name, reconnect, honouredMs) => {
  it("is refused with DIAL_BACKOFF until the honoured retry-after has passed, then dials", async () => {
    const retryAfterMs = 60_000;
    let offset = 0;
    const clock = (): number => Date.now() + offset;
    const listener = await startManager({ misbehaviour: { inboundRate: { messagesPerSecond: 100, messageBurst: 200, retryAfterMs }, autoBan: false } });
    const dialer = await startManager({ listen: [], reconnect, clock });
    const target = { peerId: listener.peerId, addresses: listener.addresses };
    const conn = await dialer.dial(target);
    const closed = nextEvent(dialer, "connection:close");
    const payload = new Uint8Array(16);
    for (let i = 0; i < 1_000 && conn.canSend; i++) conn.send("/test", payload).catch(() => undefined);
    expect(await closed).toMatchObject({ reason: DisconnectReason.RATE_LIMITED, initiator: "remote" });

    const refusal = await dialer.dial(target).then(
      () => undefined,
      (e: { code?: string; cause?: { retryAt?: number; retryAfterMs?: number } }) => e,
    );
    expect(refusal?.code).toBe(ErrorCode.DIAL_BACKOFF);
    // The retry time is the Goodbye's arrival (as the peer database recorded it) plus its retry-after, capped.
    const goodbye = dialer.peers.get(listener.peerId.toString())?.disconnections.at(-1);
    expect(goodbye?.retryAfterMs).toBe(retryAfterMs);
    expect(refusal?.cause?.retryAt).toBe((goodbye?.at ?? 0) + honouredMs);
    expect(refusal?.cause?.retryAfterMs).toBeGreaterThan(0);

    offset = honouredMs + 1; // the honoured retry-after has passed on the dialer's clock
    const again = await dialer.dial(target);
    expect(again.state).toBe("open");
  });
});

describe("a direct dial refused by a listener at capacity (RESOURCE_CONSTRAINT with a retry-after)", () => {
  it("holds that address: the next direct dial is refused with DIAL_BACKOFF for the retry-after", async () => {
    const listener = await startManager({ limits: { maxInbound: 1 } });
    // The one inbound slot taken from another subnet (maxInbound 1 shrinks the per-IP and per-subnet bounds
    // to 1, and those are refused with a reset, not a Goodbye).
    const holder = await startManager({ listen: [], reconnect: false });
    const held = nextEvent(listener, "connection:open");
    await holder.dial(listener.addresses[0]!, { localAddress: "127.13.1.1" });
    await held;
    const newcomer = await startManager({ listen: [], reconnect: false });
    const before = Date.now(); // the newcomer's clock, read before its dial is refused
    const refused = await newcomer.dial(listener.addresses[0]!, { localAddress: "127.13.2.1" }).then(
      () => undefined,
      (e: { code?: string; initiator?: string; cause?: { retryAfterMs?: number } }) => e,
    );
    expect(refused).toMatchObject({ code: ErrorCode.CONNECTION_LIMIT, initiator: "remote" });
    const retryAfterMs = refused?.cause?.retryAfterMs ?? 0;
    expect(retryAfterMs).toBeGreaterThan(1_000);
    const again = await newcomer.dial(listener.addresses[0]!, { localAddress: "127.13.2.1" }).then(
      () => undefined,
      (e: { code?: string; cause?: { retryAt?: number } }) => e,
    );
    expect(again?.code).toBe(ErrorCode.DIAL_BACKOFF);
    // Held for the listener's retry-after from the refusal on, not the 1 s of a first failure.
    expect(again?.cause?.retryAt).toBeGreaterThanOrEqual(before + retryAfterMs);
  });
});

describe("a held address in the dial backoff", () => {
  it("waits until the hold ends, keeps its failure count, and a hold never shortens a longer wait", () => {
    const backoff = new DialBackoff({ initialMs: 1_000 });
    backoff.failed("a:1", 0); // retry at 1,000
    expect(backoff.hold("a:1", 5_000)).toEqual({ failures: 1, retryAt: 5_000 });
    expect(backoff.check("a:1", 4_999)?.retryAt).toBe(5_000);
    expect(backoff.check("a:1", 5_000)).toBeUndefined();
    expect(backoff.hold("a:1", 2_000).retryAt).toBe(5_000);
    expect(backoff.hold("b:1", 3_000)).toEqual({ failures: 0, retryAt: 3_000 });
  });
});

describe("a peer's retry-after as the peer database reads it", () => {
  it("is the latest end among its Goodbyes, each capped (a hostile 49-day retry-after is honoured for the cap only)", () => {
    const db = new PeerDatabase({ store: new MemoryPeerStore() });
    const peer = Identity.generate().peerId.toString();
    const goodbye = (at: number, retryAfterMs: number) =>
      db.recordDisconnection(peer, { reason: DisconnectReason.RATE_LIMITED, direction: "outbound", initiator: "remote", at, retryAfterMs });
    goodbye(1_000, 60_000);
    goodbye(2_000, 10_000);
    expect(db.retryAfterUntil(peer, 5_000, 86_400_000)).toBe(61_000);
    expect(db.retryAfterUntil(peer, 61_000, 86_400_000)).toBeUndefined();
    goodbye(100_000, 0xffff_ffff);
    expect(db.retryAfterUntil(peer, 100_000, 86_400_000)).toBe(100_000 + 86_400_000);
  });
});

