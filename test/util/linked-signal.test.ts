import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { followAbort, linkSignals } from "../../src/util/linked-signal.js";

/** Node 20's own combinator keeps an entry per call in each source; ours must keep none. */
const dependants = (signal: AbortSignal): number => {
  const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === "kDependantSignals");
  return key === undefined ? 0 : (signal as unknown as Record<symbol, Set<unknown>>)[key]!.size;
};

describe("linkSignals", () => {
  it("aborts with the reason of the source that aborted first", () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals(a.signal, b.signal);
    b.abort("second");
    a.abort("first");
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe("second");
  });

  it("is aborted at once when a source already is", () => {
    const a = new AbortController();
    a.abort("gone");
    const linked = linkSignals(new AbortController().signal, a.signal);
    expect(linked.signal.reason).toBe("gone");
  });

  it("leaves nothing in a long-lived source once unlinked", () => {
    const host = new AbortController();
    for (let i = 0; i < 100; i++) linkSignals(host.signal, new AbortController().signal).unlink();
    expect(getEventListeners(host.signal, "abort")).toHaveLength(0);
    expect(dependants(host.signal)).toBe(0);
    const kept = linkSignals(host.signal, new AbortController().signal);
    host.abort("stop");
    expect(kept.signal.reason).toBe("stop");
  });

  it("is unhooked from a source after that source aborted it", () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals(a.signal, b.signal);
    a.abort("first");
    linked.unlink();
    expect(getEventListeners(b.signal, "abort")).toHaveLength(0);
  });
});

describe("followAbort", () => {
  it("aborts the target when the source aborts, and not after it was unlinked", () => {
    const source = new AbortController();
    const followed = new AbortController();
    const unlinked = new AbortController();
    followAbort(source.signal, followed);
    followAbort(source.signal, unlinked)();
    source.abort("stop");
    expect(followed.signal.reason).toBe("stop");
    expect(unlinked.signal.aborted).toBe(false);
  });
});
