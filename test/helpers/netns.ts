/**
 * Network namespaces for root-only tests: an isolated loopback where a test
 * can cap bandwidth (`tc tbf`) and drop packets at random (nftables `numgen`)
 * without touching the machine's own network. Needs root, iproute2 (`ip`,
 * `tc`) and nftables (`nft`); every helper fails loudly (throws) when they are
 * missing, so these tests never silently skip.
 *
 * @module
 */
import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants } from "node:fs";
import path from "node:path";

/** The tools the helpers run, resolved to absolute paths. */
export interface NetnsTools {
  readonly ip: string;
  readonly tc: string;
  readonly nft: string;
}

/** What {@link assertNetnsSupport} checks; the defaults are the real process. */
export interface NetnsSupportCheck {
  /** User id to check for root. @default process.getuid() */
  uid?: number;
  /** Colon-separated directories to look for the tools in. @default $PATH plus /usr/sbin and /sbin */
  searchPath?: string;
}

function findExecutable(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Throws unless the process is root and `ip`, `tc` and `nft` are installed;
 * returns their absolute paths. The message says exactly what is missing and
 * how to get it.
 */
export function assertNetnsSupport(check: NetnsSupportCheck = {}): NetnsTools {
  const uid = check.uid ?? process.getuid?.() ?? -1;
  const searchPath = check.searchPath ?? [process.env.PATH ?? "", "/usr/sbin", "/sbin"].join(path.delimiter);
  const problems: string[] = [];
  if (uid !== 0) problems.push(`must run as root (uid 0), running as uid ${uid}`);
  const ip = findExecutable("ip", searchPath);
  const tc = findExecutable("tc", searchPath);
  const nft = findExecutable("nft", searchPath);
  if (ip === undefined) problems.push("`ip` not found (apt-get install -y iproute2)");
  if (tc === undefined) problems.push("`tc` not found (apt-get install -y iproute2)");
  if (nft === undefined) problems.push("`nft` not found (apt-get install -y nftables)");
  if (problems.length > 0 || ip === undefined || tc === undefined || nft === undefined) {
    throw new Error(`network-namespace tests cannot run: ${problems.join("; ")}`);
  }
  return { ip, tc, nft };
}

/** Output of a finished command. */
export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runCommand} and {@link Netns.exec}. */
export interface RunOptions {
  /** Written to the command's standard input, which is then closed. */
  input?: string;
  /** Kill the command (SIGKILL) and reject after this long, in ms. @default 30000 */
  timeoutMs?: number;
  /** Kill the command and reject when aborted. */
  signal?: AbortSignal;
}

/**
 * Runs `file args…`, resolving with its output when it exits 0 and rejecting
 * with the command line, exit status and stderr otherwise. Never leaves the
 * process running: it is killed on timeout or abort.
 */
export function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const commandLine = [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted === true) {
      reject(new Error(`aborted before start: ${commandLine}`));
      return;
    }
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let failure: string | undefined;
    const kill = (why: string): void => {
      failure ??= why;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(() => kill(`timed out after ${timeoutMs} ms`), timeoutMs);
    const onAbort = (): void => kill("aborted");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout?.on("data", (d: Buffer) => out.push(d));
    child.stderr?.on("data", (d: Buffer) => err.push(d));
    child.stdin?.on("error", () => {
      // the command may exit without reading its input
    });
    child.on("error", (error) => {
      failure ??= `could not start: ${error.message}`;
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (failure === undefined && code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const status = failure ?? (signal !== null ? `killed by ${signal}` : `exit code ${code}`);
      reject(new Error(`command failed (${status}): ${commandLine}\n${stderr.trim()}`));
    });
    child.stdin?.end(options.input ?? "");
  });
}

/** Options of {@link Netns.addBandwidthCap}. */
export interface BandwidthCapOptions {
  /** tbf bucket size. @default "16kb" */
  burst?: string;
  /** Longest time a packet may wait in the tbf queue. @default "100ms" */
  latency?: string;
}

/** Options of {@link Netns.addRandomDrop}. */
export interface RandomDropOptions {
  /**
   * Netfilter hooks the rule sits on. On loopback every packet crosses both
   * output and input, so with both hooks the loss is `1 − (1 − N/100)²`.
   * @default ["input"]
   */
  hooks?: readonly ("input" | "output")[];
  /** Only drop TCP packets to or from this port. @default every packet */
  port?: number;
}

const DROP_TABLE = "peerlink_loss";
let counter = 0;
const live = new Set<Netns>();

/**
 * A network namespace created by {@link createNetns}: loopback up with MTU
 * 1500, nothing else. Delete it with {@link Netns.delete} (or use {@link withNetns}).
 */
export class Netns {
  /** The namespace's name (unique per call). */
  readonly name: string;
  /** Absolute paths of the tools in use. */
  readonly tools: NetnsTools;
  readonly #children = new Set<ChildProcess>();
  #deleted: Promise<void> | undefined;
  #capped = false;
  #dropping = false;

  /** @internal Use {@link createNetns}. */
  constructor(name: string, tools: NetnsTools) {
    this.name = name;
    this.tools = tools;
  }

  #assertAlive(): void {
    if (this.#deleted !== undefined) throw new Error(`network namespace ${this.name} was deleted`);
  }

  /** Runs `command args…` inside the namespace (`ip netns exec`) and returns its output; throws on failure. */
  exec(command: string, args: readonly string[] = [], options: RunOptions = {}): Promise<CommandResult> {
    this.#assertAlive();
    return runCommand(this.tools.ip, ["netns", "exec", this.name, command, ...args], options);
  }

