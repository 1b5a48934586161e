import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { decodePeerFile, encodePeerFile, FilePeerStore } from "../../src/peers/file-peer-store.js";
import { createPeerRecord } from "../../src/peers/peer-record.js";
import type { PeerSnapshot } from "../../src/peers/peer-store.js";
import { rejectsWithCode } from "../helpers/error-code.js";

function snapshot(generation: number, peers = 3): PeerSnapshot {
  return {
    peers: Array.from({ length: peers }, (_, i) => {
      const r = createPeerRecord(`peer-${i}`, generation);
      r.addresses.push({ address: `10.0.0.${i + 1}:4001`, failures: generation, lastSuccess: 5 });
      r.disconnections.push({ at: generation, reason: "timeout", direction: "outbound", initiator: "remote" });
      r.capabilities = ["peerlink/ping/1"];
      r.healthy = i % 2 === 0;
      return r;
    }),
    extra: { generation, bans: { list: ["10.9.9.9"] } },
  };
}

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "peerlink-store-"));
  path = join(dir, "peers.json");
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a file peer store with nothing on disk", () => {
  it("loads an empty snapshot and reports no recovery", async () => {
    const store = new FilePeerStore(path);
    expect(await store.load()).toEqual({ snapshot: { peers: [], extra: {} } });
    await store.close();
  });

  it("creates missing parent directories on the first save", async () => {
    const nested = join(dir, "a", "b", "peers.json");
    const store = new FilePeerStore(nested);
    await store.save(snapshot(1));
    expect((await new FilePeerStore(nested).load()).snapshot).toEqual(snapshot(1));
    await store.close();
  });
});

