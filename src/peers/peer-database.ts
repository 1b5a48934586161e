/**
 * The peer database: what this node knows about other peers —
 * addresses with dial history, disconnection history, backoff, bans,
 * protection, capabilities, last health — kept in memory, bounded, and
 * persisted through a {@link PeerStore} with debounced writes.
 *
 * It is the one owner of per-peer policy state: bans (of peers, IPs and
 * subnets, in its {@link BanList}), protection, last health and reconnect
 * backoff. The node layer reads and writes them here and keeps no copy.
 *
 * All methods but `load`, `flush` and `close` are synchronous. Times are
 * passed in as `now` (epoch milliseconds: the values are persisted, so use
 * `Date.now()`, not a monotonic clock).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { gradeIndex, HealthGrade } from "../health/types.js";
import { isDisconnectReason } from "../reasons.js";
import {
  DEFAULT_ADDRESS_FAILURE_DEMOTION,
  FAILING_PEER_MS,
  STALE_PEER_MS,
  STALE_SCAN_INTERVAL_MS,
  DEFAULT_FLUSH_DELAY_MS,
  DEFAULT_MAX_ADDRESSES_PER_PEER,
  DEFAULT_MAX_DISCONNECTIONS,
  DEFAULT_MAX_PEERS,
} from "./defaults.js";
import {
  assertHostPort,
  assertPeerId,
  checkOrigin,
  type BackoffRecord,
  type BanRecord,
  clonePeerRecord,
  createPeerRecord,
  type DisconnectionRecord,
  type PeerAddressRecord,
  type PeerOrigin,
  type PeerRecord,
} from "./peer-record.js";
import { EvictionShortlist } from "./eviction-shortlist.js";
import { isProven, selectEvictions } from "./peer-eviction.js";
import { OriginGroups } from "./origin-groups.js";
import { PeerTags } from "./peer-tags.js";
import { DebouncedSaver } from "./debounced-saver.js";
import { DialBackoff } from "./dial-backoff.js";
import { BanList, banKey, type BanEntry, type BanIssueOptions, type BanQuery, type BanResult, type BanTarget } from "../manager/ban-list.js";
import { StrikeLedger, type Strike } from "./strike-ledger.js";
import type { JsonObject, PeerSnapshot, PeerStore, PeerStoreLoadResult, PeerStoreOperationOptions } from "./peer-store.js";
import type { CandidateOptions, DisconnectionInput, PeerCandidate, PeerDatabaseOptions, PeerUpsert } from "./peer-database-options.js";

/**
 * The empty lists and the initial backoff of a record, shared by the records that have nothing else (most
 * peers never disconnect, announce no capability, never back off): ~0.1 KiB per peer less. Frozen, and only
 * ever replaced in a record, never changed in place (records are written here only).
 */
const NO_DISCONNECTIONS = Object.freeze([]) as unknown as DisconnectionRecord[];
const NO_CAPABILITIES = Object.freeze([]) as unknown as string[];
const INITIAL_BACKOFF = Object.freeze({ attempt: 0 }) as BackoffRecord;

export type { CandidateOptions, DisconnectionInput, PeerCandidate, PeerDatabaseOptions, PeerUpsert } from "./peer-database-options.js";

/** Key under which the ban list is saved in the snapshot's `extra` object. */
const BANS_KEY = "bans";

/**
 * The in-memory peer database over a {@link PeerStore}. Records returned are
 * copies: change them through the methods, which schedule a save.
 *
 * @example
 * ```ts
 * const db = new PeerDatabase({ store: new FilePeerStore(path) });
 * const { recovered } = await db.load();
 * db.recordDialSuccess(peerId, "10.0.0.7:4001", Date.now());
 * await db.close(); // flushes
 * ```
 *
 * @category Peer database
 */
