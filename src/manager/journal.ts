/**
 * A bounded, in-memory journal of the connection manager's decisions
 * (refusals, trims, bans, …) so that "why was this peer dropped?" has an
 * answer. A ring buffer: O(1) append, fixed memory, the newest entries win.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { JOURNAL_CAPACITY } from "./defaults.js";
import { normalizeIp, parseHostPort } from "./ip.js";
import type { MisbehaviourEvidence } from "../peers/strike-ledger.js";
import { keptPrefix } from "../util/kept-text.js";

/**
 * Kinds of decision recorded.
 *
 * @category Manager
 */
export type JournalKind = "refused" | "trimmed" | "banned" | "unbanned" | "closed" | "opened" | "replaced";

/**
 * One recorded decision.
 *
 * @category Manager
 */
export interface JournalEntry {
  /** When (ms, the owner's clock). */
  readonly at: number;
  /** What was decided. */
  readonly kind: JournalKind;
  /** Printable peer id, when known. */
  readonly peerId?: string;
  /** Remote address (`"host:port"` or an IP), when known. */
  readonly address?: string;
  /** Machine-readable code: an ErrorCode, a refusal reason or a disconnect reason. */
  readonly code: string;
  /** Human-readable explanation (truncated to 1000 characters). */
  readonly detail: string;
  /** Name of the limit involved (e.g. `"maxPerIp"`). */
  readonly limit?: string;
  /** The value that hit the limit, or another number that explains the decision. */
  readonly value?: number;
  /** For an automatic ban: the violations counted, their codes and times, the window and the threshold. */
  readonly evidence?: MisbehaviourEvidence;
}

/**
 * Filter of {@link DecisionJournal.query}; all given fields must match.
 *
 * @category Manager
 */
export interface JournalQuery {
  /** Only entries about this peer. */
  peerId?: string;
  /** Only entries with this address; an IP also matches `"ip:port"` entries of that IP. */
  address?: string;
  /** Only entries of this kind (or of any of these kinds). */
  kind?: JournalKind | readonly JournalKind[];
  /** Only entries at or after this time (ms). */
  since?: number;
  /** At most this many entries: the most recent matches. */
  limit?: number;
}

const MAX_DETAIL_LENGTH = 1000;

function hostKey(address: string): string | undefined {
  try {
    return normalizeIp(parseHostPort(address).host);
  } catch {
    try {
      return normalizeIp(address);
    } catch {
      return undefined;
    }
  }
}

/** A fixed-size ring of entries, each with the order it was recorded in across the journal. */
class EntryRing {
  readonly #entries: (JournalEntry | undefined)[];
  readonly #order: number[];
  #next = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.#entries = new Array<JournalEntry | undefined>(capacity).fill(undefined);
    this.#order = new Array<number>(capacity).fill(0);
  }

  /** Stores `entry`; true when it overwrote the oldest. */
  push(entry: JournalEntry, order: number): boolean {
    const full = this.size === this.capacity;
    if (!full) this.size++;
    this.#entries[this.#next] = entry;
    this.#order[this.#next] = order;
    this.#next = (this.#next + 1) % this.capacity;
    return full;
  }

  /** The `i`-th newest entry (0: the newest); `i` < size. */
  entryAt(i: number): JournalEntry {
    return this.#entries[this.#slot(i)] as JournalEntry;
  }

  /** When the `i`-th newest entry was recorded, in the journal's order across both rings. */
  orderAt(i: number): number {
    return this.#order[this.#slot(i)] as number;
  }

  #slot(i: number): number {
    return (this.#next - 1 - i + 2 * this.capacity) % this.capacity;
  }

  clear(): void {
    this.#entries.fill(undefined);
    this.#next = 0;
    this.size = 0;
  }
}

/**
 * Ring buffers of {@link JournalEntry}: refusals in one, every other decision in another, each holding at most
 * `capacity` entries and overwriting its oldest when full. Refusals are kept apart because a remote host makes
 * one with every connection it opens, even one that sends nothing: a flood of them would otherwise push the
 * bans, closes and trims an operator looks for out of the journal.
 *
 * @category Manager
 */
export class DecisionJournal {
  /** Most entries held of each class: refusals, and the other decisions. */
  readonly capacity: number;
  readonly #refusals: EntryRing;
  readonly #decisions: EntryRing;
  #recorded = 0;
  #dropped = 0;
  /** Observers of new entries (logging, status pages): called after the entry is stored. */
  readonly #subscribers = new Set<(entry: JournalEntry) => void>();

