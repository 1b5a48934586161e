/**
 * An expiring, size-bounded set of bans on peer ids, IP addresses and
 * subnets, with escalating durations for repeat offenders. Sans-IO: every
 * method that depends on time takes `now` (ms); the owner sets one timer to
 * {@link BanList.nextExpiry} and calls {@link BanList.sweep} when it fires.
 *
 * Persisted timestamps are whatever clock the owner passes as `now`: use
 * wall-clock milliseconds (`Date.now()`) if the list is saved to disk.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { BAN_DURATIONS_MS, BAN_LIST_MAX_SIZE, OFFENCE_MEMORY_MS } from "./defaults.js";
import { ipFamily, normalizeIp, parseSubnet, subnetKey } from "./ip.js";
import { keptPrefix } from "../util/kept-text.js";

/**
 * What a ban applies to: a peer id (printable form), one IP address, or a CIDR subnet.
 *
 * @category Manager
 */
export type BanTarget =
  | {
      /** A printable peer id. */
      peerId: string;
    }
  | {
      /** An IPv4 or IPv6 address. */
      ip: string;
    }
  | {
      /** A CIDR block, e.g. `"203.0.113.0/24"`. */
      subnet: string;
    };

/**
 * The three kinds of ban target.
 *
 * @category Manager
 */
export type BanKind = "peer" | "ip" | "subnet";

/**
 * One ban (active, or expired and remembered for escalation). A snapshot: later changes are not reflected.
 *
 * @category Manager
 */
export interface BanEntry {
  /** Typed key: `"peer:<id>"`, `"ip:<normalised ip>"` or `"subnet:<cidr>"`. */
  readonly key: string;
  /** Kind of target. */
  readonly kind: BanKind;
  /** The peer id, normalised IP, or canonical CIDR block. */
  readonly value: string;
  /** Why the latest ban was issued (free text, at most 500 characters). Local: never sent to the peer. */
  readonly reason: string;
  /** Text the banned peer may be told (in its Goodbye), if the owner chose one; at most 500 characters. */
  readonly publicReason?: string;
  /** When the latest ban was issued (ms, the owner's clock). */
  readonly createdAt: number;
  /** When the ban ends (ms); `Infinity` for a permanent ban. Banned while `now < expiresAt`. */
  readonly expiresAt: number;
  /** Offences counted for escalation, 1 for a first ban. */
  readonly offences: number;
}

/** Options of a ban list: its size and escalation. */
export interface BanListOptions {
  /** Entries held at most, active bans and remembered offences together (integer >= 1). @default 10000 */
  maxSize?: number;
  /** Ban duration (ms) by offence number; the last entry is the cap. @default [600000, 3600000, 86400000] */
  durationsMs?: readonly number[];
  /** How long (ms) an offence is remembered after its ban expired. @default 604800000 (7 days) */
  offenceMemoryMs?: number;
}

/**
 * Options of issuing one ban.
 *
 * @category Manager
 */
export interface BanIssueOptions {
  /** Why the ban is issued (kept in the entry, shown by the CLI; never sent to the peer). */
  reason: string;
  /** Text the banned peer may be told in its Goodbye. @default none: the Goodbye carries no detail */
  publicReason?: string | undefined;
  /** Explicit duration in ms (> 0, `Infinity` for permanent) instead of the escalation schedule. */
  durationMs?: number;
  /**
   * Issued by the node's own misbehaviour policy rather than by the operator. On a full list such entries make
   * room first: hosts that get themselves banned by the thousand (new peer ids and IPv6 addresses are free)
   * cannot push the operator's bans out. Banning the target again without it makes the entry the operator's.
   * @default false
   */
  automatic?: boolean;
}

/**
 * What issuing a ban did.
 *
 * @category Manager
 */
export interface BanResult {
  /** The entry after the ban (offence count already incremented). */
  entry: BanEntry;
  /** An entry dropped to stay within `maxSize`, if any (it may have been an active ban). */
  evicted: BanEntry | undefined;
}

/**
 * Who or what is asking to connect: checked against peer, IP and subnet bans.
 *
 * @category Manager
 */
