/**
 * Make-before-break replacement of degraded connections: the I/O half of a
 * `replace` action of the maintenance core. It picks a candidate from the peer
 * database (never a banned peer), dials it through the manager, and only once
 * the replacement is open asks the core whether the degraded connection is
 * still to be closed, then closes it.
 *
 * @module
 */
import type { Connection } from "../connection/connection.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { HealthScore } from "../health/types.js";
import type { ManagerHost } from "../manager/services.js";
import { DisconnectReason } from "../reasons.js";
import type { Entry } from "./connection-table.js";
import type { MaintenanceCore } from "./maintenance-core.js";

/** A peer to dial instead of a degraded one. */
export interface ReplacementCandidate {
  /** Printable peer id. */
  readonly peerId: string;
  /** Its known addresses. */
  readonly addresses: readonly string[];
}

/** What {@link pickReplacement} needs of the peer database. */
export interface CandidateSource {
  /** Candidates to dial, best first, skipping `exclude` (and, when `accept` is given, peers it refuses). */
  candidates(options: {
    now: number;
    exclude?: Iterable<string>;
    limit?: number;
    accept?: (record: { readonly peerId: string }) => boolean;
  }): readonly ReplacementCandidate[];
  /** True for a banned peer (the peer database owns bans). */
  isBanned?(peerId: string, now: number): boolean;
  /** The per-address dial backoff, which every dial feeds (`check` is undefined when the address may be dialed). */
  readonly dialBackoff?: { check(address: string, now: number): unknown };
}

/** Candidates read per pick: the best ones whose every address is in dial backoff are passed over. */
const CANDIDATES_PER_PICK = 16;

/**
 * The best candidate not in `exclude`, not banned, that `mayDial` (the application's gater) does not refuse and
 * with an address out of dial backoff, or `undefined`. The backoff is what bounds retries: a replacement dial
 * that failed feeds it, and without it the same failing candidate (an address where a host answers with
 * another identity each time, say) was dialed again at every health check. `now` is the peer database's clock
 * (wall clock: its backoff and ban times are wall-clock times).
 */
export function pickReplacement(
  peers: CandidateSource,
  now: number,
  exclude: ReadonlySet<string>,
  mayDial?: (peerId: string) => boolean,
): ReplacementCandidate | undefined {
  const usable = (peerId: string): boolean => peers.isBanned?.(peerId, now) !== true && mayDial?.(peerId) !== false;
  const backoff = peers.dialBackoff;
  const free = (address: string): boolean => backoff === undefined || backoff.check(address, now) === undefined;
  const candidates = peers.candidates({ now, exclude, limit: CANDIDATES_PER_PICK, accept: (record) => usable(record.peerId) });
  // `usable` checked again: a database whose candidates() ignores `accept` must still not yield a banned peer.
  const candidate = candidates.find((c) => usable(c.peerId) && c.addresses.some(free));
  // Dialed at its addresses out of backoff only: the others would be raced beside them.
  return candidate === undefined ? undefined : { peerId: candidate.peerId, addresses: candidate.addresses.filter(free) };
}

/**
 * The order in which degraded connections are replaced: the peer with the lowest tag value (the
 * application's weights) first, so when candidates are scarce the connections the application values
 * least give way first. Other actions keep their order, ahead of the replacements. Stable.
 */
export function inReplacementOrder<A extends { readonly type: string }>(
  actions: readonly A[],
  tagValue: (action: A & { readonly type: "replace" }) => number,
): A[] {
  const replace = actions.filter((a): a is A & { readonly type: "replace" } => a.type === "replace");
  if (replace.length < 2) return [...actions];
  const values = new Map(replace.map((a) => [a, tagValue(a)]));
  replace.sort((x, y) => (values.get(x) ?? 0) - (values.get(y) ?? 0));
  return [...actions.filter((a) => a.type !== "replace"), ...replace];
}

const noop = (): void => undefined;

/** Runs the replacements the core asks for; one dial per degraded connection at a time. */
export class Replacer {
  readonly #host: ManagerHost;
  readonly #core: MaintenanceCore<Connection>;
  readonly #clock: () => number;
  readonly #health: (entry: Entry<Connection>) => HealthScore | undefined;
  readonly #dialing = new Set<AbortController>();

  /**
   * @param host - the manager.
   * @param core - the maintenance core (asked again once the replacement is open).
   * @param clock - the service's monotonic clock.
   * @param health - the published health of an entry (for the journal).
   */
  constructor(
    host: ManagerHost,
    core: MaintenanceCore<Connection>,
    clock: () => number,
    health: (entry: Entry<Connection>) => HealthScore | undefined,
  ) {
    this.#host = host;
    this.#core = core;
    this.#clock = clock;
    this.#health = health;
  }

  /** Peers connected or being dialed as replacements: not candidates. */
  busyPeers(entries: Iterable<Entry<Connection>>): Set<string> {
    const peers = new Set<string>();
    for (const m of this.#host.managed()) peers.add(m.peer);
    for (const entry of entries) {
      peers.add(entry.peer);
      if (entry.replacingWith !== undefined) peers.add(entry.replacingWith);
    }
    return peers;
  }

  /** Dials a candidate for `entry` (adding it to `exclude`); closes `entry`'s connection once it is open. */
  replace(entry: Entry<Connection>, exclude: Set<string>): void {
    const host = this.#host;
    if (!host.running || host.isProtected(entry.peer) || entry.replacingWith !== undefined) return;
    const candidate = pickReplacement(host.peers, host.clock(), exclude, host.mayDial === undefined ? undefined : (peer) => host.mayDial?.(peer) !== false);
    if (candidate === undefined) return;
    exclude.add(candidate.peerId);
    const abort = new AbortController();
    this.#dialing.add(abort);
    this.#core.setReplacing(entry, candidate.peerId);
    const settle = (): void => {
      this.#dialing.delete(abort);
      this.#core.setReplacing(entry, undefined);
    };
    let dialing: Promise<Connection>;
    try {
      dialing = host.dial({ peerId: candidate.peerId, addresses: candidate.addresses }, { signal: abort.signal });
    } catch {
      settle();
      return;
    }
    dialing.then(
      (replacement) => {
        settle();
        if (replacement.state !== "open" || host.isProtected(entry.peer)) return;
        const degradedFor = this.#core.replacementOpened(entry, this.#clock());
        if (degradedFor === undefined) return;
        const grade = this.#health(entry)?.grade ?? "unknown";
        const connection = entry.handle;
        host.journal("replaced", {
          peerId: entry.peer,
          address: connection.remoteAddress,
          code: DisconnectReason.NETWORK_RESTRUCTURE,
          detail: `health ${grade} for ${degradedFor} ms; replaced by ${candidate.peerId} (now open)`,
          value: degradedFor,
        });
        connection
          .close(DisconnectReason.NETWORK_RESTRUCTURE, { detail: `replaced by a healthier peer after ${degradedFor} ms ${grade}` })
          .catch(noop);
      },
      () => settle(),
    );
  }

  /** Aborts every dial in flight. */
  stop(): void {
    for (const abort of this.#dialing) abort.abort(new PeerlinkError(ErrorCode.STOPPED, "maintenance stopped"));
    this.#dialing.clear();
  }
}
