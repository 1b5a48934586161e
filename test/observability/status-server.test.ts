/**
 * The status server's routes over HTTP (issue 13): `/metrics` scraped while peers connect parses strictly
 * and its counters move; `/status.json` carries the peers and the filtered journal; the handler mounts
 * under a prefix on an application's own server. Against hostile clients over real sockets: a request target
 * the URL parser refuses, pipelined requests never read, Host and `:authority` names it was not told of (DNS
 * rebinding), and connections past the caps.
 */
import { createServer } from "node:http";
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
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

/** Writes `text` on a fresh TCP connection to `url`'s port; resolves with what came back once the server closed it. */
async function rawExchange(url: string, text: string, endAfter?: (received: string) => boolean): Promise<{ received: string; closedByServer: boolean }> {
  const socket = net.connect({ host: "127.0.0.1", port: Number(new URL(url).port) });
  let received = "";
  return new Promise((resolve, reject) => {
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      if (endAfter?.(received) === true) {
        socket.destroy();
        resolve({ received, closedByServer: false });
      }
    });
    socket.on("close", () => resolve({ received, closedByServer: true }));
    socket.write(text);
  });
}

const count = (text: string, what: string): number => text.split(what).length - 1;

describe("the status server against hostile clients", () => {
  it("answers 400 to a request target the URL parser refuses, and keeps serving (it took the process down)", async () => {
    const node = await startNode();
    const server = await serveStatus(node, { host: "127.0.0.1", port: 0 });
    closers.push(() => server.close());
    for (const target of ["//[/", "//a:99999/", "http://[/"]) {
      const { received } = await rawExchange(server.url, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(received).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect((await fetch(new URL("status.json", server.url))).status).toBe(200);
  });

  it("drops a client that pipelines requests without reading the answers, before building them all", async () => {
    const node = await startNode();
    const server = await serveStatus(node, { host: "127.0.0.1", port: 0 });
    closers.push(() => server.close());
    const request = "GET /status.json?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    // Answered in full, the five would be five 200s on a connection kept alive.
    const { received, closedByServer } = await rawExchange(server.url, request.repeat(5), (r) => count(r, "HTTP/1.1 200") === 5);
    expect(closedByServer).toBe(true);
    expect(count(received, "HTTP/1.1 200")).toBeLessThanOrEqual(1);
    // One request at a time, as browsers and scrapers send them, is answered on one connection.
    const { received: twice } = await rawExchange(server.url, request, (r) => count(r, "HTTP/1.1 200") === 1);
    expect(count(twice, "HTTP/1.1 200")).toBe(1);
  });

  it("answers only Host names it was told of (DNS rebinding), and sends its security headers", async () => {
    const node = await startNode();
    const server = await serveStatus(node, { host: "127.0.0.1", port: 0, allowedHosts: ["Node1.Example"] });
    closers.push(() => server.close());
    const get = (host: string) => rawExchange(server.url, `GET /status.json HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect((await get("attacker.example")).received).toMatch(/^HTTP\/1\.1 421 /);
    expect((await get("attacker.example:80")).received).toMatch(/^HTTP\/1\.1 421 /);
    for (const host of ["127.0.0.1:1", "localhost:9464", "localhost.:9464", "[::1]:9464", "node1.example:9464", "NODE1.example."]) {
      expect((await get(host)).received).toMatch(/^HTTP\/1\.1 200 /);
    }
    const page = await fetch(server.url);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'.*script-src 'sha256-[^']+'/);
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect((await fetch(new URL("metrics", server.url))).headers.get("cross-origin-resource-policy")).toBe("same-origin");
  });

  it("keeps at most 16 connections from one address and 64 in all: the next is closed as it arrives", async () => {
    const node = await startNode();
    const server = await serveStatus(node, { host: "127.0.0.1", port: 0 });
    closers.push(() => server.close());
    const port = Number(new URL(server.url).port);
    const held: net.Socket[] = [];
    closers.push(() => held.forEach((s) => s.destroy()));
    const request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    /** A connection from `from` that got an answer: the server took it. */
    const answered = async (from: string): Promise<void> => {
      const s = net.connect({ host: "127.0.0.1", port, localAddress: from });
      s.on("error", () => {});
      held.push(s);
      await new Promise((resolve) => s.once("connect", resolve));
      await new Promise((resolve) => (s.once("data", resolve), s.write(request)));
    };
    /** What a connection from `from` got before the server closed it. */
    const refused = (from: string): Promise<string> =>
      new Promise((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port, localAddress: from });
        let got = "";
        s.on("error", () => {});
        s.on("data", (d) => (got += d.toString()));
        s.on("close", () => resolve(got));
        s.write(request);
      });
    for (let i = 0; i < 16; i++) await answered("127.0.0.1");
    expect(await refused("127.0.0.1")).toBe("");
    // Other addresses are still served, up to 64 in all.
    for (const from of ["127.0.0.2", "127.0.0.3", "127.0.0.4"]) for (let i = 0; i < 16; i++) await answered(from);
    expect(await refused("127.0.0.5")).toBe("");
  });
});

describe("the status handler on an HTTP/2 server", () => {
  it("checks the :authority as it checks Host", async () => {
    const node = await startNode();
    const handler = statusHandler(node);
    closers.push(() => handler.close());
    const server = http2.createServer(handler as unknown as Parameters<typeof http2.createServer>[0]);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    // The client first: the server's close waits for its sessions.
    closers.push(() => new Promise<void>((resolve) => (client.close(), server.close(() => resolve()))));
    const statusOf = (authority: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const stream = client.request({ ":path": "/status.json", ":authority": authority });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
        stream.resume();
      });
    expect(await statusOf("evil.example")).toBe(421);
    expect(await statusOf("127.0.0.1")).toBe(200);
  });
});

