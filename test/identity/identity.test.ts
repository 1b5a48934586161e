import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { ensureDist } from "../helpers/dist.js";
import fc from "fast-check";
import { Identity, verifySignature } from "../../src/identity/identity.js";
import { PeerId } from "../../src/identity/peer-id.js";
import { base32Decode, base32DecodeInto, base32Encode } from "../../src/identity/base32.js";
import { ErrorCode, isPeerlinkError } from "../../src/errors.js";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe("a peer id", () => {
  it("is SHA-256 over the key type byte and the raw public key", () => {
    const id = Identity.generate();
    const expected = createHash("sha256").update(Uint8Array.of(1)).update(id.publicKey).digest();
    expect(Buffer.from(id.peerId.bytes).equals(expected)).toBe(true);
  });

  it("prints as 52 lowercase base32 characters and parses back to an equal id", () => {
    const id = Identity.generate().peerId;
    const text = id.toString();
    expect(text).toMatch(/^[a-z2-7]{52}$/);
    expect(PeerId.parse(text).equals(id)).toBe(true);
    expect(PeerId.parse(text).equals(Identity.generate().peerId)).toBe(false);
  });

  it("rejects malformed printable forms with INVALID_PEER_ID", () => {
    const good = Identity.generate().peerId.toString();
    for (const bad of ["", "abc", good.toUpperCase(), good.slice(0, 51) + "1", good + "a", good.slice(0, 51) + "9"]) {
      expect(() => PeerId.parse(bad), bad).toThrowError(expect.objectContaining({ code: ErrorCode.INVALID_PEER_ID }));
    }
    expect(() => PeerId.fromBytes(new Uint8Array(31))).toThrow(/32 bytes/);
  });

  it("matches RFC 4648 base32 test vectors (lowercase, no padding)", () => {
    const vectors: [string, string][] = [["", ""], ["f", "my"], ["fo", "mzxq"], ["foo", "mzxw6"], ["foob", "mzxw6yq"], ["fooba", "mzxw6ytb"], ["foobar", "mzxw6ytboi"]];
    for (const [plain, encoded] of vectors) {
      expect(base32Encode(new TextEncoder().encode(plain))).toBe(encoded);
      expect(new TextDecoder().decode(base32Decode(encoded))).toBe(plain);
    }
  });

  it("round-trips any bytes through base32", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      expect(base32Decode(base32Encode(bytes))).toEqual(bytes);
    }));
  });

  it("decodes into a given buffer as base32Decode does, leaving bytes past the value untouched", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const out = new Uint8Array(bytes.length + 3).fill(0xee);
      expect(base32DecodeInto(base32Encode(bytes), out)).toBe(out);
      expect(out.subarray(0, bytes.length)).toEqual(bytes);
      expect([...out.subarray(bytes.length)]).toEqual([0xee, 0xee, 0xee]);
    }));
    expect(() => base32DecodeInto("mzxw6", new Uint8Array(2))).toThrow(/too short/);
    expect(() => base32DecodeInto("mzxw1", new Uint8Array(8))).toThrow(/invalid base32 character/);
  });
});

describe("an identity", () => {
  it("signs data that verifies with its public key and fails for other data or keys", () => {
    const a = Identity.generate();
    const b = Identity.generate();
    const data = new TextEncoder().encode("hello");
    const sig = a.sign(data);
    expect(sig.length).toBe(64);
    expect(verifySignature(a.publicKey, data, sig)).toBe(true);
    expect(verifySignature(b.publicKey, data, sig)).toBe(false);
    expect(verifySignature(a.publicKey, new TextEncoder().encode("hellO"), sig)).toBe(false);
    expect(verifySignature(a.publicKey.subarray(1), data, sig)).toBe(false);
  });

  it("is saved with mode 0600 and loads back to the same peer id", async () => {
    const dir = await mkdtemp(join(tmpdir(), "peerlink-id-"));
    dirs.push(dir);
    const file = join(dir, "node.key");
    const a = Identity.generate();
    await a.save(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const b = await Identity.load(file);
    expect(b.peerId.equals(a.peerId)).toBe(true);
    const c = await Identity.loadOrCreate(join(dir, "fresh.key"));
    expect((await Identity.loadOrCreate(join(dir, "fresh.key"))).peerId.equals(c.peerId)).toBe(true);
  });

  it("refuses a file that is not an Ed25519 key with INVALID_ARGUMENT", async () => {
    const dir = await mkdtemp(join(tmpdir(), "peerlink-id-"));
    dirs.push(dir);
    const file = join(dir, "bad.key");
    await writeFile(file, "not a key");
    const err = await Identity.load(file).catch((e: unknown) => e);
    expect(isPeerlinkError(err, ErrorCode.INVALID_ARGUMENT)).toBe(true);
  });

  it("gives every concurrent loadOrCreate in one process the same identity, and leaves no temp file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "peerlink-id-"));
    dirs.push(dir);
    const file = join(dir, "node.key");
    const ids = await Promise.all(Array.from({ length: 10 }, () => Identity.loadOrCreate(file)));
    expect(new Set(ids.map((i) => i.peerId.toString())).size).toBe(1);
    expect((await Identity.load(file)).peerId.equals(ids[0]!.peerId)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["node.key"]);
  });

  it("gives processes racing to create the same identity file the same identity", async () => {
    await ensureDist(); // the racing processes import the compiled module
    const run = promisify(execFile);
    const script = `import("${new URL("../../dist/src/identity/identity.js", import.meta.url).pathname}").then(({ Identity }) => Identity.loadOrCreate(process.argv[1])).then((id) => console.log(id.peerId.toString()))`;
    for (let round = 0; round < 4; round++) {
      const dir = await mkdtemp(join(tmpdir(), "peerlink-id-"));
      dirs.push(dir);
      const file = join(dir, "node.key");
      const outputs = await Promise.all(
        Array.from({ length: 3 }, () => run(process.execPath, ["-e", script, file], { timeout: 15_000 }).then((r) => r.stdout.trim())),
      );
      expect(new Set(outputs).size).toBe(1);
      expect(outputs[0]).toBe((await Identity.load(file)).peerId.toString());
      expect(await readdir(dir)).toEqual(["node.key"]);
    }
  }, 60_000);

  it("names the file in a typed error when it cannot be read or written", async () => {
    const missing = join(tmpdir(), `peerlink-no-such-dir-${process.pid}`, "node.key");
    for (const attempt of [() => Identity.loadOrCreate(missing), () => Identity.generate().save(missing), () => Identity.load(missing)]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(isPeerlinkError(err, ErrorCode.INVALID_ARGUMENT)).toBe(true);
      expect((err as Error).message).toContain(missing);
    }
  });
});