export interface BanQuery {
  /** Printable peer id, when known. */
  peerId?: string | undefined;
  /** Remote IP address, when known. */
  ip?: string | undefined;
}

/** Serialised form of a {@link BanList} (see {@link BanList.toJSON}). */
export interface BanListJSON {
  /** Format version, 1. */
  version: 1;
  /** Every entry, active and remembered. */
  entries: BanEntryJSON[];
}

/** Serialised form of one entry; `expiresAt` is `null` for a permanent ban. */
export interface BanEntryJSON {
  kind: BanKind;
  value: string;
  reason: string;
  publicReason?: string;
  createdAt: number;
  expiresAt: number | null;
  offences: number;
  /** True once {@link BanList.sweep} reported the expiry. */
  expired: boolean;
  /** Present for an entry the misbehaviour policy issued (see {@link BanIssueOptions.automatic}); absent: the operator's. */
  automatic?: true;
}

interface BanRecord {
  key: string;
  kind: BanKind;
  value: string;
  reason: string;
  publicReason: string | undefined;
  createdAt: number;
  expiresAt: number;
  offences: number;
  /** Set when sweep() has reported the expiry. */
  expiryReported: boolean;
  /** Issued by the misbehaviour policy (see {@link BanIssueOptions.automatic}). */
  automatic: boolean;
}

const MAX_REASON_LENGTH = 500;
const MAX_PEER_ID_LENGTH = 512;

function invalid(message: string): PeerlinkError {
  return new PeerlinkError(ErrorCode.INVALID_ARGUMENT, message);
}

function validPeerId(peerId: unknown): string {
  if (typeof peerId !== "string" || peerId.length === 0 || peerId.length > MAX_PEER_ID_LENGTH || /\s/.test(peerId)) {
    throw invalid(`peer id must be a non-empty string without whitespace of at most ${MAX_PEER_ID_LENGTH} characters`);
  }
  return peerId;
}

/** Kind and canonical value of a target. @throws PeerlinkError INVALID_ARGUMENT */
function resolveTarget(target: BanTarget): { kind: BanKind; value: string } {
  if (target === null || typeof target !== "object") throw invalid("ban target must be { peerId } | { ip } | { subnet }");
  const fields = ["peerId", "ip", "subnet"].filter((k) => (target as Record<string, unknown>)[k] !== undefined);
  if (fields.length !== 1) throw invalid("ban target must have exactly one of peerId, ip, subnet");
  if ("peerId" in target && target.peerId !== undefined) return { kind: "peer", value: validPeerId(target.peerId) };
  if ("ip" in target && target.ip !== undefined) return { kind: "ip", value: normalizeIp(target.ip) };
  return { kind: "subnet", value: parseSubnet((target as { subnet: string }).subnet).key };
}

/**
 * Returns the typed key of a ban target: `"peer:<id>"`, `"ip:<normalised ip>"`
 * or `"subnet:<canonical cidr>"` (e.g. `banKey({ subnet: "1.2.3.4/24" })` →
 * `"subnet:1.2.3.0/24"`).
 *
 * @throws PeerlinkError INVALID_ARGUMENT on a malformed target.
 */
export function banKey(target: BanTarget): string {
  const { kind, value } = resolveTarget(target);
  return `${kind}:${value}`;
}

function snapshot(record: BanRecord): BanEntry {
  return Object.freeze({
    key: record.key,
    kind: record.kind,
    value: record.value,
    reason: record.reason,
    ...(record.publicReason !== undefined ? { publicReason: record.publicReason } : {}),
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    offences: record.offences,
  });
}

/**
 * An expiring, size-bounded ban list keyed by peer id, IP and subnet.
 *
 * - Durations escalate: the n-th offence within the memory window gets
 *   `durationsMs[n - 1]`, capped at the last entry (10 min → 1 h → 24 h by default).
 *   An offence is remembered until `offenceMemoryMs` after its ban expired.
 * - Banning an already banned target counts another offence and never
 *   shortens the ban.
 * - When `maxSize` entries exist and a new target is banned, one entry is
 *   dropped: a remembered (expired) offence that would be forgotten soonest,
 *   else the active ban that expires soonest. The dropped entry is returned.
 * - {@link BanList.findBan} checks the peer id, the IP, then every subnet
 *   (of any prefix length that has bans) containing the IP.
 *
 * Costs: checks are O(number of distinct subnet prefix lengths), and skip a kind (peer, IP) the list holds
 * none of; `nextExpiry` is O(1) between sweeps; `sweep` and eviction are O(entries).
 */
