import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDist } from "../helpers/dist.js";
import { parsePrometheusText, type PromFamily } from "../observability/prom-text.js";

const root = new URL("../../", import.meta.url).pathname;

interface DemoRun {
  readonly code: number | null;
  readonly lines: string[];
  readonly stderr: string;
  /** What /metrics served once the degraded-link phase had begun. */
  readonly metrics: string;
}

/** Runs the demo in a pipe (as `npm run demo | cat` would) and scrapes the status page's /metrics while it runs. */
function runDemo(nodes: number): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["examples/demo-mesh.mjs"], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DEMO_NODES: String(nodes) } });
    const lines: string[] = [];
    let stderr = "";
    let url: string | undefined;
    let scrape: Promise<string> = Promise.resolve("");
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line);
      url ??= /status page of node0: (\S+)/.exec(line)?.[1];
      if (line.includes("== degraded link") && url !== undefined) scrape = fetch(`${url}metrics`).then((r) => r.text());
    });
    child.on("error", reject);
    child.on("close", (code) => {
      scrape.then((metrics) => resolve({ code, lines, stderr, metrics }), reject);
    });
  });
}

const total = (families: Map<string, PromFamily>, name: string): number =>
  (families.get(name)?.samples ?? []).filter((s) => s.name === name).reduce((sum, s) => sum + s.value, 0);

beforeAll(async () => {
  await ensureDist();
}, 180_000);

const tmux = (args: string[]) => spawnSync("tmux", args, { encoding: "utf8" });
const session = `peerlink-demo-${process.pid}`;
afterAll(() => {
  tmux(["kill-session", "-t", session]);
});

describe("the demo of the README's quick start", () => {
  it.each([3, 12])("tells the whole story with %i nodes in a pipe, its metrics scraped while it runs", async (nodes) => {
    const run = await runDemo(nodes);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const text = run.lines.join("\n");
    // No npm banner, no build output: the story starts at once.
    expect(run.lines[0]).toMatch(/^status page of node0: http:\/\/127\.0\.0\.1:\d+\//);
    // Establishment: a ring of TLS connections, each with a 0-RTT hello, and a limit refusal. Exactly the ring's
    // links open, each at least once: on a loaded machine a ring link may miss its pongs and be redialed (its
    // second open is the reconnect strategy at work, not a new link). The whole output on failure.
    const ringOpens = run.lines.flatMap((l) => /(\S+) -> (node\d+) +open \(TLS 1\.3/.exec(l)?.slice(1, 3).join(">") ?? []);
    const ring = Array.from({ length: nodes }, (_, i) => `node${i}>node${(i + 1) % nodes}`);
    expect(new Set(ringOpens), text).toEqual(new Set(ring));
    expect(run.lines.filter((l) => l.includes("(0-RTT)"))).toHaveLength(nodes);
    expect(text).toMatch(/guest's dial rejected: CONNECTION_LIMIT \(node1 said Goodbye resource_constraint, retry after 30 s\)/);
    // A ban: the peer is told, and never redialed.
    expect(text).toContain("node2 bans node1");
    expect(text).toContain("node2 x  node1  goodbye peer_banned");
    expect(text).toContain("node1 will never redial node2 (peer_banned)");
    // The degraded link: node0's grade of node1 falls to poor or critical, then node0 replaces it
    // make-before-break (the guest's connection opens before node1's closes).
    expect(text).toMatch(/node0 sees node1 \S+ -> (poor|critical)/);
    const replacementOpen = run.lines.findIndex((l) => l.includes("node0 -> guest  open"));
    const degradedClose = run.lines.findIndex((l) => l.includes("node0 x  node1  goodbye network_restructure"));
    expect(replacementOpen).toBeGreaterThan(0);
    expect(degradedClose).toBeGreaterThan(replacementOpen);
    // A goodbye with its reason, and the redial that reason calls for, actually happening.
    const scheduled = run.lines.findIndex((l) => /node0 will redial guest in [0-9.]+ s \(after shutdown\)/.test(l));
    const reopened = run.lines.findIndex((l, i) => i > scheduled && l.includes("node0 -> guest  open"));
    expect(scheduled).toBeGreaterThan(degradedClose);
    expect(reopened).toBeGreaterThan(scheduled);
    // The closing summary: one row per node and the guest.
    const summary = run.lines.indexOf("summary");
    expect(summary).toBeGreaterThan(reopened);
    expect(run.lines.slice(summary + 2, summary + 3 + nodes).map((l) => l.split(/\s+/)[0])).toEqual([...Array.from({ length: nodes }, (_, i) => `node${i}`), "guest"]);
    expect(run.lines.at(-1)).toMatch(/^demo finished in [0-9.]+ s$/);

    // /metrics during the run: valid exposition text, with the connections and the ban counted.
    const families = parsePrometheusText(run.metrics);
    expect(total(families, "peerlink_connections_opened_total")).toBeGreaterThanOrEqual(2 * nodes);
    expect(total(families, "peerlink_bans_issued_total")).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it("refuses a node count outside 3..12 in one line", () => {
    const run = spawnSync(process.execPath, ["examples/demo-mesh.mjs"], { cwd: root, encoding: "utf8", env: { ...process.env, DEMO_NODES: "13" } });
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe('DEMO_NODES must be an integer from 3 to 12, got "13"');
  });

  it("draws a live table in a real terminal (tmux) that updates in place, and ends with the summary", async () => {
    expect(tmux(["-V"]).status, "tmux is installed (.ci/run installs it)").toBe(0);
    const started = tmux(["new-session", "-d", "-s", session, "-x", "160", "-y", "50", `cd ${root} && node examples/demo-mesh.mjs; sleep 60`]);
    expect(started.status).toBe(0);
    const capture = () => tmux(["capture-pane", "-t", session, "-p"]).stdout;
    const waitFor = async (test: (screen: string) => boolean): Promise<string> => {
      for (;;) {
        const screen = capture();
        if (test(screen)) return screen;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const first = await waitFor((s) => s.includes("NODE   PEER   DIR ADDRESS") && / ban: /.test(s));
    // Redrawn in place: the header is on the first line of the screen, once.
    expect(first.split("\n")[0]).toMatch(/^peerlink demo: 5 nodes \+ guest on 127\.0\.0\.1 +\d+\.\ds +ban: /);
    expect(first.match(/NODE {3}PEER/g)).toHaveLength(1);
    expect(first).toMatch(/node0 +node1 +out .* excellent/);
    const later = await waitFor((s) => /node0 +node1 +out .* (poor|critical)/.test(s));
    expect(later.split("\n")[0]).toMatch(/degraded link/);
    expect(later.match(/NODE {3}PEER/g)).toHaveLength(1);
    const end = await waitFor((s) => /demo finished in [0-9.]+ s/.test(s));
    expect(end).toMatch(/NODE +OPEN OPENED/);
  }, 120_000);
});
