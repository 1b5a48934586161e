/**
 * The state of one outbound dial shared by its concurrent callers, and how its attempts are cancelled.
 *
 * A dial of one address is cancelled directly: the dialer owns every reason it can end early (a node stop,
 * every caller gone), so it tells the step in progress itself (the transport attempt, then the connection
 * in its handshake) rather than through an AbortSignal, each of which costs an EventTarget and a listener
 * per step. A raced dial gives each attempt an AbortSignal, as {@link raceAddresses} runs them.
 *
 * @module
 */
import type { Connection } from "../connection/index.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { Cancellable, CancelSlot } from "../transport/bounded-attempt.js";

/** What one attempt of a dial runs under: how its steps are cancelled, and its claim on the win. */
export interface AttemptControl extends CancelSlot {
  /** The signal the attempt's transport step listens to; `undefined` when the control cancels the step itself. */
  readonly listen: AbortSignal | undefined;
  /** A signal for the steps that need one (a name lookup). */
  readonly signal: AbortSignal;
  /** True once the attempt was cancelled. */
  readonly aborted: boolean;
  /** Why it was cancelled. */
  readonly reason: unknown;
  /** The attempt's connection, set by {@link AttemptControl.track}. */
  readonly connection: Connection | undefined;
  /** The attempt's connection exists (its handshake starts): a cancellation from now on ends its handshake. */
  track(connection: Connection): void;
  /** Called once the connection is ready to be kept: `false` when it lost (the caller closes it). */
  claim(): boolean;
}

/** One dial shared by every concurrent caller for the same peer or address; its own {@link AttemptControl} when it has one address. */
export class SharedDial implements AttemptControl {
  /** The peer id, or the address dialed when it names none: concurrent dials with this key share this one. */
  readonly key: string;
  promise!: Promise<Connection>;
  callers = 0;
  settled = false;
  aborted = false;
  reason: unknown = undefined;
  step: Cancellable | undefined = undefined;
  connection: Connection | undefined = undefined;
  /** Made on first use only: a raced dial or a name lookup needs a signal, a dial of one IP address none. */
  #controller: AbortController | undefined;

  constructor(key: string) {
    this.key = key;
  }

  get listen(): undefined {
    return undefined;
  }

  get signal(): AbortSignal {
    let controller = this.#controller;
    if (controller === undefined) {
      controller = this.#controller = new AbortController();
      if (this.aborted) controller.abort(this.reason);
    }
    return controller.signal;
  }

  /** Cancels the dial with `reason`: its signal (if made) aborts, and the step in progress is told. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#controller?.abort(reason);
    this.step?.cancel(reason);
    if (this.connection !== undefined) abortHandshake(this.connection, reason);
  }

  track(connection: Connection): void {
    this.connection = connection;
    // Cancelled between TLS and the handshake: ended at once, as the handshake layer ends an aborted one.
    if (this.aborted) abortHandshake(connection, this.reason);
  }

  /** A dial of one address wins unless it was cancelled first. */
  claim(): boolean {
    return !this.aborted;
  }
}

/** The control of one attempt of a raced dial: the race's signal and claim. */
export class RacedAttempt implements AttemptControl {
  readonly listen: AbortSignal;
  readonly claim: () => boolean;
  step: Cancellable | undefined = undefined;
  connection: Connection | undefined = undefined;

  constructor(signal: AbortSignal, claim: () => boolean) {
    this.listen = signal;
    this.claim = claim;
  }

  get signal(): AbortSignal {
    return this.listen;
  }

  /** Its handshake listens to the race's signal itself. */
  track(connection: Connection): void {
    this.connection = connection;
  }

  get aborted(): boolean {
    return this.listen.aborted;
  }

  get reason(): unknown {
    return this.listen.reason;
  }
}

/** The ABORTED error a cancelled dial ends with. */
export function dialAborted(reason: unknown): PeerlinkError {
  return new PeerlinkError(ErrorCode.ABORTED, "dial aborted", { cause: reason, initiator: "local" });
}

/** As the handshake layer does when its signal aborts: only a connection still in its handshake is ended. */
function abortHandshake(connection: Connection, reason: unknown): void {
  const state = connection.state;
  if (state === "open" || state === "closing" || state === "closed") return;
  connection.abort(new PeerlinkError(ErrorCode.ABORTED, "handshake aborted", { cause: reason, initiator: "local" }));
}
