/**
 * Test helper: one running interop peer process (Go or Python), driven through
 * its JSON-line stdout events and stdin commands (see interop/README.md).
 * {@link GoPeerProcess} and {@link PythonPeerProcess} only say what to start.
 *
 * @module
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";

/** One JSON line the peer printed; a line that is not JSON becomes `{ event: "unparsed", line }`. */
export interface PeerEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** How the process ended. */
export interface PeerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Every process started and not yet reaped, so a failing test cannot leak one. */
const running = new Set<PeerProcess>();

/** A peer process speaking the JSON-lines contract, and everything it reported. */
export class PeerProcess {
  readonly events: PeerEvent[] = [];
  readonly exited: Promise<PeerExit>;
  readonly #name: string;
  #child: ChildProcessWithoutNullStreams;
  #stderr = "";
  #exit: PeerExit | undefined;
  #waiters = new Set<() => void>();

  /**
   * Spawns `file args…` (with `env`, or this process's environment);
   * `name` says which peer it is in error messages.
   */
  protected constructor(name: string, file: string, args: readonly string[], env?: NodeJS.ProcessEnv) {
    this.#name = name;
    this.#child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], env });
    running.add(this);
    this.#child.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.#stderr += chunk));
    this.#child.stdin.on("error", () => undefined); // the process may exit before reading
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as PeerEvent);
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

  /**
   * Kills every process of the class it is called on (e.g. every
   * `GoPeerProcess`) that a test left running (for afterEach/afterAll).
   */
  static async killAll(): Promise<void> {
    await Promise.all([...running].filter((p) => p instanceof this).map((p) => p.kill()));
  }

  /** What the process wrote to stderr so far (tracebacks land here). */
  get stderr(): string {
    return this.#stderr;
  }

  /**
   * Resolves with the first event (already seen or future) matching `match`;
   * rejects when the process exits or `timeoutMs` passes first.
   */
  waitFor(match: (e: PeerEvent) => boolean, description: string, timeoutMs = 8_000): Promise<PeerEvent> {
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
          reject(new Error(`${this.#name} exited (${JSON.stringify(this.#exit)}) before "${description}"${this.#dump()}`));
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
  async terminate(signal: NodeJS.Signals = "SIGTERM"): Promise<PeerExit> {
    if (this.#exit === undefined) this.#child.kill(signal);
    return this.exited;
  }

  /** SIGKILL if still running, then wait for the exit. */
  async kill(): Promise<PeerExit> {
    return this.terminate("SIGKILL");
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #dump(): string {
    return `\nevents:\n${this.events.map((e) => JSON.stringify(e)).join("\n")}\nstderr:\n${this.#stderr}`;
  }
}
