/**
 * Test helper: builds and runs the Go peer in interop/go/ offline, with the Go
 * toolchain and google.golang.org/protobuf from Debian packages. Caches live
 * under os.tmpdir(), never in the repository.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { runToCompletion, type CommandResult } from "./run-command.js";

/** interop/go/, the Go module of the peer. */
export const GO_MODULE_DIR = fileURLToPath(new URL("../../interop/go/", import.meta.url));

/** Where Debian's golang-google-protobuf-dev puts the module go.mod replaces to. */
const DEBIAN_PROTOBUF_DIR = "/usr/share/gocode/src/google.golang.org/protobuf";

const CACHE_ROOT = join(tmpdir(), "peerlink-interop-go");

/**
 * Time allowed for a cold `go build`/`go vet`/`go test` (empty build cache, as in CI), in ms.
 * Measured: about 6 s for the build on 2 cores; the margin covers a loaded machine.
 */
export const GO_BUILD_TIMEOUT_MS = 120_000;

const MISSING_TOOLCHAIN =
  "the interop tests need Go and Debian's Go protobuf module: `apt-get install -y golang-go golang-google-protobuf-dev " +
  "protobuf-compiler protoc-gen-go` (bash .ci/run installs them)";

/** Environment for every `go` command: offline, module mode, caches in the temp directory, no cgo. */
export function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOPROXY: "off",
    GOFLAGS: "-mod=mod",
    GO111MODULE: "on",
    GOTOOLCHAIN: "local",
    GOTELEMETRY: "off",
    CGO_ENABLED: "0",
    GOCACHE: join(CACHE_ROOT, "build-cache"),
    GOPATH: join(CACHE_ROOT, "gopath"),
  };
}

/** Runs a command to completion (bounded by `timeoutMs`) and never throws for a non-zero exit. */
export function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const { cwd = GO_MODULE_DIR, env = goEnv(), timeoutMs = 60_000 } = options;
  return runToCompletion(file, args, { cwd, env, timeoutMs, installHint: MISSING_TOOLCHAIN });
}

/** Fails loudly (never skips) when Go or the Debian protobuf module is missing; `env` is for testing this. */
export async function requireGo(env: NodeJS.ProcessEnv = goEnv()): Promise<void> {
  const version = await run("go", ["version"], { env });
  if (version.code !== 0) throw new Error(`\`go version\` failed: ${version.stderr}\n${MISSING_TOOLCHAIN}`);
  if (!existsSync(join(DEBIAN_PROTOBUF_DIR, "go.mod"))) {
    throw new Error(`${DEBIAN_PROTOBUF_DIR} is missing: ${MISSING_TOOLCHAIN}`);
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else out.push(path);
  }
  return out.sort();
}

/** SHA-256 over every file of interop/go/ (names and contents): the build's cache key. */
async function sourceHash(): Promise<string> {
  const hash = createHash("sha256");
  for (const file of await listFiles(GO_MODULE_DIR)) {
    hash.update(relative(GO_MODULE_DIR, file)).update("\0").update(await readFile(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/**
 * Builds `peerlink-go` (once per source version: the binary is cached under
 * the temp directory by a hash of interop/go/) and returns its path. Safe to
 * call from several test files at once: each builds to its own file and
 * renames it into place.
 */
export async function buildGoPeer(): Promise<string> {
  await requireGo();
  const dir = join(CACHE_ROOT, "bin", await sourceHash());
  const binary = join(dir, "peerlink-go");
  if (existsSync(binary)) return binary;
  await mkdir(dir, { recursive: true });
  const partial = `${binary}.${process.pid}.${Date.now()}`;
  const result = await run("go", ["build", "-o", partial, "./cmd/peerlink-go"], { timeoutMs: GO_BUILD_TIMEOUT_MS });
  if (result.code !== 0) {
    await rm(partial, { force: true });
    throw new Error(`go build of interop/go failed (exit ${result.code}):\n${result.stderr}`);
  }
  await rename(partial, binary);
  return binary;
}