export class BanList {
  readonly maxSize: number;
  readonly durationsMs: readonly number[];
  readonly offenceMemoryMs: number;
  readonly #records = new Map<string, BanRecord>();
  /** Subnet bans by "family/prefix" → number of records, so lookups only compute prefixes that exist. */
  readonly #subnetPrefixes = new Map<string, number>();
  /** Peer and IP records held: a query skips a kind the list holds none of (most nodes hold no bans). */
  #peerRecords = 0;
  #ipRecords = 0;
  /**
   * At or before the earliest unreported expiry (Infinity: none), or undefined when not known: kept exact by
   * {@link BanList.sweep}, lowered by a ban, left as it is by a removal (an early sweep finds nothing and
   * makes it exact again). The node's timer reads it at every change of its pending pool.
   */
  #expiryBound: number | undefined = Number.POSITIVE_INFINITY;

  constructor(options: BanListOptions = {}) {
    const maxSize = options.maxSize ?? BAN_LIST_MAX_SIZE;
    const durations = options.durationsMs ?? BAN_DURATIONS_MS;
    const memory = options.offenceMemoryMs ?? OFFENCE_MEMORY_MS;
    if (!Number.isInteger(maxSize) || maxSize < 1) throw invalid(`ban list maxSize must be an integer >= 1, got ${String(maxSize)}`);
    if (!Array.isArray(durations) || durations.length === 0 || !durations.every((d) => typeof d === "number" && Number.isFinite(d) && d > 0)) {
      throw invalid("ban list durationsMs must be a non-empty array of finite durations > 0 (ms)");
    }
    if (!(typeof memory === "number" && Number.isFinite(memory) && memory >= 0)) {
      throw invalid(`ban list offenceMemoryMs must be a finite number >= 0, got ${String(memory)}`);
    }
    this.maxSize = maxSize;
    this.durationsMs = Object.freeze([...durations]);
    this.offenceMemoryMs = memory;
  }

  /** Entries held (active bans and remembered offences). Never more than `maxSize`. */
  get size(): number {
    return this.#records.size;
  }

