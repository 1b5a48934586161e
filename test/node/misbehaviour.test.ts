/**
 * The misbehaviour policy over real sockets on 127.0.0.0/8 with real TLS: per-connection inbound rate bounds
 * (Goodbye RATE_LIMITED with a retry-after the dialer's reconnect honours), automatic bans that escalate
 * (per IP for a source that proves nothing, per peer id for a proved one), their journal entries and events
 * with the evidence, the allow-list's exemption, and an honest fast peer that the defaults never limit.
 *
 * "Not banned" and "not limited" are proven by events that did happen (every message delivered, the failure
 * reported) followed by the state, never by sleeping.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { openConnection } from "../../src/connection/index.js";
import { prefixWithLength } from "../../src/handshake/frame-bytes.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import { DisconnectReason } from "../../src/reasons.js";
import { dialChannel } from "../../src/transport/dial.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import { cleanup, closedByPeer, nextEvent, rawConnect, startManager } from "../manager/fixtures.js";
import { handshakeThenIgnoreRefusal } from "./defect-peers.js";

afterEach(cleanup);

const PROTOCOL = "/test";

function portOf(node: ConnectionManager): number {
  return Number(node.addresses[0]!.split(":").pop());
}

/**
 * A TLS peer from `localAddress` whose identity proof does not verify: it runs the real handshake but signs
 * another channel's exporter value. Resolves with the node's verdict as the peer saw it.
 */
