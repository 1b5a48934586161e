/**
 * Helpers for the disconnection and reconnection acceptance tests: managers on
 * loopback (plain TCP unless asked), a reconnect service wired in through
 * `services`, typed waits on manager and reconnect events (bounded, never a
 * fixed sleep), child processes (test/helpers/line-child.ts), and cleanup of everything opened.
 */
import { REPO } from "../helpers/dist.js";
import { disposeLineChildren, type LineChild, spawnNode } from "../helpers/line-child.js";
import { ConnectionManager, type ConnectionManagerEvents } from "../../src/node/connection-manager.js";
import type { ConnectionManagerOptions } from "../../src/manager/manager-options.js";
import {
  type ReconnectOptions,
  type ReconnectService,
  type ReconnectServiceEvents,
} from "../../src/reconnect/reconnect-service.js";

/** Every event a manager with the reconnect service emits. */
export type AllEvents = ConnectionManagerEvents & ReconnectServiceEvents;

const running = new Set<ConnectionManager>();

/** Starts a manager on 127.0.0.1 (port 0), plain TCP, speaking "/test", unless `options` say otherwise. */
export async function startNode(options: ConnectionManagerOptions = {}): Promise<ConnectionManager> {
  const manager = new ConnectionManager({
    listen: ["127.0.0.1:0"],
    tls: false,
    protocols: [{ name: "/test", versions: [1] }],
    ...options,
  });
  running.add(manager);
  await manager.start();
  return manager;
}

/** A started manager with a reconnect service, and the service. */
export interface ReconnectingNode {
  readonly manager: ConnectionManager;
  readonly reconnect: ReconnectService;
}

/** Creates (not starts) a manager whose services include a reconnect service built from `reconnect`. */
export function createReconnectingNode(
  reconnect: ReconnectOptions = {},
  options: ConnectionManagerOptions = {},
): ReconnectingNode {
  const manager = new ConnectionManager({
    listen: ["127.0.0.1:0"],
    tls: false,
    protocols: [{ name: "/test", versions: [1] }],
    ...options,
    reconnect,
  });
  running.add(manager);
  const service = manager.reconnect;
  if (service === undefined) throw new Error("the manager did not create the reconnect service");
  return { manager, reconnect: service };
}

/** Starts a manager whose services include a reconnect service built from `reconnect`. */
export async function startReconnectingNode(
  reconnect: ReconnectOptions = {},
  options: ConnectionManagerOptions = {},
): Promise<ReconnectingNode> {
  const node = createReconnectingNode(reconnect, options);
  await node.manager.start();
  return node;
}

/** Subscribes to any manager event, reconnect events included (the manager's own map lacks them). */
export function onEvent<K extends keyof AllEvents>(manager: ConnectionManager, type: K, listener: (event: AllEvents[K]) => void): () => void {
  return (manager as unknown as { on(t: K, l: (e: AllEvents[K]) => void): () => void }).on(type, listener);
}

/** An event with the wall-clock time (`Date.now()`) at which it arrived. */
export interface Timed<T> {
  readonly event: T;
  readonly at: number;
}

/** Resolves with the next `type` event of `manager` matching `filter`, timestamped; rejects after `timeoutMs`. */
export function nextEvent<K extends keyof AllEvents>(
  manager: ConnectionManager,
  type: K,
  filter: (event: AllEvents[K]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<Timed<AllEvents[K]>> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(type)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = onEvent(manager, type, (event) => {
      if (!filter(event)) return;
      clearTimeout(timer);
      off();
      resolvePromise({ event, at: Date.now() });
    });
  });
}

/** Resolves once `predicate()` is true, checking after each `type` event of `manager`; rejects after `timeoutMs`. */
export function until<K extends keyof AllEvents>(
  manager: ConnectionManager,
  type: K,
  predicate: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  if (predicate()) return Promise.resolve();
  return nextEvent(manager, type, () => predicate(), timeoutMs).then(() => undefined);
}

/** Stops every manager the fixtures started and kills every tracked child. */
export async function cleanup(): Promise<void> {
  await disposeLineChildren();
  await Promise.all([...running].map((m) => m.stop({ timeoutMs: 1000 })));
  running.clear();
}

/** The repository root. */
export const repo = REPO;

/** Spawns `node [nodeArgs] script [...args]` read as text lines (test/helpers/line-child.ts), killed by {@link cleanup}. */
export function spawnLines(script: string, args: readonly string[], nodeArgs: readonly string[] = []): LineChild {
  return spawnNode(script, args, { nodeArgs });
}
