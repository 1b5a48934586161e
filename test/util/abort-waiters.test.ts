import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { keepListening, stopWaiting, waitForAbort, type AbortWaiter } from "../../src/util/abort-waiters.js";

/** A waiter that records the reasons it was told, in a log shared by several waiters. */
function recorder(name: string, log: string[]): AbortWaiter {
  return { onAbort: (reason) => log.push(`${name}:${String(reason)}`) };
}

describe("abort waiters", () => {
  it("serve every wait on a signal with one listener, there only while something waits", () => {
    const controller = new AbortController();
    const log: string[] = [];
    const waiters = Array.from({ length: 50 }, (_, i) => recorder(`w${i}`, log));
    for (const w of waiters) waitForAbort(controller.signal, w);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    for (const w of waiters) stopWaiting(controller.signal, w);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    controller.abort("late");
    expect(log).toEqual([]);
  });

  it("tell each waiter still waiting, in the order they began, with the signal's reason", () => {
    const controller = new AbortController();
    const log: string[] = [];
    const [a, b, c] = [recorder("a", log), recorder("b", log), recorder("c", log)];
    waitForAbort(controller.signal, a);
    waitForAbort(controller.signal, b);
    waitForAbort(controller.signal, c);
    stopWaiting(controller.signal, b);
    controller.abort("stop");
    expect(log).toEqual(["a:stop", "c:stop"]);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    // Stopping after the abort is harmless.
    stopWaiting(controller.signal, a);
  });

  it("tell a waiter another one's abort made stop waiting, and keep signals apart", () => {
    const one = new AbortController();
    const two = new AbortController();
    const log: string[] = [];
    const later = recorder("later", log);
    const first: AbortWaiter = {
      onAbort(reason) {
        log.push(`first:${String(reason)}`);
        stopWaiting(one.signal, later);
      },
    };
    const other = recorder("other", log);
    waitForAbort(one.signal, first);
    waitForAbort(one.signal, later);
    waitForAbort(two.signal, other);
    one.abort("x");
    expect(log).toEqual(["first:x", "later:x"]);
    expect(getEventListeners(two.signal, "abort")).toHaveLength(1);
    stopWaiting(two.signal, other);
    expect(getEventListeners(two.signal, "abort")).toHaveLength(0);
  });
});

describe("keepListening", () => {
  it("keeps the one listener on the signal while nothing waits, until the signal aborts", () => {
    const controller = new AbortController();
    const log: string[] = [];
    keepListening(controller.signal);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    const a = recorder("a", log);
    for (let i = 0; i < 3; i++) {
      waitForAbort(controller.signal, a);
      expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
      stopWaiting(controller.signal, a);
      expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    }
    waitForAbort(controller.signal, a);
    controller.abort("stop");
    expect(log).toEqual(["a:stop"]);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("adds nothing to a signal that already aborted", () => {
    const controller = new AbortController();
    controller.abort("gone");
    keepListening(controller.signal);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  it("is per signal: another signal's listener still comes and goes with its waits", () => {
    const kept = new AbortController();
    const other = new AbortController();
    keepListening(kept.signal);
    const w = recorder("w", []);
    waitForAbort(other.signal, w);
    expect(getEventListeners(other.signal, "abort")).toHaveLength(1);
    stopWaiting(other.signal, w);
    expect(getEventListeners(other.signal, "abort")).toHaveLength(0);
    expect(getEventListeners(kept.signal, "abort")).toHaveLength(1);
  });
});
