/**
 * A bounded cache of TLS 1.3 session tickets per remote address, so that a
 * redial resumes the session (docs/PROTOCOL.md §3.5: resumption saves the
 * certificate exchange and signature work; round trips stay the same).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";

/**
 * Options of {@link TlsSessionCache}.
 *
 * @category TLS
 */
export interface TlsSessionCacheOptions {
  /**
   * Most remote addresses kept; the least recently used address is evicted first.
   * @default 256
   */
  readonly maxAddresses?: number;
  /**
   * Most tickets kept per address (OpenSSL servers send 2 per handshake).
   * @default 2
   */
  readonly maxTicketsPerAddress?: number;
  /**
   * Age in milliseconds after which a ticket is dropped unused. OpenSSL servers accept
   * tickets for 7,200 s by default; a stale ticket only costs a full handshake.
   * @default 7_200_000 (2 hours)
   */
  readonly maxAgeMs?: number;
  /** Clock in milliseconds. @default Date.now */
  readonly now?: () => number;
}

/**
 * A stored TLS session ticket and what the dialer learned in the handshake that issued it.
 *
 * @category TLS
 */
export interface TlsTicket {
  /**
   * The session as Node's `'session'` event delivered it (pass as `tls.connect({ session })`); peerlink's
   * dialer stores it without the listener's certificate, whose key is {@link TlsTicket.peerCertificateKey}.
   */
  readonly session: Buffer;
  /**
   * Raw Ed25519 key of the listener's certificate in the session the ticket resumes, needed to check a
   * certificate-bound Hello on the resumed connection (docs/PROTOCOL.md §3.3); `null` when that certificate's
   * key is of another type (its Hello then carries a signed proof), `undefined` when not known.
   */
  readonly peerCertificateKey: Uint8Array | null | undefined;
}

interface Ticket extends TlsTicket {
  readonly storedAt: number;
  /** Which client context the ticket was issued to (OpenSSL resumes a session only in the same context). */
  readonly owner: string | undefined;
}

/** Default of {@link TlsSessionCacheOptions.maxAddresses}. */
export const DEFAULT_SESSION_CACHE_ADDRESSES = 256;
/** Default of {@link TlsSessionCacheOptions.maxTicketsPerAddress}. */
export const DEFAULT_SESSION_TICKETS_PER_ADDRESS = 2;
/** Default of {@link TlsSessionCacheOptions.maxAgeMs}: OpenSSL's default ticket lifetime. */
export const DEFAULT_SESSION_TICKET_MAX_AGE_MS = 7_200_000;

/**
 * Bounded LRU of TLS session tickets keyed by `"host:port"` (IPv6 as `"[addr]:port"`, host lowercased).
 * Dialers {@link TlsSessionCache.add} what the client socket's `'session'` event
 * delivers and {@link TlsSessionCache.take} one ticket per redial. Each ticket is
 * used once (RFC 8446 §C.4 advises against reusing tickets, which lets an observer
 * link connections); the resumed connection receives fresh tickets.
 *
 * @category TLS
 */
export class TlsSessionCache {
  readonly #maxAddresses: number;
  readonly #maxTickets: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** Map iteration order is insertion order: the first key is the least recently used. */
  readonly #entries = new Map<string, Ticket[]>();
  /**
   * The most recently used key (the map's last), or undefined when unknown: a use of it moves nothing. A
   * dialer redialing one address adds and takes under the same key, and a delete and set for each would
   * leave a deleted entry in the map every time (rehashed every few connections).
   */
  #newest: string | undefined;

  constructor(options: TlsSessionCacheOptions = {}) {
    this.#maxAddresses = positiveInteger(options.maxAddresses ?? DEFAULT_SESSION_CACHE_ADDRESSES, "maxAddresses");
    this.#maxTickets = positiveInteger(options.maxTicketsPerAddress ?? DEFAULT_SESSION_TICKETS_PER_ADDRESS, "maxTicketsPerAddress");
    this.#maxAgeMs = positiveInteger(options.maxAgeMs ?? DEFAULT_SESSION_TICKET_MAX_AGE_MS, "maxAgeMs");
    this.#now = options.now ?? Date.now;
  }

  /** Number of addresses with at least one ticket. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Stores a ticket for `key`, newest last, with the listener's certificate key when known and the client
   * context it belongs to (`owner`: a cache shared by several nodes hands each only its own tickets); evicts
   * the oldest ticket and the least recently used address beyond the bounds.
   */
  add(key: string, session: Buffer, peerCertificateKey?: Uint8Array | null, owner?: string): void {
    const ticket: Ticket = { session, peerCertificateKey, owner, storedAt: this.#now() };
    const tickets = this.#entries.get(key);
    if (tickets === undefined) {
      this.#entries.set(key, [ticket]);
      this.#newest = key;
      while (this.#entries.size > this.#maxAddresses) {
        const oldest = this.#entries.keys().next();
        if (oldest.done === true) break;
        this.#entries.delete(oldest.value);
      }
      return;
    }
    tickets.push(ticket);
    while (tickets.length > this.#maxTickets) tickets.shift();
    this.#use(key, tickets);
  }

  /** Removes and returns the newest unexpired ticket's session for `key`, or `undefined`. */
  take(key: string): Buffer | undefined {
    return this.takeTicket(key)?.session;
  }

  /**
   * Removes and returns the newest unexpired ticket for `key` with the listener's certificate key, or
   * `undefined`. With `owner`, only a ticket stored for that owner (or for none) is taken; others stay.
   * Expired tickets are dropped on the way.
   */
  takeTicket(key: string, owner?: string): TlsTicket | undefined {
    const tickets = this.#entries.get(key);
    if (tickets === undefined) return undefined;
    const oldestAllowed = this.#now() - this.#maxAgeMs;
    let found: TlsTicket | undefined;
    for (let i = tickets.length - 1; i >= 0 && found === undefined; i--) {
      const ticket = tickets[i] as Ticket;
      const expired = ticket.storedAt < oldestAllowed;
      if (expired || owner === undefined || ticket.owner === undefined || ticket.owner === owner) {
        // The newest is the usual find: popped, not spliced (no array of the removed one).
        if (i === tickets.length - 1) tickets.pop();
        else tickets.splice(i, 1);
        if (!expired) found = { session: ticket.session, peerCertificateKey: ticket.peerCertificateKey };
      }
    }
    if (tickets.length > 0) this.#use(key, tickets);
    else {
      this.#entries.delete(key);
      if (this.#newest === key) this.#newest = undefined;
    }
    return found;
  }

  /** Makes `key` (holding `tickets`) the most recently used, moving it only when another key was used since. */
  #use(key: string, tickets: Ticket[]): void {
    if (this.#newest === key) return;
    this.#entries.delete(key);
    this.#entries.set(key, tickets);
    this.#newest = key;
  }

  /** True when `key` has a ticket (expired ones included until the next {@link TlsSessionCache.take}). */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Forgets every ticket for `key` (e.g. after the peer at that address changed). */
  delete(key: string): void {
    this.#entries.delete(key);
    if (this.#newest === key) this.#newest = undefined;
  }

  /** Forgets every ticket. */
  clear(): void {
    this.#entries.clear();
    this.#newest = undefined;
  }
}

/** The cache key of a remote address: `"host:port"`, IPv6 as `"[addr]:port"`, host lowercased, brackets normalised. */
export function sessionCacheKey(host: string, port: number): string {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const lower = bare.toLowerCase();
  return lower.includes(":") ? `[${lower}]:${port}` : `${lower}:${port}`;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `TlsSessionCache ${name} must be a positive integer, got ${value}`);
  }
  return value;
}
