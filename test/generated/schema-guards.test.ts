/**
 * The guards `npm run lint` runs over the schemas (`buf breaking` against the released image, the
 * freshness check of generated/) must fail when they should; the lint stage runs them on the tree itself.
 */
import { execFile } from "node:child_process";
import { cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain ESM script without types
import { diffGenerated } from "../../scripts/check-generated.mjs";
import { withTempDir } from "../helpers/temp-dir.js";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const buf = join(root, "node_modules/.bin/buf");
const baseline = join(root, "proto/peerlink.v1.binpb");

async function bufExit(args: string[], cwd = root): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(buf, args, { cwd });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

describe("the breaking-change guard", () => {
  it("fails (exit 100) when a released field number changes", async () => {
    await withTempDir("peerlink-breaking-", async (dir) => {
      await cp(join(root, "proto/peerlink"), join(dir, "peerlink"), { recursive: true });
      const file = join(dir, "peerlink/v1/ping.proto");
      const text = await readFile(file, "utf8");
      expect(text).toContain("uint32 nonce = 1;");
      await writeFile(file, text.replace("uint32 nonce = 1;", "uint32 nonce = 5;"));
      const result = await bufExit(["breaking", ".", "--against", baseline], dir);
      expect(result.code).toBe(100);
      expect(result.out).toMatch(/field "1" with name "nonce"/);
    });
  });

  it("fails the freshness check when a generated file is edited by hand", async () => {
    await withTempDir("peerlink-generated-", async (dir) => {
      await cp(join(root, "generated"), dir, { recursive: true });
      expect(diffGenerated(dir)).toEqual([]);
      const file = join(dir, "peerlink/v1/goodbye_pb.ts");
      await writeFile(file, (await readFile(file, "utf8")) + "\n// edited by hand\n");
      expect(diffGenerated(dir)).toEqual(["stale or edited: generated/peerlink/v1/goodbye_pb.ts"]);
    });
  });
});
