/**
 * The cross-language scenario matrix: {Go, Python} × {TLS, plain TCP} ×
 * {they dial, we dial}, with the TypeScript side an in-process
 * ConnectionManager. Every combination runs the same scenarios
 * (docs/PROTOCOL.md is the contract, not either implementation).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import type { ConnectionManagerOptions } from "../../src/manager/manager-options.js";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import type { DialOptions } from "../../src/node/events.js";
import { DisconnectReason } from "../../src/reasons.js";
import { encodeLengthPrefix } from "../../src/wire/varint.js";
import { GO_BUILD_TIMEOUT_MS } from "./go-toolchain.js";
import {
  dialingPeerId,
  GO,
  inboundFrom,
  listenPeer,
  nextHandshakeFailure,
  nextEvent,
  nextManagerEvent,
  PEER_PROTOCOLS,
  portOf,
  PYTHON,
  SENDABLE_REASONS,
  startManager,
  stopManagers,
  type ForeignPeer,
} from "./matrix-fixtures.js";
import type { PeerEvent, PeerProcess } from "./peer-process.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
/** A frame as the hex of its wire bytes (prefix + body), for the peers' `raw` command. */
const wireHex = (frame: Frame): string => {
  const body = toBinary(FrameSchema, frame);
  return Buffer.concat([encodeLengthPrefix(body.length), body]).toString("hex");
};
const probeFrame = (probeId: number, index: number, count: number, padding = 500): Frame =>
  create(FrameSchema, { kind: { case: "bandwidthProbe", value: { probeId, index, count, padding: new Uint8Array(padding) } } });

type Direction = "they dial" | "we dial";
const COMBOS = [GO, PYTHON].flatMap((peer) =>
  [true, false].flatMap((secure) =>
    (["they dial", "we dial"] as const).map((direction: Direction) => ({ peer, lang: peer.lang, secure, transport: secure ? "TLS" : "TCP", direction })),
  ),
);

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "peerlink-matrix-"));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** Everything one scenario connection consists of. */
interface Link {
  readonly manager: ConnectionManager;
  readonly conn: Connection;
  readonly proc: PeerProcess;
  /** The foreign peer's id. */
  readonly peerId: string;
  /** The foreign peer's `open` event (its view of the connection). */
  readonly open: PeerEvent;
}

/** The outcome of an attempt that may fail on either side. */
interface Attempt {
  readonly manager: ConnectionManager;
  readonly proc: PeerProcess;
  readonly peerId: () => string | undefined;
  /** The TypeScript side's verdict: the error that ended the handshake, or the connection it opened. */
  readonly ts: Promise<{ error: PeerlinkError; conn?: undefined } | { conn: Connection; error?: undefined }>;
}

