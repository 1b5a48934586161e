/**
 * The one helper for peers and tools in child processes that talk in stdout lines (text, or JSON a
 * line): every line is kept in order, `waitFor` resolves on the first matching line already printed or
 * still to come and rejects when the child exits first, prints a failure line, or the timeout passes.
 * Every child is tracked, so {@link disposeLineChildren} in an `afterEach` leaves none running (stopped
 * ones are continued first, so SIGSTOP tests cannot leak them).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** How a child exited. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Options of {@link LineChild.waitFor}. */
export interface WaitOptions<T> {
  /** Only lines from this index on count. @default 0 */
  readonly since?: number;
  /** A line that means the child failed: reject with it. */
  readonly failOn?: (line: T) => boolean;
}

const tracked = new Set<LineChild<unknown>>();

/** Parses a JSON line; `undefined` (line skipped) when it is not JSON. */
export function jsonLine<T = Record<string, unknown>>(line: string): T | undefined {
  try {
    return JSON.parse(line) as T;
  } catch {
    return undefined;
  }
}

/** A child process read line by line; `parse` turns a line into `T` (`undefined` skips it). */
export class LineChild<T = string> {
  readonly proc: ChildProcess;
  readonly lines: T[] = [];
  /** Resolves once the child exited and its output is read. */
  readonly exited: Promise<ChildExit>;
  readonly #waiters = new Set<() => void>();
  #stderr = "";
  #closed = false;

  constructor(proc: ChildProcess, parse: (line: string) => T | undefined = (line) => line as T) {
    this.proc = proc;
    tracked.add(this as LineChild<unknown>);
    proc.stderr?.on("data", (d: Buffer) => (this.#stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      proc.once("close", (code, signal) => {
        this.#closed = true;
        tracked.delete(this as LineChild<unknown>);
        this.#wake();
        resolve({ code, signal });
      }),
    );
    if (proc.stdout !== null) {
      createInterface({ input: proc.stdout }).on("line", (text) => {
        const line = parse(text);
        if (line === undefined) return;
        this.lines.push(line);
        this.#wake();
      });
    }
  }

  /** What the child wrote to stderr so far. */
  stderr(): string {
    return this.#stderr;
  }

  /** True once the child exited and its output is read. */
  get finished(): boolean {
    return this.#closed;
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** The first line from `since` on matching `match`; rejects on a `failOn` line, on exit, or after `timeoutMs`. */
  waitFor(match: (line: T) => boolean, timeoutMs = 20_000, options: WaitOptions<T> = {}): Promise<T> {
    const since = options.since ?? 0;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const recent = this.lines.slice(since);
        const found = recent.find(match);
        const failure = options.failOn === undefined ? undefined : recent.find(options.failOn);
        if (found === undefined && failure === undefined && !this.#closed) return;
        done();
        if (found !== undefined) resolve(found);
        else reject(new Error(`child ${failure !== undefined ? `failed: ${JSON.stringify(failure)}` : "exited before printing a matching line"}; stderr: ${this.#stderr}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`child printed no matching line within ${timeoutMs} ms; stderr: ${this.#stderr}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Continues (if stopped) and kills the child, and waits for it. Idempotent. */
  async dispose(): Promise<void> {
    if (!this.#closed && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGCONT");
      this.proc.kill("SIGKILL");
    }
    this.proc.stdin?.destroy();
    await this.exited;
  }
}

/** Spawns `node [nodeArgs] script [...args]` with piped stdio, read as lines of `T`. */
export function spawnNode<T = string>(
  script: string,
  args: readonly string[],
  options: { nodeArgs?: readonly string[]; parse?: (line: string) => T | undefined; cwd?: string } = {},
): LineChild<T> {
  const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], { cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
  return new LineChild<T>(proc, options.parse);
}

/** Kills every line child still running and waits for them. */
export async function disposeLineChildren(): Promise<void> {
  await Promise.all([...tracked].map((child) => child.dispose()));
}
