/**
 * The status page end to end in headless Chromium (Debian's `chromium`, driven by playwright-core; no
 * browser download): it loads without console errors, the table fills with the node's peers, a ban shows
 * up in the journal view, the charts have points; a screenshot goes to test-artifacts/. A second test
 * renders 100 peers and prints the render time (not asserted: the machine is shared).
 */
import { mkdirSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import { serveStatus, type StatusServer } from "../../src/observability/status-page/server.js";
import { nextEvent, startNode, stopAll } from "./fixtures.js";
import { parsePrometheusText, sampleValue } from "./prom-text.js";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const ARTIFACTS = "test-artifacts";

let browser: Browser;
const servers: StatusServer[] = [];

beforeAll(async () => {
  // Running as root (CI) needs --no-sandbox; the page is our own.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await stopAll();
});

/** Opens `url`, recording console errors and uncaught page errors. */
async function open(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("requestfailed", (request) => errors.push(`request failed: ${request.url()}`));
  await page.goto(url);
  return { page, errors };
}

async function connectPeers(node: ConnectionManager, count: number, options: Parameters<typeof startNode>[0] = {}): Promise<ConnectionManager[]> {
  const peers: ConnectionManager[] = [];
  for (let i = 0; i < count; i++) peers.push(await startNode({ listen: [], reconnect: false, ...options }));
  let open = node.connections().length;
  const all = new Promise<void>((resolve) => {
    const off = node.on("connection:open", () => {
      if (++open >= count) {
        off();
        resolve();
      }
    });
  });
  await Promise.all(peers.map((p) => p.dial(node.addresses[0]!)));
  await all;
  return peers;
}

describe("the status page in Chromium", () => {
  it("shows the peers, a ban in the journal and charts with points, without console errors", async () => {
    // Fast keepalive, so RTT and health exist within the test.
    const maintenance = { pingIntervalMs: 200, maxPongTimeoutMs: 1000, healthCheckIntervalMs: 200 };
    const node = await startNode({ maintenance });
    const peers = await connectPeers(node, 3, { maintenance });
    const server = await serveStatus(node, { host: "127.0.0.1", port: 0, sampleIntervalMs: 200 });
    servers.push(server);

    const { page, errors } = await open(server.url);
    await page.waitForFunction(() => document.querySelectorAll("#peers-body tr.peer").length === 3, undefined, { timeout: 10_000 });
    const rows = await page.$$eval("#peers-body tr.peer", (trs) => trs.map((tr) => (tr as HTMLElement).dataset["peer"]));
    expect(rows.sort()).toEqual(peers.map((p) => p.peerId.toString()).sort());
    expect(await page.textContent("#node-id")).toBe(node.peerId.toString());

    // The charts of the selected peer get points once RTT and health are measured.
    await page.waitForFunction(() => Number(document.querySelector("#chart-rtt")?.getAttribute("data-points")) >= 2, undefined, { timeout: 15_000 });
    await page.waitForFunction(() => Number(document.querySelector("#chart-health")?.getAttribute("data-points")) >= 1, undefined, { timeout: 15_000 });

    // A ban issued in the node appears in the journal view within a few seconds.
    const banned = peers[1]!.peerId.toString();
    const closed = nextEvent(node, "connection:close", (e) => e.peer === banned);
    node.ban({ peerId: banned }, { reason: "seen in the browser test" });
    await closed;
    const seenAt = Date.now();
    await page.waitForFunction(
      (peer) => [...document.querySelectorAll("#journal-body tr.k-banned")].some((tr) => tr.querySelector("td[title]")?.getAttribute("title") === peer),
      banned,
      { timeout: 5_000 },
    );
    console.log(`status page: the ban appeared in the journal view ${Date.now() - seenAt} ms after it was issued`);
    await page.waitForFunction(() => document.querySelectorAll("#peers-body tr.peer").length === 2, undefined, { timeout: 5_000 });

    // The journal filter narrows the view to bans.
    await page.selectOption("#f-kind", "banned");
    await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll("#journal-body tr")];
        return rows.length > 0 && rows.every((tr) => tr.className === "k-banned");
      },
      undefined,
      { timeout: 5_000 },
    );

    // The same port serves /metrics, with the RTT histogram filled by the pongs behind the chart.
    const metrics = parsePrometheusText(await (await fetch(new URL("metrics", server.url))).text());
    expect(sampleValue(metrics, "peerlink_rtt_seconds_count")).toBeGreaterThan(0);
    expect(sampleValue(metrics, "peerlink_bans_issued_total", { kind: "peer" })).toBe(1);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/status-page.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 60_000);

  it("renders 100 peers", async () => {
    const limits = { maxInbound: 150, maxPerIp: 150, maxPerSubnet: 150, maxPendingPerIp: 150, maxPendingPerSubnet: 150, maxPendingInbound: 150, inboundRateBurst: 200 };
    const node = await startNode({ tls: false, limits });
    await connectPeers(node, 100, { tls: false });
    const server = await serveStatus(node, { host: "127.0.0.1", port: 0 });
    servers.push(server);

    const { page, errors } = await open(server.url);
    await page.waitForFunction(() => document.querySelectorAll("#peers-body tr.peer").length === 100, undefined, { timeout: 15_000 });
    // Let a few refreshes go by: the page keeps up (it renders again) rather than freezing.
    const renders = await page.evaluate(() => (window as unknown as { peerlinkStatus: { renders: number } }).peerlinkStatus.renders);
    await page.waitForFunction((n) => (window as unknown as { peerlinkStatus: { renders: number } }).peerlinkStatus.renders >= n + 2, renders, { timeout: 10_000 });
    const ms = await page.evaluate(() => (window as unknown as { peerlinkStatus: { lastRenderMs: number } }).peerlinkStatus.lastRenderMs);
    console.log(`status page: 100 peers rendered in ${ms.toFixed(1)} ms`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/status-page-100-peers.png` });
    expect(errors).toEqual([]);
  }, 120_000);
});