  /** @throws PeerlinkError INVALID_ARGUMENT when `capacity` is not an integer >= 1. */
  constructor(capacity: number = JOURNAL_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 10_000_000) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `journal capacity must be an integer in 1..10000000, got ${String(capacity)}`);
    }
    this.capacity = capacity;
    this.#refusals = new EntryRing(capacity);
    this.#decisions = new EntryRing(capacity);
  }

  /** Entries held now, of both classes. */
  get size(): number {
    return this.#refusals.size + this.#decisions.size;
  }

  /** Entries overwritten since creation (or the last clear). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Appends a decision in O(1), overwriting the oldest of its class when full. The entry is copied and frozen. */
  record(entry: JournalEntry): void {
    const copy = Object.freeze(copyEntry(entry));
    if ((copy.kind === "refused" ? this.#refusals : this.#decisions).push(copy, this.#recorded++)) this.#dropped++;
    for (const subscriber of this.#subscribers) {
      try {
        subscriber(copy);
      } catch (error) {
        // An observer must never break the decision it observes.
        process.emitWarning(`peerlink: a journal subscriber threw: ${String(error)}`, "PeerlinkListenerWarning");
      }
    }
  }

  /**
   * Calls `listener` with every entry recorded from now on (the frozen copy that was stored), synchronously
   * after it is stored. A throwing listener is reported with `process.emitWarning`. Returns the function
   * that removes it.
   */
  subscribe(listener: (entry: JournalEntry) => void): () => void {
    this.#subscribers.add(listener);
    return () => {
      this.#subscribers.delete(listener);
    };
  }

  /** Every entry, oldest first. */
  entries(): JournalEntry[] {
    return this.query({});
  }

  /**
   * Entries matching `filter`, oldest first (both classes in the order they were recorded); with `limit`, only
   * the most recent `limit` matches. O(size).
   */
  query(filter: JournalQuery = {}): JournalEntry[] {
    const limit = filter.limit ?? Number.POSITIVE_INFINITY;
    if (!(limit >= 0)) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `journal query limit must be >= 0, got ${String(limit)}`);
    const kinds = filter.kind === undefined ? undefined : new Set<JournalKind>(typeof filter.kind === "string" ? [filter.kind] : filter.kind);
    // A bare IP query matches every entry of that IP, whatever the port; anything else matches exactly.
    const wantedIp = filter.address === undefined ? undefined : bareIp(filter.address);
    const matches: JournalEntry[] = [];
    const refusals = this.#refusals;
    const decisions = this.#decisions;
    // Newest first, merging the two rings by the order the entries were recorded in.
    let r = 0;
    let d = 0;
    while ((r < refusals.size || d < decisions.size) && matches.length < limit) {
      const fromRefusals = d >= decisions.size || (r < refusals.size && refusals.orderAt(r) > decisions.orderAt(d));
      const entry = fromRefusals ? refusals.entryAt(r++) : decisions.entryAt(d++);
      if (filter.peerId !== undefined && entry.peerId !== filter.peerId) continue;
      if (kinds !== undefined && !kinds.has(entry.kind)) continue;
      if (filter.since !== undefined && entry.at < filter.since) continue;
      if (filter.address !== undefined) {
        if (entry.address === undefined) continue;
        if (entry.address !== filter.address && (wantedIp === undefined || hostKey(entry.address) !== wantedIp)) continue;
      }
      matches.push(entry);
    }
    return matches.reverse();
  }

  /** Removes every entry and resets {@link DecisionJournal.dropped}. */
  clear(): void {
    this.#refusals.clear();
    this.#decisions.clear();
    this.#dropped = 0;
  }
}

function bareIp(address: string): string | undefined {
  try {
    return normalizeIp(address);
  } catch {
    return undefined;
  }
}

/**
 * A copy of `entry` with its detail truncated, its optional fields added one by one in a fixed order: a
 * spread copy made a hidden class of its own for each entry (~0.4 KiB each in a journal of a thousand).
 */
function copyEntry(entry: JournalEntry): JournalEntry {
  const copy: { -readonly [K in keyof JournalEntry]: JournalEntry[K] } = {
    at: entry.at,
    kind: entry.kind,
    code: entry.code,
    detail: typeof entry.detail === "string" ? keptPrefix(entry.detail, MAX_DETAIL_LENGTH) : String(entry.detail),
  };
  if (entry.peerId !== undefined) copy.peerId = entry.peerId;
  if (entry.address !== undefined) copy.address = entry.address;
  if (entry.limit !== undefined) copy.limit = entry.limit;
  if (entry.value !== undefined) copy.value = entry.value;
  if (entry.evidence !== undefined) copy.evidence = entry.evidence;
  return copy;
}
