import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseArgs } from "../../src/cli/args.js";
import { ensureDist } from "../helpers/dist.js";

const root = join(import.meta.dirname, "..", "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const jsBlocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const shBlocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);

// A project next to nothing but peerlink, as a user's would be: `import … from "peerlink"` resolves through
// node_modules to this repository's package exports.
const project = mkdtempSync(join(tmpdir(), "peerlink-readme-"));
beforeAll(async () => {
  await ensureDist();
  mkdirSync(join(project, "node_modules"));
  symlinkSync(root, join(project, "node_modules", "peerlink"), "dir");
}, 180_000);
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe("the README's snippets", () => {
  it("has JavaScript snippets to run", () => {
    expect(jsBlocks.length).toBeGreaterThan(0);
  });

  it.each(jsBlocks.map((code, i) => [i, code] as const))("snippet %i runs as written and exits 0", (i, code) => {
    const file = join(project, `snippet-${i}.mjs`);
    writeFileSync(file, code);
    const run = spawnSync(process.execPath, [file], { cwd: project, encoding: "utf8", timeout: 60_000 });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^\/chat from [a-z2-7]{52}: hi\n(excellent|good|fair|poor|critical) /);
  }, 70_000);

  it("uses only `peerlink` command lines the CLI accepts", () => {
    const commands = shBlocks.flatMap((b) => b.split("\n")).flatMap((line) => [...line.matchAll(/npx peerlink ([^#&|;]*?)\s*(?:#|&&|$)/g)].map((m) => (m[1] as string).trim()));
    expect(commands.length).toBeGreaterThanOrEqual(4);
    for (const command of commands) {
      // Shell substitutions stand for a peer id the snippet computes.
      const argv = command.replace(/"\$\(npx peerlink id a\.key\)@/, '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@').split(/\s+/).map((a) => a.replace(/^"|"$/g, ""));
      if (argv[0] === "node" && argv.includes("--peer")) continue; // the id is only known at run time; covered by test/cli
      expect(() => parseArgs(argv), command).not.toThrow();
    }
  });

  it("the CLI lines run: keygen prints the id that id prints", () => {
    const bin = join(root, "bin", "peerlink.js");
    const key = join(project, "a.key");
    const keygen = spawnSync(process.execPath, [bin, "keygen", key], { encoding: "utf8" });
    const id = spawnSync(process.execPath, [bin, "id", key], { encoding: "utf8" });
    expect(keygen.status).toBe(0);
    expect(id.stdout).toBe(keygen.stdout);
    expect(parseArgs(["node", "--peer", `${id.stdout.trim()}@127.0.0.1:4001`])).toMatchObject({ command: "node" });
  });
});
