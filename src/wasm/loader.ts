/**
 * Loads the AssemblyScript core (build/release.wasm) once per process.
 * The module is instantiated synchronously so that constructors of decoders
 * and scorers need no `await`; the file is ~KBs and read once.
 *
 * @module
 */
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { ErrorCode, PeerlinkError } from "../errors.js";

/** Exports of the WASM core, see assembly/index.ts. Only numbers cross. */
export interface WasmCoreExports {
  readonly memory: WebAssembly.Memory;
  abiVersion(): number;
  readonly [name: string]: unknown;
}

/** ABI version this loader expects from assembly/index.ts `abiVersion()`. */
export const WASM_ABI_VERSION = 3;

let cachedModule: WebAssembly.Module | undefined;

/** Finds build/<flavor>.wasm by walking up from this file (works from src/ and dist/src/). */
function locateWasm(flavor: "release" | "debug"): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "build", `${flavor}.wasm`);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new PeerlinkError(
    ErrorCode.WASM_FAILURE,
    `build/${flavor}.wasm not found; run \`npm run build:wasm\``,
  );
}

/** Compiles (once) and returns the WebAssembly module of the core. */
export function wasmModule(flavor: "release" | "debug" = "release"): WebAssembly.Module {
  if (flavor === "release" && cachedModule) return cachedModule;
  const bytes = readFileSync(locateWasm(flavor));
  const mod = new WebAssembly.Module(bytes);
  if (flavor === "release") cachedModule = mod;
  return mod;
}

/**
 * Creates a fresh instance of the core, with its own linear memory. Each
 * instance is independent: a trap poisons only that instance.
 */
export function instantiateCore(flavor: "release" | "debug" = "release"): WasmCoreExports {
  const imports = {
    env: {
      abort(_msg: number, _file: number, line: number, column: number): never {
        throw new PeerlinkError(ErrorCode.WASM_FAILURE, `WASM core aborted at ${line}:${column}`);
      },
    },
  };
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(wasmModule(flavor), imports);
  } catch (cause) {
    throw new PeerlinkError(ErrorCode.WASM_FAILURE, "failed to instantiate the WASM core", { cause });
  }
  const exports = instance.exports as unknown as WasmCoreExports;
  const abi = exports.abiVersion();
  if (abi !== WASM_ABI_VERSION) {
    throw new PeerlinkError(ErrorCode.WASM_FAILURE, `WASM core ABI ${abi}, expected ${WASM_ABI_VERSION}`);
  }
  return exports;
}
