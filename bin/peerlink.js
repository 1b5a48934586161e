#!/usr/bin/env node
// The `peerlink` executable: a thin shim over the compiled CLI (build with `npm run build:ts`).
import { main } from "../dist/src/cli/main.js";

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is released on a clean shutdown, so the process exits by itself; this unref'd
// timer only guards against a stray handle keeping it alive.
setTimeout(() => process.exit(code), 2_000).unref();
