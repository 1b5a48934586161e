/**
 * Weighted tags on peers: named values whose sum says how much the application wants to keep a peer.
 * Trimming closes the lowest sum first and degraded-connection replacement replaces the lowest first;
 * `protect()` stays the absolute "never trim". Like js-libp2p's `peerStore.tag(peer, name, { value, ttl })`
 * and go-libp2p's connection-manager tags, with go-libp2p's decaying tags as an option: a tag may expire
 * (`ttlMs`) and may lose value step by step (`decay`), e.g. a "recently useful" score that fades unless
 * the application bumps it again.
 *
 * Sans-IO: every method takes `now` (ms, the owner's clock); values, expiry and decay are computed from
 * it, so no timer runs and a fake clock tests every case. Held in memory by the peer database (the one
 * owner of per-peer state), bounded in peers and tags per peer.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";

/**
 * How a tag loses value over time (go-libp2p's decaying tags): every `intervalMs` the value becomes
 * `value × factor − by`, moving towards 0; a tag whose value reaches 0 is removed.
 *
 * @category Peer database
 */
export interface TagDecay {
  /** Time between two decay steps (ms, > 0). */
  readonly intervalMs: number;
  /** Amount subtracted at each step (>= 0). @default 0 */
  readonly by?: number;
  /** Multiplier applied at each step, in [0, 1]. @default 1 */
  readonly factor?: number;
}

/**
 * Options of a tag.
 *
 * @category Peer database
 */
export interface TagOptions {
  /** Weight (a finite number; negative values make a peer trimmed first). @default 0 */
  readonly value?: number;
  /** Lifetime (ms, > 0) after which the tag is gone. @default none (the tag stays until removed) */
  readonly ttlMs?: number;
  /** Step-wise decay towards 0. @default none */
  readonly decay?: TagDecay;
}

/**
 * One tag as read at some moment.
 *
 * @category Peer database
 */
export interface PeerTag {
  /** Tag name. */
  readonly name: string;
  /** Value now (after decay). */
  readonly value: number;
  /** When it expires (ms, the owner's clock), if it does. */
  readonly expiresAt: number | undefined;
}

/** Most peers holding tags at once. */
export const MAX_TAGGED_PEERS = 10_000;
/** Most tags on one peer. */
export const MAX_TAGS_PER_PEER = 32;
/** Longest tag name (characters). */
export const MAX_TAG_NAME_LENGTH = 128;
/** Largest absolute tag value: sums stay exact integers-or-floats far from overflow. */
export const MAX_TAG_VALUE = 1e9;
/** A decaying value this close to 0 counts as 0 (a factor-only decay would otherwise never end). */
const MIN_TAG_MAGNITUDE = 1e-6;

interface Tag {
  readonly value: number;
  readonly setAt: number;
  readonly expiresAt: number | undefined;
  readonly decay: Required<TagDecay> | undefined;
}

/**
 * The tags of every peer (`manager.peers.tags`; `manager.tagPeer` sets them on the manager's clock).
 *
 * @category Peer database
 */
export class PeerTags {
  readonly #peers = new Map<string, Map<string, Tag>>();

  /** Number of peers holding at least one tag (expired ones included until read or swept). */
  get size(): number {
    return this.#peers.size;
  }

