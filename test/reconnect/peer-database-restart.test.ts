/**
 * Acceptance: the peer database of a node survives restarts and crashes.
 * Bans and reconnect backoff are restored after a graceful restart; a node
 * process killed with SIGKILL while it keeps writing its database restarts
 * with a readable database (the last acknowledged state or the one in flight);
 * hand-corrupted files are reported (`database:recovered`) and recovered from.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { FilePeerStore } from "../../src/peers/file-peer-store.js";
import type { ReconnectOptions } from "../../src/reconnect/reconnect-service.js";
import { prng } from "../helpers/seeded-random.js";
import {
  cleanup,
  createReconnectingNode,
  nextEvent,
  repo,
  spawnLines,
  startNode,
  startReconnectingNode,
  type AllEvents,
} from "./fixtures.js";
import { ensureDist } from "../helpers/dist.js";
import { reportFigures } from "../helpers/reliability.js";

afterEach(cleanup);

let dir: string;
let fileCounter = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "peerlink-disconnect-db-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
const freshPath = (): string => join(dir, `peers-${++fileCounter}.json`);

/** A timeout backoff of exactly 10 min for the first attempt (random 0.5). */
const RECONNECT: ReconnectOptions = {
  random: () => 0.5,
  policy: { strategies: { timeout: { kind: "backoff", backoff: { baseMs: 20 * 60_000, factor: 2, maxMs: 60 * 60_000, minMs: 0, jitter: "full" } } } },
};

/** Runs a node with a file database that bans one peer and puts another into backoff, then stops it. */
async function seedDatabase(path: string): Promise<{ banned: string; backedOff: string; dueAt: number }> {
  const { manager, reconnect } = await startReconnectingNode(RECONNECT, { peerStore: path });
  const banned = Identity.generate().peerId.toString();
  manager.ban({ peerId: banned }, { reason: "restart test", durationMs: 24 * 60 * 60_000 });
  const remote = await startNode();
  const opened = nextEvent(remote, "connection:open");
  await manager.dial({ peerId: remote.peerId, addresses: remote.addresses });
  await opened;
  const scheduled = nextEvent(manager, "reconnect:scheduled");
  await remote.getConnection(manager.peerId)?.close("timeout");
  const { at, delayMs } = (await scheduled).event;
  expect(delayMs).toBe(10 * 60_000);
  const backedOff = remote.peerId.toString();
  expect(reconnect.status(backedOff)).toMatchObject({ wanted: true, dueAt: at, attempt: 0 });
  await manager.stop();
  await remote.stop();
  return { banned, backedOff, dueAt: at };
}

/** Collects `database:recovered` events from the start of a node (subscribed before start). */
async function startCollecting(path: string): Promise<{
  node: ReturnType<typeof createReconnectingNode>;
  recovered: AllEvents["database:recovered"][];
}> {
  const node = createReconnectingNode(RECONNECT, { peerStore: path });
  const recovered: AllEvents["database:recovered"][] = [];
  node.manager.on("database:recovered", (e) => recovered.push(e));
  await node.manager.start();
  return { node, recovered };
}

describe("a node restarted on the same peer database", () => {
  it("keeps its bans and the reconnect backoff of its peers", async () => {
    const path = freshPath();
    const { banned, backedOff, dueAt } = await seedDatabase(path);

    const { node, recovered } = await startCollecting(path);
    expect(recovered).toEqual([]);
    expect(node.manager.isBanned({ peerId: banned })).toBe(true);
    expect(node.reconnect.status(backedOff)).toMatchObject({ wanted: true, connected: false, dueAt, attempt: 0 });
    expect(node.manager.peers.get(backedOff)?.backoff).toEqual({ attempt: 0, nextAttemptAt: dueAt });
    expect(node.manager.peers.get(backedOff)?.disconnections.at(-1)).toMatchObject({ reason: "timeout", initiator: "remote" });
    // The restored deadline drives the one timer; nothing is dialed before it.
    expect(node.reconnect.nextWakeAt).toBe(dueAt);
    expect(node.reconnect.status(backedOff).dialing).toBe(false);
  });
});

