#!/usr/bin/env node
// The `peerlink` executable: a thin shim over the compiled CLI in dist/, which `npm ci` / `npm install`
// build through the package's `prepare` script (or `npm run build:ts` by hand).
let main;
try {
  ({ main } = await import("../dist/src/cli/main.js"));
} catch (error) {
  if (error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
  process.stderr.write("peerlink: dist/ is not built: run `npm run build:ts` (npm ci does it through the prepare script)\n");
  process.exit(1);
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is released on a clean shutdown, but stdin may still hold the loop: exit once the node is done.
// Output written before is flushed first (process.exit would cut a pipe short).
if (process.stdout.writableLength === 0) process.exit(code);
else process.stdout.once("drain", () => process.exit(code));
setTimeout(() => process.exit(code), 2_000).unref();