  /**
   * Bans `target` from `now` and returns the entry. The duration is
   * `options.durationMs` when given, else the escalation schedule for the
   * target's offence count (previous offences still remembered, plus this one).
   *
   * @throws PeerlinkError INVALID_ARGUMENT on a malformed target, reason or duration.
   */
  ban(target: BanTarget, now: number, options: BanIssueOptions): BanResult {
    const { kind, value } = resolveTarget(target);
    checkNow(now);
    if (options === null || typeof options !== "object" || typeof options.reason !== "string") {
      throw invalid("ban needs { reason: string }");
    }
    const explicit = options.durationMs;
    if (explicit !== undefined && !(typeof explicit === "number" && explicit > 0 && !Number.isNaN(explicit))) {
      throw invalid(`ban durationMs must be > 0 (or Infinity), got ${String(explicit)}`);
    }
    const key = `${kind}:${value}`;
    const previous = this.#records.get(key);
    const remembered = previous !== undefined && now < this.#forgetAt(previous);
    const offences = remembered ? previous.offences + 1 : 1;
    const duration = explicit ?? this.durationsMs[Math.min(offences, this.durationsMs.length) - 1] ?? 0;
    const stillActive = remembered && previous.expiresAt > now;
    const expiresAt = Math.max(now + duration, stillActive ? previous.expiresAt : Number.NEGATIVE_INFINITY);
    const reason = keptPrefix(options.reason, MAX_REASON_LENGTH);
    const publicReason = typeof options.publicReason === "string" ? keptPrefix(options.publicReason, MAX_REASON_LENGTH) : undefined;

    const automatic = options.automatic === true;
    let evicted: BanEntry | undefined;
    if (previous !== undefined) {
      Object.assign(previous, { reason, publicReason, createdAt: now, expiresAt, offences, expiryReported: false, automatic: previous.automatic && automatic });
      this.#lowerExpiryBound(expiresAt);
      return { entry: snapshot(previous), evicted };
    }
    if (this.#records.size >= this.maxSize) evicted = this.#evictOne(now);
    const record: BanRecord = { key, kind, value, reason, publicReason, createdAt: now, expiresAt, offences, expiryReported: false, automatic };
    this.#insert(record);
    return { entry: snapshot(record), evicted };
  }

  /**
   * Lifts the ban on `target` and forgets its offences (an operator's unban
   * is a pardon). Returns the removed entry, or undefined if there was none.
   *
   * @throws PeerlinkError INVALID_ARGUMENT on a malformed target.
   */
  unban(target: BanTarget): BanEntry | undefined {
    const record = this.#records.get(banKey(target));
    if (record === undefined) return undefined;
    this.#remove(record);
    return snapshot(record);
  }

  /** The entry for exactly `target` (active or remembered), or undefined. Does not look at subnets. */
  get(target: BanTarget): BanEntry | undefined {
    const record = this.#records.get(banKey(target));
    return record === undefined ? undefined : snapshot(record);
  }

  /** Offences of `target` still remembered at `now` (0 when none): the next ban will be offence number this + 1. */
  offences(target: BanTarget, now: number): number {
    const record = this.#records.get(banKey(target));
    return record !== undefined && now < this.#forgetAt(record) ? record.offences : 0;
  }

  /**
   * Returns the active ban that applies to `query` at `now`, checking the peer
   * id, then the IP, then each banned subnet containing the IP; undefined when
   * none applies. Expiry is by `now` alone, no sweep needed.
   *
   * @throws PeerlinkError INVALID_ARGUMENT when `query.ip` is not an IP address.
   */
  findBan(query: BanQuery, now: number): BanEntry | undefined {
    if (query.peerId !== undefined && this.#peerRecords > 0) {
      const record = this.#records.get(`peer:${query.peerId}`);
      if (record !== undefined && record.expiresAt > now) return snapshot(record);
    }
    if (query.ip !== undefined) {
      const ip = normalizeIp(query.ip);
      const record = this.#ipRecords > 0 ? this.#records.get(`ip:${ip}`) : undefined;
      if (record !== undefined && record.expiresAt > now) return snapshot(record);
      if (this.#subnetPrefixes.size > 0) {
        const family = ipFamily(ip);
        for (const familyPrefix of this.#subnetPrefixes.keys()) {
          const [f, p] = familyPrefix.split("/");
          if (Number(f) !== family) continue;
          const prefix = Number(p);
          const subnet = subnetKey(ip, family === 4 ? prefix : 0, family === 6 ? prefix : 0);
          const banned = this.#records.get(`subnet:${subnet}`);
          if (banned !== undefined && banned.expiresAt > now) return snapshot(banned);
        }
      }
    }
    return undefined;
  }

  /** True when a peer, IP or subnet ban applies to `query` at `now` (see {@link BanList.findBan}). */
  isBanned(query: BanQuery, now: number): boolean {
    return this.findBan(query, now) !== undefined;
  }

  /** Every ban active at `now`, soonest expiry first. */
  active(now: number): BanEntry[] {
    return [...this.#records.values()]
      .filter((r) => r.expiresAt > now)
      .sort((a, b) => a.expiresAt - b.expiresAt)
      .map(snapshot);
  }

  /**
   * Reports bans that have expired by `now`, each exactly once (for
   * `peer:unbanned` events), soonest first; also forgets offences older than
   * the memory window. Call it when {@link BanList.nextExpiry} is reached.
   */
  sweep(now: number): BanEntry[] {
    const expired: BanRecord[] = [];
    for (const record of [...this.#records.values()]) {
      if (!record.expiryReported && record.expiresAt <= now) {
        record.expiryReported = true;
        expired.push(record);
      }
      if (this.#forgetAt(record) <= now) this.#remove(record);
    }
    this.#expiryBound = undefined;
    return expired.sort((a, b) => a.expiresAt - b.expiresAt).map(snapshot);
  }

  /**
   * The earliest expiry not yet reported by {@link BanList.sweep} (ms), or undefined when nothing will expire.
   * After an unban it may be the lifted ban's (earlier than any left): a sweep then reports nothing and the
   * next answer is exact again. A timer set to it fires on time or early, never late.
   */
  nextExpiry(): number | undefined {
    let next = this.#expiryBound;
    if (next === undefined) {
      next = Number.POSITIVE_INFINITY;
      for (const record of this.#records.values()) {
        if (!record.expiryReported && record.expiresAt < next) next = record.expiresAt;
      }
      this.#expiryBound = next;
    }
    return next === Number.POSITIVE_INFINITY ? undefined : next;
  }

  /** Removes every entry. */
  clear(): void {
    this.#records.clear();
    this.#subnetPrefixes.clear();
    this.#peerRecords = this.#ipRecords = 0;
    this.#expiryBound = Number.POSITIVE_INFINITY;
  }

  /** Serialisable copy of every entry, for the peer database. */
  toJSON(): BanListJSON {
    return {
      version: 1,
      entries: [...this.#records.values()].map((r) => ({
        kind: r.kind,
        value: r.value,
        reason: r.reason,
        ...(r.publicReason !== undefined ? { publicReason: r.publicReason } : {}),
        createdAt: r.createdAt,
        expiresAt: r.expiresAt === Number.POSITIVE_INFINITY ? null : r.expiresAt,
        offences: r.offences,
        expired: r.expiryReported,
        ...(r.automatic ? { automatic: true as const } : {}),
      })),
    };
  }

  /**
   * Rebuilds a ban list from {@link BanList.toJSON} output. Entries are
   * validated and normalised; duplicates keep the later expiry; if there are
   * more than `maxSize`, the ones expiring latest are kept.
   *
   * @throws PeerlinkError INVALID_ARGUMENT when `json` is not a valid version-1 ban list.
   */
  static fromJSON(json: unknown, options: BanListOptions = {}): BanList {
    const list = new BanList(options);
    if (json === null || typeof json !== "object") throw invalid("ban list JSON must be an object");
    const { version, entries } = json as { version?: unknown; entries?: unknown };
    if (version !== 1) throw invalid(`unsupported ban list version ${String(version)}`);
    if (!Array.isArray(entries)) throw invalid("ban list JSON needs an entries array");
    const records: BanRecord[] = [];
    entries.forEach((raw: unknown, i) => {
      const e = (raw ?? {}) as Partial<Record<keyof BanEntryJSON, unknown>>;
      const bad = (why: string): PeerlinkError => invalid(`ban list entry ${i}: ${why}`);
      if (e.kind !== "peer" && e.kind !== "ip" && e.kind !== "subnet") throw bad("kind must be peer, ip or subnet");
      if (typeof e.value !== "string") throw bad("value must be a string");
      if (typeof e.reason !== "string") throw bad("reason must be a string");
      if (typeof e.createdAt !== "number" || !Number.isFinite(e.createdAt)) throw bad("createdAt must be a finite number");
      if (e.expiresAt !== null && (typeof e.expiresAt !== "number" || !Number.isFinite(e.expiresAt))) throw bad("expiresAt must be a finite number or null");
      if (typeof e.offences !== "number" || !Number.isInteger(e.offences) || e.offences < 1) throw bad("offences must be an integer >= 1");
      let target: BanTarget;
      if (e.kind === "peer") target = { peerId: e.value };
      else if (e.kind === "ip") target = { ip: e.value };
      else target = { subnet: e.value };
      let resolved: { kind: BanKind; value: string };
      try {
        resolved = resolveTarget(target);
      } catch (error) {
        throw bad(error instanceof PeerlinkError ? error.rawMessage : String(error));
      }
      records.push({
        key: `${resolved.kind}:${resolved.value}`,
        kind: resolved.kind,
        value: resolved.value,
        reason: keptPrefix(e.reason, MAX_REASON_LENGTH),
        publicReason: typeof e.publicReason === "string" ? keptPrefix(e.publicReason, MAX_REASON_LENGTH) : undefined,
        createdAt: e.createdAt,
        expiresAt: e.expiresAt ?? Number.POSITIVE_INFINITY,
        offences: e.offences,
        expiryReported: e.expired === true,
        automatic: e.automatic === true,
      });
    });
    records.sort((a, b) => b.expiresAt - a.expiresAt);
    for (const record of records) {
      if (list.#records.has(record.key)) continue; // the later expiry was inserted first
      if (list.#records.size >= list.maxSize) break;
      list.#insert(record);
    }
    return list;
  }

  /**
   * Replaces every entry with those of `json` ({@link BanList.toJSON} output), keeping this list's options:
   * active bans and remembered offences (so escalation survives a restart). Entries are validated as by
   * {@link BanList.fromJSON}; on invalid input nothing changes.
   *
   * @throws PeerlinkError INVALID_ARGUMENT when `json` is not a valid version-1 ban list.
   */
  restore(json: unknown): void {
    const loaded = BanList.fromJSON(json, { maxSize: this.maxSize, durationsMs: this.durationsMs, offenceMemoryMs: this.offenceMemoryMs });
    this.clear();
    for (const record of loaded.#records.values()) this.#insert({ ...record });
  }

  #forgetAt(record: BanRecord): number {
    return record.expiresAt + this.offenceMemoryMs;
  }

  #insert(record: BanRecord): void {
    this.#records.set(record.key, record);
    if (!record.expiryReported) this.#lowerExpiryBound(record.expiresAt);
    if (record.kind === "peer") this.#peerRecords++;
    else if (record.kind === "ip") this.#ipRecords++;
    else {
      const prefixKey = subnetPrefixKey(record.value);
      this.#subnetPrefixes.set(prefixKey, (this.#subnetPrefixes.get(prefixKey) ?? 0) + 1);
    }
  }

  #remove(record: BanRecord): void {
    if (!this.#records.delete(record.key)) return;
    if (record.kind === "peer") this.#peerRecords--;
    else if (record.kind === "ip") this.#ipRecords--;
    else {
      const prefixKey = subnetPrefixKey(record.value);
      const left = (this.#subnetPrefixes.get(prefixKey) ?? 1) - 1;
      if (left > 0) this.#subnetPrefixes.set(prefixKey, left);
      else this.#subnetPrefixes.delete(prefixKey);
    }
  }

  #lowerExpiryBound(expiresAt: number): void {
    if (this.#expiryBound !== undefined && expiresAt < this.#expiryBound) this.#expiryBound = expiresAt;
  }

  /**
   * Drops one entry: the remembered offence forgotten soonest, else the active ban expiring soonest, among the
   * automatic entries when there is one (they are what a remote host can make), else among all.
   */
  #evictOne(now: number): BanEntry | undefined {
    return this.#evictAmong(now, true) ?? this.#evictAmong(now, false);
  }

  #evictAmong(now: number, automaticOnly: boolean): BanEntry | undefined {
    let victim: BanRecord | undefined;
    let victimActive = true;
    let victimDeadline = Number.POSITIVE_INFINITY;
    for (const record of this.#records.values()) {
      if (automaticOnly && !record.automatic) continue;
      const active = record.expiresAt > now;
      const deadline = active ? record.expiresAt : this.#forgetAt(record);
      const better =
        victim === undefined || (victimActive && !active) || (victimActive === active && deadline < victimDeadline);
      if (better) {
        victim = record;
        victimActive = active;
        victimDeadline = deadline;
      }
    }
    if (victim === undefined) return undefined;
    this.#remove(victim);
    return snapshot(victim);
  }
}

function subnetPrefixKey(cidr: string): string {
  const slash = cidr.lastIndexOf("/");
  return `${cidr.includes(":") ? 6 : 4}/${cidr.slice(slash + 1)}`;
}

function checkNow(now: number): void {
  if (typeof now !== "number" || !Number.isFinite(now)) throw invalid(`now must be a finite number of ms, got ${String(now)}`);
}