async function failProof(node: ConnectionManager, localAddress: string): Promise<PeerlinkError> {
  const identity = Identity.generate();
  // Under peerlink/1 the proof signs the exporter, which is forged below (with certificate binding the
  // certificate would prove the identity and there would be no proof to fail).
  const tls = await resolveTls(identity, { sessionCache: false, certificateBinding: false });
  const deadline = Date.now() + 20_000;
  const channel = await dialChannel({ host: "127.0.0.1", port: portOf(node), tls, localAddress, deadline });
  const forged = { ...channel, tlsExporter: new Uint8Array(randomBytes(32)) };
  const failed = nextEvent(node, "handshake:failed", (e) => e.address === `${localAddress}:${channel.localPort}`, 20_000);
  const error = await openConnection(forged, { identity, protocols: [{ name: PROTOCOL, versions: [1], alias: 1 }] }, { deadline }).then(
    () => new PeerlinkError(ErrorCode.INTERNAL, "the forged proof was accepted"),
    (e: unknown) => PeerlinkError.from(e),
  );
  expect((await failed).error.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  return error;
}

/** Sends `count` messages of `size` bytes, at most `window` unsettled; resolves when all were handed to the kernel (or failed). */
async function stream(conn: Connection, count: number, size: number, window = 256): Promise<void> {
  const payload = new Uint8Array(size);
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < count; i++) {
    const p: Promise<void> = conn.send(PROTOCOL, payload).then(
      () => void inFlight.delete(p),
      () => void inFlight.delete(p),
    );
    inFlight.add(p);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

describe("inbound rate bounds", () => {
  it("end a flooding peer's connection with RATE_LIMITED and a retry-after, and its reconnect waits at least that long", async () => {
    const retryAfterMs = 1_500;
    const listener = await startManager({ misbehaviour: { inboundRate: { messagesPerSecond: 100, messageBurst: 200, retryAfterMs }, autoBan: false } });
    // Immediate redial for rate_limited: only the retry-after can hold the redial back.
    const dialer = await startManager({
      listen: [],
      reconnect: { policy: { strategies: { [DisconnectReason.RATE_LIMITED]: { kind: "immediate" } } }, dampening: false },
    });
    let delivered = 0;
    listener.on("message", () => delivered++);
    const conn = await dialer.dial({ peerId: listener.peerId, addresses: listener.addresses });

    const closed = nextEvent(dialer, "connection:close");
    const scheduled = nextEvent(dialer, "reconnect:scheduled");
    const limited = nextEvent(listener, "connection:close");
    void stream(conn, 1_000, 16);
    const close = await closed;
    const closedAt = Date.now();
    expect(close).toMatchObject({ reason: DisconnectReason.RATE_LIMITED, initiator: "remote" });
    expect(close.error?.code).toBe(ErrorCode.RATE_LIMITED);
    expect(conn.remoteGoodbye).toMatchObject({ reason: DisconnectReason.RATE_LIMITED, retryAfterMs, detail: "inbound messages above 100/s (burst 200)" });
    const local = await limited;
    expect(local).toMatchObject({ reason: DisconnectReason.RATE_LIMITED, initiator: "local" });
    // Nothing past the bound reached the application (a little refill while the burst arrived aside).
    expect(delivered).toBeGreaterThanOrEqual(200);
    expect(delivered).toBeLessThan(1_000);
    expect(listener.decisions({ kind: "closed", peerId: dialer.peerId.toString() }).at(-1)).toMatchObject({ code: DisconnectReason.RATE_LIMITED });

    expect((await scheduled).delayMs).toBeGreaterThanOrEqual(retryAfterMs);
    const reopened = await nextEvent(listener, "connection:open", (e) => e.connection.remotePeer.equals(dialer.peerId), 20_000);
    const elapsed = Date.now() - closedAt;
    console.log(`rate-limited peer redialed ${elapsed} ms after its RATE_LIMITED goodbye (retry-after ${retryAfterMs} ms)`);
    expect(elapsed).toBeGreaterThanOrEqual(retryAfterMs);
    expect(reopened.connection.state).toBe("open");
  });

  it("never limit an honest fast peer under the defaults: small messages, bulk and pings all arrive", async () => {
    const listener = await startManager();
    const dialer = await startManager({ listen: [] });
    let messages = 0;
    let bytes = 0;
    listener.on("message", ({ data }) => {
      messages++;
      bytes += data.length;
    });
    const conn = await dialer.dial({ peerId: listener.peerId, addresses: listener.addresses });
    const small = 50_000;
    const bulk = 32;
    const started = performance.now();
    await stream(conn, small, 64, 1_024);
    await stream(conn, bulk, 1_048_576 - 64, 8);
    for (let i = 0; i < 300; i++) await conn.ping();
    const total = small * 64 + bulk * (1_048_576 - 64);
    // Every message arrives: waited for by the count, the one thing that must happen.
    while (messages < small + bulk) await new Promise((resolve) => setTimeout(resolve, 10));
    const seconds = (performance.now() - started) / 1000;
    console.log(`honest peer: ${small + bulk} messages, ${(total / 1_048_576).toFixed(0)} MiB and 300 pings in ${seconds.toFixed(2)} s, never limited`);
    expect(bytes).toBe(total);
    expect(conn.state).toBe("open");
    expect(listener.getConnection(dialer.peerId)?.state).toBe("open");
    expect(listener.decisions({ kind: "closed" })).toEqual([]);
  });
});

describe("automatic bans", () => {
  it("ban an IP whose peers keep failing their identity proof, doubling the ban each time up to the cap, journaled with the evidence", async () => {
    let offset = 0;
    const node = await startManager({
      clock: () => Date.now() + offset,
      limits: { inboundRateBurst: 100, inboundRatePerSecond: 100 },
      misbehaviour: { autoBan: { strikes: 3, windowMs: 60_000, banMs: 1_000, maxBanMs: 3_000 } },
    });
    const abuser = "127.66.0.1";
    const durations: number[] = [];
    for (let round = 1; round <= 3; round++) {
      const banned = nextEvent(node, "peer:banned", undefined, 30_000);
      for (let i = 0; i < 3; i++) {
        // The forging peer fails the node's proof too (it checks it against the wrong channel).
        expect((await failProof(node, abuser)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
      }
      const { entry, evidence } = await banned;
      expect(entry).toMatchObject({ kind: "ip", value: abuser });
      expect(evidence).toMatchObject({ windowMs: 60_000, threshold: 3, offence: round });
      expect(evidence!.strikes.map((s) => s.code)).toEqual(Array(3).fill(ErrorCode.AUTHENTICATION_FAILED));
      expect(evidence!.strikes.every((s) => s.address?.startsWith(`${abuser}:`))).toBe(true);
      durations.push(entry.expiresAt - entry.createdAt);

      // Banned: refused before TLS, with a reset; another address is not affected.
      const refused = nextEvent(node, "inbound:refused", (e) => e.address.startsWith(`${abuser}:`));
      await closedByPeer(await rawConnect(portOf(node), abuser));
      expect((await refused).reason).toBe("banned");
      expect(node.isBanned({ ip: "127.0.0.1" })).toBe(false);

      offset += durations.at(-1)!; // the ban ends
      expect(node.isBanned({ ip: abuser })).toBe(false);
    }
    console.log(`automatic IP bans: ${durations.join(" ms, ")} ms`);
    expect(durations).toEqual([1_000, 2_000, 3_000]);

    const journal = node.decisions({ kind: "banned" });
    expect(journal).toHaveLength(3);
    for (const entry of journal) {
      expect(entry).toMatchObject({ code: "misbehaviour", address: abuser });
      expect(entry.detail).toMatch(/automatic ban \(offence \d, \d s\): 3 violations within 60 s: AUTHENTICATION_FAILED ×3/);
      expect(entry.evidence?.strikes).toHaveLength(3);
    }
  });

  it("make room in a full ban list among themselves, never by lifting the operator's ban", async () => {
    const node = await startManager({ limits: { banListMaxSize: 2 }, misbehaviour: { autoBan: { strikes: 1, windowMs: 60_000 } } });
    // The operator's ban ends sooner than the automatic ones (10 min): the first a full list would drop.
    node.ban({ ip: "203.0.113.9" }, { reason: "operator", durationMs: 60_000 });
    for (const abuser of ["127.66.0.2", "127.66.0.3", "127.66.0.4"]) {
      const banned = nextEvent(node, "peer:banned", (e) => e.entry.value === abuser, 30_000);
      expect((await failProof(node, abuser)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
      await banned;
    }
    expect(node.isBanned({ ip: "203.0.113.9" })).toBe(true);
    expect(node.isBanned({ ip: "127.66.0.4" })).toBe(true);
    expect(node.decisions({ kind: "unbanned" }).map((e) => e.address)).toEqual(["127.66.0.2", "127.66.0.3"]);
  });

  it("ban a proved peer by id when it keeps flooding, and a manual unban clears its strikes", async () => {
    const listener = await startManager({
      misbehaviour: { inboundRate: { messagesPerSecond: 50, messageBurst: 100, retryAfterMs: 50 }, autoBan: { strikes: 2, windowMs: 60_000 } },
    });
    const dialer = await startManager({
      listen: [],
      reconnect: { policy: { strategies: { [DisconnectReason.RATE_LIMITED]: { kind: "immediate" } } }, dampening: false },
    });
    const peer = dialer.peerId.toString();
    // Every connection the dialer gets floods at once.
    dialer.on("connection:open", ({ connection }) => void stream(connection, 500, 16));
    const banned = nextEvent(listener, "peer:banned", undefined, 30_000);
    await dialer.dial({ peerId: listener.peerId, addresses: listener.addresses });
    const { entry, evidence } = await banned;
    expect(entry).toMatchObject({ kind: "peer", value: peer, offences: 1 });
    expect(entry.expiresAt - entry.createdAt).toBe(600_000);
    expect(evidence!.strikes.map((s) => s.code)).toEqual([ErrorCode.RATE_LIMITED, ErrorCode.RATE_LIMITED]);
    expect(evidence!.strikes[0]!.detail).toBe("inbound messages above 50/s (burst 100)");
    expect(listener.decisions({ kind: "banned", peerId: peer })[0]).toMatchObject({ code: "misbehaviour", evidence });

    // The pardon: lifted and the slate clean, so one more flood is one strike, not a ban.
    listener.unban({ peerId: peer });
    expect(listener.peers.strikesOf({ peerId: peer }, 0)).toEqual([]);
  });

  it("ban a proved peer by id that keeps sending forbidden frames after its handshake", async () => {
    const node = await startManager({ tls: false, misbehaviour: { autoBan: { strikes: 2 } } });
    const identity = Identity.generate();
    const peer = identity.peerId.toString();
    // A Hello after the handshake: a well-formed frame the protocol forbids there (PROTOCOL_VIOLATION).
    const helloAgain = prefixWithLength(toBinary(FrameSchema, create(FrameSchema, { kind: { case: "hello", value: {} } })));
    const banned = nextEvent(node, "peer:banned", undefined, 20_000);
    for (let i = 0; i < 2; i++) {
      const closed = nextEvent(node, "connection:close", (e) => e.peer === peer);
      const raw = await handshakeThenIgnoreRefusal(portOf(node), identity);
      expect(await raw.write(helloAgain)).toBe(true);
      const close = await closed;
      expect(close).toMatchObject({ reason: DisconnectReason.PROTOCOL_VIOLATION, initiator: "local" });
      raw.destroy();
    }
    const { entry, evidence } = await banned;
    expect(entry).toMatchObject({ kind: "peer", value: peer });
    expect(evidence!.strikes.map((s) => [s.code, s.detail])).toEqual(Array(2).fill([ErrorCode.PROTOCOL_VIOLATION, "hello frame after the handshake"]));
    expect(node.isBanned({ peerId: peer })).toBe(true);
    expect(node.isBanned({ ip: "127.0.0.1" })).toBe(false);
  });

  it("exempt an allow-listed address from the rate bounds and from automatic bans", async () => {
    const trusted = "127.77.0.1";
    const listener = await startManager({
      allowList: { addresses: [trusted] },
      limits: { inboundRateBurst: 100, inboundRatePerSecond: 100 },
      misbehaviour: { inboundRate: { messagesPerSecond: 10, messageBurst: 20 }, autoBan: { strikes: 1 } },
    });
    const dialer = await startManager({ listen: [] });
    let delivered = 0;
    listener.on("message", () => delivered++);
    const conn = await dialer.dial({ peerId: listener.peerId, addresses: listener.addresses }, { localAddress: trusted });
    await stream(conn, 500, 16);
    while (delivered < 500) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(conn.state).toBe("open");

    // A peer allow-listed by id is exempt from any address.
    const friend = Identity.generate();
    const byId = await startManager({
      listen: [],
      allowList: { peers: [friend.peerId.toString()] },
      misbehaviour: { inboundRate: { messagesPerSecond: 10, messageBurst: 20 } },
    });
    const friendNode = await startManager({ identity: friend, listen: ["127.0.0.1:0"] });
    let fromFriend = 0;
    byId.on("message", () => fromFriend++);
    const toFriend = await byId.dial({ peerId: friend.peerId, addresses: friendNode.addresses });
    const friendSide = friendNode.getConnection(byId.peerId)!;
    await stream(friendSide, 500, 16);
    while (fromFriend < 500) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(toFriend.state).toBe("open");

    // A failed proof from the trusted address is reported, and counts for nothing.
    await failProof(listener, trusted);
    expect(listener.isBanned({ ip: trusted })).toBe(false);
    expect(listener.peers.strikesOf({ ip: trusted }, 0)).toEqual([]);
    // The same from an untrusted address bans it at once (strikes: 1).
    const banned = nextEvent(listener, "peer:banned");
    await failProof(listener, "127.77.0.2");
    expect((await banned).entry).toMatchObject({ kind: "ip", value: "127.77.0.2" });
  });
});
