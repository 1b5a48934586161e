import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;

/** Runs `node examples/demo-mesh.mjs` (the README's quick start) and collects its output. */
function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["examples/demo-mesh.mjs"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("the demo mesh of the README's quick start", () => {
  it("connects five TLS nodes, delivers 0-RTT and later messages, grades health, bans, says goodbye and exits 0", async () => {
    expect(existsSync(`${root}dist/src/index.js`), "npm test builds dist/ before vitest").toBe(true);
    const { code, stdout, stderr } = await runDemo();
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout.split("\n");
    expect(lines.filter((l) => l.includes("listening on 127.0.0.1:"))).toHaveLength(5);
    // A complete graph of 5 nodes: 10 connections, each opened on both sides.
    expect(lines.filter((l) => / open {3}(inbound|outbound)/.test(l))).toHaveLength(20);
    expect(lines.filter((l) => l.includes("(0-RTT)"))).toHaveLength(10);
    expect(lines.filter((l) => l.includes("says hi after the handshake"))).toHaveLength(10);
    expect(lines.some((l) => / health \S+ → (excellent|good)/.test(l))).toBe(true);
    expect(lines.some((l) => l.includes("reason=peer_banned by remote"))).toBe(true);
    expect(lines.some((l) => l.includes("never redial") && l.includes("peer_banned"))).toBe(true);
    expect(lines.some((l) => l.includes("reason=shutdown by remote"))).toBe(true);
    expect(lines.at(-2)).toMatch(/all nodes stopped$/);
  }, 40_000);
});
