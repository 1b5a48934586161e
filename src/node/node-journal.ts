/**
 * The node's side of the decision journal: one place that dates entries and
 * words limit refusals and ban subjects.
 *
 * @module
 */
import type { BanEntry } from "../manager/ban-list.js";
import { describeRefusal, type LimitRefusal } from "../manager/connection-limits.js";
import type { DecisionJournal, JournalEntry } from "../manager/journal.js";
import type { MisbehaviourEvidence } from "../peers/strike-ledger.js";

/** The fields of one journal entry, before it is dated. */
export interface JournalFields {
  peerId?: string | undefined;
  address?: string | undefined;
  code: string;
  detail: string;
  limit?: string;
  value?: number;
  evidence?: MisbehaviourEvidence | undefined;
}

/** Writes dated entries to a {@link DecisionJournal}. */
export class NodeJournal {
  readonly #journal: DecisionJournal;
  readonly #clock: () => number;

  constructor(journal: DecisionJournal, clock: () => number) {
    this.#journal = journal;
    this.#clock = clock;
  }

  /** Records one decision. */
  record(kind: JournalEntry["kind"], entry: JournalFields): void {
    this.#journal.record(journalEntry(this.#clock(), kind, entry));
  }

  /** Records a refusal by a limit, naming the limit and the count that hit it. */
  refusal(address: string, refusal: LimitRefusal): void {
    this.record("refused", {
      address,
      code: refusal.reason,
      detail: describeRefusal(refusal),
      ...(refusal.option ? { limit: refusal.option } : {}),
      value: refusal.current,
    });
  }
}

/** The journal fields naming a ban's target: the peer id of a peer ban, the IP of an IP ban (a subnet is in the detail). */
export function banSubject(entry: BanEntry): { peerId?: string; address?: string } {
  if (entry.kind === "peer") return { peerId: entry.value };
  if (entry.kind === "ip") return { address: entry.value };
  return {};
}

/**
 * The entry, its optional fields added one by one in a fixed order: objects built with conditional spreads
 * got a hidden class of their own each (~0.25 KiB per entry in a journal of a thousand).
 */
function journalEntry(at: number, kind: JournalEntry["kind"], fields: JournalFields): JournalEntry {
  const entry: { -readonly [K in keyof JournalEntry]: JournalEntry[K] } = { at, kind, code: fields.code, detail: fields.detail };
  if (fields.peerId !== undefined) entry.peerId = fields.peerId;
  if (fields.address !== undefined) entry.address = fields.address;
  if (fields.limit !== undefined) entry.limit = fields.limit;
  if (fields.value !== undefined) entry.value = fields.value;
  if (fields.evidence !== undefined) entry.evidence = fields.evidence;
  return entry;
}