export class PeerDatabase {
  readonly #store: PeerStore;
  readonly #saver: DebouncedSaver;
  readonly #maxPeers: number;
  readonly #maxAddresses: number;
  readonly #maxDisconnections: number;
  readonly #demotion: number;
  /** Insertion order is kept (a Map), which breaks eviction ties. */
  #peers = new Map<string, PeerRecord>();
  /** Until when (ms, the records' clock) a scan for stale peers is known to find none (see #stalest). */
  #noStaleUntil = -Infinity;
  /** The peers a remote party put here, by network group: they make room for each other first. */
  readonly #origins = new OriginGroups();
  /** The first peers in eviction order, kept between the evictions of a full database. */
  readonly #shortlist = new EvictionShortlist();
  /** address → peer id. */
  #byAddress = new Map<string, string>();
  #extra: JsonObject = {};
  /** Every ban (peer ids, IPs, subnets) and remembered offence: nothing else keeps one. */
  readonly #bans: BanList;
  /** Per-address failure backoff of dials (in memory: see {@link DialBackoff}); the dialer reads and feeds it. */
  readonly dialBackoff: DialBackoff;
  /** Recent violations per peer id or IP, the evidence of automatic bans (in memory only). */
  readonly #strikes = new StrikeLedger();
  /**
   * The application's weighted tags per peer (they order trimming and replacement). In memory only, like
   * go-libp2p's connection-manager tags: a tag says what the running application wants now.
   */
  readonly tags = new PeerTags();

