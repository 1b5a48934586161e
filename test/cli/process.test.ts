import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDist } from "../helpers/dist.js";
import { jsonLine, spawnNode } from "../helpers/line-child.js";

const root = join(import.meta.dirname, "..", "..");
const bin = join(root, "bin", "peerlink.js");
const built = join(root, "dist", "src", "cli", "main.js");


type Line = Record<string, unknown>;

/** A `peerlink node --json` process (test/helpers/line-child.ts): its JSON lines, the next line of an event, its exit code. */
interface Node {
  readonly child: ChildProcess;
  readonly lines: readonly Line[];
  /** Waits for the next line of `event` (rejects after `withinMs`, 20 s by default). */
  next(event: string, withinMs?: number): Promise<Line>;
  exited: Promise<number | null>;
}

function start(args: string[]): Node {
  const lines = spawnNode<Line>(bin, ["node", ...args, "--json"], { parse: jsonLine, cwd: root });
  return {
    child: lines.proc,
    lines: lines.lines,
    exited: lines.exited.then((exit) => exit.code),
    next: (event, withinMs = 20_000) => lines.waitFor((o) => o.event === event, withinMs),
  };
}

const children: Node[] = [];

beforeAll(async () => {
  // The executable runs the compiled CLI.
  await ensureDist();
  expect(statSync(built).isFile()).toBe(true);
}, 180_000);

afterAll(() => {
  for (const n of children) if (n.child.exitCode === null) n.child.kill("SIGKILL");
});

describe("two `peerlink node --json` processes with TLS", () => {
  it("connect, print the JSON-lines contract, and stop on SIGTERM with goodbye SHUTDOWN and exit code 0", async () => {
    const a = start(["--listen", "127.0.0.1:0", "--tls"]);
    children.push(a);
    const listening = await a.next("listening");
    expect(a.lines[0]).toBe(listening);
    expect(listening.peerId).toMatch(/^[a-z2-7]{52}$/);
    const address = (listening.addresses as string[])[0] as string;
    expect(address).toMatch(/^127\.0\.0\.1:[1-9][0-9]*$/);

    const b = start(["--listen", "127.0.0.1:0", "--dial", address]);
    children.push(b);
    const bListening = await b.next("listening");
    const [openA, openB] = await Promise.all([a.next("connection:open"), b.next("connection:open")]);
    expect(openA).toMatchObject({ peer: bListening.peerId, direction: "inbound", protocolVersion: 1, capabilities: [] });
    expect(openB).toEqual({
      event: "connection:open",
      peer: listening.peerId,
      direction: "outbound",
      remoteAddress: address,
      protocolVersion: 1,
      capabilities: [],
      protocols: ["/chat"],
    });

    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    expect(await b.next("connection:close")).toEqual({ event: "connection:close", peer: listening.peerId, reason: "shutdown", initiator: "remote" });
    expect(a.lines.find((o) => o.event === "connection:close")).toEqual({
      event: "connection:close",
      peer: bListening.peerId,
      reason: "shutdown",
      initiator: "local",
    });

    b.child.kill("SIGINT");
    expect(await b.exited).toBe(0);
    expect(b.lines.at(-1)).toEqual({ event: "stopped" });
  }, 20_000);
});

describe("the executable as an operator tool", () => {
  it("connects a --peer target started 10 s late, with the default reconnect policy", async () => {
    const key = join(tmpdir(), `peerlink-late-${process.pid}.pem`);
    const keygen = spawnSync(process.execPath, [bin, "keygen", key, "--force"], { encoding: "utf8" });
    expect(keygen.status).toBe(0);
    const peerId = keygen.stdout.trim();
    // A free port for the late target: bind one, note it, release it.
    const probe = start(["--no-stdin"]);
    children.push(probe);
    const address = ((await probe.next("listening")).addresses as string[])[0] as string;
    probe.child.kill("SIGTERM");
    await probe.exited;

    const dialer = start(["--peer", `${peerId}@${address}`]);
    children.push(dialer);
    const failed = await dialer.next("connection:error");
    expect(failed).toMatchObject({ code: "CONNECT_FAILED" });
    await new Promise((r) => setTimeout(r, 10_000));
    expect(dialer.lines.some((o) => o.event === "connection:open")).toBe(false);
    const target = start(["--listen", address, "--identity", key, "--no-stdin"]);
    children.push(target);
    await target.next("listening");
    // The dialer's redials back off with full jitter (0–2^n s after the n-th failure): the next one may be far
    // off. It says when (its last reconnect:scheduled line); each wait allows that delay and 20 s more. A redial
    // that was under way as the target came up may fail and schedule one more: the wait then follows it.
    let open: Record<string, unknown> | undefined;
    for (let waits = 0; open === undefined && waits < 3; waits++) {
      const scheduled = dialer.lines.filter((o) => o.event === "reconnect:scheduled").at(-1);
      open = await dialer.next("connection:open", Number(scheduled?.delayMs ?? 0) + 20_000).catch(() => undefined);
    }
    expect(open).toMatchObject({ peer: peerId, direction: "outbound", remoteAddress: address });
    // Lines typed on the dialer's stdin reach the target.
    dialer.child.stdin?.write("typed on stdin\n");
    expect(await target.next("message")).toMatchObject({ protocol: "/chat", utf8: "typed on stdin" });
    target.child.kill("SIGTERM");
    dialer.child.kill("SIGTERM");
    expect(await target.exited).toBe(0);
    expect(await dialer.exited).toBe(0);
  }, 400_000);

  it("ends gracefully with exit 0 when its reader goes away (peerlink node --json | head -1)", () => {
    const run = spawnSync("bash", ["-c", `set -o pipefail; node ${JSON.stringify(bin)} node --json --no-stdin --peers-every-ms 20 | head -1`], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toMatchObject({ event: "listening" });
    expect(run.status).toBe(0);
  });

  it("prints --help and --version", () => {
    const help = spawnSync(process.execPath, [bin, "--help"], { encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("peerlink node [options]");
    expect(spawnSync(process.execPath, [bin, "--version"], { encoding: "utf8" }).stdout).toMatch(/^[0-9]+\.[0-9]+\.[0-9]+\n$/);
  });
});