describe.each(COMBOS)("$lang × $transport × $direction", ({ peer, secure, direction }) => {
  const tlsFlag = secure ? ["--tls"] : [];
  const theyDial = direction === "they dial";

  beforeAll(() => peer.prepare(), GO_BUILD_TIMEOUT_MS);
  afterEach(async () => {
    await stopManagers();
    await peer.killAll();
  });

  interface Setup {
    readonly peerArgs?: readonly string[];
    readonly manager?: ConnectionManagerOptions;
    readonly dial?: DialOptions;
    /** We dial: the peer id the manager must reach (default: any). */
    readonly expect?: string;
    /** Called with the manager as soon as it started, before any connection. */
    readonly onManager?: (manager: ConnectionManager) => void;
  }

  /** Starts both sides and lets the handshake run, in this combination's direction. */
  async function attempt(setup: Setup = {}): Promise<Attempt> {
    const peerArgs = [...tlsFlag, ...PEER_PROTOCOLS, ...(setup.peerArgs ?? [])];
    const manager = await startManager(secure, setup.manager);
    setup.onManager?.(manager);
    if (theyDial) {
      const proc = peer.start(["dial", "--addr", `127.0.0.1:${portOf(manager)}`, ...peerArgs]);
      const peerId = (): string | undefined => dialingPeerId(proc);
      const ts = Promise.race([
        inboundFrom(manager, peerId).then((conn) => ({ conn })),
        nextHandshakeFailure(manager).then((error) => ({ error })),
      ]);
      return { manager, proc, peerId, ts };
    }
    const listener = await listenPeer(peer, peerArgs);
    const target = setup.expect === undefined ? `127.0.0.1:${listener.port}` : { peerId: setup.expect, addresses: [`127.0.0.1:${listener.port}`] };
    const ts = manager.dial(target, setup.dial).then(
      (conn) => ({ conn }),
      (error: unknown) => ({ error: PeerlinkError.from(error) }),
    );
    return { manager, proc: listener.process, peerId: () => listener.peerId, ts };
  }

  /** A connection that opens on both sides. */
  async function connect(setup: Setup = {}): Promise<Link> {
    const a = await attempt(setup);
    const outcome = await a.ts;
    if (outcome.error) throw outcome.error;
    const ourId = a.manager.peerId.toString();
    const open = await a.proc.waitFor((e) => e.event === "open" && e["peer"] === ourId, "the peer's open");
    return { manager: a.manager, conn: outcome.conn, proc: a.proc, peerId: a.peerId() ?? "", open };
  }

  /** The foreign peer's events of this link's connection. */
  const ofLink = (link: Link) => (e: PeerEvent) => e["conn"] === link.open["conn"];
  /** A command to this link's connection. */
  const command = (link: Link, cmd: Record<string, unknown>): void => link.proc.command({ ...cmd, conn: link.open["conn"] });

  describe("handshake", () => {
    it("opens with each other's verified ids, version 1, the agreed capabilities and mirrored aliases", async () => {
      const link = await connect({
        peerArgs: ["--capability", "test.shared@3", "--capability", "test.peer-only@1", "--max-version", "3"],
        manager: { capabilities: [{ name: "test.shared", version: 2 }, { name: "test.ts-only" }] },
      });
      const { conn, open } = link;
      expect(conn.remotePeer.toString()).toBe(link.peerId);
      expect(open["peer"]).toBe(link.manager.peerId.toString());
      expect(conn.direction).toBe(theyDial ? "inbound" : "outbound");
      expect(open).toMatchObject({ direction: theyDial ? "outbound" : "inbound", tls: secure, version: 1 });
      expect(conn.secure).toBe(secure);
      expect(conn.protocolVersion).toBe(1);
      expect(conn.handshake?.remoteAgent).toBe(peer.agent);
      // Over TLS both sides offer and accept peerlink/1+cert and hold certificates for their identity keys, so
      // each Hello relies on its certificate (§3.3), whoever dials; on plain TCP the nonce transcript.
      expect(open).toMatchObject(
        secure
          ? { alpn: "peerlink/1+cert", binding: "TLS_CERTIFICATE", localBinding: "TLS_CERTIFICATE" }
          : { alpn: null, binding: "NONCES", localBinding: "NONCES" },
      );
      expect(conn.handshake?.peerProof).toBe(secure ? "certificate" : "signature");
      expect(conn.capabilities).toEqual([{ name: "test.shared", version: 2 }]);
      expect(open["capabilities"]).toEqual([{ name: "test.shared", version: 2 }]);
      expect(conn.protocols.map((p) => [p.name, p.version, p.remoteAlias])).toEqual([
        ["/chat", 1, 8],
        ["/echo", 1, 7],
      ]);
      const mirrored = conn.protocols.map((p) => ({ name: p.name, version: p.version, localAlias: p.remoteAlias, remoteAlias: p.localAlias }));
      expect(open["protocols"]).toEqual(mirrored);
    });

    it("delivers 0-RTT early data first, once and in order", async () => {
      if (theyDial) {
        const manager = await startManager(secure);
        const messages: string[] = [];
        manager.on("message", (m) => messages.push(`${m.protocol}:${decode(m.data)}`));
        const proc = peer.start([
          "dial", "--addr", `127.0.0.1:${portOf(manager)}`, ...tlsFlag, ...PEER_PROTOCOLS,
          "--early", "/chat=zero", "--early", "/echo=one", "--send", "/chat=two",
        ]);
        const conn = await inboundFrom(manager, () => dialingPeerId(proc));
        expect(conn.handshake?.earlyData).toBe(true);
        await proc.waitFor((e) => e.event === "open", "the peer's open");
        const last = nextManagerEvent(manager, "message", (m) => decode(m.data) === "three");
        proc.command({ cmd: "send", protocol: "/chat", text: "three" });
        await last;
        expect(messages).toEqual(["/chat:zero", "/echo:one", "/chat:two", "/chat:three"]);
      } else {
        const echoed: string[] = [];
        const link = await connect({
          dial: { earlyMessages: [{ protocol: "/echo", data: text("zero-rtt") }] },
          onManager: (m) => m.on("message", (msg) => echoed.push(decode(msg.data))),
        });
        const first = await link.proc.waitFor((e) => ofLink(link)(e) && e.event === "data", "the peer's first data");
        // Held until verified on plain TCP (§3.5); over TLS the listener is open on the dialer's Hello,
        // so the same bytes arrive as ordinary Data.
        expect(first).toMatchObject({ protocol: "/echo", text: "zero-rtt", early: !secure });
        await expect.poll(() => echoed).toEqual(["zero-rtt"]);
      }
    });
  });

  describe("an open connection", () => {
    it("carries data both ways byte-exact, up to a frame just under 1 MiB", async () => {
      const link = await connect();
      const sizes = [0, 1, 70_000, 1_048_576 - 16];
      for (const size of sizes) {
        const payload = randomBytes(size);
        const echoed = nextEvent(link.conn, "message", (m) => m.protocol === "/echo");
        await link.conn.send("/echo", payload);
        expect(Buffer.from((await echoed).data).equals(payload), `echo of ${size} bytes`).toBe(true);
      }
      const fromPeer = randomBytes(50_000);
      const received = nextEvent(link.conn, "message", (m) => m.protocol === "/chat");
      command(link, { cmd: "send", protocol: "/chat", base64: fromPeer.toString("base64") });
      expect(Buffer.from((await received).data).equals(fromPeer)).toBe(true);
    });

    it("answers 1,000 pings each way with the same nonce and timestamp", async () => {
      const link = await connect({ peerArgs: ["--no-ping"] });
      const pongs = new Map<number, number>();
      const OURS = 3_000_000_000; // far from the nonces of the node's own RTT pings
      link.conn.on("pong", (p) => void (p.nonce >= OURS && p.nonce < OURS + 1_000 && pongs.set(p.nonce, p.timestampUs)));
      for (let i = 0; i < 1_000; i++) link.conn.sendPing(OURS + i, (i * 4_294_967) >>> 0);
      for (let i = 0; i < 1_000; i++) command(link, { cmd: "ping" });
      const isPong = (e: PeerEvent): boolean => ofLink(link)(e) && e.event === "pong";
      // Both peers number their pings 1, 2, …: the 1,000th pong is the last one.
      await link.proc.waitFor((e) => isPong(e) && e["nonce"] === 1_000, "1,000 pongs at the peer", 20_000);
      await expect.poll(() => pongs.size, { timeout: 20_000 }).toBe(1_000);
      for (let i = 0; i < 1_000; i++) expect(pongs.get(OURS + i)).toBe((i * 4_294_967) >>> 0);
      expect(new Set(link.proc.events.filter(isPong).map((e) => e["nonce"])).size).toBe(1_000);
    });

    it("applies capability updates both ways", async () => {
      const link = await connect({
        peerArgs: ["--protocol", "/late@1", "--echo", "/late"],
        manager: { protocols: [{ name: "/echo" }, { name: "/chat" }, { name: "/late2" }] },
      });
      // We add /late, which the peer listed in its Hello: usable at once, echoed under the peer's alias.
      expect(link.conn.protocols.map((p) => p.name)).not.toContain("/late");
      const agreed = link.conn.updateCapabilities({ addProtocols: [{ name: "/late", versions: [1] }] });
      expect(agreed.protocols.map((p) => p.name)).toContain("/late");
      await link.proc.waitFor((e) => ofLink(link)(e) && e.event === "capability-update", "the peer applied our update");
      const echoed = nextEvent(link.conn, "message", (m) => m.protocol === "/late");
      await link.conn.send("/late", text("late"));
      expect(decode((await echoed).data)).toBe("late");
      // The peer adds /late2 with alias 20, then sends on it.
      const changed = nextEvent(link.conn, "capabilities");
      const update = create(FrameSchema, {
        kind: { case: "capabilityUpdate", value: { protocolsAdded: [{ name: "/late2", versions: [1], alias: 20 }] } },
      });
      const data = create(FrameSchema, { kind: { case: "data", value: { protocol: 20, payload: text("from the peer") } } });
      const received = nextEvent(link.conn, "message", (m) => m.protocol === "/late2");
      command(link, { cmd: "raw", hex: wireHex(update) + wireHex(data) });
      await changed;
      expect(link.conn.protocols.find((p) => p.name === "/late2")).toMatchObject({ remoteAlias: 20 });
      expect(decode((await received).data)).toBe("from the peer");
    });

    it("answers a bandwidth probe burst with a report, both ways, with no capability negotiated", async () => {
      const link = await connect();
      expect(link.conn.capabilities).toEqual([]);
      const report = nextEvent(link.conn, "control", (f) => f.kind.case === "bandwidthReport");
      let bytes = 0;
      for (let index = 0; index < 4; index++) {
        const frame = probeFrame(42, index, 4, 1000);
        bytes += wireHex(frame).length / 2;
        link.conn.sendControl(frame);
      }
      const got = await report;
      expect(got.kind.case === "bandwidthReport" && got.kind.value).toMatchObject({ probeId: 42, framesReceived: 4, bytesReceived: bytes });
      const burst = [0, 1, 2].map((i) => wireHex(probeFrame(7, i, 3)));
      command(link, { cmd: "raw", hex: burst.join("") });
      expect(await link.proc.waitFor((e) => ofLink(link)(e) && e.event === "bandwidth-report", "our report")).toMatchObject({
        probeId: 7,
        framesReceived: 3,
        bytesReceived: burst.join("").length / 2,
      });
    });
  });

  describe("goodbye", () => {
    it("decodes every reason we send as the same reason, with detail and retry-after", async () => {
      const links = await Promise.all(SENDABLE_REASONS.map(() => connect({ peerArgs: ["--no-ping"] })));
      await Promise.all(
        SENDABLE_REASONS.map(async (reason, i) => {
          const link = links[i] as Link;
          await link.conn.close(reason.toLowerCase() as DisconnectReason, { detail: `bye ${reason}`, retryAfterMs: 1234 + i });
          const goodbye = await link.proc.waitFor((e) => ofLink(link)(e) && e.event === "goodbye", `the peer's goodbye (${reason})`);
          expect(goodbye).toMatchObject({ from: "remote", reason, detail: `bye ${reason}`, retryAfterMs: 1234 + i });
        }),
      );
    });

    it("decodes every reason the peer sends as the same reason", async () => {
      const links = await Promise.all(SENDABLE_REASONS.map(() => connect({ peerArgs: ["--no-ping"] })));
      await Promise.all(
        SENDABLE_REASONS.map(async (reason, i) => {
          const link = links[i] as Link;
          const goodbye = nextEvent(link.conn, "goodbye");
          command(link, { cmd: "goodbye", reason, detail: `bye ${reason}` });
          expect(await goodbye).toMatchObject({ reason: reason.toLowerCase(), detail: `bye ${reason}` });
          expect(await link.conn.closed).toMatchObject({ reason: reason.toLowerCase(), initiator: "remote" });
        }),
      );
    });

    it("sends a peer that floods it RATE_LIMITED with its retry-after, which the peer decodes", async () => {
      const retryAfterMs = 4_321;
      const link = await connect({
        peerArgs: ["--no-ping"],
        manager: { misbehaviour: { inboundRate: { messagesPerSecond: 1, messageBurst: 5, retryAfterMs }, autoBan: false } },
      });
      for (let i = 0; i < 10; i++) command(link, { cmd: "send", protocol: "/chat", text: `flood ${i}` });
      const goodbye = await link.proc.waitFor((e) => ofLink(link)(e) && e.event === "goodbye", "the node's RATE_LIMITED goodbye");
      expect(goodbye).toMatchObject({ from: "remote", reason: "RATE_LIMITED", retryAfterMs, detail: "inbound messages above 1/s (burst 5)" });
      expect(await link.conn.closed).toMatchObject({ reason: "rate_limited", initiator: "local" });
    });

    it("reports a connection that ends without a Goodbye as connection_lost on both sides, and never sends it", async () => {
      const killed = await connect();
      const tsLost = killed.conn.closed;
      await killed.proc.terminate("SIGKILL");
      expect(await tsLost).toMatchObject({ reason: DisconnectReason.CONNECTION_LOST, initiator: "remote" });
      expect(killed.conn.remoteGoodbye).toBeUndefined();

      const aborted = await connect();
      aborted.conn.abort();
      expect(await aborted.proc.waitFor((e) => ofLink(aborted)(e) && e.event === "closed", "the peer's close")).toMatchObject({
        reason: "CONNECTION_LOST",
      });
      expect(aborted.proc.events.filter((e) => ofLink(aborted)(e) && e.event === "goodbye")).toEqual([]);

      const refused = await connect();
      command(refused, { cmd: "goodbye", reason: "CONNECTION_LOST" });
      expect(await refused.proc.waitFor((e) => e.event === "error", "the refused command")).toMatchObject({ code: "INVALID_ARGUMENT" });
      // A Goodbye that carries CONNECTION_LOST anyway reads as normal (§8.1).
      const goodbye = nextEvent(refused.conn, "goodbye");
      command(refused, { cmd: "raw", hex: "043202080e" });
      expect((await goodbye).reason).toBe(DisconnectReason.NORMAL);
    });

    it("refuses for capacity with Goodbye{RESOURCE_CONSTRAINT, retry_after_ms} in place of the Hello (§8.2)", async () => {
      if (theyDial) {
        // The one slot is taken by an outbound connection, so the refusal is total_full, not a per-IP bound.
        const other = await listenPeer(peer, [...tlsFlag, ...PEER_PROTOCOLS]);
        const manager = await startManager(secure, { limits: { maxConnections: 1 } });
        await manager.dial(`127.0.0.1:${other.port}`);
        const refused = nextManagerEvent(manager, "inbound:refused");
        const proc = peer.start(["dial", "--addr", `127.0.0.1:${portOf(manager)}`, ...tlsFlag, ...PEER_PROTOCOLS]);
        const refusal = await proc.waitFor((e) => e.event === "goodbye", "the refusal");
        expect(refusal).toMatchObject({ from: "remote", stage: "handshake", reason: "RESOURCE_CONSTRAINT" });
        expect(refusal["retryAfterMs"]).toBeGreaterThan(0);
        expect(await proc.waitFor((e) => e.event === "handshake-failed", "the failure")).toMatchObject({ code: "CONNECTION_LIMIT" });
        expect(proc.events.some((e) => e.event === "open")).toBe(false);
        expect(await proc.exited).toMatchObject({ code: 1 });
        expect((await refused).reason).toBe("total_full");
      } else {
        const listener = await listenPeer(peer, [...tlsFlag, ...PEER_PROTOCOLS, "--max-conns", "1"]);
        const first = await startManager(secure);
        await first.dial(`127.0.0.1:${listener.port}`);
        await listener.process.waitFor((e) => e.event === "open", "the first connection open at the peer");
        const second = await startManager(secure);
        const error = await second.dial(`127.0.0.1:${listener.port}`).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(PeerlinkError);
        expect(error).toMatchObject({ code: ErrorCode.CONNECTION_LIMIT, cause: { reason: "resource_constraint", retryAfterMs: 30_000 } });
        await listener.process.waitFor((e) => e.event === "refused", "the peer's refusal");
      }
    });
  });

  describe("rejections", () => {
    it("rejects the wrong identity, and the rejected side hears why", async () => {
      const stranger = Identity.generate().peerId.toString();
      const a = await attempt(theyDial ? { peerArgs: ["--expect", stranger] } : { expect: stranger });
      if (theyDial) {
        expect(await a.proc.waitFor((e) => e.event === "handshake-failed", "the peer's verdict")).toMatchObject({ code: "IDENTITY_MISMATCH" });
        // We may have opened already (the dialer's proof came first) and then read its Goodbye.
        const outcome = await a.ts;
        const reason = outcome.conn ? (await outcome.conn.closed).reason : outcome.error.code;
        expect([DisconnectReason.UNEXPECTED_IDENTITY, ErrorCode.IDENTITY_MISMATCH]).toContain(reason);
      } else {
        expect((await a.ts).error?.code).toBe(ErrorCode.IDENTITY_MISMATCH);
        const heard = await a.proc.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "our Goodbye");
        expect(heard).toMatchObject({ reason: "UNEXPECTED_IDENTITY" });
      }
    });

    it.each([
      { what: "a proof that does not verify", args: ["--bad-proof"] },
      { what: "the other transport's channel binding", args: ["--wrong-binding"] },
      { what: "another node's peer id", args: ["--claim-peer-id", Identity.generate().peerId.toString()] },
    ])("rejects $what with AUTHENTICATION_FAILED and tells the peer", async ({ args }) => {
      const a = await attempt({ peerArgs: args });
      expect((await a.ts).error?.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
      const heard = await a.proc.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "our Goodbye");
      expect(heard).toMatchObject({ reason: "AUTHENTICATION_FAILED" });
    });

    it("refuses a peer that only speaks wire version 2 with INCOMPATIBLE_VERSION on both sides", async () => {
      const a = await attempt({ peerArgs: ["--min-version", "2", "--max-version", "2"] });
      expect((await a.ts).error?.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
      expect(await a.proc.waitFor((e) => e.event === "goodbye", "the peer's goodbye")).toMatchObject({ reason: "INCOMPATIBLE_VERSION" });
    });

    it("refuses an unknown required capability, whichever side requires it", async () => {
      const theirs = await attempt({ peerArgs: ["--capability", "test.peer-only@1!"] });
      expect((await theirs.ts).error?.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
      expect(await theirs.proc.waitFor((e) => e.event === "goodbye", "the peer's goodbye")).toMatchObject({ reason: "INCOMPATIBLE_VERSION" });
      const ours = await attempt({ manager: { capabilities: [{ name: "test.ts-only", required: true }] } });
      expect((await ours.ts).error?.code).toBe(ErrorCode.PROTOCOL_MISMATCH);
      expect(await ours.proc.waitFor((e) => e.event === "handshake-failed", "the peer's verdict")).toMatchObject({ code: "PROTOCOL_MISMATCH" });
    });

    it("detects SELF_CONNECTION when the peer holds our key", async () => {
      const identity = Identity.generate();
      const keyFile = join(scratch, `self-${peer.lang}-${secure}-${theyDial}.key`);
      await identity.save(keyFile);
      const a = await attempt({ peerArgs: ["--key", keyFile], manager: { identity } });
      expect((await a.ts).error?.code).toBe(ErrorCode.SELF_CONNECTION);
      expect(await a.proc.waitFor((e) => e.event === "handshake-failed", "the peer's verdict")).toMatchObject({ code: "SELF_CONNECTION" });
    });

    it.each([
      { what: "an overlong length prefix (80 00)", hex: "8000", code: ErrorCode.MALFORMED_FRAME },
      { what: "a length prefix above 32 bits", hex: "ffffffff10", code: ErrorCode.MALFORMED_FRAME },
      { what: "a length of 1 MiB + 1", hex: "818040", code: ErrorCode.FRAME_TOO_LARGE },
      { what: "an empty Frame (no kind)", hex: "00", code: ErrorCode.PROTOCOL_VIOLATION },
      { what: "a body that is not a Frame", hex: "030a0501", code: ErrorCode.MALFORMED_FRAME },
      { what: "a second Hello", hex: "022200", code: ErrorCode.PROTOCOL_VIOLATION },
      { what: "a probe burst of 65 frames (§6)", hex: wireHex(probeFrame(1, 0, 65, 0)), code: undefined },
    ])("ends the connection with PROTOCOL_VIOLATION when the peer sends $what", async ({ hex, code }) => {
      const link = await connect({ peerArgs: ["--no-ping"] });
      command(link, { cmd: "raw", hex });
      const info = await link.conn.closed;
      expect(info).toMatchObject({ reason: DisconnectReason.PROTOCOL_VIOLATION, initiator: "local" });
      if (code !== undefined) expect(info.error?.code).toBe(code);
      expect(await link.proc.waitFor((e) => ofLink(link)(e) && e.event === "goodbye", "our Goodbye")).toMatchObject({
        from: "remote",
        reason: "PROTOCOL_VIOLATION",
      });
    });

    it.each([
      { what: "a probe burst of 65 frames (§6)", frame: probeFrame(1, 0, 65, 0) },
      { what: "a probe index beyond its count", frame: probeFrame(1, 5, 3, 0) },
    ])("is ended by the peer with PROTOCOL_VIOLATION when it sends $what", async ({ frame }) => {
      const link = await connect({ peerArgs: ["--no-ping"] });
      link.conn.sendControl(frame);
      expect(await link.conn.closed).toMatchObject({ reason: DisconnectReason.PROTOCOL_VIOLATION, initiator: "remote" });
    });

    it("stays open on an unknown frame kind, an unknown Goodbye-free alias, and reads an unknown reason as normal", async () => {
      const link = await connect({ peerArgs: ["--no-ping"] });
      // Frame field 10 (a future kind), then Data on alias 99 that the peer never declared.
      command(link, { cmd: "raw", hex: "025200" + "070a050863120178" });
      command(link, { cmd: "ping" });
      await link.proc.waitFor((e) => ofLink(link)(e) && e.event === "pong", "a pong after both");
      expect(link.conn.state).toBe("open");
      expect(link.conn.stats.unknownProtocolFrames).toBe(1);
      const goodbye = nextEvent(link.conn, "goodbye");
      command(link, { cmd: "raw", hex: "0432020863" }); // Goodbye{reason: 99}
      expect((await goodbye).reason).toBe(DisconnectReason.NORMAL);
    });

    // Only a dialer sends early data: the case exists in the "they dial" cells (not a skip in the others).
    if (theyDial) it("treats Data right after the dialer's Hello as §3.5 says for this transport", async () => {
      const big = "x".repeat(40_000);
      const manager = await startManager(secure);
      const messages: number[] = [];
      manager.on("message", (m) => messages.push(m.data.length));
      const args = ["--early", `/echo=${big}`, "--early", `/echo=${big}`, "--early-unannounced", "--no-ping"];
      const proc = peer.start(["dial", "--addr", `127.0.0.1:${portOf(manager)}`, ...tlsFlag, ...PEER_PROTOCOLS, ...args]);
      if (secure) {
        // Over TLS the listener is open once it verified the Hello: this is ordinary Data, no limit, no flag needed.
        await inboundFrom(manager, () => dialingPeerId(proc));
        await expect.poll(() => messages).toEqual([40_000, 40_000]);
      } else {
        // On plain TCP it arrives before the dialer's Auth: unannounced (and beyond 64 KiB) it is a violation.
        expect((await nextHandshakeFailure(manager)).code).toBe(ErrorCode.PROTOCOL_VIOLATION);
        expect(await proc.waitFor((e) => e.event === "goodbye", "our Goodbye")).toMatchObject({ reason: "PROTOCOL_VIOLATION" });
        expect(messages).toEqual([]);
      }
    });
  });

  describe("certificate binding (§2, §3.3)", () => {
    /** The ALPN and the two bindings of a link, from the foreign peer's `open` event and our handshake. */
    const bindingsOf = (link: Link) => ({
      alpn: link.open["alpn"],
      theirs: link.open["localBinding"],
      ours: link.open["binding"],
      peerProof: link.conn.handshake?.peerProof,
    });

    // ALPN exists over TLS only; the plain-TCP cells check the binding against that transport instead.
    if (secure) {
      it("falls back to the tls-exporter proof both ways with a peer that knows only peerlink/1", async () => {
        const link = await connect({ peerArgs: ["--alpn", "peerlink/1"] });
        expect(bindingsOf(link)).toEqual({ alpn: "peerlink/1", theirs: "TLS_EXPORTER", ours: "TLS_EXPORTER", peerProof: "signature" });
        const echoed = nextEvent(link.conn, "message", (m) => m.protocol === "/echo");
        await link.conn.send("/echo", text("legacy"));
        expect(decode((await echoed).data)).toBe("legacy");
      });

      it("falls back to the tls-exporter proof both ways when our node turns the certificate binding off", async () => {
        const link = await connect({ manager: { tls: { certificateBinding: false } } });
        expect(bindingsOf(link)).toEqual({ alpn: "peerlink/1", theirs: "TLS_EXPORTER", ours: "TLS_EXPORTER", peerProof: "signature" });
      });

      it("lets a peer whose certificate is not its identity key prove itself by signature, each side choosing its own", async () => {
        const link = await connect({ peerArgs: ["--cert-of-other-identity"] });
        expect(bindingsOf(link)).toEqual({ alpn: "peerlink/1+cert", theirs: "TLS_EXPORTER", ours: "TLS_CERTIFICATE", peerProof: "signature" });
        expect(link.conn.remotePeer.toString()).toBe(link.peerId);
      });

      it.each([
        {
          what: "TLS_CERTIFICATE with a certificate whose key is not its Hello key",
          args: ["--cert-of-other-identity", "--binding", "TLS_CERTIFICATE"],
          code: ErrorCode.AUTHENTICATION_FAILED,
          reason: "AUTHENTICATION_FAILED",
        },
        {
          what: "TLS_CERTIFICATE under ALPN peerlink/1",
          args: ["--alpn", "peerlink/1", "--binding", "TLS_CERTIFICATE"],
          code: ErrorCode.AUTHENTICATION_FAILED,
          reason: "AUTHENTICATION_FAILED",
        },
        { what: "TLS_CERTIFICATE with a non-empty proof", args: ["--cert-proof"], code: ErrorCode.PROTOCOL_VIOLATION, reason: "PROTOCOL_VIOLATION" },
      ])("rejects a peer that sends $what, and tells it", async ({ args, code, reason }) => {
        const a = await attempt({ peerArgs: args });
        expect((await a.ts).error?.code).toBe(code);
        const heard = await a.proc.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "our Goodbye");
        expect(heard).toMatchObject({ reason });
      });
    } else {
      it("rejects TLS_CERTIFICATE on plain TCP with AUTHENTICATION_FAILED, and tells the peer", async () => {
        const a = await attempt({ peerArgs: ["--binding", "TLS_CERTIFICATE"] });
        expect((await a.ts).error?.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
        const heard = await a.proc.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "our Goodbye");
        expect(heard).toMatchObject({ reason: "AUTHENTICATION_FAILED" });
      });
    }
  });

  // Resumption is a TLS feature: the block exists in the TLS cells only.
  if (secure) describe("session resumption", () => {
    it("resumes the TLS session on a redial and still proves both identities", async () => {
      if (theyDial) {
        const manager = await startManager(true);
        const opened: Connection[] = [];
        manager.on("connection:open", ({ connection }) => {
          opened.push(connection);
          if (opened.length === 1) void connection.close();
        });
        const proc = peer.start(["dial", "--addr", `127.0.0.1:${portOf(manager)}`, "--tls", ...PEER_PROTOCOLS, "--redial", "1"]);
        await expect.poll(() => opened.length, { timeout: 8_000 }).toBe(2);
        const opens = await proc.waitFor(() => proc.events.filter((e) => e.event === "open").length >= 2, "two opens");
        expect(opens).toBeDefined();
        expect(proc.events.filter((e) => e.event === "open").map((e) => e["resumed"])).toEqual([false, true]);
        expect(opened.map((c) => c.sessionReused)).toEqual([false, true]);
        expect(opened[1]?.remotePeer.toString()).toBe(dialingPeerId(proc));
        // A resumed session carries no certificate: the peer checked ours against the key it kept with its
        // ticket, and we against the one in the ticket (§3.3).
        expect(proc.events.filter((e) => e.event === "open").map((e) => e["binding"])).toEqual(["TLS_CERTIFICATE", "TLS_CERTIFICATE"]);
        expect(opened.map((c) => c.handshake?.peerProof)).toEqual(["certificate", "certificate"]);
      } else {
        const listener = await listenPeer(peer, ["--tls", ...PEER_PROTOCOLS]);
        const manager = await startManager(true);
        const first = await manager.dial(`127.0.0.1:${listener.port}`);
        expect(first.sessionReused).toBe(false);
        await first.close();
        const second = await manager.dial({ peerId: listener.peerId, addresses: [`127.0.0.1:${listener.port}`] });
        expect(second.sessionReused).toBe(true);
        // No certificate on a resumed session: we checked the peer's binding against the key kept with the ticket.
        expect([first, second].map((c) => c.handshake?.peerProof)).toEqual(["certificate", "certificate"]);
        const echoed = nextEvent(second, "message");
        await second.send("/echo", text("resumed"));
        expect(decode((await echoed).data)).toBe("resumed");
        const ourId = manager.peerId.toString();
        const opens = (): PeerEvent[] => listener.process.events.filter((e) => e.event === "open" && e["peer"] === ourId);
        await listener.process.waitFor(() => opens().length >= 2, "the second open");
        expect(opens().map((e) => e["resumed"])).toEqual([false, true]);
        expect(opens().map((e) => e["binding"])).toEqual(["TLS_CERTIFICATE", "TLS_CERTIFICATE"]);
      }
    });
  });
});

/** The same peer ids and reasons across both languages, checked once. */
describe("the foreign peers' shared contract", () => {
  it.each([GO, PYTHON])("$lang reports the TypeScript Identity's peer id for a key file it wrote", async (peer: ForeignPeer) => {
    await peer.prepare();
    const identity = Identity.generate();
    const keyFile = join(scratch, `node-${peer.lang}.key`);
    await identity.save(keyFile);
    const listener = await listenPeer(peer, ["--key", keyFile]);
    expect(listener.peerId).toBe(identity.peerId.toString());
    await listener.process.terminate();
  });
});
