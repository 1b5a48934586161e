import type { ChildProcess } from "node:child_process";
import { statSync } from "node:fs";
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
  next(event: string): Promise<Line>;
  exited: Promise<number | null>;
}

function start(args: string[]): Node {
  const lines = spawnNode<Line>(bin, ["node", ...args, "--json"], { parse: jsonLine, cwd: root });
  return {
    child: lines.proc,
    lines: lines.lines,
    exited: lines.exited.then((exit) => exit.code),
    next: (event) => lines.waitFor((o) => o.event === event, 20_000),
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