describe("saving and loading", () => {
  it("round-trips every field of the records and the extra state", async () => {
    const store = new FilePeerStore(path);
    await store.save(snapshot(7));
    const other = new FilePeerStore(path);
    const { snapshot: loaded, recovered } = await other.load();
    expect(recovered).toBeUndefined();
    expect(loaded).toEqual(snapshot(7));
    await store.close();
    await other.close();
  });

  it("writes a header line with format, version, body length and the sha256 of the body", async () => {
    const store = new FilePeerStore(path);
    await store.save(snapshot(1));
    const bytes = await readFile(path);
    const nl = bytes.indexOf(0x0a);
    const header = JSON.parse(bytes.subarray(0, nl).toString()) as Record<string, unknown>;
    const body = bytes.subarray(nl + 1);
    expect(header).toEqual({
      format: "peerlink-peers",
      version: 1,
      length: body.length,
      checksum: createHash("sha256").update(body).digest("hex"),
    });
    expect(JSON.parse(body.toString())).toEqual(snapshot(1));
    await store.close();
  });

  it("creates the file and its previous copy with mode 0600", async () => {
    const store = new FilePeerStore(path);
    await store.save(snapshot(1));
    await store.save(snapshot(2));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(`${path}.prev`)).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it("keeps the state before the last save as .prev", async () => {
    const store = new FilePeerStore(path);
    await store.save(snapshot(1));
    await store.save(snapshot(2));
    await store.save(snapshot(3));
    expect(decodePeerFile(await readFile(`${path}.prev`)).extra["generation"]).toBe(2);
    expect(decodePeerFile(await readFile(path)).extra["generation"]).toBe(3);
    await store.close();
  });

  it("leaves no temp files behind", async () => {
    const store = new FilePeerStore(path);
    for (let i = 1; i <= 5; i++) await store.save(snapshot(i));
    expect((await readdir(dir)).sort()).toEqual(["peers.json", "peers.json.prev"]);
    await store.close();
  });

  it("takes the snapshot at call time, so later changes to the object are not written", async () => {
    const store = new FilePeerStore(path);
    const s = snapshot(1);
    const saving = store.save(s);
    s.extra["generation"] = 999;
    s.peers.length = 0;
    await saving;
    expect((await store.load()).snapshot).toEqual(snapshot(1));
    await store.close();
  });
});

describe("concurrent saves", () => {
  it("are serialized and coalesced: the last one wins and every caller resolves", async () => {
    const store = new FilePeerStore(path);
    const saves = Array.from({ length: 20 }, (_, i) => store.save(snapshot(i + 1)));
    await Promise.all(saves);
    // The first starts at once; the 19 queued behind it collapse into one write.
    expect(store.writes).toBe(2);
    expect((await store.load()).snapshot.extra["generation"]).toBe(20);
    await store.close();
  });

  it("are all written by close() before it resolves", async () => {
    const store = new FilePeerStore(path);
    const pending = [store.save(snapshot(1)), store.save(snapshot(2))];
    await store.close();
    expect(decodePeerFile(await readFile(path)).extra["generation"]).toBe(2);
    await Promise.all(pending);
  });
});

describe("a corrupt live file", () => {
  type Corruption = [string, (bytes: Buffer) => Buffer];
  const corruptions: Corruption[] = [
    [
      "a flipped byte in the body",
      (b) => {
        const c = Buffer.from(b);
        const i = c.length - 10;
        c[i] = (c[i] ?? 0) ^ 0x20;
        return c;
      },
    ],
    ["a truncated body", (b) => b.subarray(0, b.length - 37)],
    ["a truncated header", (b) => b.subarray(0, 20)],
    ["an empty file", () => Buffer.alloc(0)],
    [
      "a checksum that does not match",
      (b) => {
        const nl = b.indexOf(0x0a);
        const header = JSON.parse(b.subarray(0, nl).toString()) as Record<string, unknown>;
        header["checksum"] = "0".repeat(64);
        return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), b.subarray(nl + 1)]);
      },
    ],
    ["garbage JSON", () => Buffer.from("{not json at all\n{{{")],
    [
      "a valid header and checksum over a body of the wrong shape",
      () => {
        const body = Buffer.from(JSON.stringify({ peers: [{ peerId: 42 }], extra: {} }));
        const header = {
          format: "peerlink-peers",
          version: 1,
          length: body.length,
          checksum: createHash("sha256").update(body).digest("hex"),
        };
        return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), body]);
      },
    ],
    [
      "an unknown format version",
      (b) => {
        const nl = b.indexOf(0x0a);
        const header = JSON.parse(b.subarray(0, nl).toString()) as Record<string, unknown>;
        header["version"] = 2;
        return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), b.subarray(nl + 1)]);
      },
    ],
  ];

  it.each(corruptions)("with %s is reported as DATABASE_CORRUPT and the previous copy is used", async (_, corrupt) => {
    const store = new FilePeerStore(path);
    await store.save(snapshot(1));
    await store.save(snapshot(2));
    await writeFile(path, corrupt(await readFile(path)));
    const { snapshot: loaded, recovered } = await new FilePeerStore(path).load();
    expect(recovered?.from).toBe("prev");
    expect(recovered?.error.code).toBe(ErrorCode.DATABASE_CORRUPT);
    expect(loaded).toEqual(snapshot(1));
    await store.close();
  });

  it("nested thousands of levels deep in its extra state is reported as DATABASE_CORRUPT, not a stack overflow", async () => {
    // A file a hostile local writer crafted: copying such `extra` again ran out of stack at start.
    let deep: unknown = 1;
    for (let i = 0; i < 2_500; i++) deep = [deep];
    const store = new FilePeerStore(path);
    await store.save(snapshot(1));
    await store.save(snapshot(2));
    await writeFile(path, encodePeerFile({ peers: [], extra: { deep } as PeerSnapshot["extra"] }));
    const { snapshot: loaded, recovered } = await new FilePeerStore(path).load();
    expect(recovered?.from).toBe("prev");
    expect(recovered?.error.message).toMatch(/nested more than 64 levels/);
    expect(loaded).toEqual(snapshot(1));
    await store.close();
  });

  it("that is not a regular file (a FIFO, /dev/zero) is refused at once instead of read forever", async () => {
    const fifo = spawnSync("mkfifo", [path]);
    expect(fifo.status).toBe(0);
    const { snapshot: loaded, recovered } = await new FilePeerStore(path).load();
    expect(loaded).toEqual({ peers: [], extra: {} });
    expect(recovered?.error.message).toMatch(/not a regular file/);
    await rm(path);
    await symlink("/dev/zero", path);
    const zero = await new FilePeerStore(path).load();
    expect(zero.recovered?.error.message).toMatch(/not a regular file/);
  });

  it("and a corrupt previous copy give an empty snapshot, reported as such", async () => {
    const store = new FilePeerStore(path);
    await store.save(snapshot(1));
    await store.save(snapshot(2));
    await writeFile(path, "garbage");
    await writeFile(`${path}.prev`, "more garbage");
    const { snapshot: loaded, recovered } = await new FilePeerStore(path).load();
    expect(loaded).toEqual({ peers: [], extra: {} });
    expect(recovered?.from).toBe("empty");
    expect(recovered?.error.code).toBe(ErrorCode.DATABASE_CORRUPT);
    await store.close();
  });

  it("is not rotated into .prev by the next save, so the good previous copy survives", async () => {
    const first = new FilePeerStore(path);
    await first.save(snapshot(1));
    await first.save(snapshot(2));
    await first.close();
    await writeFile(path, "garbage");
    const store = new FilePeerStore(path);
    expect((await store.load()).recovered?.from).toBe("prev");
    await store.save(snapshot(3));
    expect(decodePeerFile(await readFile(path)).extra["generation"]).toBe(3);
    expect(decodePeerFile(await readFile(`${path}.prev`)).extra["generation"]).toBe(1);
    await store.close();
  });

  it("that is larger than maxFileBytes is reported instead of read", async () => {
    const writer = new FilePeerStore(path);
    await writer.save(snapshot(1, 50));
    await writer.close();
    const { snapshot: loaded, recovered } = await new FilePeerStore(path, { maxFileBytes: 100 }).load();
    expect(recovered?.from).toBe("empty");
    expect(recovered?.error.message).toMatch(/over the 100-byte limit/);
    expect(loaded.peers).toEqual([]);
  });
});

