import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { FilePeerStore } from "../../src/peers/file-peer-store.js";
import { PeerDatabase, type PeerDatabaseOptions } from "../../src/peers/peer-database.js";
import { MemoryPeerStore, type PeerSnapshot, type PeerStore } from "../../src/peers/peer-store.js";
import { createPeerRecord } from "../../src/peers/peer-record.js";
import { throwsWithCode } from "../helpers/error-code.js";
import { withTempDir } from "../helpers/temp-dir.js";

function db(options: Partial<PeerDatabaseOptions> = {}): PeerDatabase {
  return new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0, ...options });
}

afterEach(() => {
  vi.useRealTimers();
});

describe("addresses", () => {
  it("resolve to the peer that announced them", () => {
    const d = db();
    d.addAddress("a", "10.0.0.1:4001", 1);
    d.addAddress("a", "[::1]:4001", 1);
    expect(d.resolvePeerId("10.0.0.1:4001")).toBe("a");
    expect(d.resolvePeerId("[::1]:4001")).toBe("a");
    expect(d.resolvePeerId("10.0.0.2:4001")).toBeUndefined();
  });

  it("move to the newest claimant when another peer answers there", () => {
    const d = db();
    d.addAddress("a", "10.0.0.1:4001", 1);
    d.recordDialSuccess("b", "10.0.0.1:4001", 2);
    expect(d.resolvePeerId("10.0.0.1:4001")).toBe("b");
    expect(d.addressesOf("a")).toEqual([]);
  });

  it("are ordered best-first: recent success, then fewer failures, repeatedly failing ones last", () => {
    const d = db();
    const addrs = ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1", "10.0.0.5:1"];
    for (const a of addrs) d.addAddress("p", a, 0);
    d.recordDialSuccess("p", "10.0.0.2:1", 100); // old success
    d.recordDialSuccess("p", "10.0.0.3:1", 500); // recent success
    d.recordDialSuccess("p", "10.0.0.4:1", 900); // most recent success, then three failures
    for (let i = 0; i < 3; i++) d.recordDialFailure("p", "10.0.0.4:1", 1000 + i);
    d.recordDialFailure("p", "10.0.0.5:1", 50); // never succeeded, one failure
    expect(d.addressesOf("p")).toEqual(["10.0.0.3:1", "10.0.0.2:1", "10.0.0.1:1", "10.0.0.5:1", "10.0.0.4:1"]);
  });

  it("are bounded per peer, dropping the worst and never the one just added", () => {
    const d = db({ maxAddressesPerPeer: 3 });
    d.recordDialSuccess("p", "10.0.0.1:1", 10);
    d.recordDialFailure("p", "10.0.0.2:1", 10);
    d.addAddress("p", "10.0.0.3:1", 10);
    d.addAddress("p", "10.0.0.4:1", 11);
    expect(d.addressesOf("p").sort()).toEqual(["10.0.0.1:1", "10.0.0.3:1", "10.0.0.4:1"]);
    expect(d.resolvePeerId("10.0.0.2:1")).toBeUndefined();
  });

  it("can be removed, e.g. after unexpected_identity", () => {
    const d = db();
    d.addAddress("p", "10.0.0.1:1", 0);
    d.removeAddress("p", "10.0.0.1:1");
    expect(d.addressesOf("p")).toEqual([]);
    expect(d.resolvePeerId("10.0.0.1:1")).toBeUndefined();
  });

  it("that are not host:port are rejected with INVALID_ARGUMENT", () => {
    const d = db();
    for (const bad of ["10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000", "::1:4001", "host name:1", ":1", ""]) {
      throwsWithCode(() => d.addAddress("p", bad, 0), ErrorCode.INVALID_ARGUMENT);
    }
    expect(d.size).toBe(0);
  });
});

describe("dial outcomes", () => {
  it("count consecutive failures per address and reset them on success", () => {
    const d = db();
    d.recordDialFailure("p", "10.0.0.1:1", 10);
    d.recordDialFailure("p", "10.0.0.1:1", 20);
    expect(d.get("p")?.addresses[0]).toEqual({ address: "10.0.0.1:1", failures: 2, lastFailure: 20 });
    d.recordDialSuccess("p", "10.0.0.1:1", 30);
    expect(d.get("p")?.addresses[0]).toEqual({ address: "10.0.0.1:1", failures: 0, lastFailure: 20, lastSuccess: 30 });
    expect(d.get("p")?.lastSeen).toBe(30);
  });
});