  constructor(options: PeerDatabaseOptions) {
    if (typeof options?.store?.save !== "function") {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "PeerDatabase needs a store");
    }
    this.#store = options.store;
    this.#maxPeers = positiveInt(options.maxPeers ?? DEFAULT_MAX_PEERS, "maxPeers");
    this.#maxAddresses = positiveInt(options.maxAddressesPerPeer ?? DEFAULT_MAX_ADDRESSES_PER_PEER, "maxAddressesPerPeer");
    this.#maxDisconnections = positiveInt(options.maxDisconnections ?? DEFAULT_MAX_DISCONNECTIONS, "maxDisconnections");
    this.#demotion = positiveInt(options.addressFailureDemotion ?? DEFAULT_ADDRESS_FAILURE_DEMOTION, "addressFailureDemotion");
    const delay = options.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS;
    if (!Number.isFinite(delay) || delay < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "flushDelayMs must be a finite number >= 0");
    }
    this.#saver = new DebouncedSaver(options.store, () => this.snapshot(), delay, options.onError);
    this.#bans = new BanList(options.bans ?? {});
    this.dialBackoff = new DialBackoff(options.dialBackoff);
  }

  /** Number of peers known. */
  get size(): number {
    return this.#peers.size;
  }

  /** True when there are changes not yet handed to the store. */
  get dirty(): boolean {
    return this.#saver.dirty;
  }

  /**
   * Replaces the in-memory state with the store's. Returns the store's result,
   * so a recovery (corrupt file, previous copy used) is visible to the caller.
   * Records beyond the configured bounds are trimmed.
   */
  async load(options: PeerStoreOperationOptions = {}): Promise<PeerStoreLoadResult> {
    this.#checkOpen();
    const result = await this.#store.load(options);
    this.#peers.clear();
    this.#origins.clear();
    this.#shortlist.invalidate();
    this.#byAddress.clear();
    const { [BANS_KEY]: savedBans, ...extra } = structuredClone(result.snapshot.extra);
    this.#extra = extra;
    this.#bans.clear();
    let bansLost: PeerlinkError | undefined;
    if (savedBans !== undefined) {
      try {
        this.#bans.restore(savedBans);
      } catch (cause) {
        this.#bans.clear();
        bansLost = new PeerlinkError(ErrorCode.DATABASE_CORRUPT, "saved ban list unreadable; starting without bans", { cause });
      }
    }
    for (const raw of result.snapshot.peers) {
      const record = clonePeerRecord(raw);
      // Files from before the ban list moved here kept a per-record `ban`: bans now live in the ban list only.
      delete (record as { ban?: unknown }).ban;
      record.disconnections = record.disconnections.slice(-this.#maxDisconnections);
      this.#peers.set(record.peerId, record);
      this.#shortlist.added(record);
      this.#origins.add(record);
      for (const a of record.addresses) this.#claimAddress(record, a.address);
      this.#trimAddresses(record);
    }
    this.#saver.markClean();
    this.#enforceMaxPeers(undefined);
    if (bansLost !== undefined && result.recovered === undefined) return { ...result, recovered: { from: "empty", error: bansLost } };
    return result;
  }

  /** A copy of the record of `peerId`, or undefined. */
  get(peerId: string): PeerRecord | undefined {
    const record = this.#peers.get(peerId);
    return record === undefined ? undefined : clonePeerRecord(record);
  }

  /**
   * True when `peerId` has `address` and a dial to it once succeeded there. Reads in place (no copy of
   * the record): for the node's hot paths, where {@link PeerDatabase.get}'s deep copy would be waste.
   */
  hasProvenAddress(peerId: string, address: string): boolean {
    return this.#peers.get(peerId)?.addresses.find((a) => a.address === address)?.lastSuccess !== undefined;
  }

  /** When the last dial of `peerId` at `address` failed (ms), if it did; read in place, without a copy. */
  lastAddressFailure(peerId: string, address: string): number | undefined {
    return this.#peers.get(peerId)?.addresses.find((a) => a.address === address)?.lastFailure;
  }

  /**
   * Until when (ms) `peerId` asked not to be redialed: the latest end of a retry-after its Goodbyes carried
   * (RATE_LIMITED, RESOURCE_CONSTRAINT, …), each honoured up to `maxRetryAfterMs`, if it is after `now`; read
   * in place, without a copy.
   */
  retryAfterUntil(peerId: string, now: number, maxRetryAfterMs: number): number | undefined {
    let until: number | undefined;
    for (const d of this.#peers.get(peerId)?.disconnections ?? []) {
      if (d.retryAfterMs === undefined) continue;
      const end = d.at + Math.min(d.retryAfterMs, maxRetryAfterMs);
      if (end > now && (until === undefined || end > until)) until = end;
    }
    return until;
  }

  /** How a remote party put `peerId` here (see {@link PeerRecord.origin}), read in place; undefined when this node did or it is unknown. */
  originOf(peerId: string): PeerOrigin | undefined {
    const origin = this.#peers.get(peerId)?.origin;
    return origin === undefined ? undefined : { kind: origin.kind, group: origin.group };
  }

  /** True when `peerId` is known. */
  has(peerId: string): boolean {
    return this.#peers.has(peerId);
  }

  /** Ids of every known peer, in insertion order. */
  peerIds(): string[] {
    return [...this.#peers.keys()];
  }

  /** Creates the peer if needed and applies `fields`. Returns a copy of the record. */
  upsert(peerId: string, fields: PeerUpsert, now: number): PeerRecord {
    this.update(peerId, fields, now);
    return clonePeerRecord(this.#peers.get(peerId)!); // kept: the eviction after an update spares its peer
  }

  /**
   * {@link PeerDatabase.upsert} without the copy of the record, for writers that do not read it back (the
   * node records every connection it opens; a deep copy of the record each time was a measurable share of
   * connection setup).
   */
  update(peerId: string, fields: PeerUpsert, now: number): void {
    const origin = fields.origin === undefined || this.#peers.has(peerId) ? undefined : checkedOrigin(fields.origin);
    const record = this.#ensure(peerId, now);
    if (origin !== undefined) {
      record.origin = origin;
      this.#origins.add(record);
    }
    if (fields.addresses !== undefined) {
      for (const address of fields.addresses) assertHostPort(address);
      for (const address of fields.addresses) this.#addAddress(record, address);
    }
    if (fields.capabilities !== undefined) {
      if (!fields.capabilities.every((c) => typeof c === "string")) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "capabilities must be strings");
      }
      record.capabilities = fields.capabilities.length === 0 ? NO_CAPABILITIES : [...fields.capabilities];
    }
    if (fields.protected !== undefined) this.#protect(record, fields.protected);
    if (fields.healthy !== undefined) record.healthy = fields.healthy;
    if (fields.lastSeen !== undefined) record.lastSeen = time(fields.lastSeen, "lastSeen");
    this.#changed(record);
    this.#enforceMaxPeers(peerId);
  }

  /**
   * Adds `address` to `peerId` (created if unknown). An address belongs to one
   * peer: if another peer had it, it moves (the newest claim wins).
   */
  addAddress(peerId: string, address: string, now: number): void {
    assertHostPort(address);
    const record = this.#ensure(peerId, now);
    this.#addAddress(record, address);
    this.#changed(record);
    this.#enforceMaxPeers(peerId);
  }

  /** Removes `address` from `peerId` (e.g. after `unexpected_identity`: someone else answers there). */
  removeAddress(peerId: string, address: string): void {
    const record = this.#peers.get(peerId);
    if (record === undefined) return;
    const before = record.addresses.length;
    record.addresses = record.addresses.filter((a) => a.address !== address);
    if (record.addresses.length !== before) {
      if (this.#byAddress.get(address) === peerId) this.#byAddress.delete(address);
      this.#addressesLost(record);
      this.#changed();
    }
  }

  /** Records an established connection to `peerId` at `address`: resets the address's failures, marks the peer seen. */
  recordDialSuccess(peerId: string, address: string, now: number): void {
    assertHostPort(address);
    const at = time(now, "now");
    const record = this.#ensure(peerId, at);
    const entry = this.#addAddress(record, address);
    entry.lastSuccess = at;
    entry.failures = 0;
    record.lastSeen = at;
    // Proven: no longer one of the peers that make room for each other.
    this.#origins.remove(record);
    this.#changed(record);
    this.#enforceMaxPeers(peerId);
  }

  /** Records a failed dial of `address`: one more consecutive failure. */
  recordDialFailure(peerId: string, address: string, now: number): void {
    assertHostPort(address);
    const at = time(now, "now");
    const record = this.#ensure(peerId, at);
    const entry = this.#addAddress(record, address);
    entry.lastFailure = at;
    entry.failures++;
    this.#noStaleUntil = -Infinity;
    this.#changed(record);
    this.#enforceMaxPeers(peerId);
  }

  /** Appends a disconnection to the peer's bounded history (oldest dropped) and marks the peer seen. */
  recordDisconnection(peerId: string, input: DisconnectionInput): void {
    if (!isDisconnectReason(input.reason)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `unknown disconnect reason ${JSON.stringify(input.reason)}`);
    }
    if (input.direction !== "inbound" && input.direction !== "outbound") {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "direction must be inbound or outbound");
    }
    if (input.initiator !== "local" && input.initiator !== "remote") {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "initiator must be local or remote");
    }
    const at = time(input.at, "at");
    const record = this.#ensure(peerId, at);
    const entry: DisconnectionRecord = { at, reason: input.reason, direction: input.direction, initiator: input.initiator };
    if (input.retryAfterMs !== undefined) entry.retryAfterMs = time(input.retryAfterMs, "retryAfterMs");
    if (record.disconnections === NO_DISCONNECTIONS) record.disconnections = [];
    record.disconnections.push(entry);
    if (record.disconnections.length > this.#maxDisconnections) {
      record.disconnections.splice(0, record.disconnections.length - this.#maxDisconnections);
    }
    record.lastSeen = Math.max(record.lastSeen ?? 0, at);
    this.#changed(record);
    this.#enforceMaxPeers(peerId);
  }

  /** Records the grade of the peer's last connection: healthy when `good` or better. */
  recordHealth(peerId: string, grade: HealthGrade): void {
    const rank = gradeIndex(grade);
    if (rank < 0) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `unknown health grade ${JSON.stringify(grade)}`);
    const record = this.#peers.get(peerId);
    if (record === undefined) return;
    record.healthy = rank >= gradeIndex(HealthGrade.GOOD);
    this.#changed(record);
  }

  /** Replaces the peer's capabilities (no-op for an unknown peer). */
  setCapabilities(peerId: string, capabilities: readonly string[]): void {
    const record = this.#peers.get(peerId);
    if (record === undefined) return;
    record.capabilities = capabilities.length === 0 ? NO_CAPABILITIES : [...capabilities];
    this.#changed(record);
  }

  /** Stores the peer's reconnect backoff (e.g. `ReconnectScheduler.backoffOf`) so it survives a restart. */
  setBackoff(peerId: string, backoff: BackoffRecord): void {
    const record = this.#peers.get(peerId);
    if (record === undefined) return;
    if (!Number.isSafeInteger(backoff.attempt) || backoff.attempt < 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "backoff.attempt must be an integer >= 0");
    }
    record.backoff = { attempt: backoff.attempt };
    if (backoff.nextAttemptAt !== undefined) record.backoff.nextAttemptAt = time(backoff.nextAttemptAt, "nextAttemptAt");
    this.#changed(record);
  }

  /** Protects (never evicted) or unprotects a peer, creating it if needed. */
  setProtected(peerId: string, isProtected: boolean, now: number): void {
    const record = this.#ensure(peerId, now);
    this.#protect(record, isProtected);
    this.#changed(record);
    this.#enforceMaxPeers(peerId);
  }

  /**
   * Bans a peer id, an IP or a subnet from `now` (epoch ms). Without `durationMs` the ban escalates with the
   * target's remembered offences; on a full list the entry that would be forgotten soonest makes room (it is
   * returned as `evicted`). Saved with the database.
   */
  ban(target: BanTarget, now: number, options: BanIssueOptions): BanResult {
    this.#checkOpen();
    const result = this.#bans.ban(target, now, options);
    this.#changed();
    return result;
  }

  /** Lifts a ban and forgets the target's strikes (a pardon); returns the lifted entry, if there was one. */
  unban(target: BanTarget): BanEntry | undefined {
    this.#strikes.clear(banKey(target));
    const entry = this.#bans.unban(target);
    if (entry !== undefined) this.#changed();
    return entry;
  }

  /** The active ban covering any of the query's peer id, IP or the IP's subnets, if one exists at `now`. */
  findBan(query: BanQuery, now: number): BanEntry | undefined {
    return this.#bans.findBan(query, now);
  }

  /** Active bans at `now`. */
  activeBans(now: number): BanEntry[] {
    return this.#bans.active(now);
  }

  /**
   * Counts a violation against a peer id or an IP address (the evidence automatic bans are decided on) and
   * returns the target's strikes at or after `since`, this one included, oldest first. Kept in memory only,
   * bounded in peers and in strikes per peer.
   */
  recordStrike(target: BanTarget, strike: Strike, since: number): readonly Strike[] {
    return this.#strikes.add(banKey(target), strike, since);
  }

  /** The strikes of `target` at or after `since`, oldest first. */
  strikesOf(target: BanTarget, since: number): readonly Strike[] {
    return this.#strikes.get(banKey(target), since);
  }

  /** Forgets the strikes of `target` (they led to a ban, or were pardoned). */
  clearStrikes(target: BanTarget): void {
    this.#strikes.clear(banKey(target));
  }

  /** Offences of exactly `target` the ban list still remembers at `now` (0 when none): the next ban is offence this + 1. */
  banOffences(target: BanTarget, now: number): number {
    return this.#bans.offences(target, now);
  }

  /** Drops bans that ended by `now` and returns them; the owner arms one timer at {@link PeerDatabase.nextBanExpiry}. */
  sweepBans(now: number): BanEntry[] {
    const expired = this.#bans.sweep(now);
    if (expired.length > 0) this.#changed();
    return expired;
  }

  /**
   * When the next ban ends (epoch ms), if any does: at or before it (after an unban it may be the lifted
   * ban's end; a sweep then makes it exact).
   */
  nextBanExpiry(): number | undefined {
    return this.#bans.nextExpiry();
  }

  /**
   * Bans (`ban`) or lifts (`undefined`) the ban of one peer id: a ban without `until` lasts until lifted.
   * A shorthand for {@link PeerDatabase.ban} with a peer target.
   */
  setBan(peerId: string, ban: BanRecord | undefined, now: number): void {
    assertPeerId(peerId);
    if (ban === undefined) {
      this.unban({ peerId });
      return;
    }
    const durationMs = ban.until === undefined ? Number.POSITIVE_INFINITY : time(ban.until, "until") - time(now, "now");
    if (durationMs <= 0) return;
    this.ban({ peerId }, now, { reason: ban.reason === undefined ? "banned" : String(ban.reason), durationMs });
  }

  /** True when `peerId` is banned at `now` (by its own ban; IP and subnet bans need {@link PeerDatabase.findBan}). */
  isBanned(peerId: string, now: number): boolean {
    return this.#bans.findBan({ peerId }, now) !== undefined;
  }

  /** True when the peer is protected: never evicted, trimmed or replaced. */
  isProtected(peerId: string): boolean {
    return this.#peers.get(peerId)?.protected === true;
  }

  /** The peer that `address` (`"host:port"`) belongs to, if known: lets the manager check bans before dialing. */
  resolvePeerId(address: string): string | undefined {
    return this.#byAddress.get(address);
  }

  /**
   * The peer's addresses, best first: addresses with fewer than
   * `addressFailureDemotion` consecutive failures before the others; within
   * each group the most recent success first (never-succeeded last), then
   * fewer failures, then the order they were learnt.
   */
  addressesOf(peerId: string): string[] {
    const record = this.#peers.get(peerId);
    if (record === undefined) return [];
    return this.#sortedAddresses(record).map((a) => a.address);
  }

  /**
   * Peers worth dialing to replace lost connections: not excluded, not banned,
   * not in backoff (`backoff.nextAttemptAt` after `now`), with an address,
   * accepted by `accept`. Order: healthy last connection first, then never graded, then unhealthy;
   * within each, the most recently seen first.
   */
  candidates(options: CandidateOptions): PeerCandidate[] {
    const now = options.now;
    const exclude = new Set(options.exclude ?? []);
    const rank = (r: PeerRecord): number => (r.healthy === true ? 0 : r.healthy === undefined ? 1 : 2);
    const chosen = [...this.#peers.values()].filter(
      (r) =>
        !exclude.has(r.peerId) &&
        r.addresses.length > 0 &&
        !this.isBanned(r.peerId, now) &&
        !(r.backoff.nextAttemptAt !== undefined && r.backoff.nextAttemptAt > now) &&
        (options.accept === undefined || options.accept(r)),
    );
    chosen.sort((a, b) => rank(a) - rank(b) || (b.lastSeen ?? -1) - (a.lastSeen ?? -1));
    const limit = options.limit ?? chosen.length;
    return chosen.slice(0, Math.max(0, limit)).map((r) => ({ peerId: r.peerId, addresses: this.addressesOf(r.peerId) }));
  }

  /** Removes a peer and its addresses. */
  delete(peerId: string): boolean {
    const record = this.#peers.get(peerId);
    if (record === undefined) return false;
    this.#remove(record);
    this.#changed();
    return true;
  }

  /** A copy of the opaque state other components keep in the database (e.g. the ban list). */
  getExtra(): JsonObject {
    return structuredClone(this.#extra);
  }

  /** Sets one key of the opaque extra state (`undefined` removes it; the ban list's own key is refused). */
  setExtra(key: string, value: JsonObject[string] | undefined): void {
    if (key === BANS_KEY) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `extra key "${BANS_KEY}" belongs to the ban list`);
    if (value === undefined) delete this.#extra[key];
    else this.#extra[key] = structuredClone(value);
    this.#changed();
  }

  /** A copy of the whole state, as the store saves it. */
  snapshot(): PeerSnapshot {
    const extra = structuredClone(this.#extra);
    if (this.#bans.size > 0) extra[BANS_KEY] = this.#bans.toJSON() as unknown as JsonObject[string];
    return { peers: [...this.#peers.values()].map(clonePeerRecord), extra };
  }

  /**
   * Saves now if anything changed (cancelling the pending automatic save) and
   * waits until the store has written it. Rejects with the store's error.
   */
  flush(options: PeerStoreOperationOptions = {}): Promise<void> {
    return this.#saver.flush(options);
  }

  /** Flushes, closes the store and rejects further changes with STOPPED. Idempotent. */
  close(): Promise<void> {
    return this.#saver.close();
  }

  #checkOpen(): void {
    if (this.#saver.closed) throw new PeerlinkError(ErrorCode.STOPPED, "peer database is closed");
  }

  #ensure(peerId: string, now: number): PeerRecord {
    this.#checkOpen();
    assertPeerId(peerId);
    let record = this.#peers.get(peerId);
    if (record === undefined) {
      record = createPeerRecord(peerId, time(now, "now"));
      record.disconnections = NO_DISCONNECTIONS;
      record.backoff = INITIAL_BACKOFF;
      record.capabilities = NO_CAPABILITIES;
      this.#peers.set(peerId, record);
      this.#shortlist.added(record);
    }
    return record;
  }

  #addAddress(record: PeerRecord, address: string): PeerAddressRecord {
    let entry = record.addresses.find((a) => a.address === address);
    if (entry === undefined) {
      entry = { address, failures: 0 };
      // A new list of the exact length: a push into the empty list of a new record reserves 17 slots.
      record.addresses = record.addresses.concat(entry);
    }
    this.#claimAddress(record, address);
    this.#trimAddresses(record, entry);
    return entry;
  }

  /** Makes `address` belong to `record`, taking it from any other peer. */
  #claimAddress(record: PeerRecord, address: string): void {
    const owner = this.#byAddress.get(address);
    if (owner !== undefined && owner !== record.peerId) {
      const other = this.#peers.get(owner);
      if (other !== undefined) {
        other.addresses = other.addresses.filter((a) => a.address !== address);
        // The other peer may have lost its only reached address (it would then go first).
        this.#shortlist.invalidate();
        this.#addressesLost(other);
      }
    }
    this.#byAddress.set(address, record.peerId);
  }

  /** Drops the worst addresses beyond the per-peer bound, never `keep`. */
  #trimAddresses(record: PeerRecord, keep?: PeerAddressRecord): void {
    if (record.addresses.length <= this.#maxAddresses) return;
    const sorted = this.#sortedAddresses(record).filter((a) => a !== keep);
    const drop = new Set(sorted.slice(this.#maxAddresses - (keep === undefined ? 0 : 1)));
    record.addresses = record.addresses.filter((a) => !drop.has(a));
    for (const a of drop) if (this.#byAddress.get(a.address) === record.peerId) this.#byAddress.delete(a.address);
    this.#addressesLost(record);
  }

  #sortedAddresses(record: PeerRecord): PeerAddressRecord[] {
    const order = new Map(record.addresses.map((a, i) => [a, i]));
    return [...record.addresses].sort(
      (a, b) =>
        Number(a.failures >= this.#demotion) - Number(b.failures >= this.#demotion) ||
        (b.lastSuccess ?? -1) - (a.lastSuccess ?? -1) ||
        a.failures - b.failures ||
        (order.get(a) ?? 0) - (order.get(b) ?? 0),
    );
  }

  /**
   * Evicts unprotected peers (never `keep`) while over the bound: first the peers a remote party put here (an
   * identity that connected, a peer named by peer exchange: both cost an attacker nothing), the oldest of the
   * network group holding the most (see OriginGroups); then, if none may go, peers no dial ever reached, then
   * the least recently seen (see {@link selectEvictions}). Costs nothing at or under the bound; over it, the
   * peers are ranked once however many must go (a load far over the bound is one pass).
   */
  #enforceMaxPeers(keep: string | undefined): void {
    if (this.#peers.size <= this.#maxPeers) return;
    // First the peers a remote party put here make room for each other (see OriginGroups).
    const kept = keep === undefined ? undefined : this.#peers.get(keep);
    if (kept === undefined && this.#peers.size - this.#maxPeers > 1) {
      // Far over (a load): the groups give their share a level at a time.
      const victims = this.#origins.pickMany(this.#peers.size - this.#maxPeers);
      for (const victim of victims) this.#remove(victim);
      if (victims.length > 0) this.#saver.changed();
    }
    while (this.#peers.size > this.#maxPeers) {
      const victim = this.#origins.pick(kept);
      if (victim === undefined) break;
      this.#remove(victim);
      this.#saver.changed();
    }
    if (this.#peers.size > this.#maxPeers && kept?.origin !== undefined && !isProven(kept) && !kept.protected) {
      // A newcomer a remote party put here, and none of its kind may make room: a stale peer may, else the
      // newcomer is not kept, rather than take the place of a live peer this node recorded or reached (those
      // would otherwise go one per newcomer).
      const stale = this.#stalest(kept);
      this.#remove(stale ?? kept);
      this.#saver.changed();
      return;
    }
    const excess = this.#peers.size - this.#maxPeers;
    if (excess <= 0) return;
    if (excess === 1) {
      // The usual case, a new peer in a full database: the victim comes from the shortlist.
      const victim = this.#shortlist.pick(this.#peers.values(), keep);
      if (victim === undefined) return;
      this.#remove(victim);
      this.#saver.changed();
      return;
    }
    const victims = selectEvictions(this.#peers.values(), excess, keep);
    for (const victim of victims) this.#remove(victim);
    if (victims.length > 0) this.#changed();
  }

  /** `record` lost addresses: if it had a remote origin and none of its addresses is reached now, it counts among its group again. */
  #addressesLost(record: PeerRecord): void {
    if (record.origin !== undefined && !isProven(record)) this.#origins.add(record);
  }

  /** Sets `record`'s protection; a protected peer does not count among the peers that make room for each other. */
  #protect(record: PeerRecord, isProtected: boolean): void {
    if (record.protected === isProtected) return;
    record.protected = isProtected;
    if (isProtected) this.#origins.remove(record);
    else this.#origins.add(record);
  }

  /**
   * The unprotected peer other than `newcomer` seen least recently among the stale ones (not seen for
   * {@link STALE_PEER_MS} before the newcomer was added, or every address failed `addressFailureDemotion` times
   * in a row), if any. A scan of every record: it runs only when no peer with an origin may make room.
   */
  #stalest(newcomer: PeerRecord): PeerRecord | undefined {
    const now = newcomer.addedAt;
    // A scan that found none holds for a while (a newcomer a second would otherwise scan every record each time),
    // unless a dial failed since (failures are what make a live peer stale before 30 days).
    if (now < this.#noStaleUntil) return undefined;
    const unseenSince = now - STALE_PEER_MS;
    const failingSince = now - FAILING_PEER_MS;
    let stalest: PeerRecord | undefined;
    let stalestSeen = Infinity;
    for (const record of this.#peers.values()) {
      if (record === newcomer || record.protected) continue;
      const seen = record.lastSeen ?? record.addedAt;
      if (seen >= stalestSeen) continue;
      const stale =
        seen < unseenSince ||
        ((seen < failingSince || !isProven(record)) && record.addresses.length > 0 && record.addresses.every((a) => a.failures >= this.#demotion));
      if (stale) {
        stalest = record;
        stalestSeen = seen;
      }
    }
    if (stalest === undefined) this.#noStaleUntil = now + STALE_SCAN_INTERVAL_MS;
    return stalest;
  }

  #remove(record: PeerRecord): void {
    this.#peers.delete(record.peerId);
    this.#origins.remove(record);
    this.#shortlist.removed(record);
    for (const a of record.addresses) {
      if (this.#byAddress.get(a.address) === record.peerId) this.#byAddress.delete(a.address);
    }
  }

  /**
   * Something changed (to be saved). `record`: the one record changed, whose eviction rank is then updated;
   * without it, every rank is read again at the next eviction.
   */
  #changed(record?: PeerRecord): void {
    if (record === undefined) this.#shortlist.invalidate();
    else this.#shortlist.touched(record);
    this.#saver.changed();
  }

}

/** `origin` checked as given by a caller (INVALID_ARGUMENT), copied. */
function checkedOrigin(origin: PeerOrigin): PeerOrigin {
  const checked = checkOrigin(origin, "origin");
  if (typeof checked === "string") throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, checked);
  return checked;
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${name} must be a positive integer`);
  }
  return value;
}

function time(value: number, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${name} must be a finite number >= 0 (milliseconds)`);
  }
  return value;
}
