/**
 * Serving the status page and `/metrics`: {@link statusHandler} is a plain
 * `(req, res)` handler an application mounts on its own HTTP server;
 * {@link serveStatus} runs one on its own port (what `peerlink node --metrics`
 * uses).
 *
 * The page and its JSON show the decision journal, private ban reasons included, and every peer's
 * address: serve them on loopback or behind the application's own access control.
 *
 * Routes, relative to `basePath`: `/` (the page), `/status.json` (the page's
 * data, also for scripts; journal filters `kind`, `peer`, `address`, `since`,
 * `limit`, and `history=<peer>`), `/metrics` (Prometheus text format).
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { isIP, type AddressInfo, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { Registry } from "prom-client";
import { ErrorCode, PeerlinkError } from "../../errors.js";
import { formatHostPort } from "../../manager/ip.js";
import { attachMetrics } from "../metrics.js";
import type { ObservedNode } from "../node-view.js";
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from "./page.js";
import { StatusModel, type StatusModelOptions } from "./snapshot.js";

/**
 * Options of {@link statusHandler}.
 *
 * @category Observability
 */
export interface StatusHandlerOptions extends StatusModelOptions {
  /**
   * The registry served at `/metrics`. The node's metrics are attached to it unless it is the node's own
   * `metrics` option (already attached).
   * @default the node's `metrics` option, else a new registry with the node's metrics
   */
  readonly registry?: Registry;
  /** Path prefix the routes live under, e.g. `"/peerlink"` (the page then is `/peerlink/`). @default "" */
  readonly basePath?: string;
  /**
   * Host names the page may be reached by, besides IP literals and `localhost`; a request naming another host gets
   * 421, so a web page cannot read the status through a name it rebinds to this address (DNS rebinding).
   * @default []
   */
  readonly allowedHosts?: readonly string[];
}

/**
 * A request handler for `http.createServer` or an application's router, with `close()` to stop sampling.
 *
 * @category Observability
 */
export interface StatusHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The registry served at `/metrics`. */
  readonly registry: Registry;
  /** Stops the history sampling and detaches the metrics it attached. Idempotent. */
  close(): void;
}

/** Sent with every answer: nothing of it is to be sniffed, embedded or read from another origin. */
const COMMON_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "cross-origin-resource-policy": "same-origin",
  "referrer-policy": "no-referrer",
} as const;

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON_HEADERS, ...extra, "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

const TEXT = "text/plain; charset=utf-8";

/** The request's target as a URL, or undefined for one Node's HTTP parser takes and the URL parser does not (`//[/`). */
function targetOf(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? "/", "http://status.invalid");
  } catch {
    return undefined;
  }
}

/** Whether the Host header names an IP literal, `localhost` or an allowed name (any port); no header is allowed. */
function hostAllowed(host: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (host === undefined) return true;
  // A fully qualified name may end in a dot: `localhost.` is `localhost`.
  const name = (host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d*$/, "")).toLowerCase().replace(/\.$/, "");
  return isIP(name) !== 0 || name === "localhost" || allowed.has(name);
}

/** An HTTP/2 request's `:authority` (what HTTP/1.1 calls Host), when the handler is mounted on an HTTP/2 server. */
function authorityOf(req: IncomingMessage): string | undefined {
  const authority = (req.headers as Record<string, string | string[] | undefined>)[":authority"];
  return typeof authority === "string" ? authority : undefined;
}

/** How long an answer to one request may stay unsent for the statistics it is built from to be reused (ms). */
const SNAPSHOT_REUSE_MS = 250;

/**
 * A handler serving `manager`'s status page, its JSON and `/metrics`. Samples the peers for the charts
 * every second from now on (an unref'd timer) until `close()`.
 *
 * @example
 * ```ts
 * const status = statusHandler(manager, { basePath: "/peerlink" });
 * http.createServer((req, res) => (req.url?.startsWith("/peerlink/") ? status(req, res) : app(req, res)));
 * ```
 *
 * @category Observability
 */
