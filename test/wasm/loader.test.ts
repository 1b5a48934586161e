import { describe, expect, it } from "vitest";
import { instantiateCore, WASM_ABI_VERSION } from "../../src/wasm/loader.js";

describe("the WASM core loader", () => {
  it("instantiates the release build and reports the expected ABI version", () => {
    const core = instantiateCore("release");
    expect(core.abiVersion()).toBe(WASM_ABI_VERSION);
    expect(core.memory).toBeInstanceOf(WebAssembly.Memory);
  });

  it("gives each instance its own linear memory", () => {
    const a = instantiateCore();
    const b = instantiateCore();
    expect(a.memory).not.toBe(b.memory);
  });
});
