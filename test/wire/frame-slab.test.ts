import { describe, expect, it } from "vitest";
import { encodeDataFrame } from "../../src/wire/frame-encoder.js";
import { FRAME_SLAB_BYTES, FRAME_SLAB_MAX_FRAME_BYTES, FrameSlab } from "../../src/wire/frame-slab.js";

const adjacent = (a: Uint8Array, b: Uint8Array): boolean => a.buffer === b.buffer && a.byteOffset + a.byteLength === b.byteOffset;

describe("frame slab", () => {
  it("carves consecutive small frames from one buffer, adjacent, never handing a byte out twice", () => {
    const slab = new FrameSlab();
    const a = slab.take(71);
    const b = slab.take(71);
    expect(a.buffer).toBe(b.buffer);
    expect(adjacent(a, b)).toBe(true);
    a.fill(1);
    b.fill(2);
    expect([...new Uint8Array(a.buffer, a.byteOffset, 142)]).toEqual([...a, ...b]);
  });

  it("starts a new slab when the current one is full, and gives large frames their own memory", () => {
    const slab = new FrameSlab();
    const first = slab.take(FRAME_SLAB_MAX_FRAME_BYTES);
    for (let used = FRAME_SLAB_MAX_FRAME_BYTES; used + FRAME_SLAB_MAX_FRAME_BYTES <= FRAME_SLAB_BYTES; used += FRAME_SLAB_MAX_FRAME_BYTES) {
      expect(slab.take(FRAME_SLAB_MAX_FRAME_BYTES).buffer).toBe(first.buffer);
    }
    const next = slab.take(1);
    expect(next.buffer).not.toBe(first.buffer);
    expect(adjacent(first, next)).toBe(false);
    expect(slab.take(FRAME_SLAB_MAX_FRAME_BYTES + 1).buffer.byteLength).toBe(FRAME_SLAB_MAX_FRAME_BYTES + 1);
  });

  it("Data frames of small messages share memory instead of one ArrayBuffer each", () => {
    const x = encodeDataFrame(1, new Uint8Array(64));
    const y = encodeDataFrame(1, new Uint8Array(64));
    expect(x.buffer).toBe(y.buffer);
    expect(x.byteLength).toBeLessThan(x.buffer.byteLength);
  });
});
