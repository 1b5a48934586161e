import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertNetnsSupport, createNetns, deleteAllNetns, type Netns } from "../helpers/netns.js";
import { ChildNode, disposeChildren, ensureDist } from "./fixtures/child-node.js";

let ns: Netns | undefined;

beforeAll(async () => {
  assertNetnsSupport();
  await ensureDist();
}, 120_000);

afterEach(async () => {
  await disposeChildren();
  await ns?.delete();
  ns = undefined;
});

afterAll(async () => {
  await deleteAllNetns();
});

/** Nothing of the node's own schedule is due for this long: a ping after the change is the re-check's. */
const QUIET_MS = 600_000;

describe("a node whose local addresses change (a network namespace gains an interface)", () => {
  it("notices it from os.networkInterfaces(), emits network:changed and re-checks its connections at once", async () => {
    ns = await createNetns({ prefix: "pl-netchg" });
    const child = await ChildNode.start(
      [
        { name: "b", maintenance: { pingIntervalMs: QUIET_MS, rttSampleIntervalMs: QUIET_MS } },
        {
          name: "a",
          dial: "b",
          maintenance: { pingIntervalMs: QUIET_MS, rttSampleIntervalMs: QUIET_MS, healthCheckIntervalMs: QUIET_MS, wakeDetection: { networkPollMs: 200 } },
        },
      ],
      { netns: ns },
    );
    const samples = async (): Promise<number> => ((await child.inspect("a"))[0]?.snapshot?.["rttSamples"] as number | undefined) ?? 0;
    for (let i = 0; i < 100 && (await samples()) < 1; i++) await sleep(50);
    expect(await samples()).toBe(1); // the ping at open; the next is 10 minutes away

    const since = child.messages.length;
    const changed = child.waitFor((m) => m.type === "network" && m.node === "a", 15_000, since);
    await ns.exec("ip", ["link", "add", "veth0", "type", "veth", "peer", "name", "veth1"]);
    await ns.exec("ip", ["addr", "add", "10.77.0.1/24", "dev", "veth0"]);
    await ns.exec("ip", ["link", "set", "veth0", "up"]);
    await ns.exec("ip", ["link", "set", "veth1", "up"]);

    const event = await changed;
    expect(event["added"]).toEqual(expect.arrayContaining(["veth0/10.77.0.1"]));
    expect(event["removed"]).toEqual([]);
    expect(event["connections"]).toBe(1);
    // The re-check's ping was answered: a second RTT sample, ten minutes before the schedule's.
    for (let i = 0; i < 100 && (await samples()) < 2; i++) await sleep(50);
    expect(await samples()).toBeGreaterThanOrEqual(2);
    expect(child.messages.some((m) => m.type === "close")).toBe(false);
  }, 60_000);
});
