/** Waiting for a gater's Promise, on a fake clock: bounded, cut short by the node's stop, nothing left behind. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { awaitGate } from "../../src/node/gate-wait.js";
import { GATER_TIMEOUT_MS, type GateVerdict } from "../../src/node/policy/gater.js";

beforeEach(() => {
  vi.useFakeTimers();
  vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const never = new Promise<GateVerdict>(() => undefined);
const stopped = (): GateVerdict => ({ allowed: true });

describe("awaiting a gater's answer", () => {
  it("returns a known verdict at once, without a timer", () => {
    const verdict: GateVerdict = { allowed: true };
    expect(awaitGate(verdict, "denyPeer", new AbortController().signal, stopped)).toBe(verdict);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("denies exactly at the timeout, with a warning naming the hook, and clears its timer", async () => {
    let settled: GateVerdict | undefined;
    void Promise.resolve(awaitGate(never, "denyPeer", new AbortController().signal, stopped)).then((v) => (settled = v));
    await vi.advanceTimersByTimeAsync(GATER_TIMEOUT_MS - 1);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toMatchObject({ allowed: false, reason: expect.stringContaining(`did not answer within ${GATER_TIMEOUT_MS} ms`) });
    expect(process.emitWarning).toHaveBeenCalledWith(expect.stringContaining("denyPeer did not answer"), "PeerlinkGaterWarning");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("takes the answer when it comes first, and the stop verdict when the node stops first", async () => {
    const answer = awaitGate(Promise.resolve<GateVerdict>({ allowed: true }), "denyPeer", new AbortController().signal, stopped);
    expect(await answer).toEqual({ allowed: true });
    expect(vi.getTimerCount()).toBe(0);
    const stop = new AbortController();
    const waiting = awaitGate(never, "denyPeer", stop.signal, () => ({ allowed: false, reason: "stopping", publicReason: undefined, goodbye: "shutdown", error: undefined }));
    stop.abort();
    expect(await waiting).toMatchObject({ allowed: false, reason: "stopping" });
    expect(vi.getTimerCount()).toBe(0);
    stop.abort();
    expect(awaitGate(never, "denyPeer", stop.signal, stopped)).toEqual({ allowed: true }); // already stopped
  });
});
