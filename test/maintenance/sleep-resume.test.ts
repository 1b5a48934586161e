import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { reportFigures } from "../helpers/reliability.js";
import { ChildNode, disposeChildren, ensureDist } from "./fixtures/child-node.js";
import { nextEvent, startNode, stopNodes } from "./fixtures/nodes.js";

beforeAll(async () => {
  await ensureDist();
}, 120_000);

afterEach(async () => {
  await stopNodes();
  await disposeChildren();
});

afterAll(async () => {
  await disposeChildren();
});

/** How long the child is stopped: the acceptance's 30 s (the default detection threshold is 5 s). */
const STOPPED_MS = 30_000;
/** Nothing of the child's schedule is due for this long: any ping after the resume is the re-check's. */
const QUIET_MS = 600_000;

describe("a node whose process is stopped 30 s (SIGSTOP) and continued (SIGCONT)", () => {
  it("re-checks every connection at once on resume: node:resumed, a ping right away, a fresh grade", async () => {
    const child = await ChildNode.start(
      [{ name: "a", maintenance: { pingIntervalMs: QUIET_MS, rttSampleIntervalMs: QUIET_MS, healthCheckIntervalMs: QUIET_MS } }],
      { lifetimeMs: 180_000 },
    );
    const b = await startNode({ maintenance: false });
    const opened = nextEvent(b.manager, "connection:open");
    expect((await child.dial("a", b.manager.peerId.toString(), b.manager.addresses)).type).toBe("dialed");
    const { connection } = await opened;
    const pings: number[] = [];
    connection.on("ping", () => pings.push(performance.now()));
    // The RTT ping the child sends at open has been answered: its schedule is now quiet for 10 minutes.
    const snapshot = async () => (await child.inspect("a")).find((c) => c.peer === b.manager.peerId.toString())?.snapshot;
    for (let i = 0; i < 100 && ((await snapshot())?.["rttSamples"] as number) < 1; i++) await sleep(50);
    expect((await snapshot())?.["rttSamples"]).toBe(1);
    expect((await snapshot())?.["health"]).toBeUndefined(); // no health check yet (first one due in 10 minutes)

    child.signal("SIGSTOP");
    const stoppedAt = performance.now();
    // The simulated sleep itself: the child cannot run for these 30 s.
    await sleep(STOPPED_MS);
    const pingsWhileStopped = pings.filter((t) => t >= stoppedAt).length;
    const since = child.messages.length;
    const resumed = child.waitFor((m) => m.type === "resumed", 20_000, since);
    const graded = child.waitFor((m) => m.type === "health" && m.node === "a", 20_000, since);
    const pinged = new Promise<number>((resolve) => {
      const off = connection.on("ping", () => {
        off();
        resolve(performance.now());
      });
    });
    const continuedAt = performance.now();
    child.signal("SIGCONT");

    const event = await resumed;
    expect(event).toMatchObject({ node: "a", cause: "timer-late", connections: 1 });
    expect(event["sleptMs"] as number).toBeGreaterThanOrEqual(STOPPED_MS - 5_000);
    // A ping came right after the resume, though none was due for 10 minutes, and none came while stopped.
    const pingAt = await pinged;
    expect(pingsWhileStopped).toBe(0);
    expect(pingAt).toBeGreaterThanOrEqual(continuedAt);
    // And a health check graded the connection, long before its 10-minute schedule.
    const health = await graded;
    expect(health).toMatchObject({ node: "a", peer: b.manager.peerId.toString(), from: null });
    expect((await snapshot())?.["rttSamples"]).toBeGreaterThanOrEqual(2);
    reportFigures({ stoppedMs: STOPPED_MS, reportedSleptMs: event["sleptMs"] as number, pingAfterContinueMs: Math.round(pingAt - continuedAt) });
  }, 120_000);
});