describe("a hand-corrupted peer database", () => {
  it("is reported and the previous good copy is used", async () => {
    const path = freshPath();
    const { banned, backedOff, dueAt } = await seedDatabase(path);
    // A second clean run makes the seeded state the previous copy as well.
    const second = await startCollecting(path);
    await second.node.manager.stop();
    expect(existsSync(`${path}.prev`)).toBe(true);
    const good = await readFile(path);
    await writeFile(path, good.subarray(0, Math.floor(good.length / 2))); // torn write
    const { node, recovered } = await startCollecting(path);
    expect(recovered).toHaveLength(1);
    expect(recovered[0]?.from).toBe("prev");
    expect(recovered[0]?.error.code).toBe(ErrorCode.DATABASE_CORRUPT);
    expect(node.manager.isBanned({ peerId: banned })).toBe(true);
    expect(node.reconnect.status(backedOff)).toMatchObject({ dueAt, attempt: 0 });
  });

  it("is reported and replaced by an empty database when no good copy is left; the node still runs", async () => {
    const path = freshPath();
    const { banned } = await seedDatabase(path);
    await writeFile(path, "{ this is not a peer database");
    await writeFile(`${path}.prev`, Buffer.from([0, 1, 2, 3]));
    const { node, recovered } = await startCollecting(path);
    expect(recovered.map((r) => r.from)).toEqual(["empty"]);
    expect(node.manager.isBanned({ peerId: banned })).toBe(false);
    // It works, and writes a good file again.
    const remote = await startNode();
    await node.manager.dial({ peerId: remote.peerId, addresses: remote.addresses });
    await node.manager.stop();
    const reread = await new FilePeerStore(path).load();
    expect(reread.recovered).toBeUndefined();
    expect(reread.snapshot.peers.map((p) => p.peerId)).toContain(remote.peerId.toString());
  });

  it("with an unreadable reconnect state is reported, and the bans in it are kept", async () => {
    const path = freshPath();
    const { banned, backedOff } = await seedDatabase(path);
    const store = new FilePeerStore(path);
    const { snapshot } = await store.load();
    await store.save({ ...snapshot, extra: { ...snapshot.extra, reconnect: { version: 1, scheduler: { version: 7 }, wanted: "nope" } } });
    await store.close();
    const { node, recovered } = await startCollecting(path);
    expect(recovered.map((r) => [r.from, r.error.code])).toEqual([["empty", ErrorCode.DATABASE_CORRUPT]]);
    expect(node.manager.isBanned({ peerId: banned })).toBe(true);
    expect(node.reconnect.status(backedOff)).toMatchObject({ wanted: false, dueAt: undefined });
  });
});

describe("a node process killed with SIGKILL while it writes its peer database", () => {
  beforeAll(() => ensureDist(), 180_000);

  it("restarts with a readable database holding the last acknowledged state (or the one in flight), bans and backoff included", async () => {
    const seed = Date.now() >>> 0;
    const random = prng(seed);
    const path = freshPath();
    const child = join(repo, "test/reconnect/fixtures/db-writer-node.mjs");
    let restarts = 0;
    for (let round = 0; round < 4; round++) {
      const killAfter = 1 + Math.floor(random() * 12);
      const jitterMs = random() * 5;
      const context = `seed ${seed}, round ${round}, kill ${jitterMs.toFixed(2)} ms after ${killAfter} flushes`;
      const proc = spawnLines(child, [path, "100000"]);
      const stateLine = await proc.waitFor((l) => l.startsWith("state ") || l.startsWith("recovered "));
      expect(stateLine.startsWith("recovered"), `${context}: ${stateLine}`).toBe(false);
      const [, , banned, backedOff, dueAtText] = stateLine.split(" ");
      await proc.waitFor((l) => l === `flushed ${Number(stateLine.split(" ")[1]) + killAfter}`);
      await new Promise<void>((r) => setTimeout(r, jitterMs)); // chaos: move the kill into the next write
      proc.proc.kill("SIGKILL");
      const exit = await proc.exited;
      expect(exit.signal, context).toBe("SIGKILL");
      const acked = Math.max(
        ...proc.lines.filter((l) => /^(loaded|state|flushed) /.test(l)).map((l) => Number(l.split(" ")[1])),
      );

      // The file itself: never corrupt, the acknowledged generation or the one in flight.
      const store = new FilePeerStore(path);
      const { snapshot, recovered } = await store.load();
      await store.close();
      expect(recovered, context).toBeUndefined();
      const generation = snapshot.extra["generation"] as number;
      expect(generation, context).toBeGreaterThanOrEqual(acked);
      expect(generation, context).toBeLessThanOrEqual(acked + 1);

      // A node started on it: no recovery, the ban and the backoff of this round are there.
      const { node, recovered: events } = await startCollecting(path);
      expect(events, context).toEqual([]);
      expect(node.manager.isBanned({ peerId: banned! }), context).toBe(true);
      expect(node.reconnect.status(backedOff!), context).toMatchObject({ wanted: true, dueAt: Number(dueAtText), attempt: 0 });
      await node.manager.stop();
      restarts++;
    }
    reportFigures({ sigkillsMidWrite: restarts, cleanRestartsWithBansAndBackoff: restarts });
  }, 60_000);
});
