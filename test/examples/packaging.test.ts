import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDist } from "../helpers/dist.js";

const root = join(import.meta.dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};
// A project that depends on peerlink, as a user's would.
const project = mkdtempSync(join(tmpdir(), "peerlink-pkg-"));
beforeAll(async () => {
  await ensureDist();
  mkdirSync(join(project, "node_modules"));
  symlinkSync(root, join(project, "node_modules", "peerlink"), "dir");
}, 180_000);
afterAll(() => rmSync(project, { recursive: true, force: true }));

function node(args: string[]) {
  return spawnSync(process.execPath, args, { cwd: project, encoding: "utf8", timeout: 30_000 });
}

describe("the package as a dependency", () => {
  it("resolves the generated codecs at the documented subpath", () => {
    const run = node(["--input-type=module", "-e", 'const m = await import("peerlink/generated/peerlink/v1/frame_pb.js"); console.log(typeof m.FrameSchema)']);
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("object");
  });

  it("installs no global on import (Reflect.getMetadata comes only with the first TLS certificate)", () => {
    const run = node([
      "--input-type=module",
      "-e",
      'const p = await import("peerlink"); const before = typeof Reflect.getMetadata; await p.createTlsCredentials(p.Identity.generate()); console.log(before, typeof Reflect.getMetadata)',
    ]);
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("undefined function");
  });

  it("answers require() with the module where Node can, and never with an unhelpful error", () => {
    const run = node(["-e", 'try { const p = require("peerlink"); console.log(typeof p.ConnectionManager) } catch (e) { console.log(e.message) }']);
    expect(run.stdout.trim()).toMatch(/^function$|^peerlink is an ES module: use `import/);
  });

  it("exports what users need and no internals", async () => {
    const api = await import("../../src/index.js");
    for (const name of ["ConnectionManager", "Identity", "PeerId", "PeerlinkError", "ErrorCode", "DisconnectReason", "HealthGrade", "FilePeerStore", "serveStatus"]) {
      expect(api, name).toHaveProperty(name);
    }
    for (const name of ["TypedEmitter", "openConnection", "Handshake", "createMaintenanceService", "createReconnectService", "sessionCacheKey", "backoffDelay"]) {
      expect(api, name).not.toHaveProperty(name);
    }
  });

  it("has no unused dependency, and builds dist/ on install (prepare) so the bin runs after npm ci", () => {
    expect(pkg.dependencies).not.toHaveProperty("@assemblyscript/loader");
    expect(pkg.devDependencies).not.toHaveProperty("typedoc-plugin-markdown");
    expect(pkg.scripts.prepare).toContain("tsc -p tsconfig.json");
    // The demo runs what prepare built: no build (and no debug WebAssembly) on its path.
    expect(pkg.scripts.demo).toBe("node examples/demo-mesh.mjs");
  });
});
