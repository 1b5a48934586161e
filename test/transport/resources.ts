/**
 * Test helper: counts the process's socket and timer handles, so that tests can
 * show they leave nothing behind.
 *
 * @module
 */

/** Resource kinds that transport code can leak. */
const WATCHED = new Set(["TCPSocketWrap", "TCPServerWrap", "TCPWRAP", "TLSWrap", "TLSWRAP", "Timeout"]);

/** Number of live TCP sockets, TCP servers, TLS wraps and timers of this process. */
export function countTransportHandles(): number {
  return process.getActiveResourcesInfo().filter((kind) => WATCHED.has(kind)).length;
}

/**
 * Resolves once the watched handle count is back to `baseline` (closing handles
 * need a few event-loop turns), or rejects after `turns` turns with the
 * resources still open.
 */
export async function expectHandlesBackTo(baseline: number, turns = 50): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (countTransportHandles() <= baseline) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`handles leaked: ${countTransportHandles()} > ${baseline}: ${process.getActiveResourcesInfo().join(", ")}`);
}

/** Resolves when `socket` has emitted 'close' (at once if it already has). */
export function closed(socket: import("node:net").Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once("close", () => resolve());
  });
}
