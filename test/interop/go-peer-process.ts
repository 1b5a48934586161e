/**
 * Test helper: one running `peerlink-go` process, driven through its JSON-line
 * stdout events and stdin commands (see interop/README.md).
 *
 * @module
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";

/** One JSON line the Go peer printed. */
export interface GoEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** How the process ended. */
export interface GoExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Every process started and not yet reaped, so a failing test cannot leak one. */
const running = new Set<GoPeerProcess>();

/** A `peerlink-go listen|dial` process and everything it reported. */
export class GoPeerProcess {
  readonly events: GoEvent[] = [];
  readonly exited: Promise<GoExit>;
  #child: ChildProcessWithoutNullStreams;
  #stderr = "";
  #exit: GoExit | undefined;
  #waiters = new Set<() => void>();

  private constructor(binary: string, args: readonly string[]) {
    this.#child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    running.add(this);
    this.#child.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.#stderr += chunk));
    this.#child.stdin.on("error", () => undefined); // the process may exit before reading
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as GoEvent);
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

  /** Starts `binary` with `args` (e.g. `["listen", "--tls"]`). */
  static start(binary: string, args: readonly string[]): GoPeerProcess {
    return new GoPeerProcess(binary, args);
  }

  /** Starts a listener and resolves once it reported its address and peer id. */
  static async listen(binary: string, args: readonly string[] = []): Promise<GoPeerProcess & { addr: string; host: string; port: number; peerId: string }> {
    const p = new GoPeerProcess(binary, ["listen", "--addr", "127.0.0.1:0", ...args]);
    const ev = await p.waitFor((e) => e.event === "listening", "listening");
    const addr = String(ev["addr"]);
    const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
    return Object.assign(p, { addr, host: "127.0.0.1", port, peerId: String(ev["peerId"]) });
  }

  /** Kills every process a test left running (for afterEach/afterAll). */
  static async killAll(): Promise<void> {
    await Promise.all([...running].map((p) => p.kill()));
  }

  /** What the process wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /**
   * Resolves with the first event (already seen or future) matching `match`;
   * rejects when the process exits or `timeoutMs` passes first.
   */
  waitFor(match: (e: GoEvent) => boolean, description: string, timeoutMs = 8_000): Promise<GoEvent> {
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
          reject(new Error(`peerlink-go exited (${JSON.stringify(this.#exit)}) before "${description}"${this.#dump()}`));
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
  async terminate(signal: NodeJS.Signals = "SIGTERM"): Promise<GoExit> {
    if (this.#exit === undefined) this.#child.kill(signal);
    return this.exited;
  }

  /** SIGKILL if still running, then wait for the exit. */
  async kill(): Promise<GoExit> {
    return this.terminate("SIGKILL");
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #dump(): string {
    return `\nevents:\n${this.events.map((e) => JSON.stringify(e)).join("\n")}\nstderr:\n${this.#stderr}`;
  }
}
