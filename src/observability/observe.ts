/**
 * The one call the node makes: hooks the metrics and loggers its options ask
 * for (and the debug output the environment enables) onto its events and
 * journal. With none of them, nothing is attached and nothing runs.
 *
 * @module
 */
import type { Registry } from "prom-client";
import { attachLogging } from "./log-events.js";
import { createDebugLogger, fanOutLogger, type Logger } from "./logger.js";
import { attachMetrics } from "./metrics.js";
import type { ObservedNode } from "./node-view.js";

/** What {@link observeNode} attaches. */
export interface ObserveOptions {
  /** A prom-client registry to publish the node's metrics on. */
  readonly metrics?: Registry | undefined;
  /** A structured logger. */
  readonly logger?: Logger | undefined;
  /** The debug output's logger; by default the one `NODE_DEBUG` / `DEBUG` enable (see `createDebugLogger`). */
  readonly debug?: Logger | undefined;
}

/** Attached observers of one node. */
export interface NodeObserver {
  /** Detaches everything (idempotent); the metrics stay registered and keep their counts. */
  close(): void;
}

/** Attaches what `options` ask for to `node`; undefined when there is nothing to attach. */
export function observeNode(node: ObservedNode, options: ObserveOptions = {}): NodeObserver | undefined {
  const offs: (() => void)[] = [];
  if (options.metrics !== undefined) offs.push(attachMetrics(node, options.metrics));
  const logger = fanOutLogger([options.logger, "debug" in options ? options.debug : createDebugLogger()]);
  if (logger !== undefined) offs.push(attachLogging(node, logger));
  if (offs.length === 0) return undefined;
  return {
    close() {
      for (const off of offs.splice(0)) off();
    },
  };
}
