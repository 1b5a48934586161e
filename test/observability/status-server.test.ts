/**
 * The status server's routes over HTTP (issue 13): `/metrics` scraped while peers connect parses strictly
 * and its counters move; `/status.json` carries the peers and the filtered journal; the handler mounts
 * under a prefix on an application's own server.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { serveStatus, statusHandler } from "../../src/observability/status-page/server.js";
import type { StatusSnapshot } from "../../src/observability/status-page/snapshot.js";
import { nextEvent, startNode, stopAll } from "./fixtures.js";
import { parsePrometheusText, sampleValue } from "./prom-text.js";

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await stopAll();
});

describe("serveStatus", () => {
  it("serves /metrics (strict text, moving counters), /status.json and the page on one port", async () => {
    const node = await startNode();
    const server = await serveStatus(node, { host: "127.0.0.1", port: 0 });
    closers.push(() => server.close());
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    const scrape = async () => {
      const res = await fetch(new URL("metrics", server.url));
      expect(res.headers.get("content-type")).toContain("text/plain");
      return parsePrometheusText(await res.text());
    };
    expect(sampleValue(await scrape(), "peerlink_connections", { direction: "inbound" })).toBe(0);

    const peer = await startNode({ listen: [], reconnect: false });
    const opened = nextEvent(node, "connection:open");
    await peer.dial(node.addresses[0]!);
    await opened;
    const during = await scrape();
    expect(sampleValue(during, "peerlink_connections", { direction: "inbound" })).toBe(1);
    expect(sampleValue(during, "peerlink_connections_opened_total", { direction: "inbound" })).toBe(1);

    const status = (await (await fetch(new URL("status.json?kind=opened", server.url))).json()) as StatusSnapshot;
    expect(status.node.peerId).toBe(node.peerId.toString());
    expect(status.peers.map((p) => p.peer)).toEqual([peer.peerId.toString()]);
    expect(status.peers[0]).toMatchObject({ direction: "inbound", protocols: ["/test@1"] });
    expect(status.journal.entries.map((e) => e.kind)).toEqual(["opened"]);
    expect(status.history?.peer).toBe(peer.peerId.toString());

    const page = await fetch(server.url);
    const html = await page.text();
    expect(page.headers.get("content-type")).toContain("text/html");
    // Self-contained: nothing is loaded from anywhere else.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect((await fetch(new URL("nope", server.url))).status).toBe(404);
    expect((await fetch(server.url, { method: "POST" })).status).toBe(405);
  });

  it("serves the node's own registry when it has one, and rejects a port in use", async () => {
    const registry = new Registry();
    const node = await startNode({ metrics: registry });
    const handler = statusHandler(node);
    closers.push(() => handler.close());
    expect(handler.registry).toBe(registry);
    const server = await serveStatus(node, { host: "127.0.0.1", port: 0 });
    closers.push(() => server.close());
    const port = Number(new URL(server.url).port);
    await expect(serveStatus(node, { host: "127.0.0.1", port })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe("statusHandler", () => {
  it("mounts under a prefix on an application's server", async () => {
    const node = await startNode();
    const status = statusHandler(node, { basePath: "/peerlink" });
    const app = createServer((req, res) => {
      if (req.url?.startsWith("/peerlink")) return status(req, res);
      res.end("app");
    });
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise<void>((resolve) => app.close(() => resolve())));
    closers.push(() => status.close());
    const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;

    expect(await (await fetch(`${base}/`)).text()).toBe("app");
    const redirect = await fetch(`${base}/peerlink`, { redirect: "manual" });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get("location")).toBe("/peerlink/");
    expect((await fetch(`${base}/peerlink/`)).headers.get("content-type")).toContain("text/html");
    const metrics = parsePrometheusText(await (await fetch(`${base}/peerlink/metrics`)).text());
    expect(sampleValue(metrics, "peerlink_connections", { direction: "outbound" })).toBe(0);
    expect(((await (await fetch(`${base}/peerlink/status.json`)).json()) as StatusSnapshot).peers).toEqual([]);
  });
});
