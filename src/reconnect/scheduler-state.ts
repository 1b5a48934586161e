/**
 * One peer's entry in the reconnect queue ({@link PeerSchedule}) and the
 * persisted form of the whole queue, with the validation of that form when
 * it is read back from disk.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { type DisconnectReason, isDisconnectReason } from "../reasons.js";
import type { DisconnectInitiator } from "../peers/peer-record.js";
import type { FlapState } from "./flap-damping.js";

/** One peer's reconnect state, as the scheduler keeps it (mutable). */
export interface PeerSchedule {
  /** Failed dials since the last established connection. */
  attempt: number;
  /** When the next attempt is due before floor and dampening; undefined when none is scheduled. */
  nextAttemptAt: number | undefined;
  /** True while waiting for freed resources (`nextAttemptAt` is then the fallback). */
  waitingForResources: boolean;
  /** The retry-after floor: no attempt before this time. */
  notBefore: number;
  /** The last disconnect reason (selects the backoff of failed dials). */
  reason: DisconnectReason | undefined;
  /** Who ended the last connection. */
  initiator: DisconnectInitiator | undefined;
  /** Whether the last connection was healthy. */
  healthy: boolean;
  /** Flap-dampening state. */
  flap: FlapState;
}

/** Persisted form of one peer's state (see {@link ReconnectSchedulerState}). */
export interface ReconnectPeerState {
  /** The peer's id. */
  peerId: string;
  /** Failed dials since the last established connection. */
  attempt: number;
  /** When the next attempt is due (before floor and dampening); absent when none is scheduled. */
  nextAttemptAt?: number;
  /** True while waiting for freed resources (`nextAttemptAt` is then the fallback). */
  waitingForResources: boolean;
  /** The retry-after floor: no attempt before this time. */
  notBefore: number;
  /** The last disconnect reason (selects the backoff of failed dials). */
  reason?: DisconnectReason;
  /** Who ended the last connection. */
  initiator?: DisconnectInitiator;
  /** Whether the last connection was healthy. */
  healthy: boolean;
  /** Flap-dampening state. */
  flap: FlapState;
}

/** Everything `ReconnectScheduler.toJSON` saves: JSON-serialisable. */
export interface ReconnectSchedulerState {
  /** Format version, 1. */
  version: 1;
  /** One entry per peer with state worth keeping. */
  peers: ReconnectPeerState[];
}

/** The persisted form of `peers` (one entry per peer). */
export function encodeSchedulerState(peers: ReadonlyMap<string, PeerSchedule>): ReconnectSchedulerState {
  const out: ReconnectPeerState[] = [];
  for (const [peerId, st] of peers) {
    const entry: ReconnectPeerState = {
      peerId,
      attempt: st.attempt,
      waitingForResources: st.waitingForResources,
      notBefore: st.notBefore,
      healthy: st.healthy,
      flap: { ...st.flap },
    };
    if (st.nextAttemptAt !== undefined) entry.nextAttemptAt = st.nextAttemptAt;
    if (st.reason !== undefined) entry.reason = st.reason;
    if (st.initiator !== undefined) entry.initiator = st.initiator;
    out.push(entry);
  }
  return { version: 1, peers: out };
}

/**
 * Reads back what {@link encodeSchedulerState} wrote (from disk, so not
 * trusted): one entry per peer. Throws DATABASE_CORRUPT naming the first
 * field of the wrong shape.
 */
export function parseSchedulerState(value: unknown): Array<[string, PeerSchedule]> {
  const bad = (msg: string): PeerlinkError => new PeerlinkError(ErrorCode.DATABASE_CORRUPT, `reconnect state: ${msg}`);
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const num = (v: unknown, where: string): number => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw bad(`${where} must be a finite number >= 0`);
    return v;
  };
  if (!isObj(value) || value["version"] !== 1 || !Array.isArray(value["peers"])) {
    throw bad("expected { version: 1, peers: [...] }");
  }
  return value["peers"].map((raw, i): [string, PeerSchedule] => {
    const w = `peers[${i}]`;
    if (!isObj(raw)) throw bad(`${w} must be an object`);
    const peerId = raw["peerId"];
    if (typeof peerId !== "string" || peerId.length === 0) throw bad(`${w}.peerId must be a non-empty string`);
    const attempt = num(raw["attempt"], `${w}.attempt`);
    if (!Number.isSafeInteger(attempt)) throw bad(`${w}.attempt must be an integer`);
    const reason = raw["reason"];
    if (reason !== undefined && !isDisconnectReason(reason)) throw bad(`${w}.reason is not a disconnect reason`);
    const initiator = raw["initiator"];
    if (initiator !== undefined && initiator !== "local" && initiator !== "remote") {
      throw bad(`${w}.initiator must be "local" or "remote"`);
    }
    if (typeof raw["waitingForResources"] !== "boolean" || typeof raw["healthy"] !== "boolean") {
      throw bad(`${w}.waitingForResources and .healthy must be booleans`);
    }
    const flap = raw["flap"];
    if (!isObj(flap) || typeof flap["suppressed"] !== "boolean") throw bad(`${w}.flap must be a flap state`);
    return [
      peerId,
      {
        attempt,
        nextAttemptAt: raw["nextAttemptAt"] === undefined ? undefined : num(raw["nextAttemptAt"], `${w}.nextAttemptAt`),
        waitingForResources: raw["waitingForResources"],
        notBefore: num(raw["notBefore"], `${w}.notBefore`),
        reason,
        initiator,
        healthy: raw["healthy"],
        flap: {
          penalty: num(flap["penalty"], `${w}.flap.penalty`),
          at: num(flap["at"], `${w}.flap.at`),
          suppressed: flap["suppressed"],
        },
      },
    ];
  });
}
