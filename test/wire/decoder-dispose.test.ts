// A disposed decoder (every connection disposes its own at close) refuses every later call with one
// CONNECTION_CLOSED error, and holds no reassembly buffer; the error is made on the first refused call.
import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { encodeDataFrame } from "../../src/wire/frame-encoder.js";
import { createFrameDecoder } from "../../src/wire/frame-decoder.js";
import { recordingSink } from "./frame-fixtures.js";

describe.each(["wasm", "js"] as const)("a disposed %s frame decoder", (engine) => {
  it("throws the same CONNECTION_CLOSED error from push, pushFrames and receiveBuffer, and frees its carry", () => {
    const decoder = createFrameDecoder({ engine });
    const frame = encodeDataFrame(1, new Uint8Array(100));
    decoder.push(frame.subarray(0, 50), recordingSink([])); // half a frame carried
    expect(decoder.bufferedBytes).toBe(50);
    decoder.dispose();
    decoder.dispose(); // idempotent
    expect(decoder.failed).toBe(true);
    expect(decoder.bufferedBytes).toBe(0);
    if (engine === "js") expect(decoder.bufferCapacity).toBe(0);
    const thrown: unknown[] = [];
    for (const call of [() => decoder.push(frame, recordingSink([])), () => decoder.pushFrames(frame, () => undefined), () => decoder.push(frame, recordingSink([]))]) {
      try {
        call();
      } catch (error) {
        thrown.push(error);
      }
    }
    expect(thrown).toHaveLength(3);
    expect(thrown[0]).toBeInstanceOf(PeerlinkError);
    expect((thrown[0] as PeerlinkError).code).toBe(ErrorCode.CONNECTION_CLOSED);
    expect(thrown[1]).toBe(thrown[0]);
    expect(thrown[2]).toBe(thrown[0]);
  });
});
