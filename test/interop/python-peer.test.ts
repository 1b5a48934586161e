import { create, equals, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { GoodbyeReason } from "../../generated/peerlink/v1/goodbye_pb.js";
import { ChannelBinding, KeyType } from "../../generated/peerlink/v1/handshake_pb.js";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { PeerId } from "../../src/identity/peer-id.js";
import { DisconnectReason } from "../../src/reasons.js";
import { encodeLengthPrefix, PREFIX_INCOMPLETE, PREFIX_MALFORMED, prefixBytesOf, prefixValueOf, readLengthPrefix } from "../../src/wire/varint.js";
import {
  PYTHON,
  PYTHON_PEER_DIR,
  PYTHON_PEER_SCRIPT,
  PythonPeerProcess,
  requirePython,
  runCommand,
} from "./python-peer-process.js";
import type { PeerEvent } from "./peer-process.js";
import { nextEvent, TsNode } from "./ts-node.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const PY_PROTOCOLS = ["--protocol", "/echo@1", "--protocol", "/chat@1"];

let scratch: string;
beforeAll(async () => {
  await requirePython();
  scratch = await mkdtemp(join(tmpdir(), "peerlink-python-peer-"));
});
afterAll(async () => {
  await PythonPeerProcess.killAll();
  await rm(scratch, { recursive: true, force: true });
});

/** Echoes every message on `/chat` back to the sender, as the TypeScript application would. */
function echoChat(conn: Connection): void {
  conn.on("message", (m) => {
    if (m.protocol === "/chat") conn.send("/chat", m.data).catch(() => undefined);
  });
}

describe("the Python toolchain check", () => {
  it("fails loudly, naming .ci/run, when the interpreter is missing", async () => {
    await expect(requirePython(join(scratch, "no-such-python3"))).rejects.toThrow(/not found.*\.ci\/run/s);
  });

  it("fails loudly, naming .ci/run, when a module is missing", async () => {
    await expect(requirePython(PYTHON, ["no_such_module_peerlink"])).rejects.toThrow(/cannot import.*\.ci\/run/s);
  });
});

describe("the Python peer's sources", () => {
  async function listFiles(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
  }

  it("contain exactly the codecs generate.sh writes from proto/ (protoc --python_out)", async () => {
    const out = join(scratch, "regenerated");
    const result = await runCommand("sh", [join(PYTHON_PEER_DIR, "generate.sh"), out]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const committed = await listFiles(join(PYTHON_PEER_DIR, "pb"));
    const fresh = await listFiles(join(out, "pb"));
    expect(fresh).toEqual(committed);
    expect(fresh).toContain(join("peerlink", "v1", "frame_pb2.py"));
    for (const file of fresh) {
      const same = (await readFile(join(out, "pb", file))).equals(await readFile(join(PYTHON_PEER_DIR, "pb", file)));
      expect(same, `interop/python/pb/${file} differs from generate.sh output: run interop/python/generate.sh`).toBe(true);
    }
  });

  it("pass their own unittest suite (framing, peer ids, proofs, Hello rules, negotiation)", async () => {
    const result = await runCommand(PYTHON, ["-m", "unittest", "-v", "test_peerlink_core"]);
    expect(result.stderr).toMatch(/^OK$/m);
    expect(result.code).toBe(0);
  });

  it("are documented in interop/README.md: every flag and every event of peerlink_peer.py", async () => {
    const readme = await readFile(join(PYTHON_PEER_DIR, "..", "README.md"), "utf8");
    const start = readme.indexOf("## Python peer");
    expect(start, 'interop/README.md has a "## Python peer" section').toBeGreaterThan(0);
    const section = readme.slice(start);
    const source = await readFile(PYTHON_PEER_SCRIPT, "utf8");
    const flags = [...source.matchAll(/add_argument\("(--[a-z-]+)"/g)].map((m) => m[1] ?? "");
    const events = new Set([...source.matchAll(/"event": "([a-z-]+)"/g)].map((m) => m[1] ?? ""));
    expect(flags.length).toBeGreaterThan(15);
    expect(events.size).toBeGreaterThan(12);
    expect(flags.filter((f) => !section.includes(f))).toEqual([]);
    expect([...events].filter((e) => !section.includes(`\`${e}\``))).toEqual([]);
  });

  it("refuse --tls and say why (Python's ssl has no keying-material exporter)", async () => {
    const result = await runCommand(PYTHON, [PYTHON_PEER_SCRIPT, "listen", "--tls"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/keying-material exporter/);
  });
});

describe("TypeScript dials the Python peer over plain TCP (nonce-transcript proof)", () => {
  let py: Awaited<ReturnType<typeof PythonPeerProcess.listen>>;
  let ts: TsNode;

  beforeAll(async () => {
    py = await PythonPeerProcess.listen(PY_PROTOCOLS);
  });
  // A fresh identity per test, so the Python listener's events of each test are told apart by peer id.
  beforeEach(async () => {
    ts = await TsNode.create(false);
  });
  afterEach(() => ts.close());
  afterAll(async () => {
    expect(await py.terminate()).toEqual({ code: 0, signal: null });
    expect(py.stderr, "the Python listener logged no traceback or asyncio warning").toBe("");
  });

  /** The Python listener's connection number for the connection from `peer` (the TS side's peer id). */
  const pyConnOf = async (peer: string): Promise<number> =>
    Number((await py.waitFor((e) => e.event === "open" && e["peer"] === peer, `Python open from ${peer}`))["conn"]);

  it("opens with the Python peer's verified id, version 1 and both sides' aliases", async () => {
    const conn = await ts.dial(py.port, { expectedPeerId: PeerId.parse(py.peerId) });
    expect(conn.remotePeer.toString()).toBe(py.peerId);
    expect(conn.secure).toBe(false);
    expect(conn.protocolVersion).toBe(1);
    expect(conn.protocols).toEqual([
      { name: "/chat", version: 1, localAlias: 2, remoteAlias: 8 },
      { name: "/echo", version: 1, localAlias: 1, remoteAlias: 7 },
    ]);
    expect(conn.handshake?.remoteAgent).toBe("peerlink-python/0.1");
    const open = await py.waitFor((e) => e.event === "open" && e["peer"] === ts.peerId, "Python open");
    expect(open).toMatchObject({ direction: "inbound", tls: false, version: 1, earlyData: 0 });
    expect(open["protocols"]).toEqual([
      { name: "/chat", version: 1, localAlias: 8, remoteAlias: 2 },
      { name: "/echo", version: 1, localAlias: 7, remoteAlias: 1 },
    ]);
  });

  it("gets its data echoed back on the same protocol, under the Python peer's own alias", async () => {
    const conn = await ts.dial(py.port);
    const id = await pyConnOf(ts.peerId);
    const echoed = nextEvent(conn, "message");
    await conn.send("/echo", text("hello from TypeScript"));
    const message = await echoed;
    expect(message.protocol).toBe("/echo");
    expect(decode(message.data)).toBe("hello from TypeScript");
    expect(await py.waitFor((e) => e.event === "data" && e["conn"] === id, "Python data")).toMatchObject({
      protocol: "/echo",
      alias: 1, // the TypeScript side's own alias
      text: "hello from TypeScript",
      early: false,
    });
    expect(conn.stats.unknownProtocolFrames).toBe(0);
  });

  it("answers the Python peer's ping and gets its own ping answered with the same nonce and timestamp", async () => {
    const conn = await ts.dial(py.port);
    const id = await pyConnOf(ts.peerId);
    expect(await py.waitFor((e) => e.event === "pong" && e["conn"] === id, "Python pong")).toMatchObject({ nonce: 1 });
    const pong = nextEvent(conn, "pong");
    conn.sendPing(4_000_000_000, 0xffff_fff0);
    expect(await pong).toEqual({ nonce: 4_000_000_000, timestampUs: 0xffff_fff0 });
    expect(await py.waitFor((e) => e.event === "ping" && e["conn"] === id, "Python ping")).toMatchObject({
      nonce: 4_000_000_000,
      answered: true,
    });
  });

  it("delivers its 0-RTT early data to the Python peer first, marked early, and gets it echoed", async () => {
    const conn = await ts.dial(py.port, { earlyData: true }, { earlyMessages: [{ protocol: "/echo", data: text("zero-rtt") }] });
    const echoed = nextEvent(conn, "message");
    const open = await py.waitFor((e) => e.event === "open" && e["peer"] === ts.peerId, "Python open");
    expect(open["earlyData"]).toBe(1);
    const first = await py.waitFor((e) => e.event === "data" && e["conn"] === open["conn"], "Python early data");
    expect(first).toMatchObject({ protocol: "/echo", text: "zero-rtt", early: true });
    expect(decode((await echoed).data)).toBe("zero-rtt");
  });

  it("gets a BandwidthReport for a probe burst, counting every frame and byte", async () => {
    const conn = await ts.dial(py.port);
    const id = await pyConnOf(ts.peerId);
    const report = nextEvent(conn, "control", (f) => f.kind.case === "bandwidthReport");
    let bytes = 0;
    for (let index = 0; index < 3; index++) {
      const probe = create(FrameSchema, { kind: { case: "bandwidthProbe", value: { probeId: 42, index, count: 3, padding: new Uint8Array(500) } } });
      const body = toBinary(FrameSchema, probe).length;
      bytes += encodeLengthPrefix(body).length + body;
      conn.sendControl(probe);
    }
    const frame = await report;
    expect(frame.kind.case === "bandwidthReport" && frame.kind.value).toMatchObject({ probeId: 42, framesReceived: 3, bytesReceived: bytes });
    expect(await py.waitFor((e) => e.event === "bandwidth-probe" && e["conn"] === id, "Python probe")).toMatchObject({
      probeId: 42,
      framesReceived: 3,
    });
  });

  it("closes with a reason, detail and retry delay that the Python peer reports", async () => {
    const conn = await ts.dial(py.port);
    const id = await pyConnOf(ts.peerId);
    await conn.close(DisconnectReason.NETWORK_RESTRUCTURE, { detail: "rebalancing", retryAfterMs: 1500 });
    expect(await conn.closed).toMatchObject({ reason: "network_restructure", initiator: "local" });
    expect(conn.closeInfo?.error).toBeUndefined();
    expect(await py.waitFor((e) => e.event === "goodbye" && e["conn"] === id, "Python goodbye")).toMatchObject({
      from: "remote",
      reason: "NETWORK_RESTRUCTURE",
      detail: "rebalancing",
      retryAfterMs: 1500,
    });
    await py.waitFor((e) => e.event === "closed" && e["conn"] === id, "Python closed");
  });

  it("rejects a Python peer that is not the expected identity and tells it why", async () => {
    const attempt = ts.dial(py.port, { expectedPeerId: Identity.generate().peerId });
    await expect(attempt).rejects.toMatchObject({ code: ErrorCode.IDENTITY_MISMATCH });
    // The Python listener verified TypeScript's Auth first, so it may have opened before the Goodbye came.
    expect(await py.waitFor((e) => e.event === "goodbye" && e["reason"] === "UNEXPECTED_IDENTITY", "Python goodbye")).toMatchObject({
      from: "remote",
    });
  });

  it("sees the Python peer's SIGTERM as Goodbye{SHUTDOWN}", async () => {
    const stopping = await PythonPeerProcess.listen();
    const conn = await ts.dial(stopping.port);
    await stopping.waitFor((e) => e.event === "open", "Python open");
    const goodbye = nextEvent(conn, "goodbye");
    expect(await stopping.terminate()).toEqual({ code: 0, signal: null });
    expect(await goodbye).toMatchObject({ reason: "shutdown", detail: "peerlink-python stopping" });
    expect(await conn.closed).toMatchObject({ reason: "shutdown", initiator: "remote" });
  });

  it("rejects a Python listener whose Auth proof does not verify", async () => {
    const forger = await PythonPeerProcess.listen(["--bad-proof"]);
    const error = await ts.dial(forger.port).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PeerlinkError);
    expect(error).toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED });
    expect(await forger.waitFor((e) => e.event === "goodbye", "Python goodbye")).toMatchObject({
      from: "remote",
      reason: "AUTHENTICATION_FAILED",
    });
    await forger.terminate();
  });
});

describe("the Python peer dials TypeScript over plain TCP (nonce-transcript proof)", () => {
  let ts: TsNode;

  beforeEach(async () => {
    ts = await TsNode.create(false);
    await ts.listen({}, echoChat);
  });
  let started: PythonPeerProcess[] = [];
  afterEach(async () => {
    await ts.close();
    await PythonPeerProcess.killAll();
    expect(started.map((p) => p.stderr).join(""), "the Python dialer logged no traceback or asyncio warning").toBe("");
    started = [];
  });

  const dial = (...args: string[]): PythonPeerProcess => {
    const p = PythonPeerProcess.start(["dial", "--addr", `127.0.0.1:${ts.port}`, ...PY_PROTOCOLS, ...args]);
    started.push(p);
    return p;
  };

  it("opens on both sides with each other's verified peer id", async () => {
    const py = dial("--expect", ts.peerId);
    const conn = await ts.nextConnection();
    const open = await py.waitFor((e) => e.event === "open", "Python open");
    expect(open).toMatchObject({ peer: ts.peerId, version: 1, tls: false, direction: "outbound" });
    const dialing = await py.waitFor((e) => e.event === "dialing", "Python dialing");
    expect(conn.direction).toBe("inbound");
    expect(conn.remotePeer.toString()).toBe(dialing["peerId"]);
    expect(conn.handshake?.remoteAgent).toBe("peerlink-python/0.1");
    expect(conn.protocols.map((p) => [p.name, p.localAlias, p.remoteAlias])).toEqual([
      ["/chat", 2, 8],
      ["/echo", 1, 7],
    ]);
  });

  it("carries data both ways: TypeScript echoes Python's /chat, Python echoes TypeScript's /echo", async () => {
    const py = dial("--send", "/chat=hello from Python");
    const conn = await ts.nextConnection();
    expect(await py.waitFor((e) => e.event === "data", "echo of /chat")).toMatchObject({
      protocol: "/chat",
      alias: 2, // the TypeScript side's own alias for /chat
      text: "hello from Python",
    });
    const echoed = nextEvent(conn, "message", (m) => m.protocol === "/echo");
    await conn.send("/echo", text("hello from TypeScript"));
    expect(decode((await echoed).data)).toBe("hello from TypeScript");
  });

  it("answers the Python peer's ping, and the Python peer answers TypeScript's", async () => {
    const py = dial();
    const conn = await ts.nextConnection();
    const pong = await py.waitFor((e) => e.event === "pong", "Python pong");
    expect(pong).toMatchObject({ nonce: 1 });
    expect(pong["rttUs"]).toBeGreaterThanOrEqual(0);
    const answered = nextEvent(conn, "pong");
    conn.sendPing(7, 1000);
    expect(await answered).toEqual({ nonce: 7, timestampUs: 1000 });
  });

  it("delivers the Python dialer's 0-RTT early data first, exactly once and in order", async () => {
    const messages: string[] = [];
    await ts.close();
    ts = await TsNode.create(false);
    await ts.listen({}, (conn) => conn.on("message", (m) => messages.push(`${m.protocol}:${decode(m.data)}`)));
    const py = dial("--early", "/chat=zero", "--early", "/echo=one", "--send", "/chat=two");
    const conn = await ts.nextConnection();
    expect(conn.handshake?.earlyData).toBe(true);
    await py.waitFor((e) => e.event === "open", "Python open");
    const last = nextEvent(conn, "message", (m) => decode(m.data) === "three");
    py.command({ cmd: "send", protocol: "/chat", text: "three" });
    await last;
    expect(messages).toEqual(["/chat:zero", "/echo:one", "/chat:two", "/chat:three"]);
  });

  it("reports the reason of the Python peer's Goodbye, and the Python dialer exits 0", async () => {
    const py = dial();
    const conn = await ts.nextConnection();
    await py.waitFor((e) => e.event === "open", "Python open");
    const goodbye = nextEvent(conn, "goodbye");
    py.command({ cmd: "goodbye", reason: "RATE_LIMITED", detail: "slow down" });
    expect(await goodbye).toMatchObject({ reason: "rate_limited", detail: "slow down" });
    expect(await conn.closed).toMatchObject({ reason: "rate_limited", initiator: "remote" });
    expect(await py.exited).toEqual({ code: 0, signal: null });
  });

  it("says Goodbye{SHUTDOWN} that the Python peer reports, and the Python peer then exits", async () => {
    const py = dial();
    const conn = await ts.nextConnection();
    await py.waitFor((e) => e.event === "open", "Python open");
    await conn.close(DisconnectReason.SHUTDOWN, { detail: "node stopping" });
    expect(await py.waitFor((e) => e.event === "goodbye", "Python goodbye")).toMatchObject({
      from: "remote",
      reason: "SHUTDOWN",
      detail: "node stopping",
    });
    expect(await py.exited).toEqual({ code: 0, signal: null });
    expect(await conn.closed).toMatchObject({ reason: "shutdown", initiator: "local" });
  });

  it("sees a Python dialer that expected another peer reject it with UNEXPECTED_IDENTITY", async () => {
    const py = dial("--expect", Identity.generate().peerId.toString());
    expect(await py.waitFor((e) => e.event === "handshake-failed", "Python handshake failure")).toMatchObject({ code: "IDENTITY_MISMATCH" });
    expect(await py.exited).toMatchObject({ code: 1 });
    const attempt = await ts.nextInbound();
    // The listener may open (the dialer's Hello and Auth came first) and then read the Goodbye.
    const reason = attempt.connection ? (await attempt.connection.closed).reason : attempt.error.code;
    expect([DisconnectReason.UNEXPECTED_IDENTITY, ErrorCode.IDENTITY_MISMATCH]).toContain(reason);
    if (attempt.connection) expect(attempt.connection.remoteGoodbye?.reason).toBe("unexpected_identity");
  });

  it("rejects a Python dialer whose Auth proof does not verify", async () => {
    const py = dial("--bad-proof");
    const attempt = await ts.nextInbound();
    expect(attempt.error?.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(await py.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "Python goodbye")).toMatchObject({
      reason: "AUTHENTICATION_FAILED",
    });
    expect((await py.exited).signal).toBeNull(); // it ends by itself
  });
});

describe("the Python listener facing a raw socket that breaks the framing or stalls (§1, §3.1)", () => {
  let py: Awaited<ReturnType<typeof PythonPeerProcess.listen>>;
  beforeAll(async () => {
    py = await PythonPeerProcess.listen();
  });
  afterAll(async () => {
    expect(await py.terminate()).toEqual({ code: 0, signal: null });
    expect(py.stderr).toBe("");
  });

  /** Writes `bytes` as the first thing on a new connection; returns every frame the Python peer sent before closing. */
  function exchange(bytes: Uint8Array, port = py.port): Promise<Frame[]> {
    return new Promise((resolve, reject) => {
      const frames: Frame[] = [];
      let buffer = Buffer.alloc(0);
      const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
      socket.setTimeout(5_000, () => socket.destroy(new Error("the Python peer neither answered nor closed")));
      socket.on("data", (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (;;) {
          const prefix = readLengthPrefix(buffer, 0, buffer.length);
          if (prefix === PREFIX_INCOMPLETE) break;
          if (prefix === PREFIX_MALFORMED) return socket.destroy(new Error("the Python peer sent a malformed prefix"));
          const start = prefixBytesOf(prefix);
          const end = start + prefixValueOf(prefix);
          if (buffer.length < end) break;
          const frame = fromBinary(FrameSchema, buffer.subarray(start, end));
          frames.push(frame);
          buffer = buffer.subarray(end);
          if (frame.kind.case === "goodbye") socket.end(); // as a well-behaved peer: close our side too
        }
      });
      socket.on("error", reject);
      socket.on("close", () => resolve(frames));
    });
  }

  it.each([
    { what: "an overlong length prefix (80 00)", bytes: "8000", code: "MALFORMED_FRAME" },
    { what: "a length prefix above 32 bits (ff ff ff ff 10)", bytes: "ffffffff10", code: "MALFORMED_FRAME" },
    { what: "a length of 1 MiB + 1, before any body byte", bytes: "818040", code: "FRAME_TOO_LARGE" },
    { what: "a body that is not a protobuf Frame", bytes: "030a0501", code: "MALFORMED_FRAME" },
    { what: "an empty Frame (no kind) instead of a Hello", bytes: "00", code: "PROTOCOL_VIOLATION" },
  ])("answers $what with its Hello, then Goodbye{PROTOCOL_VIOLATION}, and closes", async ({ bytes, code }) => {
    const failures = (): PeerEvent[] => py.events.filter((e) => e.event === "handshake-failed");
    const before = failures().length;
    const frames = await exchange(Buffer.from(bytes, "hex"));
    expect(frames.map((f) => f.kind.case)).toEqual(["hello", "goodbye"]);
    const goodbye = frames[1]?.kind;
    expect(goodbye?.case === "goodbye" && goodbye.value.reason).toBe(GoodbyeReason.PROTOCOL_VIOLATION);
    await py.waitFor(() => failures().length > before, "the Python peer's handshake-failed event");
    expect(failures()[before]).toMatchObject({ code });
  });

  it("ends a handshake that does not finish in time with its Hello, then Goodbye{TIMEOUT}", async () => {
    const slow = await PythonPeerProcess.listen(["--handshake-timeout", "300"]);
    const started = Date.now();
    const frames = await exchange(new Uint8Array(0), slow.port); // connect, then say nothing
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(frames.map((f) => f.kind.case)).toEqual(["hello", "goodbye"]);
    const goodbye = frames[1]?.kind;
    expect(goodbye?.case === "goodbye" && goodbye.value.reason).toBe(GoodbyeReason.TIMEOUT);
    expect(await slow.waitFor((e) => e.event === "handshake-failed", "failure")).toMatchObject({ code: "HANDSHAKE_TIMEOUT" });
    await slow.terminate();
  });
});

describe("the generated codecs of Python and TypeScript", () => {
  const identity = Identity.generate();
  const bytes = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
  const samples: Record<string, Frame> = {
    data: create(FrameSchema, { kind: { case: "data", value: { protocol: 4_000_000_000, payload: bytes(300) } } }),
    ping: create(FrameSchema, { kind: { case: "ping", value: { nonce: 0xffff_ffff, timestampUs: 1000 } } }),
    pong: create(FrameSchema, { kind: { case: "pong", value: { nonce: 7, timestampUs: 0xffff_fff0 } } }),
    hello: create(FrameSchema, {
      kind: {
        case: "hello",
        value: {
          minVersion: 1,
          maxVersion: 3,
          peerId: identity.peerId.bytes,
          keyType: KeyType.ED25519,
          publicKey: identity.publicKey,
          nonce: bytes(32, 5),
          protocols: [
            { name: "/echo", versions: [1, 2, 300], alias: 7 },
            { name: "/ünïcode/✓", versions: [1], alias: 0 },
          ],
          capabilities: [
            { name: "peerlink.bandwidth-probe", version: 2, required: true },
            { name: "optional", version: 0 },
          ],
          listenAddrs: ["127.0.0.1:4001", "[::1]:4001"],
          binding: ChannelBinding.NONCES,
          proof: bytes(64, 9),
          earlyData: true,
          agent: "peerlink/0.1.0",
        },
      },
    }),
    auth: create(FrameSchema, { kind: { case: "auth", value: { proof: bytes(64, 3) } } }),
    "auth (empty message)": create(FrameSchema, { kind: { case: "auth", value: {} } }),
    goodbye: create(FrameSchema, {
      kind: { case: "goodbye", value: { reason: GoodbyeReason.AUTHENTICATION_FAILED, detail: "bad proof ✗", retryAfterMs: 1500 } },
    }),
    capabilityUpdate: create(FrameSchema, {
      kind: {
        case: "capabilityUpdate",
        value: {
          added: [{ name: "peerlink.compression", version: 3 }],
          removed: ["old-cap"],
          protocolsAdded: [{ name: "/chat", versions: [2, 1], alias: 9 }],
          protocolsRemoved: ["/legacy"],
        },
      },
    }),
    bandwidthProbe: create(FrameSchema, { kind: { case: "bandwidthProbe", value: { probeId: 9, index: 63, count: 64, padding: bytes(1000) } } }),
    bandwidthReport: create(FrameSchema, {
      kind: { case: "bandwidthReport", value: { probeId: 9, framesReceived: 64, bytesReceived: 66_000, elapsedUs: 12_345 } },
    }),
  };
  const names = Object.keys(samples);
  /** Python's answer for each sample: encoded from TypeScript's proto3 JSON, and decoded from TypeScript's bytes. */
  const fromJsonAnswers = new Map<string, { hex: string; json: unknown }>();
  const fromBytesAnswers = new Map<string, { hex: string; json: unknown }>();

  beforeAll(async () => {
    const requests = names.flatMap((name) => {
      const frame = samples[name] as Frame;
      return [JSON.stringify({ json: toJson(FrameSchema, frame) }), JSON.stringify({ hex: hex(toBinary(FrameSchema, frame)) })];
    });
    const result = await runCommand(PYTHON, [PYTHON_PEER_SCRIPT, "codec"], { input: `${requests.join("\n")}\n` });
    expect(result.stderr).toBe("");
    const answers = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as { hex: string; json: unknown; error?: string });
    expect(answers.filter((a) => a.error !== undefined)).toEqual([]);
    names.forEach((name, i) => {
      fromJsonAnswers.set(name, answers[2 * i] as { hex: string; json: unknown });
      fromBytesAnswers.set(name, answers[2 * i + 1] as { hex: string; json: unknown });
    });
  });

  it("covers every Frame kind", () => {
    const kinds = new Set(names.map((n) => samples[n]?.kind.case));
    expect([...kinds].sort()).toEqual(FrameSchema.oneofs[0]?.fields.map((f) => f.localName).sort());
  });

  it.each(names)("Python encodes %s to the very bytes TypeScript encodes, and TypeScript decodes them to an equal Frame", (name) => {
    const frame = samples[name] as Frame;
    const pythonHex = fromJsonAnswers.get(name)?.hex ?? "";
    expect(pythonHex).toBe(hex(toBinary(FrameSchema, frame)));
    expect(equals(FrameSchema, fromBinary(FrameSchema, Buffer.from(pythonHex, "hex")), frame)).toBe(true);
  });

  it.each(names)("Python decodes TypeScript's bytes of %s to the same message (proto3 JSON) and re-encodes them unchanged", (name) => {
    const frame = samples[name] as Frame;
    const answer = fromBytesAnswers.get(name);
    expect(answer?.json).toEqual(toJson(FrameSchema, frame));
    expect(answer?.hex).toBe(hex(toBinary(FrameSchema, frame)));
  });

  it("keeps unknown fields (a future frame kind, a future Ping field) when re-encoding, as TypeScript does", async () => {
    const futureKind = "520208015a00"; // field 10 {field 1: 1}, field 11 {}
    const futurePingField = "12070807" + "78ffffff7f"; // ping {nonce: 7, field 15 (varint): 2^28 - 1}
    const inputs = [futureKind, futurePingField];
    const result = await runCommand(PYTHON, [PYTHON_PEER_SCRIPT, "codec"], { input: inputs.map((h) => JSON.stringify({ hex: h })).join("\n") });
    const answers = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as { hex: string; json: unknown });
    for (const [i, input] of inputs.entries()) {
      const ts = fromBinary(FrameSchema, Buffer.from(input, "hex"));
      expect(hex(toBinary(FrameSchema, ts))).toBe(input);
      expect(answers[i]?.hex).toBe(input);
      expect(answers[i]?.json).toEqual(toJson(FrameSchema, ts));
    }
    expect(answers[0]?.json).toEqual({}); // no known kind: an unknown frame, ignored after the handshake (§1.1)
  });
});

describe("a Python peer given a key file written by the TypeScript Identity", () => {
  it("reports the same peer id as TypeScript derives", async () => {
    const identity = Identity.generate();
    const keyFile = join(scratch, "node.key");
    await identity.save(keyFile);
    const listener = await PythonPeerProcess.listen(["--key", keyFile]);
    expect(listener.peerId).toBe(identity.peerId.toString());
    await listener.terminate();
  });
});
