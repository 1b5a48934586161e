import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePeerFile, FilePeerStore } from "../../src/peers/file-peer-store.js";
import { ensureDist } from "../helpers/dist.js";
import { reportFigures } from "../helpers/reliability.js";
import { prng } from "../helpers/seeded-random.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const child = join(repo, "test/peers/fixtures/save-loop.mjs");
interface Round {
  loaded: number;
  lastSaved: number;
  killed: boolean;
}

/**
 * Runs the save loop and kills it with SIGKILL once it has reported
 * `killAfter` saves, `jitterMs` later: the delay is the chaos (it moves the
 * kill to a random point inside the next save), not a wait for a condition.
 */
function runAndKill(path: string, killAfter: number, jitterMs: number): Promise<Round> {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(process.execPath, [child, path, "5000"], { stdio: ["ignore", "pipe", "pipe"] });
    let loaded = -1;
    let lastSaved = -1;
    let saves = 0;
    let killed = false;
    let armed = false;
    let stderr = "";
    let buffer = "";
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    proc.stdout.on("data", (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const [word, n] = line.split(" ");
        if (word === "loaded") loaded = Number(n);
        else if (word === "saved") {
          lastSaved = Number(n);
          saves++;
        } else if (word === "recovered") {
          proc.kill("SIGKILL");
          reject(new Error(`child had to recover: ${line}`));
          return;
        }
        if (!armed && loaded >= 0 && saves >= killAfter) {
          armed = true;
          setTimeout(() => (killed = proc.kill("SIGKILL")), jitterMs);
        }
      }
    });
    proc.on("error", reject);
    proc.on("exit", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`child exited with ${code}/${signal} before the kill: ${stderr}`));
      else resolvePromise({ loaded, lastSaved, killed });
    });
  });
}

describe("a process saving the peer file in a tight loop", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "peerlink-crash-"));
    await ensureDist();
  }, 180_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("leaves the previous or the new state, never a corrupt one, when killed with SIGKILL at random moments", async () => {
    const seed = Date.now() >>> 0;
    const random = prng(seed);
    const path = join(dir, "peers.json");
    const outcomes = { rounds: 0, acknowledgedStateOnDisk: 0, inFlightStateOnDisk: 0 };
    for (let round = 0; round < 8; round++) {
      // Kill after 0–24 completed saves: the loop is always mid-save (or mid-load) when the signal lands.
      const killAfter = Math.floor(random() * 25);
      const jitterMs = random() * 4;
      const { loaded, lastSaved, killed } = await runAndKill(path, killAfter, jitterMs);
      const context = `seed ${seed}, round ${round}, kill ${jitterMs.toFixed(2)} ms after ${killAfter} saves`;
      expect(killed, context).toBe(true);

      const store = new FilePeerStore(path);
      const { snapshot, recovered } = await store.load();
      await store.close();
      expect(recovered, context).toBeUndefined();
      const generation = snapshot.extra["generation"] ?? 0;
      const acknowledged = Math.max(loaded, lastSaved);
      // Every acknowledged save is on disk; at most the one in flight is newer.
      expect(generation, context).toBeGreaterThanOrEqual(acknowledged);
      expect(generation, context).toBeLessThanOrEqual(acknowledged + 1);
      outcomes.rounds++;
      if (generation === acknowledged) outcomes.acknowledgedStateOnDisk++;
      else outcomes.inFlightStateOnDisk++;
      if (generation !== 0) {
        expect(snapshot.peers, context).toHaveLength(150);
        expect(snapshot.peers.every((p) => p.addedAt === generation && p.lastSeen === generation), context).toBe(true);
      }
      // The previous copy is whole too, and older.
      if (existsSync(`${path}.prev`)) {
        const prev = decodePeerFile(await readFile(`${path}.prev`));
        expect(prev.extra["generation"] as number, context).toBeLessThanOrEqual(generation as number);
      }
      // Temp files of the killed process were cleaned up by load().
      expect((await readdir(dir)).sort(), context).toEqual(
        generation === 0 ? [] : existsSync(`${path}.prev`) ? ["peers.json", "peers.json.prev"] : ["peers.json"],
      );
    }
    reportFigures({ sigkills: outcomes.rounds, acknowledgedStateOnDisk: outcomes.acknowledgedStateOnDisk, inFlightStateOnDisk: outcomes.inFlightStateOnDisk });
  }, 60_000);
});
