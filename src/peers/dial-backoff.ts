/**
 * Per-address failure backoff of dials, sans-IO: after `n` consecutive failed dials of one `"host:port"`,
 * that address may be dialed again `min(maxMs, initialMs · 2^(n-1))` after the last failure. The peer
 * database owns it (as it owns every other backoff); the dialer records failures and successes and asks it
 * before a direct dial. Bounded: beyond `maxEntries` addresses the one whose window ends first is forgotten.
 * In memory only: a restart starts every address afresh (its dial history in the peer record survives).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { DEFAULT_DIAL_BACKOFF_INITIAL_MS, DEFAULT_DIAL_BACKOFF_MAX_ENTRIES, DEFAULT_DIAL_BACKOFF_MAX_MS } from "./defaults.js";

/**
 * Options of the per-address dial backoff (`dialing.backoff` of a `ConnectionManager`).
 *
 * @category Peer database
 */
export interface DialBackoffOptions {
  /** Wait after the first failure of an address, in ms; doubles with each further one. @default 1000 */
  readonly initialMs?: number;
  /** Longest wait, in ms. At least `initialMs`. @default 300000 (5 min) */
  readonly maxMs?: number;
  /** Most addresses remembered at once. @default 4096 */
  readonly maxEntries?: number;
}

/**
 * One address in backoff.
 *
 * @category Peer database
 */
export interface DialBackoffState {
  /** Consecutive failures. */
  readonly failures: number;
  /** When the address may be dialed again (ms, the caller's clock). */
  readonly retryAt: number;
}

/**
 * The backoff of every address that failed lately (see the module comment): `PeerDatabase.dialBackoff`.
 *
 * @category Peer database
 */
export class DialBackoff {
  /** Wait after a first failure, ms (validated). */
  readonly initialMs: number;
  /** Longest wait, ms (validated). */
  readonly maxMs: number;
  /** Most addresses remembered (validated). */
  readonly maxEntries: number;
  readonly #entries = new Map<string, DialBackoffState>();

  /** @throws PeerlinkError INVALID_ARGUMENT on a bad option. */
  constructor(options: DialBackoffOptions = {}) {
    this.initialMs = options.initialMs ?? DEFAULT_DIAL_BACKOFF_INITIAL_MS;
    this.maxMs = options.maxMs ?? Math.max(DEFAULT_DIAL_BACKOFF_MAX_MS, this.initialMs);
    this.maxEntries = options.maxEntries ?? DEFAULT_DIAL_BACKOFF_MAX_ENTRIES;
    if (!(Number.isFinite(this.initialMs) && this.initialMs >= 0)) throw bad("initialMs", this.initialMs);
    if (!(Number.isFinite(this.maxMs) && this.maxMs >= this.initialMs)) throw bad("maxMs", this.maxMs);
    if (!(Number.isSafeInteger(this.maxEntries) && this.maxEntries >= 1)) throw bad("maxEntries", this.maxEntries);
  }

  /** Addresses remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** The backoff of `address` at `now`, or `undefined` when it may be dialed. */
  check(address: string, now: number): DialBackoffState | undefined {
    const state = this.#entries.get(address);
    return state !== undefined && state.retryAt > now ? state : undefined;
  }

  /** A dial of `address` failed at `now`: one more failure, a longer wait. Returns the new state. */
  failed(address: string, now: number): DialBackoffState {
    const failures = (this.#entries.get(address)?.failures ?? 0) + 1;
    // 2^(failures-1) overflows to Infinity for huge counts: min() keeps the cap.
    const wait = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(failures - 1, 1024));
    const state = { failures, retryAt: now + wait };
    this.#entries.delete(address);
    this.#entries.set(address, state);
    if (this.#entries.size > this.maxEntries) this.#evict();
    return state;
  }

  /**
   * The listener at `address` asked not to be dialed before `until` (the retry-after of a Goodbye it sent in
   * place of its Hello): the address waits at least that long, its failure count unchanged. Returns the state.
   */
  hold(address: string, until: number): DialBackoffState {
    const previous = this.#entries.get(address);
    const state = { failures: previous?.failures ?? 0, retryAt: Math.max(previous?.retryAt ?? 0, until) };
    this.#entries.delete(address);
    this.#entries.set(address, state);
    if (this.#entries.size > this.maxEntries) this.#evict();
    return state;
  }

  /** A dial of `address` succeeded: its backoff is gone. */
  succeeded(address: string): void {
    this.#entries.delete(address);
  }

  /** Forgets the backoff of `address`, or of every address when none is given. Returns how many were cleared. */
  clear(address?: string): number {
    if (address !== undefined) return this.#entries.delete(address) ? 1 : 0;
    const n = this.#entries.size;
    this.#entries.clear();
    return n;
  }

  /** Drops the entry whose window ends first (the least informative), keeping the map at its bound. */
  #evict(): void {
    let victim: string | undefined;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [address, state] of this.#entries) {
      if (state.retryAt < earliest) {
        earliest = state.retryAt;
        victim = address;
      }
    }
    if (victim !== undefined) this.#entries.delete(victim);
  }
}

function bad(name: string, value: number): PeerlinkError {
  return new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `dial backoff ${name} is out of range: ${value}`);
}
