/**
 * The one way tests make sure the compiled dist/ is current before a child process imports it (plain
 * Node cannot run TypeScript): `npm test` builds it first, so there this is a check and nothing more; a
 * direct `npx vitest run FILE` may not have, so the first worker to find dist/ stale runs tsc under a
 * lock directory in dist/ and the other workers wait for it. tsc emits even when other parts of the
 * tree have type errors; what counts is that no source is newer than its output afterwards.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const LOCK = path.join(REPO, "dist", ".build-lock");
/** How long a worker waits for another's build; a lock older than this was left by a killed run. */
const LOCK_WAIT_MS = 180_000;
const TSC_TIMEOUT_MS = 170_000;

function firstStale(dir: string, out: string): string | undefined {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const source = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const stale = firstStale(source, path.join(out, entry.name));
      if (stale !== undefined) return stale;
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
      try {
        if (statSync(path.join(out, entry.name.replace(/\.ts$/, ".js"))).mtimeMs < statSync(source).mtimeMs) return source;
      } catch {
        return source;
      }
    }
  }
  return undefined;
}

/** The first source file whose dist/ output is missing or older, or `undefined` when dist/ is current. */
export function staleDistSource(): string | undefined {
  return firstStale(path.join(REPO, "src"), path.join(REPO, "dist/src")) ?? firstStale(path.join(REPO, "generated"), path.join(REPO, "dist/generated"));
}

function tsc(): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: REPO, stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), TSC_TIMEOUT_MS);
    child.on("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.on("error", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Builds dist/ when stale (one build at a time across workers); throws when it is still stale afterwards. */
export async function ensureDist(): Promise<void> {
  if (staleDistSource() === undefined) return;
  mkdirSync(path.join(REPO, "dist"), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > LOCK_WAIT_MS) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      if (Date.now() > deadline) throw new Error(`dist/ build lock ${LOCK} held for over ${LOCK_WAIT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 250)); // another worker is building
      if (staleDistSource() === undefined) return;
    }
  }
  try {
    if (staleDistSource() !== undefined) await tsc();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
  const stale = staleDistSource();
  if (stale !== undefined) throw new Error(`dist/ is stale after tsc (${stale}); run \`npm run build:ts\``);
}
