/**
 * Per-protocol message handlers (`node.handle(protocol, handler)`), beside the `message` event that
 * carries every protocol: like js-libp2p's `handle()` and go-libp2p's `SetStreamHandler`, one handler
 * per protocol, so each part of an application owns its protocol. A handler that throws or rejects is
 * reported (`handler:failed`) and changes nothing for the other handlers, the `message` event or the
 * connection.
 *
 * @module
 */
import type { Connection } from "../connection/connection.js";
import { ErrorCode, PeerlinkError } from "../errors.js";

/**
 * A protocol's handler: the message bytes and the connection they came on (`connection.remotePeer` is the
 * sender). May return a Promise; a rejection is reported like a throw.
 *
 * @category Manager
 */
export type ProtocolHandler = (data: Uint8Array, connection: Connection) => void | Promise<void>;

/**
 * Payload of `handler:failed`.
 *
 * @category Manager
 */
export interface HandlerFailedEvent {
  /** The protocol whose handler failed. */
  readonly protocol: string;
  /** Printable peer id of the message's sender. */
  readonly peer: string;
  /** What the handler threw or rejected with (INTERNAL wrapping anything that is not a PeerlinkError). */
  readonly error: PeerlinkError;
}

/** The handlers of one node. */
export class ProtocolHandlers {
  readonly #handlers = new Map<string, ProtocolHandler>();
  readonly #protocols: ReadonlySet<string>;
  readonly #failed: (event: HandlerFailedEvent) => boolean;

  /**
   * @param protocols - the node's protocols (a handler for any other could never run).
   * @param failed - reports a handler that threw or rejected; returns false when nobody listened (the
   *   failure then becomes a process warning, so it is never silent).
   */
  constructor(protocols: Iterable<string>, failed: (event: HandlerFailedEvent) => boolean) {
    this.#protocols = new Set(protocols);
    this.#failed = failed;
  }

  /**
   * Sets the handler of `protocol`.
   *
   * @throws PeerlinkError INVALID_ARGUMENT when `protocol` is not one of the node's protocols, already has
   *   a handler (call `unhandle` first), or `handler` is not a function.
   */
  handle(protocol: string, handler: ProtocolHandler): void {
    if (typeof handler !== "function") throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "handler must be a function (data, connection) => void");
    if (!this.#protocols.has(protocol)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${JSON.stringify(String(protocol).slice(0, 128))} is not one of this node's protocols`);
    }
    if (this.#handlers.has(protocol)) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${protocol} already has a handler; unhandle it first`);
    this.#handlers.set(protocol, handler);
  }

  /** Removes the handler of `protocol`. Returns true when there was one. */
  unhandle(protocol: string): boolean {
    return this.#handlers.delete(protocol);
  }

  /** Protocols with a handler. */
  get protocols(): string[] {
    return [...this.#handlers.keys()];
  }

  /** Runs the handler of `protocol`, if any, on one message; never throws. */
  deliver(protocol: string, data: Uint8Array, connection: Connection, peer: string): void {
    const handler = this.#handlers.get(protocol);
    if (handler === undefined) return;
    const report = (error: unknown): void => {
      const wrapped = PeerlinkError.from(error);
      try {
        if (!this.#failed({ protocol, peer, error: wrapped })) {
          process.emitWarning(`peerlink: the ${protocol} handler failed: ${wrapped.message}`, "PeerlinkHandlerWarning");
        }
      } catch (listenerError) {
        process.emitWarning(`peerlink: a handler:failed listener threw: ${String(listenerError)}`, "PeerlinkHandlerWarning");
      }
    };
    let result: unknown;
    try {
      result = handler(data, connection);
    } catch (error) {
      report(error);
      return;
    }
    if (typeof result === "object" && result !== null && typeof (result as { then?: unknown }).then === "function") {
      (result as Promise<unknown>).then(undefined, report);
    }
  }
}
