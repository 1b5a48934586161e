// peerlink WebAssembly core. Only plain numbers cross this boundary: JS writes
// bytes into fixed regions of linear memory and passes (pointer, length) pairs.

/** Version of the ABI between src/wasm/loader.ts and this module. */
export function abiVersion(): i32 {
  return 1;
}
