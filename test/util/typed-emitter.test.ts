// The typed emitter keeps its listeners as one small array replaced on every change; these pin the
// semantics it had as a map of sets: registration order, no duplicates, the listeners of an emit fixed when
// it begins, errors reported and the others still called.
import { afterEach, describe, expect, it, vi } from "vitest";
import { TypedEmitter } from "../../src/util/typed-emitter.js";

interface Events {
  a: number;
  b: string;
}

class Emitter extends TypedEmitter<Events> {
  fire<K extends keyof Events>(type: K, event: Events[K]): void {
    this.emit(type, event);
  }
  clear(): void {
    this.removeAllListeners();
  }
}

describe("TypedEmitter", () => {
  afterEach(() => vi.restoreAllMocks());

  it("calls the listeners of a type in registration order, each once however often it was added", () => {
    const e = new Emitter();
    const seen: string[] = [];
    const one = (n: number) => seen.push(`one ${n}`);
    e.on("a", one);
    e.on("b", (s) => seen.push(`b ${s}`));
    e.on("a", (n) => seen.push(`two ${n}`));
    e.on("a", one);
    expect(e.listenerCount("a")).toBe(2);
    e.fire("a", 1);
    e.fire("b", "x");
    expect(seen).toEqual(["one 1", "two 1", "b x"]);
  });

  it("fixes the listeners of an emit when it begins: one removed or added meanwhile changes the next emit", () => {
    const e = new Emitter();
    const seen: string[] = [];
    const late = () => seen.push("late");
    let offSecond = () => undefined as void;
    e.on("a", () => {
      seen.push("first");
      offSecond();
      e.on("a", late);
    });
    offSecond = e.on("a", () => seen.push("second"));
    e.fire("a", 0);
    expect(seen).toEqual(["first", "second"]);
    seen.length = 0;
    e.fire("a", 0);
    expect(seen).toEqual(["first", "late"]);
  });

  it("removes by the returned function, by off, once after one event, and all at once", () => {
    const e = new Emitter();
    const seen: number[] = [];
    const l = (n: number) => seen.push(n);
    const off = e.on("a", l);
    off();
    off();
    e.on("a", l);
    e.off("a", l);
    e.once("a", (n) => seen.push(n * 10));
    e.fire("a", 1);
    e.fire("a", 2);
    expect(seen).toEqual([10]);
    e.on("a", l);
    e.on("b", () => seen.push(-1));
    e.clear();
    e.fire("a", 3);
    e.fire("b", "");
    expect(seen).toEqual([10]);
    expect(e.listenerCount("a")).toBe(0);
  });

  it("keeps these semantics with a single listener: its type only, once, fixed at the emit, order kept as more come and go", () => {
    const e = new Emitter();
    const seen: string[] = [];
    const first = (n: number) => {
      seen.push(`first ${n}`);
      if (n === 1) e.on("a", second); // added during the emit: from the next one on
    };
    const second = (n: number) => seen.push(`second ${n}`);
    e.on("a", first);
    e.on("a", first);
    expect([e.listenerCount("a"), e.listenerCount("b")]).toEqual([1, 0]);
    e.fire("b", "not a");
    e.fire("a", 1);
    e.fire("a", 2);
    e.off("a", first);
    e.fire("a", 3);
    e.on("a", first);
    e.fire("a", 4);
    e.off("a", second);
    e.off("a", first);
    e.off("a", first);
    expect(e.listenerCount("a")).toBe(0);
    e.fire("a", 5);
    const offSelf = e.on("a", (n) => {
      seen.push(`self ${n}`);
      offSelf();
    });
    e.fire("a", 6);
    e.fire("a", 7);
    expect(seen).toEqual(["first 1", "first 2", "second 2", "second 3", "second 4", "first 4", "self 6"]);
  });

  it("reports a listener that throws and still calls the others", () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const e = new Emitter();
    const seen: number[] = [];
    e.on("a", () => {
      throw new Error("listener bug");
    });
    e.on("a", (n) => seen.push(n));
    e.fire("a", 7);
    expect(seen).toEqual([7]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain("listener bug");
  });
});
