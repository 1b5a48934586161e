/**
 * The reconnect core's redials in flight: one per peer at most, each with an
 * id so that the outcome of a dial that was cancelled (or replaced) is
 * recognised as stale and ignored.
 *
 * @module
 */
import { ErrorCode } from "../errors.js";
import type { ReconnectAction } from "./reconnect-actions.js";

/** One redial in flight. */
export interface InFlightRedial {
  /** Identifies this dial in its outcome. */
  readonly dialId: number;
  /** The addresses dialed, best first. */
  readonly addresses: readonly string[];
  /** When it started (ms). */
  readonly startedAt: number;
  /** The address whose attempt ended it, once the manager has named it (see {@link RedialsInFlight.failedAt}). */
  endedAt?: string;
}

/** Redials in flight by peer. */
export class RedialsInFlight {
  readonly #byPeer = new Map<string, InFlightRedial>();
  #nextId = 1;

  /** True while a redial of `peer` is in flight. */
  has(peer: string): boolean {
    return this.#byPeer.has(peer);
  }

  /** Records a new redial of `peer` and returns it (with a fresh id). */
  start(peer: string, addresses: readonly string[], now: number): InFlightRedial {
    const dial: InFlightRedial = { dialId: this.#nextId++, addresses, startedAt: now };
    this.#byPeer.set(peer, dial);
    return dial;
  }

  /** The manager named `address` as the one whose attempt ended `peer`'s dial: kept on its redial in flight. */
  failedAt(peer: string, address: string): void {
    const dial = this.#byPeer.get(peer);
    if (dial !== undefined) dial.endedAt = address;
  }

  /** Ends `peer`'s redial `dialId` and returns it; undefined when that is not the current one (a stale outcome). */
  settle(peer: string, dialId: number): InFlightRedial | undefined {
    const dial = this.#byPeer.get(peer);
    if (dial?.dialId !== dialId) return undefined;
    this.#byPeer.delete(peer);
    return dial;
  }

  /** Forgets `peer`'s redial in flight, returning the action that aborts it (ABORTED), if there was one. */
  abort(peer: string): ReconnectAction | undefined {
    const dial = this.#byPeer.get(peer);
    if (dial === undefined) return undefined;
    this.#byPeer.delete(peer);
    return { type: "abort", peer, dialId: dial.dialId, code: ErrorCode.ABORTED };
  }

  /** Forgets every redial in flight, returning the actions that abort them (STOPPED). */
  abortAll(): ReconnectAction[] {
    const out: ReconnectAction[] = [];
    for (const [peer, dial] of this.#byPeer) out.push({ type: "abort", peer, dialId: dial.dialId, code: ErrorCode.STOPPED });
    this.#byPeer.clear();
    return out;
  }
}

/**
 * The address at which another identity answered `dial`. The manager tries the addresses in order and
 * stops at an identity failure, recording a failed dial for each address it tried: the culprit is the
 * last of them with a failure recorded since the dial started (the only one, if one was dialed).
 */
export function addressAnsweredByAnother(
  dial: Pick<InFlightRedial, "addresses" | "startedAt">,
  lastFailureAt: (address: string) => number | undefined,
): string | undefined {
  if (dial.addresses.length === 1) return dial.addresses[0];
  let culprit: string | undefined;
  for (const address of dial.addresses) {
    const at = lastFailureAt(address);
    if (at !== undefined && at >= dial.startedAt) culprit = address;
  }
  return culprit;
}