describe("the disconnection history", () => {
  it("keeps the last 32 entries by default, oldest dropped", () => {
    const d = db();
    for (let i = 0; i < 40; i++) {
      d.recordDisconnection("p", { reason: "timeout", direction: "outbound", initiator: "local", at: i });
    }
    const history = d.get("p")?.disconnections ?? [];
    expect(history).toHaveLength(32);
    expect(history[0]?.at).toBe(8);
    expect(history[31]?.at).toBe(39);
  });

  it("records reason, direction, initiator and the retry-after hint, and marks the peer seen", () => {
    const d = db({ maxDisconnections: 2 });
    d.recordDisconnection("p", { reason: "rate_limited", direction: "inbound", initiator: "remote", at: 5, retryAfterMs: 900 });
    expect(d.get("p")?.disconnections).toEqual([
      { at: 5, reason: "rate_limited", direction: "inbound", initiator: "remote", retryAfterMs: 900 },
    ]);
    expect(d.get("p")?.lastSeen).toBe(5);
  });

  it("rejects an unknown reason with INVALID_ARGUMENT", () => {
    const d = db();
    throwsWithCode(
      () => d.recordDisconnection("p", { reason: "bored" as never, direction: "inbound", initiator: "remote", at: 1 }),
      ErrorCode.INVALID_ARGUMENT,
    );
  });
});

describe("a full database", () => {
  it("evicts the least recently seen unprotected peer", () => {
    const d = db({ maxPeers: 3 });
    d.recordDialSuccess("old", "10.0.0.1:1", 10);
    d.recordDialSuccess("older-but-protected", "10.0.0.2:1", 5);
    d.setProtected("older-but-protected", true, 5);
    d.recordDialSuccess("new", "10.0.0.3:1", 20);
    d.addAddress("newest", "10.0.0.4:1", 30); // never seen: ranked by when it was added
    expect(d.peerIds().sort()).toEqual(["new", "newest", "older-but-protected"]);
    expect(d.resolvePeerId("10.0.0.1:1")).toBeUndefined();
  });

  it("evicts peers no dial ever reached before proven ones, so a flood of inbound identities keeps known peers", () => {
    const d = db({ maxPeers: 10 });
    for (let i = 0; i < 5; i++) d.recordDialSuccess(`proven-${i}`, `10.0.1.${i}:1`, i);
    for (let i = 0; i < 1_000; i++) d.upsert(`flood-${i}`, { lastSeen: 1_000 + i }, 1_000 + i);
    expect(d.size).toBe(10);
    for (let i = 0; i < 5; i++) expect(d.has(`proven-${i}`)).toBe(true);
    expect(d.peerIds().filter((id) => id.startsWith("flood-"))).toHaveLength(5);
  });

  it("grows past the bound rather than evict protected peers", () => {
    const d = db({ maxPeers: 2 });
    for (const id of ["a", "b", "c"]) d.setProtected(id, true, 1);
    expect(d.size).toBe(3);
  });
});

describe("replacement candidates", () => {
  it("leave out excluded, banned, backing-off and address-less peers, healthy first then recently seen", () => {
    const d = db();
    d.recordDialSuccess("connected", "10.0.0.1:1", 50);
    d.recordDialSuccess("banned", "10.0.0.2:1", 50);
    d.setBan("banned", { until: 1000, reason: "spam" }, 50);
    d.recordDialSuccess("backing-off", "10.0.0.3:1", 50);
    d.setBackoff("backing-off", { attempt: 2, nextAttemptAt: 500 });
    d.upsert("no-address", { lastSeen: 60 }, 60);
    d.recordDialSuccess("unhealthy", "10.0.0.4:1", 90);
    d.upsert("unhealthy", { healthy: false }, 90);
    d.recordDialSuccess("healthy-old", "10.0.0.5:1", 10);
    d.recordHealth("healthy-old", "good");
    d.recordDialSuccess("ungraded", "10.0.0.6:1", 70);
    d.recordDialSuccess("ungraded-older", "10.0.0.7:1", 40);
    const ids = d.candidates({ now: 100, exclude: ["connected"] }).map((c) => c.peerId);
    expect(ids).toEqual(["healthy-old", "ungraded", "ungraded-older", "unhealthy"]);
    // Once the ban and the backoff have run out, those peers come back.
    const later = d.candidates({ now: 1000, exclude: ["connected"] }).map((c) => c.peerId);
    expect(later).toContain("banned");
    expect(later).toContain("backing-off");
    expect(d.candidates({ now: 100, limit: 2 })).toHaveLength(2);
    const accepted = d.candidates({ now: 100, accept: (r) => r.peerId.startsWith("ungraded") }).map((c) => c.peerId);
    expect(accepted).toEqual(["ungraded", "ungraded-older"]);
  });

  it("carry the addresses best-first", () => {
    const d = db();
    d.addAddress("p", "10.0.0.1:1", 0);
    d.recordDialSuccess("p", "10.0.0.2:1", 5);
    expect(d.candidates({ now: 10 })).toEqual([{ peerId: "p", addresses: ["10.0.0.2:1", "10.0.0.1:1"] }]);
  });
});

