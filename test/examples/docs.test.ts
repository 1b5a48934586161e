import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LIMIT_FLAGS, MAINTENANCE_FLAGS } from "../../src/cli/args.js";
import { EVENT_SCHEMA } from "../../src/cli/events.js";
import { resolveMaintenanceOptions } from "../../src/maintenance/maintenance-options.js";
import { resolveManagerOptions } from "../../src/manager/manager-options.js";

const docs = join(import.meta.dirname, "..", "..", "docs");
const read = (name: string) => readFileSync(join(docs, name), "utf8");

/** The default column of the row of `option` in a Markdown table. */
function documentedDefault(text: string, option: string): string | undefined {
  return new RegExp(`^\\| \`${option}\` \\| \`([^\`]+)\``, "m").exec(text)?.[1];
}

describe("the guides in docs/", () => {
  it("the configuration reference lists every limit and maintenance option with the default the code uses", () => {
    const text = read("CONFIGURATION.md");
    const limits = resolveManagerOptions({}).limits as unknown as Record<string, unknown>;
    const maintenance = resolveMaintenanceOptions({}) as unknown as Record<string, unknown>;
    for (const key of Object.values(LIMIT_FLAGS)) expect(documentedDefault(text, key), key).toBe(String(limits[key]));
    expect(documentedDefault(text, "banDurationsMs")).toBe(`[${(limits.banDurationsMs as number[]).join(", ")}]`);
    for (const key of Object.values(MAINTENANCE_FLAGS)) expect(documentedDefault(text, key), key).toBe(String(maintenance[key]));
    const { inboundRate, autoBan } = resolveManagerOptions({}).misbehaviour;
    for (const [key, value] of Object.entries({ ...inboundRate, ...autoBan })) expect(documentedDefault(text, key), key).toBe(String(value));
  });

  it("the operating guide documents every JSON event of the CLI", () => {
    const text = read("OPERATING.md");
    for (const event of Object.keys(EVENT_SCHEMA)) expect(text, event).toContain(`| \`${event}\` |`);
  });

  it("every relative link of every guide and of the README points to a file in the repository", () => {
    const files = readdirSync(docs).filter((f) => f.endsWith(".md"));
    expect(files).toEqual(expect.arrayContaining(["GETTING-STARTED.md", "CONFIGURATION.md", "OPERATING.md", "INTEROP.md", "ARCHITECTURE.md"]));
    const pages = [...files.map((f) => [join(docs, f), read(f)] as const), [join(docs, "..", "README.md"), readFileSync(join(docs, "..", "README.md"), "utf8")] as const];
    for (const [path, text] of pages) {
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target as string)) continue;
        expect(() => readFileSync(join(path, "..", target as string)), `${path} -> ${target}`).not.toThrow(/ENOENT/);
      }
    }
  });
});