  /**
   * Sets (or replaces) `name` on `peer` at `now`.
   *
   * @throws PeerlinkError INVALID_ARGUMENT on a bad name or options, or when `peer` already has 32 other
   *   tags, or 10000 peers are tagged (after dropping expired tags).
   */
  tag(peer: string, name: string, options: TagOptions, now: number): void {
    checkName(name);
    const tag = makeTag(options, now);
    let tags = this.#peers.get(peer);
    if (tags === undefined) {
      if (this.#peers.size >= MAX_TAGGED_PEERS) this.sweep(now);
      if (this.#peers.size >= MAX_TAGGED_PEERS) throw invalid(`at most ${MAX_TAGGED_PEERS} peers can hold tags`);
      tags = new Map();
      this.#peers.set(peer, tags);
    }
    if (!tags.has(name) && tags.size >= MAX_TAGS_PER_PEER) {
      this.#prune(peer, tags, now);
      if (tags.size >= MAX_TAGS_PER_PEER) throw invalid(`a peer holds at most ${MAX_TAGS_PER_PEER} tags`);
    }
    tags.set(name, tag);
  }

  /** Removes `name` from `peer`. Returns true when it was there. */
  untag(peer: string, name: string): boolean {
    const tags = this.#peers.get(peer);
    if (tags === undefined || !tags.delete(name)) return false;
    if (tags.size === 0) this.#peers.delete(peer);
    return true;
  }

  /** Removes every tag of `peer`. */
  clear(peer: string): void {
    this.#peers.delete(peer);
  }

  /** The sum of `peer`'s tag values at `now` (0 when it has none). */
  value(peer: string, now: number): number {
    const tags = this.#peers.get(peer);
    if (tags === undefined) return 0;
    let sum = 0;
    for (const tag of tags.values()) sum += valueAt(tag, now) ?? 0;
    return sum;
  }

  /** `peer`'s live tags at `now`, by name (expired and fully decayed ones are dropped). */
  tagsOf(peer: string, now: number): PeerTag[] {
    const tags = this.#peers.get(peer);
    if (tags === undefined) return [];
    this.#prune(peer, tags, now);
    return [...tags].map(([name, tag]) => ({ name, value: valueAt(tag, now) ?? 0, expiresAt: tag.expiresAt }));
  }

  /** Drops every expired or fully decayed tag at `now`. */
  sweep(now: number): void {
    for (const [peer, tags] of this.#peers) this.#prune(peer, tags, now);
  }

  #prune(peer: string, tags: Map<string, Tag>, now: number): void {
    for (const [name, tag] of tags) if (valueAt(tag, now) === undefined) tags.delete(name);
    if (tags.size === 0) this.#peers.delete(peer);
  }
}

/** A tag's value at `now`, or `undefined` once it expired or decayed to 0. */
function valueAt(tag: Tag, now: number): number | undefined {
  if (tag.expiresAt !== undefined && now >= tag.expiresAt) return undefined;
  const d = tag.decay;
  if (d === undefined) return tag.value;
  const steps = Math.max(0, Math.floor((now - tag.setAt) / d.intervalMs));
  // Closed form of `steps` repetitions of m ← m·factor − by (monotone, so clamping at 0 once at the end
  // is the same as clamping at every step): constant work however long ago the tag was set.
  const m0 = Math.abs(tag.value);
  const kept = d.factor === 1 ? 1 : d.factor ** steps;
  const lost = d.factor === 1 ? steps * d.by : (d.by * (1 - kept)) / (1 - d.factor);
  const magnitude = m0 * kept - lost;
  if (!(magnitude > MIN_TAG_MAGNITUDE)) return undefined;
  return Math.sign(tag.value) * magnitude;
}

function makeTag(options: TagOptions, now: number): Tag {
  if (options === null || typeof options !== "object") throw invalid("tag options must be an object");
  const value = options.value ?? 0;
  if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > MAX_TAG_VALUE) {
    throw invalid(`tag value must be a finite number within ±${MAX_TAG_VALUE}, got ${String(value)}`);
  }
  if (typeof now !== "number" || !Number.isFinite(now)) throw invalid("now must be a finite number (ms)");
  let expiresAt: number | undefined;
  if (options.ttlMs !== undefined) {
    if (typeof options.ttlMs !== "number" || !(options.ttlMs > 0) || !Number.isFinite(options.ttlMs)) {
      throw invalid(`tag ttlMs must be a finite number > 0, got ${String(options.ttlMs)}`);
    }
    expiresAt = now + options.ttlMs;
  }
  let decay: Required<TagDecay> | undefined;
  if (options.decay !== undefined) {
    const { intervalMs, by = 0, factor = 1 } = options.decay;
    if (typeof intervalMs !== "number" || !(intervalMs > 0) || !Number.isFinite(intervalMs)) {
      throw invalid(`tag decay.intervalMs must be a finite number > 0, got ${String(intervalMs)}`);
    }
    if (typeof by !== "number" || !(by >= 0) || !Number.isFinite(by)) throw invalid(`tag decay.by must be a finite number >= 0, got ${String(by)}`);
    if (typeof factor !== "number" || !(factor >= 0 && factor <= 1)) throw invalid(`tag decay.factor must be in [0, 1], got ${String(factor)}`);
    if (by === 0 && factor === 1) throw invalid("tag decay needs by > 0 or factor < 1 (else nothing decays)");
    decay = { intervalMs, by, factor };
  }
  return { value, setAt: now, expiresAt, decay };
}

function checkName(name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_TAG_NAME_LENGTH) {
    throw invalid(`tag name must be 1..${MAX_TAG_NAME_LENGTH} characters`);
  }
}

function invalid(message: string): PeerlinkError {
  return new PeerlinkError(ErrorCode.INVALID_ARGUMENT, message);
}
