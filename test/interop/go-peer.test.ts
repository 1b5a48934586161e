import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { PeerId } from "../../src/identity/peer-id.js";
import { GoPeerProcess } from "./go-peer-process.js";
import { buildGoPeer, GO_BUILD_TIMEOUT_MS, GO_MODULE_DIR, requireGo, run } from "./go-toolchain.js";
import { nextManagerEvent, portOf, startManager, stopManagers } from "./matrix-fixtures.js";

let binary: string;
let scratch: string;

beforeAll(async () => {
  binary = await buildGoPeer();
  scratch = await mkdtemp(join(tmpdir(), "peerlink-go-peer-"));
}, GO_BUILD_TIMEOUT_MS);
afterEach(() => GoPeerProcess.killAll());
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe("the Go toolchain check", () => {
  it("fails loudly, naming .ci/run, when `go` is not on PATH", async () => {
    await expect(requireGo({ ...process.env, PATH: join(scratch, "no-such-dir") })).rejects.toThrow(/go not found.*\.ci\/run/s);
  });
});

describe("the Go peer's sources", () => {
  it("contain exactly the codecs generate.sh writes from proto/ (protoc + protoc-gen-go)", async () => {
    await requireGo();
    const out = join(scratch, "regenerated");
    const result = await run("sh", [join(GO_MODULE_DIR, "generate.sh"), out]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const committed = (await readdir(join(GO_MODULE_DIR, "pb"))).sort();
    const fresh = (await readdir(join(out, "pb"))).sort();
    expect(fresh).toEqual(committed);
    expect(fresh).toContain("frame.pb.go");
    for (const file of fresh) {
      const same = (await readFile(join(out, "pb", file))).equals(await readFile(join(GO_MODULE_DIR, "pb", file)));
      expect(same, `interop/go/pb/${file} differs from generate.sh output: run interop/go/generate.sh`).toBe(true);
    }
  });

  it("are gofmt-clean and pass go vet", async () => {
    const fmt = await run("gofmt", ["-l", "."]);
    expect(fmt).toMatchObject({ code: 0, stdout: "" });
    const vet = await run("go", ["vet", "./..."]);
    expect(vet.stderr).toBe("");
    expect(vet.code).toBe(0);
  }, GO_BUILD_TIMEOUT_MS);

  it("pass their own go test suite (framing, peer ids, negotiation, Go-vs-Go handshakes)", async () => {
    const result = await run("go", ["test", "./..."], { timeoutMs: GO_BUILD_TIMEOUT_MS });
    expect(result.stdout + result.stderr).toMatch(/ok\s+peerlink\/interop\/peer/);
    expect(result.code).toBe(0);
  }, GO_BUILD_TIMEOUT_MS);
});

describe("interop/README.md", () => {
  it("documents every flag and every event of peerlink-go", async () => {
    const readme = await readFile(join(GO_MODULE_DIR, "..", "README.md"), "utf8");
    const main = await readFile(join(GO_MODULE_DIR, "cmd/peerlink-go/main.go"), "utf8");
    const goSources = [main, ...(await Promise.all(["conn.go", "handshake.go"].map((f) => readFile(join(GO_MODULE_DIR, "peer", f), "utf8"))))];
    const flags = [...main.matchAll(/fs\.\w*Var\(&cfg\.\w+, "([a-z-]+)"/g)].map((m) => m[1]);
    const events = new Set(goSources.flatMap((src) => [...src.matchAll(/"event": "([a-z-]+)"/g)].map((m) => m[1])));
    expect(flags.length).toBeGreaterThan(15);
    expect(events.size).toBeGreaterThan(10);
    expect(flags.filter((f) => !readme.includes(`--${f}`))).toEqual([]);
    expect([...events].filter((e) => !readme.includes(`\`${e}\``))).toEqual([]);
  });
});

describe.each([
  { binding: "TLS 1.3 (certificate binding)", flags: ["--tls"] },
  { binding: "plain TCP (nonce-transcript proof)", flags: [] as string[] },
])("two Go peers over $binding", ({ flags }) => {
  it("open, echo data, answer pings and see the listener's SIGTERM as Goodbye{SHUTDOWN}", async () => {
    const listener = await GoPeerProcess.listen(binary, flags);
    const dialer = GoPeerProcess.start(binary, [
      "dial", "--addr", listener.addr, "--expect", listener.peerId, "--no-echo", "--send", "/echo=hello", ...flags,
    ]);
    const open = await dialer.waitFor((e) => e.event === "open", "dialer open");
    expect(open).toMatchObject({ peer: listener.peerId, version: 1, tls: flags.length > 0, direction: "outbound" });
    // Over TLS both offer peerlink/1+cert and hold certificates for their identity keys (§3.3).
    const binding = flags.length > 0 ? "TLS_CERTIFICATE" : "NONCES";
    expect(open).toMatchObject({ alpn: flags.length > 0 ? "peerlink/1+cert" : null, binding, localBinding: binding });
    expect(open["protocols"]).toEqual([{ name: "/echo", version: 1, localAlias: 7, remoteAlias: 7 }]);
    expect(await dialer.waitFor((e) => e.event === "data", "echo")).toMatchObject({ protocol: "/echo", text: "hello" });
    expect(await dialer.waitFor((e) => e.event === "pong", "pong")).toMatchObject({ nonce: 1 });
    expect(await listener.waitFor((e) => e.event === "ping", "ping answered")).toMatchObject({ answered: true });

    expect(await listener.terminate()).toEqual({ code: 0, signal: null });
    expect(await dialer.waitFor((e) => e.event === "goodbye", "goodbye")).toMatchObject({ from: "remote", reason: "SHUTDOWN" });
    expect(await dialer.exited).toEqual({ code: 0, signal: null });
  });
});

describe.each([
  { binding: "TLS 1.3 (the forged tls-exporter proof in the Hello)", secure: true },
  { binding: "plain TCP (the forged proof in the Auth frame)", secure: false },
])("a Go peer claiming the small-order key 0100..00 (--small-order-key) over $binding", ({ secure }) => {
  afterEach(() => stopManagers());

  it("is refused by the TS node with AUTHENTICATION_FAILED, whichever side dials, and hears why", async () => {
    // The forged "signature" R = neutral point, S = 0 verifies for any message (Node's own verifier accepts it), so
    // only the §2 small-order check can tell this peer from a real one.
    const neutral = Uint8Array.from(Buffer.from("01" + "00".repeat(31), "hex"));
    const forgedId = PeerId.fromPublicKey(neutral).toString();
    const flags = secure ? ["--tls", "--small-order-key"] : ["--small-order-key"];
    const manager = await startManager(secure);

    const listener = await GoPeerProcess.listen(binary, flags);
    expect(listener.peerId).toBe(forgedId);
    const dialed = await manager.dial(`127.0.0.1:${listener.port}`).then(
      () => undefined,
      (error: unknown) => PeerlinkError.from(error),
    );
    expect(dialed).toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED });
    expect(dialed?.message).toMatch(/small order/);
    const heard = await listener.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "the TS dialer's Goodbye");
    expect(heard).toMatchObject({ reason: "AUTHENTICATION_FAILED" });

    const failure = nextManagerEvent(manager, "handshake:failed", (e) => e.direction === "inbound").then((e) => e.error);
    const dialer = GoPeerProcess.start(binary, ["dial", "--addr", `127.0.0.1:${portOf(manager)}`, "--no-ping", ...flags]);
    expect(await failure).toMatchObject({ code: ErrorCode.AUTHENTICATION_FAILED, message: expect.stringMatching(/small order/) });
    expect(await dialer.waitFor((e) => e.event === "dialing", "dialing")).toMatchObject({ peerId: forgedId });
    const told = await dialer.waitFor((e) => e.event === "goodbye" && e["from"] === "remote", "the TS listener's Goodbye");
    expect(told).toMatchObject({ reason: "AUTHENTICATION_FAILED" });
    expect(await dialer.exited).toMatchObject({ signal: null });
  });
});