describe("bans and health", () => {
  it("is the one owner of bans: candidates skip a banned peer, and the ban list's key in extra is refused", () => {
    const d = db();
    d.recordDialSuccess("p", "10.0.0.1:1", 0);
    d.ban({ peerId: "p" }, 0, { reason: "misbehaved", durationMs: 100 });
    expect(d.isBanned("p", 50)).toBe(true);
    expect(d.candidates({ now: 50 }).map((c) => c.peerId)).toEqual([]);
    expect(d.candidates({ now: 100 }).map((c) => c.peerId)).toEqual(["p"]);
    throwsWithCode(() => d.setExtra("bans", {}), ErrorCode.INVALID_ARGUMENT);
  });

  it("ignores the per-record ban field of older files", async () => {
    const store = new MemoryPeerStore();
    const record = { ...createPeerRecord("old", 0), ban: { reason: "legacy" } };
    await store.save({ peers: [record as never], extra: {} });
    const d = new PeerDatabase({ store });
    await d.load();
    expect(d.isBanned("old", 1)).toBe(false);
    expect(d.get("old")).not.toHaveProperty("ban");
  });

  it("a ban without end lasts until lifted; a timed ban ends at until", () => {
    const d = db();
    d.setBan("forever", { reason: "violation" }, 0);
    d.setBan("timed", { until: 100 }, 0);
    expect(d.isBanned("forever", 1e12)).toBe(true);
    expect(d.isBanned("timed", 99)).toBe(true);
    expect(d.isBanned("timed", 100)).toBe(false);
    d.setBan("forever", undefined, 0);
    expect(d.isBanned("forever", 0)).toBe(false);
    expect((d.get("forever") as { ban?: unknown } | undefined)?.ban).toBeUndefined();
  });

  it("a grade of good or better marks the peer healthy, fair or worse unhealthy", () => {
    const d = db();
    d.addAddress("p", "10.0.0.1:1", 0);
    d.recordHealth("p", "excellent");
    expect(d.get("p")?.healthy).toBe(true);
    d.recordHealth("p", "fair");
    expect(d.get("p")?.healthy).toBe(false);
    throwsWithCode(() => d.recordHealth("p", "superb" as never), ErrorCode.INVALID_ARGUMENT);
  });
});

describe("records handed out", () => {
  it("are copies: changing them does not change the database", () => {
    const d = db();
    d.addAddress("p", "10.0.0.1:1", 0);
    const r = d.get("p")!;
    r.addresses.length = 0;
    r.protected = true;
    expect(d.addressesOf("p")).toEqual(["10.0.0.1:1"]);
    expect(d.get("p")?.protected).toBe(false);
  });

  it("reject a bad peer id with INVALID_PEER_ID", () => {
    throwsWithCode(() => db().addAddress("", "10.0.0.1:1", 0), ErrorCode.INVALID_PEER_ID);
    throwsWithCode(() => db().addAddress("x".repeat(300), "10.0.0.1:1", 0), ErrorCode.INVALID_PEER_ID);
  });
});

