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
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { ErrorCode, PeerlinkError } from "../../errors.js";
import { formatHostPort } from "../../manager/ip.js";
import { attachMetrics } from "../metrics.js";
import type { ObservedNode } from "../node-view.js";
import { STATUS_PAGE_HTML } from "./page.js";
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

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", "content-length": Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

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

  const handler = ((req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://status.invalid");
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) {
      res.setHeader("allow", "GET, HEAD");
      send(res, 405, "text/plain; charset=utf-8", "method not allowed\n", false);
      return;
    }
    if (base !== "" && url.pathname !== base && !url.pathname.startsWith(`${base}/`)) {
      send(res, 404, "text/plain; charset=utf-8", "not found\n", head);
      return;
    }
    const path = url.pathname.slice(base.length);
    if (path === "" && base !== "") {
      // The page fetches status.json relative to itself: it must be served from a path ending in "/".
      res.writeHead(308, { location: `${base}/${url.search}` });
      res.end();
      return;
    }
    if (path === "/" || path === "/index.html") {
      send(res, 200, "text/html; charset=utf-8", STATUS_PAGE_HTML, head);
    } else if (path === "/status.json") {
      send(res, 200, "application/json; charset=utf-8", JSON.stringify(model.snapshot(url.searchParams)), head);
    } else if (path === "/metrics") {
      registry.metrics().then(
        (text) => send(res, 200, registry.contentType, text, head),
        (error: unknown) => send(res, 500, "text/plain; charset=utf-8", `metrics collection failed: ${String(error)}\n`, head),
      );
    } else {
      send(res, 404, "text/plain; charset=utf-8", "not found\n", head);
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
 * Serves `manager`'s status page, `/status.json` and `/metrics` on `host:port` (one port for all).
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
  const handler = statusHandler(manager, options);
  const server = createServer(handler);
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
