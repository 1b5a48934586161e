/**
 * Test helper: the Python peer in interop/python/ (Debian's /usr/bin/python3
 * with python3-protobuf and python3-cryptography): the toolchain check, one-shot
 * commands, and one running `peerlink_peer.py listen|dial` process driven
 * through its JSON-line stdout events and stdin commands (see interop/README.md).
 *
 * @module
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** interop/python/, the Python peer. */
export const PYTHON_PEER_DIR = fileURLToPath(new URL("../../interop/python/", import.meta.url));

/** The peer's entry point. */
export const PYTHON_PEER_SCRIPT = join(PYTHON_PEER_DIR, "peerlink_peer.py");

/** Debian's interpreter: the `python3` first on PATH may be another one that cannot see Debian's modules. */
export const PYTHON = "/usr/bin/python3";

/** Modules the peer imports from Debian packages. */
export const PYTHON_MODULES = ["google.protobuf", "cryptography.hazmat.primitives.asymmetric.ed25519"] as const;

const MISSING_TOOLCHAIN =
  "the Python interop tests need Debian's /usr/bin/python3 with python3-protobuf and python3-cryptography, and protoc: " +
  "`apt-get install -y python3 python3-protobuf python3-cryptography protobuf-compiler` (bash .ci/run installs them)";

/** Environment of every Python command: no bytecode files in the repository, UTF-8 stdio. */
function pythonEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8", PYTHONUNBUFFERED: "1" };
}

/** Result of a finished command. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`, stdin from `input`); never throws for a non-zero exit. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: options.cwd ?? PYTHON_PEER_DIR, env: pythonEnv(), timeout: options.timeoutMs ?? 20_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
          reject(new Error(`${file} not found: ${MISSING_TOOLCHAIN}`));
          return;
        }
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(options.input ?? "");
  });
}

/**
 * Fails loudly (never skips) when the interpreter or one of `modules` is missing.
 * The parameters exist to test this check.
 */
export async function requirePython(python: string = PYTHON, modules: readonly string[] = PYTHON_MODULES): Promise<void> {
  const check = await runCommand(python, ["-c", `import ${modules.join(", ")}`]);
  if (check.code !== 0) throw new Error(`${python} cannot import ${modules.join(", ")}: ${check.stderr.trim()}\n${MISSING_TOOLCHAIN}`);
}

/** One JSON line the Python peer printed. */
export interface PyEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** How the process ended. */
export interface PyExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Every process started and not yet reaped, so a failing test cannot leak one. */
const running = new Set<PythonPeerProcess>();

/** A `peerlink_peer.py listen|dial` process and everything it reported. */
export class PythonPeerProcess {
  readonly events: PyEvent[] = [];
  readonly exited: Promise<PyExit>;
  #child: ChildProcessWithoutNullStreams;
  #stderr = "";
  #exit: PyExit | undefined;
  #waiters = new Set<() => void>();

  private constructor(args: readonly string[]) {
    this.#child = spawn(PYTHON, [PYTHON_PEER_SCRIPT, ...args], { stdio: ["pipe", "pipe", "pipe"], env: pythonEnv() });
    running.add(this);
    this.#child.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.#stderr += chunk));
    this.#child.stdin.on("error", () => undefined); // the process may exit before reading
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as PyEvent);
      } catch {
        this.events.push({ event: "unparsed", line });
      }
      this.#wake();
    });
    this.exited = new Promise((resolve) => {
      this.#child.on("close", (code, signal) => {
        this.#exit = { code, signal };
        running.delete(this);
        this.#wake();
        resolve(this.#exit);
      });
    });
  }

  /** Starts `peerlink_peer.py` with `args` (e.g. `["dial", "--addr", "127.0.0.1:4001"]`). */
  static start(args: readonly string[]): PythonPeerProcess {
    return new PythonPeerProcess(args);
  }

  /** Starts a listener on 127.0.0.1 and resolves once it reported its port and peer id. */
  static async listen(args: readonly string[] = []): Promise<PythonPeerProcess & { addr: string; port: number; peerId: string }> {
    const p = new PythonPeerProcess(["listen", "--addr", "127.0.0.1:0", ...args]);
    const ev = await p.waitFor((e) => e.event === "listening", "listening");
    const addr = String(ev["addr"]);
    return Object.assign(p, { addr, port: Number(addr.slice(addr.lastIndexOf(":") + 1)), peerId: String(ev["peerId"]) });
  }

  /** Kills every process a test left running (for afterEach/afterAll). */
  static async killAll(): Promise<void> {
    await Promise.all([...running].map((p) => p.kill()));
  }

  /** What the process wrote to stderr so far (tracebacks land here). */
  get stderr(): string {
    return this.#stderr;
  }

  /**
   * Resolves with the first event (already seen or future) matching `match`;
   * rejects when the process exits or `timeoutMs` passes first.
   */
  waitFor(match: (e: PyEvent) => boolean, description: string, timeoutMs = 8_000): Promise<PyEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.events.find(match);
        if (found !== undefined) {
          done();
          resolve(found);
          return true;
        }
        if (this.#exit !== undefined) {
          done();
          reject(new Error(`peerlink_peer.py exited (${JSON.stringify(this.#exit)}) before "${description}"${this.#dump()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for "${description}"${this.#dump()}`));
      }, timeoutMs);
      const waiter = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      if (!check()) this.#waiters.add(waiter);
    });
  }

  /** Writes one command line to stdin, e.g. `{ cmd: "send", protocol: "/echo", text: "hi" }`. */
  command(cmd: Record<string, unknown>): void {
    this.#child.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  /** Sends `signal` and waits for the exit. */
  async terminate(signal: NodeJS.Signals = "SIGTERM"): Promise<PyExit> {
    if (this.#exit === undefined) this.#child.kill(signal);
    return this.exited;
  }

  /** SIGKILL if still running, then wait for the exit. */
  async kill(): Promise<PyExit> {
    return this.terminate("SIGKILL");
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #dump(): string {
    return `\nevents:\n${this.events.map((e) => JSON.stringify(e)).join("\n")}\nstderr:\n${this.#stderr}`;
  }
}
