/**
 * Recent violations (strikes) per peer id or IP address, the evidence an automatic ban is decided on.
 * Bounded in subjects and in strikes per subject; sans-IO (times are passed in). The peer database holds
 * the one instance, beside its ban list.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { MAX_STRIKES_PER_SUBJECT, MAX_STRIKE_SUBJECTS } from "./defaults.js";
import { keptPrefix } from "../util/kept-text.js";

/**
 * One violation counted against a peer or an address.
 *
 * @category Peer database
 */
export interface Strike {
  /** When it happened (ms, the node's clock). */
  readonly at: number;
  /** Its code: the `ErrorCode` of the failure (`PROTOCOL_VIOLATION`, `MALFORMED_FRAME`, `AUTHENTICATION_FAILED`, `RATE_LIMITED`, …). */
  readonly code: string;
  /** What happened, for the journal (at most 120 characters). */
  readonly detail: string;
  /** The remote `"host:port"` it came from, when known. */
  readonly address?: string;
}

/**
 * The evidence of an automatic ban: the strikes counted, the window they fell in and the threshold.
 *
 * @category Peer database
 */
export interface MisbehaviourEvidence {
  /** The violations counted, oldest first. */
  readonly strikes: readonly Strike[];
  /** The window (ms) they all fell in. */
  readonly windowMs: number;
  /** Strikes within the window that trigger a ban. */
  readonly threshold: number;
  /** Which automatic ban of this target this is within the ban list's memory (1 = first): its duration doubles with each. */
  readonly offence: number;
}

const MAX_DETAIL = 120;

/**
 * Strikes by subject key (`"peer:<id>"`, `"ip:<ip>"`, as the ban list keys them). At most
 * {@link MAX_STRIKE_SUBJECTS} subjects (the one struck least recently is forgotten first) and
 * {@link MAX_STRIKES_PER_SUBJECT} strikes each (the oldest dropped first).
 */
export class StrikeLedger {
  readonly maxSubjects: number;
  readonly maxPerSubject: number;
  /** Insertion order = order of the latest strike: the first key is the one to forget. */
  readonly #bySubject = new Map<string, Strike[]>();

  constructor(maxSubjects = MAX_STRIKE_SUBJECTS, maxPerSubject = MAX_STRIKES_PER_SUBJECT) {
    if (!Number.isSafeInteger(maxSubjects) || maxSubjects < 1 || !Number.isSafeInteger(maxPerSubject) || maxPerSubject < 1) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "strike ledger bounds must be integers >= 1");
    }
    this.maxSubjects = maxSubjects;
    this.maxPerSubject = maxPerSubject;
  }

  /** Subjects with strikes held. */
  get size(): number {
    return this.#bySubject.size;
  }

  /**
   * Adds `strike` to `key` and returns the subject's strikes at or after `since` (this one included), oldest
   * first; older ones are dropped.
   */
  add(key: string, strike: Strike, since: number): readonly Strike[] {
    const kept = (this.#bySubject.get(key) ?? []).filter((s) => s.at >= since);
    kept.push(Object.freeze({ ...strike, detail: keptPrefix(strike.detail, MAX_DETAIL) }));
    if (kept.length > this.maxPerSubject) kept.splice(0, kept.length - this.maxPerSubject);
    this.#bySubject.delete(key);
    this.#bySubject.set(key, kept);
    if (this.#bySubject.size > this.maxSubjects) {
      const oldest = this.#bySubject.keys().next().value;
      if (oldest !== undefined) this.#bySubject.delete(oldest);
    }
    return [...kept];
  }

  /** The strikes of `key` at or after `since`, oldest first. */
  get(key: string, since: number): readonly Strike[] {
    return (this.#bySubject.get(key) ?? []).filter((s) => s.at >= since);
  }

  /** Forgets the strikes of `key`; true when there were any. */
  clear(key: string): boolean {
    return this.#bySubject.delete(key);
  }

  /** Forgets every strike. */
  clearAll(): void {
    this.#bySubject.clear();
  }
}
