/**
 * Issuing and lifting bans for the node: the peer database holds them; this
 * part journals each change, announces it, and closes the connections a new
 * ban covers.
 *
 * @module
 */
import { ErrorCode } from "../errors.js";
import { PeerId } from "../identity/peer-id.js";
import type { BanEntry, BanTarget } from "../manager/ban-list.js";
import type { PeerDatabase } from "../peers/peer-database.js";
import type { MisbehaviourEvidence } from "../peers/strike-ledger.js";
import { DisconnectReason } from "../reasons.js";
import type { Managed } from "./adopter.js";
import type { BanOptions, NodeEvents } from "./events.js";
import { banSubject, type NodeJournal } from "./node-journal.js";

/** What {@link BanControl} needs of the node. */
export interface BanControlHost {
  readonly peers: PeerDatabase;
  readonly journal: NodeJournal;
  readonly clock: () => number;
  /** Kept connections a ban in force at `now` covers. */
  bannedConnections(now: number): Iterable<Managed>;
  emit<K extends "peer:banned" | "peer:unbanned">(type: K, event: NodeEvents[K]): void;
  /** A ban was added: the node's next deadline may be its expiry. */
  changed(): void;
}

/** Issues and lifts the node's bans (see {@link BanControlHost}). */
export class BanControl {
  readonly #host: BanControlHost;

  constructor(host: BanControlHost) {
    this.#host = host;
  }

  /** Bans `target`; `evidence` marks an automatic ban, journaled and announced with it. */
  ban(target: BanTarget | PeerId, options: BanOptions, evidence?: MisbehaviourEvidence): BanEntry {
    const h = this.#host;
    const t: BanTarget = target instanceof PeerId ? { peerId: target.toString() } : target;
    const now = h.clock();
    const { entry, evicted } = h.peers.ban(t, now, {
      reason: options.reason ?? "banned by the application",
      publicReason: options.publicReason,
      ...(options.durationMs !== undefined ? { durationMs: options.durationMs } : {}),
      automatic: evidence !== undefined,
    });
    if (evicted !== undefined) {
      // The ban list is full: the entry that made room is lifted, and says so.
      h.journal.record("unbanned", { ...banSubject(evicted), code: "evicted", detail: `${evicted.key} evicted from the full ban list` });
      h.emit("peer:unbanned", { entry: evicted });
    }
    h.journal.record("banned", {
      ...banSubject(entry),
      code: ErrorCode.PEER_BANNED,
      detail: `${entry.key} until ${entry.expiresAt} (offence ${entry.offences}): ${entry.reason}`,
      value: entry.offences,
      ...(evidence !== undefined ? { code: "misbehaviour", evidence } : {}),
    });
    h.emit("peer:banned", evidence === undefined ? { entry } : { entry, evidence });
    for (const managed of h.bannedConnections(now)) {
      void managed.connection.close(DisconnectReason.PEER_BANNED, entry.publicReason ? { detail: entry.publicReason } : {});
    }
    h.changed();
    return entry;
  }

  /** Lifts a ban at the application's request. Returns the removed entry, if there was one. */
  unban(target: BanTarget | PeerId): BanEntry | undefined {
    const h = this.#host;
    const entry = h.peers.unban(target instanceof PeerId ? { peerId: target.toString() } : target);
    if (entry) {
      h.journal.record("unbanned", { ...banSubject(entry), code: "unbanned", detail: `${entry.key} lifted by the application` });
      h.emit("peer:unbanned", { entry });
    }
    return entry;
  }

  /** Reports bans that expired (the peer database already dropped them). */
  expired(entries: Iterable<BanEntry>): void {
    for (const entry of entries) {
      this.#host.journal.record("unbanned", { ...banSubject(entry), code: "expired", detail: `${entry.key} expired` });
      this.#host.emit("peer:unbanned", { entry });
    }
  }
}