export function statusHandler(manager: ObservedNode, options: StatusHandlerOptions = {}): StatusHandler {
  const base = (options.basePath ?? "").replace(/\/+$/, "");
  if (base !== "" && !base.startsWith("/")) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `basePath must start with "/", got ${base}`);
  const own = manager.options.metrics;
  const registry = options.registry ?? own ?? new Registry();
  const detach = registry === own ? undefined : attachMetrics(manager, registry);
  const model = new StatusModel(manager, options);

  const allowedHosts = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase().replace(/\.$/, "")));
  // Sockets with an answer not yet sent: Node parses every request of a chunk at once, so a client pipelining
  // requests it never reads would make each answer (status.json: up to MBs) wait in memory.
  const answering = new WeakSet<Socket>();
  let lastJson: { readonly search: string; readonly at: number; readonly body: string } | undefined;

  const serve = (req: IncomingMessage, res: ServerResponse, url: URL, head: boolean): void => {
    if (base !== "" && url.pathname !== base && !url.pathname.startsWith(`${base}/`)) {
      send(res, 404, TEXT, "not found\n", head);
      return;
    }
    const path = url.pathname.slice(base.length);
    if (path === "" && base !== "") {
      // The page fetches status.json relative to itself: it must be served from a path ending in "/".
      res.writeHead(308, { ...COMMON_HEADERS, location: `${base}/${url.search}` });
      res.end();
      return;
    }
    if (path === "/" || path === "/index.html") {
      send(res, 200, "text/html; charset=utf-8", STATUS_PAGE_HTML, head, { "content-security-policy": STATUS_PAGE_CSP });
    } else if (path === "/status.json") {
      // Polled by every open page each second: one snapshot serves the same query for a moment.
      const now = performance.now();
      if (lastJson === undefined || lastJson.search !== url.search || now - lastJson.at > SNAPSHOT_REUSE_MS) {
        lastJson = { search: url.search, at: now, body: JSON.stringify(model.snapshot(url.searchParams)) };
      }
      send(res, 200, "application/json; charset=utf-8", lastJson.body, head);
    } else if (path === "/metrics") {
      registry.metrics().then(
        (text) => send(res, 200, registry.contentType, text, head),
        (error: unknown) => send(res, 500, TEXT, `metrics collection failed: ${String(error)}\n`, head),
      );
    } else {
      send(res, 404, TEXT, "not found\n", head);
    }
  };

  const handler = ((req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    if (answering.has(socket)) {
      socket.destroy();
      return;
    }
    answering.add(socket);
    res.once("close", () => answering.delete(socket));
    const head = req.method === "HEAD";
    try {
      const url = targetOf(req);
      if (url === undefined) {
        send(res, 400, TEXT, "bad request target\n", head);
      } else if (!hostAllowed(req.headers.host ?? authorityOf(req), allowedHosts)) {
        send(res, 421, TEXT, "unknown host: add it to allowedHosts\n", head);
      } else if (req.method !== "GET" && !head) {
        send(res, 405, TEXT, "method not allowed\n", false, { allow: "GET, HEAD" });
      } else {
        serve(req, res, url, head);
      }
    } catch (error) {
      // Nothing a request carries may take the process down with it.
      if (res.headersSent) res.destroy();
      else send(res, 500, TEXT, `internal error: ${String(error)}\n`, head);
    }
  }) as StatusHandler;
  let closed = false;
  return Object.assign(handler, {
    registry,
    close(): void {
      if (closed) return;
      closed = true;
      model.close();
      detach?.();
    },
  });
}

/**
 * Options of {@link serveStatus}.
 *
 * @category Observability
 */
export interface ServeStatusOptions extends StatusHandlerOptions {
  /** Address to listen on (`"127.0.0.1"`, `"::1"`, `"0.0.0.0"`, …). */
  readonly host: string;
  /** Port; 0 picks a free one (see the returned `url`). */
  readonly port: number;
}

/** Connections a {@link serveStatus} server keeps at once; more are refused by Node as they arrive. */
const STATUS_MAX_CONNECTIONS = 64;
/** Connections a {@link serveStatus} server keeps at once from one address; more are closed as they arrive. */
const STATUS_MAX_CONNECTIONS_PER_ADDRESS = 16;

/**
 * A running status server.
 *
 * @category Observability
 */
export interface StatusServer {
  /** The page's URL, e.g. `http://127.0.0.1:9464/`; `/metrics` and `/status.json` are next to it. */
  readonly url: string;
  /** Stops listening, ends open HTTP connections and stops sampling. */
  close(): Promise<void>;
}

/**
 * Serves `manager`'s status page, `/status.json` and `/metrics` on `host:port` (one port for all). It keeps at most
 * 64 connections, 16 from one address, drops a client that sent no full request within 10 s (15 s for its body) or let nothing move for
 * 30 s, and answers only Host headers naming an IP literal, `localhost`, `host` or one of `allowedHosts`.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const node = new ConnectionManager({ listen: ["0.0.0.0:4001"], metrics: registry });
 * await node.start();
 * const status = await serveStatus(node, { host: "127.0.0.1", port: 9464 });
 * console.log(`status page: ${status.url}`);
 * ```
 *
 * @category Observability
 */
export async function serveStatus(manager: ObservedNode, options: ServeStatusOptions): Promise<StatusServer> {
  // Listening on a name, the page is reached by that name.
  const named = isIP(options.host) === 0 ? [options.host] : [];
  const handler = statusHandler(manager, { ...options, allowedHosts: [...(options.allowedHosts ?? []), ...named] });
  const server = createServer({ connectionsCheckingInterval: 1_000, headersTimeout: 10_000, requestTimeout: 15_000 }, handler);
  // An operator's page and scrapers need a few connections; slow or silent clients must not hold the node's sockets,
  // nor one address all of them (64 silent sockets from one host locked the operator out).
  server.maxConnections = STATUS_MAX_CONNECTIONS;
  const perAddress = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "";
    const held = (perAddress.get(address) ?? 0) + 1;
    if (held > STATUS_MAX_CONNECTIONS_PER_ADDRESS) {
      socket.destroy();
      return;
    }
    perAddress.set(address, held);
    socket.once("close", () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
  });
  server.keepAliveTimeout = 5_000;
  // A client that stops reading an answer it asked for is dropped once nothing moved for this long.
  server.setTimeout(30_000);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: options.host, port: options.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    handler.close();
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `status server cannot listen on ${options.host} port ${String(options.port)}: ${String(error)}`, {
      cause: error,
    });
  }
  const address = server.address() as AddressInfo;
  const base = (options.basePath ?? "").replace(/\/+$/, "");
  return {
    url: `http://${formatHostPort(address.address, address.port)}${base}/`,
    close: () =>
      new Promise<void>((resolve) => {
        handler.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
