/**
 * The mesh service's loop on a fake clock: however often slots are freed, it reads the peer database's
 * candidates at most once per 50 ms, and a tick asked for within that time runs at its end rather than being
 * lost.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMeshService } from "../../src/mesh/mesh-service.js";
import { checkMeshOptions } from "../../src/mesh/mesh-options.js";
import { ReconnectBudget } from "../../src/reconnect/budget.js";
import { OptionProblems } from "../../src/util/option-checks.js";
import { FakeManagerHost } from "../helpers/fake-manager-host.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("the mesh service's ticks", () => {
  it("run at most once per 50 ms however fast slots are freed, and none asked for is lost", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate", "setInterval", "clearInterval", "Date", "performance"] });
    const problems = new OptionProblems();
    const options = checkMeshOptions({ targetOutbound: 0 }, problems, "mesh");
    expect(problems.list).toEqual([]);
    if (options === false) throw new Error("mesh off");
    const fake = new FakeManagerHost();
    const mesh = createMeshService(options, new ReconnectBudget({ capacity: 10, refillPerSecond: 10 }))(fake.host);
    mesh.start?.();
    await vi.advanceTimersByTimeAsync(100);
    const reads = vi.spyOn(fake.peers, "candidates");
    // A slot freed every millisecond for 200 ms (connections opening and closing as fast as they can).
    for (let i = 0; i < 200; i++) {
      mesh.onSlotFreed?.();
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(reads.mock.calls.length).toBeGreaterThanOrEqual(4);
    expect(reads.mock.calls.length).toBeLessThanOrEqual(5);
    // One more asked for now runs once the 50 ms have passed, not before.
    await vi.advanceTimersByTimeAsync(60);
    const settled = reads.mock.calls.length;
    mesh.onSlotFreed?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(reads.mock.calls.length).toBe(settled + 1);
    mesh.onSlotFreed?.();
    await vi.advanceTimersByTimeAsync(49);
    expect(reads.mock.calls.length).toBe(settled + 1);
    await vi.advanceTimersByTimeAsync(1);
    expect(reads.mock.calls.length).toBe(settled + 2);
    mesh.stop?.();
  });
});
