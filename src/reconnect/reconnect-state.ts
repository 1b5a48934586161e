/**
 * The reconnect service's persisted state (saved in the peer database's extra
 * state, see {@link RECONNECT_STATE_KEY}): the scheduler's backoff and
 * dampening state plus the set of wanted peers, and the validation of that
 * state when it is read back from disk.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { JsonValue } from "../peers/peer-store.js";
import type { ReconnectSchedulerState } from "./scheduler-state.js";

/** A peer the service keeps connected, as saved. */
export interface WantedPeerState {
  /** The peer's id. */
  peerId: string;
  /** True when wanted through `want()` (never evicted), false when wanted because this node dialed it. */
  explicit: boolean;
  /** Addresses given to `want()` (used when the peer database has none). */
  addresses: string[];
}

/** Everything the reconnect service saves. JSON-serialisable. */
export interface ReconnectServiceState {
  /** Format version, 1. */
  version: 1;
  /** The scheduler's state ({@link ReconnectScheduler.toJSON}). */
  scheduler: ReconnectSchedulerState;
  /** Wanted peers, least recently touched first. */
  wanted: WantedPeerState[];
}

/** The state as a JSON value for `PeerDatabase.setExtra`. */
export function encodeReconnectState(state: ReconnectServiceState): JsonValue {
  return state as unknown as JsonValue;
}

/**
 * Checks the shape of a saved {@link ReconnectServiceState} (the scheduler
 * part is checked by `ReconnectScheduler.fromJSON`). Throws DATABASE_CORRUPT.
 */
export function parseReconnectState(value: unknown): { scheduler: unknown; wanted: WantedPeerState[] } {
  const bad = (msg: string): PeerlinkError => new PeerlinkError(ErrorCode.DATABASE_CORRUPT, `reconnect service state: ${msg}`);
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObj(value) || value["version"] !== 1 || !Array.isArray(value["wanted"]) || !isObj(value["scheduler"])) {
    throw bad("expected { version: 1, scheduler: {...}, wanted: [...] }");
  }
  const wanted = value["wanted"].map((raw, i): WantedPeerState => {
    const where = `wanted[${i}]`;
    if (!isObj(raw)) throw bad(`${where} must be an object`);
    const { peerId, explicit, addresses } = raw;
    if (typeof peerId !== "string" || peerId.length === 0) throw bad(`${where}.peerId must be a non-empty string`);
    if (typeof explicit !== "boolean") throw bad(`${where}.explicit must be a boolean`);
    if (!Array.isArray(addresses) || addresses.some((a) => typeof a !== "string")) {
      throw bad(`${where}.addresses must be an array of strings`);
    }
    return { peerId, explicit, addresses: [...(addresses as string[])] };
  });
  return { scheduler: value["scheduler"], wanted };
}