describe("a missing live file next to a previous copy", () => {
  it("loads the previous copy and reports it", async () => {
    const store = new FilePeerStore(path);
    await store.save(snapshot(1));
    await store.save(snapshot(2));
    await rm(path);
    const { snapshot: loaded, recovered } = await new FilePeerStore(path).load();
    expect(loaded).toEqual(snapshot(1));
    expect(recovered?.from).toBe("prev");
    await store.close();
  });
});

describe("temp files left by a crash", () => {
  it("are removed by load when their process is gone, and kept when it runs", async () => {
    const store = new FilePeerStore(path);
    await store.save(snapshot(1));
    const deadPid = 999_999_999; // above any pid_max: the process cannot exist
    const stale = [`peers.json.tmp-${deadPid}-3`, `peers.json.prev.tmp-${deadPid}-4`];
    const live = [`peers.json.tmp-${process.pid}-77`, `peers.json.tmp-${process.ppid}-5`];
    for (const name of [...stale, ...live]) await writeFile(join(dir, name), "partial");
    await writeFile(join(dir, "unrelated.tmp-1-1"), "x");
    const { recovered } = await new FilePeerStore(path).load();
    expect(recovered).toBeUndefined();
    expect((await readdir(dir)).sort()).toEqual([...live, "peers.json", "unrelated.tmp-1-1"].sort());
    await store.close();
  });
});

describe("a save that cannot be written", () => {
  it("rejects with DATABASE_CORRUPT, leaves no temp file and keeps the old state", async () => {
    await mkdir(path); // a directory where the file should be: rename fails
    const store = new FilePeerStore(path);
    const error = await rejectsWithCode(store.save(snapshot(1)), ErrorCode.DATABASE_CORRUPT);
    expect(error.message).toMatch(/cannot write/);
    expect((await readdir(dir)).sort()).toEqual(["peers.json"]);
    expect((await readdir(path)).length).toBe(0);
    await store.close();
  });

  it("rejects an invalid snapshot with INVALID_ARGUMENT before touching the disk", async () => {
    const store = new FilePeerStore(path);
    const bad = snapshot(1);
    (bad.peers[0] as { addresses: unknown[] }).addresses = [{ address: "no port", failures: 0 }];
    await rejectsWithCode(store.save(bad), ErrorCode.INVALID_ARGUMENT);
    await rejectsWithCode(store.save({ peers: [], extra: { n: 1n } as never }), ErrorCode.INVALID_ARGUMENT);
    expect(await readdir(dir)).toEqual([]);
    await store.close();
  });
});

describe("a closed store", () => {
  it("rejects load and save with STOPPED and closes again without error", async () => {
    const store = new FilePeerStore(path);
    await store.close();
    await rejectsWithCode(store.save(snapshot(1)), ErrorCode.STOPPED);
    await rejectsWithCode(store.load(), ErrorCode.STOPPED);
    await store.close();
  });
});

describe("an aborted signal", () => {
  it("rejects load and save with ABORTED without writing", async () => {
    const store = new FilePeerStore(path);
    const signal = AbortSignal.abort();
    await rejectsWithCode(store.save(snapshot(1), { signal }), ErrorCode.ABORTED);
    await rejectsWithCode(store.load({ signal }), ErrorCode.ABORTED);
    expect(await readdir(dir)).toEqual([]);
    await store.close();
  });

  it("stops a queued save's wait while the write itself still completes", async () => {
    const store = new FilePeerStore(path);
    const first = store.save(snapshot(1));
    const controller = new AbortController();
    const second = store.save(snapshot(2), { signal: controller.signal });
    controller.abort();
    await rejectsWithCode(second, ErrorCode.ABORTED);
    await first;
    await store.close();
    expect(decodePeerFile(await readFile(path)).extra["generation"]).toBe(2);
  });
});

describe("the file codec", () => {
  it("decodes what it encodes", () => {
    expect(decodePeerFile(encodePeerFile(snapshot(4)))).toEqual(snapshot(4));
  });

  it("rejects duplicate peer ids as DATABASE_CORRUPT", () => {
    const s = snapshot(1);
    s.peers.push(s.peers[0]!);
    expect(() => decodePeerFile(encodePeerFile(s))).toThrow(/duplicate peer id/);
  });
});

describe("a store constructed with a relative path", () => {
  it("keeps saving to the directory it was created in after the working directory changes", async () => {
    const elsewhere = join(dir, "elsewhere");
    await mkdir(elsewhere);
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      const store = new FilePeerStore("peers.json");
      await store.save(snapshot(1));
      process.chdir(elsewhere);
      await store.save(snapshot(2));
      await store.close();
    } finally {
      process.chdir(cwd);
    }
    expect(await readdir(elsewhere)).toEqual([]);
    expect(decodePeerFile(await readFile(path)).extra["generation"]).toBe(2);
    expect(decodePeerFile(await readFile(`${path}.prev`)).extra["generation"]).toBe(1);
  });
});

describe("constructing a file store", () => {
  it("rejects an empty path and a bad size limit with INVALID_ARGUMENT", () => {
    expect(() => new FilePeerStore("")).toThrow(PeerlinkError);
    expect(() => new FilePeerStore(path, { maxFileBytes: 0 })).toThrow(/maxFileBytes/);
  });
});
