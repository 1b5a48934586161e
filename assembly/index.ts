// peerlink WebAssembly core. Only plain numbers cross this boundary: JS writes
// bytes into fixed regions of linear memory and passes (pointer, length) pairs.
// The module never allocates: JS places regions above heapBase() and grows memory itself.

export { initRegion, reserve, scan } from "./frame";
export { scoreBatch } from "./health";

/** Version of the ABI between src/wasm/loader.ts and this module. */
export function abiVersion(): i32 {
  return 3;
}

/** First address JS may use for its own regions (end of static data). */
export function heapBase(): usize {
  return __heap_base;
}