  /**
   * Starts a long-running `command args…` inside the namespace. The process is
   * killed by {@link delete} if it is still running then.
   */
  spawn(command: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    this.#assertAlive();
    const child = spawn(this.tools.ip, ["netns", "exec", this.name, command, ...args], { stdio: "pipe", ...options });
    this.#children.add(child);
    child.on("exit", () => this.#children.delete(child));
    child.on("error", () => this.#children.delete(child));
    return child;
  }

  /** Caps the namespace's loopback with `tc qdisc add dev lo root tbf rate <rate> burst 16kb latency 100ms` (rate like "8mbit"). */
  async addBandwidthCap(rate: string, options: BandwidthCapOptions = {}): Promise<void> {
    if (!/^\d+(\.\d+)?([kmg]?(bit|bps))$/i.test(rate)) {
      throw new Error(`bandwidth cap rate must look like "8mbit" or "500kbps", got ${JSON.stringify(rate)}`);
    }
    const verb = this.#capped ? "replace" : "add";
    await this.exec(this.tools.tc, [
      "qdisc",
      verb,
      "dev",
      "lo",
      "root",
      "tbf",
      "rate",
      rate,
      "burst",
      options.burst ?? "16kb",
      "latency",
      options.latency ?? "100ms",
    ]);
    this.#capped = true;
  }

  /** Removes the bandwidth cap (no-op when there is none). */
  async removeBandwidthCap(): Promise<void> {
    if (!this.#capped) return;
    await this.exec(this.tools.tc, ["qdisc", "del", "dev", "lo", "root"]);
    this.#capped = false;
  }

  /**
   * Drops `percent` % of packets at random with an nftables rule
   * (`numgen random mod 100 < N drop`, a plain `drop` for 100) in an inet table;
   * replaces an earlier drop rule.
   */
  async addRandomDrop(percent: number, options: RandomDropOptions = {}): Promise<void> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new Error(`random drop percent must be an integer 0..100, got ${percent}`);
    }
    const port = options.port;
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw new Error(`random drop port must be a TCP port, got ${port}`);
    }
    const hooks = options.hooks ?? ["input"];
    if (hooks.length === 0) throw new Error("random drop needs at least one hook");
    // nft rejects `< 100` (the value must be below the modulus): 100 % is an unconditional drop.
    const drop = percent === 100 ? "drop" : `numgen random mod 100 < ${percent} drop`;
    const rules = port === undefined ? [drop] : [`tcp dport ${port} ${drop}`, `tcp sport ${port} ${drop}`];
    const chains = [...new Set(hooks)].map(
      (hook) =>
        `  chain ${hook} {\n    type filter hook ${hook} priority 0; policy accept;\n${rules.map((r) => `    ${r}\n`).join("")}  }\n`,
    );
    // Declaring then deleting the table makes the load replace any earlier rule atomically.
    const script = `table inet ${DROP_TABLE}\ndelete table inet ${DROP_TABLE}\ntable inet ${DROP_TABLE} {\n${chains.join("")}}\n`;
    await this.exec(this.tools.nft, ["-f", "-"], { input: script });
    this.#dropping = true;
  }

  /** Removes the random-drop rule (no-op when there is none). */
  async removeRandomDrop(): Promise<void> {
    if (!this.#dropping) return;
    await this.exec(this.tools.nft, ["delete", "table", "inet", DROP_TABLE]);
    this.#dropping = false;
  }

  /** Kills the processes {@link spawn} started that still run, then deletes the namespace. Idempotent. */
  delete(): Promise<void> {
    this.#deleted ??= (async () => {
      live.delete(this);
      await Promise.all(
        [...this.#children].map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
          child.kill("SIGKILL");
          await exited;
        }),
      );
      await runCommand(this.tools.ip, ["netns", "delete", this.name]);
    })();
    return this.#deleted;
  }
}

/**
 * Creates a uniquely named network namespace with loopback up and MTU 1500
 * (tbf drops every packet at lo's default 64 KiB MTU).
 *
 * @throws Error when not root, a tool is missing, or `ip` fails.
 */
export async function createNetns(options: { prefix?: string; signal?: AbortSignal } = {}): Promise<Netns> {
  const tools = assertNetnsSupport();
  counter += 1;
  const name = `${options.prefix ?? "pl"}-${process.pid}-${counter}-${randomBytes(3).toString("hex")}`;
  const run = { ...(options.signal === undefined ? {} : { signal: options.signal }) };
  await runCommand(tools.ip, ["netns", "add", name], run);
  const ns = new Netns(name, tools);
  live.add(ns);
  try {
    await runCommand(tools.ip, ["-n", name, "link", "set", "lo", "mtu", "1500"], run);
    await runCommand(tools.ip, ["-n", name, "link", "set", "lo", "up"], run);
  } catch (error) {
    await ns.delete().catch(() => undefined);
    throw error;
  }
  return ns;
}

/** Runs `fn` with a fresh namespace and deletes the namespace afterwards, whatever happens. */
export async function withNetns<T>(fn: (ns: Netns) => Promise<T>, options: { prefix?: string } = {}): Promise<T> {
  const ns = await createNetns(options);
  try {
    return await fn(ns);
  } finally {
    await ns.delete();
  }
}

/** Deletes every namespace this process created and has not deleted yet (for an `afterAll` safety net). */
export async function deleteAllNetns(): Promise<void> {
  await Promise.all([...live].map((ns) => ns.delete()));
}

/** Names of the namespaces that exist on the machine right now (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const { ip } = assertNetnsSupport();
  const { stdout } = await runCommand(ip, ["netns", "list"]);
  return stdout
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name !== "");
}
