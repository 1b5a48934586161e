/**
 * Nodes on loopback for the observability tests, stopped after each test, and a wait for an event.
 */
import { ConnectionManager, type ConnectionManagerEvents } from "../../src/node/connection-manager.js";
import type { ConnectionManagerOptions } from "../../src/manager/manager-options.js";

const running = new Set<ConnectionManager>();

/** Starts a node listening on 127.0.0.1 (port 0) unless `listen` is given; stopped by {@link stopAll}. */
export async function startNode(options: ConnectionManagerOptions = {}): Promise<ConnectionManager> {
  const node = new ConnectionManager({ listen: ["127.0.0.1:0"], protocols: [{ name: "/test", versions: [1] }], ...options });
  running.add(node);
  await node.start();
  return node;
}

/** Stops every node started by {@link startNode}. */
export async function stopAll(): Promise<void> {
  const nodes = [...running];
  running.clear();
  await Promise.all(nodes.map((n) => n.stop({ timeoutMs: 1000 })));
}

/** The next `type` event of `node` that matches `filter` (rejects after `timeoutMs`). */
export function nextEvent<K extends keyof ConnectionManagerEvents>(
  node: ConnectionManager,
  type: K,
  filter: (event: ConnectionManagerEvents[K]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<ConnectionManagerEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(type)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = node.on(type, (event) => {
      if (!filter(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}