describe("persistence", () => {
  it("saves once, flushDelayMs after the first change, however many changes follow", async () => {
    vi.useFakeTimers();
    const store = new MemoryPeerStore();
    const d = new PeerDatabase({ store, flushDelayMs: 1000 });
    d.addAddress("p", "10.0.0.1:1", 0);
    await vi.advanceTimersByTimeAsync(600);
    d.addAddress("q", "10.0.0.2:1", 0);
    expect(store.saves).toBe(0);
    await vi.advanceTimersByTimeAsync(400);
    expect(store.saves).toBe(1);
    expect((await store.load()).snapshot.peers.map((p) => p.peerId).sort()).toEqual(["p", "q"]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(store.saves).toBe(1);
    await d.close();
  });

  it("an explicit flush writes at once and waits for the write; with nothing changed it writes nothing", async () => {
    const store = new MemoryPeerStore();
    const d = new PeerDatabase({ store });
    d.addAddress("p", "10.0.0.1:1", 0);
    await d.flush();
    expect(store.saves).toBe(1);
    expect(d.dirty).toBe(false);
    await d.flush();
    expect(store.saves).toBe(1);
    await d.close();
  });

  it("an explicit flush waits for an automatic save already in flight", async () => {
    vi.useFakeTimers();
    let release!: () => void;
    const written: PeerSnapshot[] = [];
    const store: PeerStore = {
      load: async () => ({ snapshot: { peers: [], extra: {} } }),
      save: (s) =>
        new Promise<void>((resolve) => {
          release = () => {
            written.push(s);
            resolve();
          };
        }),
      close: async () => undefined,
    };
    const d = new PeerDatabase({ store, flushDelayMs: 10 });
    d.addAddress("p", "10.0.0.1:1", 0);
    await vi.advanceTimersByTimeAsync(10);
    let flushed = false;
    const flushing = d.flush().then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(flushed).toBe(false);
    release();
    await flushing;
    expect(written).toHaveLength(1);
  });

  it("reports a failed automatic save to onError and retries it on the next flush", async () => {
    vi.useFakeTimers();
    const errors: PeerlinkError[] = [];
    let fail = true;
    const inner = new MemoryPeerStore();
    const store: PeerStore = {
      load: (o) => inner.load(o),
      save: async (s, o) => {
        if (fail) throw new PeerlinkError(ErrorCode.DATABASE_CORRUPT, "disk full");
        await inner.save(s, o);
      },
      close: () => inner.close(),
    };
    const d = new PeerDatabase({ store, flushDelayMs: 100, onError: (e) => errors.push(e) });
    d.addAddress("p", "10.0.0.1:1", 0);
    await vi.advanceTimersByTimeAsync(100);
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.DATABASE_CORRUPT]);
    expect(d.dirty).toBe(true);
    fail = false;
    await d.flush();
    expect((await inner.load()).snapshot.peers).toHaveLength(1);
  });

  it("round-trips peers and extra state through a file, and close() flushes", async () => {
    await withTempDir("peerlink-db-", async (dir) => {
      const path = join(dir, "peers.json");
      const d = new PeerDatabase({ store: new FilePeerStore(path) });
      d.recordDialSuccess("p", "10.0.0.1:1", 10);
      d.recordDisconnection("p", { reason: "timeout", direction: "outbound", initiator: "local", at: 20 });
      d.setProtected("p", true, 20);
      d.setCapabilities("p", ["peerlink/ping/1"]);
      d.setExtra("app", { ips: ["10.9.9.9"] });
      d.ban({ subnet: "10.8.0.0/16" }, 20, { reason: "local note", publicReason: "abuse", durationMs: 1_000 });
      const before = d.snapshot();
      await d.close();

      const again = new PeerDatabase({ store: new FilePeerStore(path) });
      expect(await again.load()).toEqual({ snapshot: before });
      expect(again.get("p")).toEqual(before.peers[0]);
      expect(again.getExtra()).toEqual({ app: { ips: ["10.9.9.9"] } });
      // Bans (and remembered offences) are the database's own state and survive the restart.
      expect(again.findBan({ ip: "10.8.3.4" }, 500)).toMatchObject({ key: "subnet:10.8.0.0/16", reason: "local note", publicReason: "abuse" });
      expect(again.findBan({ ip: "10.8.3.4" }, 1_020)).toBeUndefined();
      expect(again.resolvePeerId("10.0.0.1:1")).toBe("p");
      await again.close();
    });
  });

  it("load returns the store's recovery report when the file was corrupt", async () => {
    await withTempDir("peerlink-db-", async (dir) => {
      const path = join(dir, "peers.json");
      await writeFile(path, "garbage");
      const d = new PeerDatabase({ store: new FilePeerStore(path) });
      const { recovered } = await d.load();
      expect(recovered?.from).toBe("empty");
      expect(recovered?.error.code).toBe(ErrorCode.DATABASE_CORRUPT);
      expect(d.size).toBe(0);
      await d.close();
    });
  });

  it("load trims a history longer than the configured bound", async () => {
    const source = db({ maxDisconnections: 10 });
    for (let i = 0; i < 10; i++) {
      source.recordDisconnection("p", { reason: "normal", direction: "inbound", initiator: "remote", at: i });
    }
    const d = new PeerDatabase({ store: new MemoryPeerStore(source.snapshot()), maxDisconnections: 3 });
    await d.load();
    expect(d.get("p")?.disconnections.map((x) => x.at)).toEqual([7, 8, 9]);
  });

  it("after close, changes are rejected with STOPPED", async () => {
    const d = db();
    await d.close();
    throwsWithCode(() => d.addAddress("p", "10.0.0.1:1", 0), ErrorCode.STOPPED);
    await d.close();
  });
});

describe("constructing a database", () => {
  it("rejects bad bounds with INVALID_ARGUMENT", () => {
    throwsWithCode(() => db({ maxPeers: 0 }), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => db({ flushDelayMs: -1 }), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => new PeerDatabase({} as PeerDatabaseOptions), ErrorCode.INVALID_ARGUMENT);
  });
});
