import { create, equals, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { GoodbyeReason } from "../../generated/peerlink/v1/goodbye_pb.js";
import { ChannelBinding, KeyType } from "../../generated/peerlink/v1/handshake_pb.js";
import { Identity } from "../../src/identity/identity.js";
import { PREFIX_INCOMPLETE, PREFIX_MALFORMED, prefixBytesOf, prefixValueOf, readLengthPrefix } from "../../src/wire/varint.js";
import {
  PYTHON,
  PYTHON_PEER_DIR,
  PYTHON_PEER_SCRIPT,
  PythonPeerProcess,
  requirePython,
  runCommand,
} from "./python-peer-process.js";
import type { PeerEvent } from "./peer-process.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

let scratch: string;
beforeAll(async () => {
  await requirePython();
  scratch = await mkdtemp(join(tmpdir(), "peerlink-python-peer-"));
});
afterAll(async () => {
  await PythonPeerProcess.killAll();
  await rm(scratch, { recursive: true, force: true });
});

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
    const result = await runCommand(PYTHON, ["-m", "unittest", "-v", "test_peerlink_core", "test_vectors"]);
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

});

describe("two Python peers over TLS: the certificate binding (§2, §3.3)", () => {
  /** Runs a Python dialer with `dialerArgs` against a Python listener with `listenerArgs`; both events lists. */
  async function pythonPair(dialerArgs: readonly string[], listenerArgs: readonly string[] = []) {
    const listener = await PythonPeerProcess.listen(["--tls", "--no-ping", ...listenerArgs]);
    const dialer = PythonPeerProcess.start(["dial", "--addr", listener.addr, "--tls", "--no-ping", ...dialerArgs]);
    return { listener, dialer };
  }
  const bindings = (e: PeerEvent) => ({ alpn: e["alpn"], binding: e["binding"], localBinding: e["localBinding"], resumed: e["resumed"] });

  afterEach(() => PythonPeerProcess.killAll());

  it("use it both ways, and again on a resumed session against the key the dialer kept with its ticket", async () => {
    const { listener, dialer } = await pythonPair(["--redial", "1"]);
    const both = { alpn: "peerlink/1+cert", binding: "TLS_CERTIFICATE", localBinding: "TLS_CERTIFICATE" };
    const opens = (p: PythonPeerProcess): PeerEvent[] => p.events.filter((e) => e.event === "open");
    await dialer.waitFor((e) => e.event === "open", "the first open");
    dialer.command({ cmd: "goodbye" });
    await dialer.waitFor(() => opens(dialer).length >= 2, "the resumed open");
    await listener.waitFor(() => opens(listener).length >= 2, "the listener's second open");
    expect(opens(dialer).map(bindings)).toEqual([{ ...both, resumed: false }, { ...both, resumed: true }]);
    expect(opens(listener).map(bindings)).toEqual([{ ...both, resumed: false }, { ...both, resumed: true }]);
    dialer.command({ cmd: "goodbye" });
    expect(await dialer.exited).toEqual({ code: 0, signal: null });
  });

  it.each([
    { legacy: "dialer", dialerArgs: ["--alpn", "peerlink/1"], listenerArgs: [] },
    { legacy: "listener", dialerArgs: [], listenerArgs: ["--alpn", "peerlink/1"] },
  ])("fall back to the tls-exporter proof when the $legacy knows only peerlink/1", async ({ dialerArgs, listenerArgs }) => {
    const { listener, dialer } = await pythonPair(dialerArgs, listenerArgs);
    const legacy = { alpn: "peerlink/1", binding: "TLS_EXPORTER", localBinding: "TLS_EXPORTER", resumed: false };
    expect(bindings(await dialer.waitFor((e) => e.event === "open", "the dialer's open"))).toEqual(legacy);
    expect(bindings(await listener.waitFor((e) => e.event === "open", "the listener's open"))).toEqual(legacy);
  });

  it.each([
    { what: "a certificate whose key is not its Hello key", args: ["--cert-of-other-identity", "--binding", "TLS_CERTIFICATE"], code: "AUTHENTICATION_FAILED" },
    { what: "ALPN peerlink/1", args: ["--alpn", "peerlink/1", "--binding", "TLS_CERTIFICATE"], code: "AUTHENTICATION_FAILED" },
    { what: "a non-empty proof", args: ["--cert-proof"], code: "PROTOCOL_VIOLATION" },
  ])("reject TLS_CERTIFICATE with $what", async ({ args, code }) => {
    const { listener, dialer } = await pythonPair(args);
    expect(await listener.waitFor((e) => e.event === "handshake-failed", "the listener's verdict")).toMatchObject({ code });
    expect(await dialer.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "the listener's Goodbye")).toMatchObject({ reason: code });
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
    peerAddresses: create(FrameSchema, {
      kind: {
        case: "peerAddresses",
        value: { peers: [{ peerId: identity.peerId.bytes, addrs: ["127.0.0.1:4001", "[::1]:4001"] }, { peerId: bytes(32, 1), addrs: [] }], request: true },
      },
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
