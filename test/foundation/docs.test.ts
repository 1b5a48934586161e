import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;

describe("the API reference", () => {
  it("builds with typedoc with zero warnings (warnings are errors)", async () => {
    const result = await run(join(root, "node_modules/.bin/typedoc"), ["--emit", "none"], { cwd: root }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
    );
    expect(result.out).not.toMatch(/\[warning\]|\[error\]/);
    expect(result.code).toBe(0);
  }, 60_000);
});
