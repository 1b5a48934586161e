#!/usr/bin/env node
// Fails when `buf generate` would change the committed codecs in generated/.
// Regenerates into a temporary directory and compares file by file, so the
// working tree is never touched.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out;
}

/** Lists differences between `buf generate` output and `committed` (default: generated/). */
export function diffGenerated(committed = join(root, "generated")) {
  const tmp = mkdtempSync(join(tmpdir(), "peerlink-gen-"));
  try {
    const bin = join(root, "node_modules", ".bin");
    // buf runs the local protoc-gen-es plugin from PATH, as `npm run generate` does.
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
    execFileSync(join(bin, "buf"), ["generate", "-o", tmp], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    const fresh = join(tmp, "generated");
    const freshFiles = new Set(listFiles(fresh).map((f) => relative(fresh, f)));
    const committedFiles = new Set(listFiles(committed).map((f) => relative(committed, f)));
    const problems = [];
    for (const f of freshFiles) {
      if (!committedFiles.has(f)) problems.push(`missing: generated/${f}`);
      else if (!readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f)))) problems.push(`stale or edited: generated/${f}`);
    }
    for (const f of committedFiles) if (!freshFiles.has(f)) problems.push(`not produced by buf generate: generated/${f}`);
    return problems;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const problems = diffGenerated();
  if (problems.length > 0) {
    console.error("generated/ is out of date with proto/; run `npm run generate` and commit:\n  " + problems.join("\n  "));
    process.exit(1);
  }
  console.log("generated/ is fresh");
}
