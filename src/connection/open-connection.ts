/**
 * Runs the peerlink handshake on a ready transport channel and hands out the
 * open {@link Connection}.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { SecureChannel } from "../transport/types.js";
import { stopWaiting, waitForAbort, type AbortWaiter } from "../util/abort-waiters.js";
import type { ConnectionHandshakeOptions } from "./connection-core.js";
import { Connection, watchOpening, type ConnectionOptions, type OpeningWatcher } from "./connection.js";

/** Options of {@link openConnection} besides the handshake settings. */
export interface OpenConnectionOptions extends Omit<ConnectionOptions, "handshake"> {
  /** Cancels the handshake: the promise rejects with ABORTED and the socket is destroyed. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Messages a 0-RTT dialer sends right after its Hello, before the listener
   * answered (`handshake.earlyData` must be true; INVALID_ARGUMENT otherwise).
   * Each `protocol` must be one of the dialer's own protocols.
   * @default []
   */
  readonly earlyMessages?: readonly { readonly protocol: string; readonly data: Uint8Array }[] | undefined;
  /**
   * Called synchronously with the connection as soon as it exists, before the
   * handshake ran: to watch its state changes, or to keep track of a failed
   * handshake whose Goodbye is still being flushed (see {@link Connection.closed}).
   */
  readonly onConnection?: ((connection: Connection) => void) | undefined;
}

/**
 * Runs the handshake on `channel` (which it takes over) and resolves with the
 * open connection. On failure it rejects with the {@link PeerlinkError} that
 * ended the handshake (IDENTITY_MISMATCH, SELF_CONNECTION, PROTOCOL_MISMATCH,
 * AUTHENTICATION_FAILED, PROTOCOL_VIOLATION, MALFORMED_FRAME, FRAME_TOO_LARGE,
 * HANDSHAKE_TIMEOUT, CONNECTION_CLOSED, ABORTED, …) as soon as the failure is
 * decided. When this side decided it, the Goodbye is then flushed and the
 * socket released in the background within `failureLingerMs` (1 s by default;
 * use `onConnection` to await `connection.closed`). A secure outbound channel that closes before the
 * peer's Hello rejects with AUTHENTICATION_FAILED (TLS 1.3 reports a rejected
 * client certificate only as a bare close), or CONNECTION_CLOSED when nothing arrived after this side's TLS
 * finished (the listener dropped the connection before finishing its own side of TLS).
 *
 * @example
 * ```ts
 * const deadline = Date.now() + 10_000;
 * const channel = await dialChannel({ host: "127.0.0.1", port: 4001, tls, deadline });
 * const conn = await openConnection(channel, { identity, expectedPeerId }, { deadline });
 * ```
 */
export function openConnection(
  channel: SecureChannel,
  handshake: ConnectionHandshakeOptions,
  options: OpenConnectionOptions = {},
): Promise<Connection> {
  const early = options.earlyMessages ?? [];
  if (early.length > 0 && handshake.earlyData !== true) {
    return destroyThenReject(channel, new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "earlyMessages need handshake.earlyData = true"));
  }
  const signal = options.signal;
  let connection: Connection;
  try {
    connection = new Connection(channel, options, handshake);
  } catch (error) {
    return destroyThenReject(channel, PeerlinkError.from(error));
  }
  try {
    options.onConnection?.(connection);
  } catch (error) {
    // The caller never got the connection: nothing else would close it.
    connection.abort();
    return Promise.reject(PeerlinkError.from(error));
  }
  // No closure, emitter listener or EventTarget listener per handshake: one waiter object, told of the
  // connection's state changes by the connection and of an abort by the signal's shared listener.
  const promise = new Promise<Connection>(captureSettlers);
  const waiter = new OpenWaiter(connection, capturedResolve, capturedReject, signal);
  capturedResolve = capturedReject = noop;
  if (waiter.settle()) return promise;
  watchOpening(connection, waiter);
  if (signal?.aborted) {
    waiter.onAbort(signal.reason); // its state change settles the promise
    return promise;
  }
  if (signal !== undefined) waitForAbort(signal, waiter);
  for (let i = 0; i < early.length; i++) {
    if (!connection.canSend) break;
    const m = early[i] as { readonly protocol: string; readonly data: Uint8Array };
    connection.send(m.protocol, m.data).catch(noop);
  }
  return promise;
}

const noop = (): void => undefined;

/** The settlers of the promise made last by {@link openConnection}, read right after it is made. */
let capturedResolve: (connection: Connection) => void = noop;
let capturedReject: (error: unknown) => void = noop;
function captureSettlers(resolve: (connection: Connection) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** One handshake's wait for its connection to open, close or be aborted. */
class OpenWaiter implements OpeningWatcher, AbortWaiter {
  readonly #connection: Connection;
  readonly #resolve: (connection: Connection) => void;
  readonly #reject: (error: unknown) => void;
  readonly #signal: AbortSignal | undefined;

  constructor(connection: Connection, resolve: (connection: Connection) => void, reject: (error: unknown) => void, signal: AbortSignal | undefined) {
    this.#connection = connection;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#signal = signal;
  }

  /** Settles the promise when the connection opened or ended; returns whether it did. */
  settle(): boolean {
    const connection = this.#connection;
    const state = connection.state;
    if (state === "open") {
      this.#cleanup();
      this.#resolve(connection);
      return true;
    }
    if (state === "closing" || state === "closed") {
      this.#cleanup();
      const info = connection.closeInfo;
      this.#reject(
        info?.error ??
          new PeerlinkError(ErrorCode.CONNECTION_CLOSED, `connection closed during the handshake (${info?.reason ?? "normal"})`, {
            initiator: info?.initiator ?? "local",
          }),
      );
      return true;
    }
    return false;
  }

  stateChanged(): void {
    this.settle();
  }

  /** The signal aborted: ends the connection (its state change then settles the promise). */
  onAbort(reason: unknown): void {
    this.#connection.abort(new PeerlinkError(ErrorCode.ABORTED, "handshake aborted", { cause: reason, initiator: "local" }));
  }

  #cleanup(): void {
    watchOpening(this.#connection, undefined);
    const signal = this.#signal;
    if (signal !== undefined) stopWaiting(signal, this);
  }
}

/** Destroys the channel's socket and rejects with `error` once the socket is closed. */
function destroyThenReject(channel: SecureChannel, error: PeerlinkError): Promise<never> {
  const socket = channel.socket;
  socket.on("error", () => undefined);
  socket.destroy();
  return new Promise((_resolve, reject) => {
    if (socket.closed) reject(error);
    else socket.once("close", () => reject(error));
  });
}
