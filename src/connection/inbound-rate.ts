/**
 * Per-connection bounds on what a peer makes this side read: messages, bytes and Pings per second, each a
 * token bucket with a burst. Sans-IO: the connection core consults it with the current time and, on the
 * first bound broken, ends the connection with `Goodbye{RATE_LIMITED, retry_after_ms}`
 * (docs/PROTOCOL.md §8.3).
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { TokenBucket } from "../util/token-bucket.js";
import {
  DEFAULT_INBOUND_BYTE_BURST,
  DEFAULT_INBOUND_BYTES_PER_SECOND,
  DEFAULT_INBOUND_MESSAGE_BURST,
  DEFAULT_INBOUND_MESSAGES_PER_SECOND,
  DEFAULT_INBOUND_PING_BURST,
  DEFAULT_INBOUND_PINGS_PER_SECOND,
  DEFAULT_RATE_LIMITED_RETRY_AFTER_MS,
} from "./defaults.js";

/**
 * Inbound rate bounds of one connection. Rates are per second and refill continuously; a burst is the most
 * a peer may send at once after a quiet period.
 *
 * @category Connections
 */
export interface InboundRateLimits {
  /**
   * Messages (every frame after open but Ping; Pongs included) per second; a frame in an encoding other than the
   * plain one of Data and Pong counts for the items its encoding held, and a CapabilityUpdate for its
   * renegotiation (docs/PROTOCOL.md §8.3).
   * @default 20000
   */
  readonly messagesPerSecond: number;
  /** Messages in a burst. @default 100000 */
  readonly messageBurst: number;
  /** Bytes per second. @default 67108864 (64 MiB) */
  readonly bytesPerSecond: number;
  /** Bytes in a burst. @default 268435456 (256 MiB) */
  readonly byteBurst: number;
  /** Pings per second. @default 100 */
  readonly pingsPerSecond: number;
  /** Pings in a burst. @default 10000 */
  readonly pingBurst: number;
  /** Retry-after (ms) sent with the RATE_LIMITED Goodbye. @default 60000 */
  readonly retryAfterMs: number;
}

/** The defaults of every {@link InboundRateLimits} field (see `src/connection/defaults.ts` for why). */
export const DEFAULT_INBOUND_RATE_LIMITS: InboundRateLimits = Object.freeze({
  messagesPerSecond: DEFAULT_INBOUND_MESSAGES_PER_SECOND,
  messageBurst: DEFAULT_INBOUND_MESSAGE_BURST,
  bytesPerSecond: DEFAULT_INBOUND_BYTES_PER_SECOND,
  byteBurst: DEFAULT_INBOUND_BYTE_BURST,
  pingsPerSecond: DEFAULT_INBOUND_PINGS_PER_SECOND,
  pingBurst: DEFAULT_INBOUND_PING_BURST,
  retryAfterMs: DEFAULT_RATE_LIMITED_RETRY_AFTER_MS,
});

/** Which bound a peer broke. */
export type InboundRateKind = "messages" | "bytes" | "pings";

/** The bound a peer broke, for the Goodbye and the error. */
export interface InboundRateTrip {
  /** Which bucket ran dry. */
  readonly kind: InboundRateKind;
  /** Its sustained rate (per second). */
  readonly perSecond: number;
  /** Its burst. */
  readonly burst: number;
  /** Retry-after (ms) to send. */
  readonly retryAfterMs: number;
}

const UINT32_MAX = 0xffff_ffff;

/**
 * The problems of `limits` (each naming its field), empty when valid: rates finite and >= 0, bursts
 * finite and > 0, the retry-after a uint32 of milliseconds.
 */
export function inboundRateProblems(limits: InboundRateLimits): string[] {
  const problems: string[] = [];
  for (const key of ["messagesPerSecond", "bytesPerSecond", "pingsPerSecond"] as const) {
    const v = limits[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) problems.push(`${key} must be a finite number >= 0, got ${String(v)}`);
  }
  for (const key of ["messageBurst", "byteBurst", "pingBurst"] as const) {
    const v = limits[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 1) problems.push(`${key} must be a finite number >= 1, got ${String(v)}`);
  }
  const r = limits.retryAfterMs;
  if (typeof r !== "number" || !Number.isInteger(r) || r < 0 || r > UINT32_MAX) problems.push(`retryAfterMs must be an integer in [0, 2^32), got ${String(r)}`);
  return problems;
}

/**
 * Three token buckets over one connection's inbound traffic. Each method takes what arrived and the time,
 * and returns the bound broken, or `undefined` while the peer stays within them. Once a bound is broken
 * the meter keeps reporting it (the connection is ending).
 *
 * @example
 * ```ts
 * const meter = new InboundRateMeter(DEFAULT_INBOUND_RATE_LIMITS, now);
 * const trip = meter.message(now);
 * if (trip) close(DisconnectReason.RATE_LIMITED, { retryAfterMs: trip.retryAfterMs });
 * ```
 */
export class InboundRateMeter {
  readonly #limits: InboundRateLimits;
  readonly #messages: TokenBucket;
  readonly #bytes: TokenBucket;
  readonly #pings: TokenBucket;
  #tripped: InboundRateTrip | undefined;

  /** Validates `limits` (INVALID_ARGUMENT naming every bad field); every bucket starts full at `now`. */
  constructor(limits: InboundRateLimits, now: number) {
    const problems = inboundRateProblems(limits);
    if (problems.length > 0) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `inbound rate limits: ${problems.join("; ")}`);
    this.#limits = limits;
    this.#messages = new TokenBucket({ capacity: limits.messageBurst, refillPerSecond: limits.messagesPerSecond }, now);
    this.#bytes = new TokenBucket({ capacity: limits.byteBurst, refillPerSecond: limits.bytesPerSecond }, now);
    this.#pings = new TokenBucket({ capacity: limits.pingBurst, refillPerSecond: limits.pingsPerSecond }, now);
  }

  /** The bound broken so far, if any. */
  get tripped(): InboundRateTrip | undefined {
    return this.#tripped;
  }

  /** `count` bytes were read. */
  bytes(count: number, now: number): InboundRateTrip | undefined {
    return this.#take(this.#bytes, "bytes", now, count);
  }

  /**
   * One message (Data, Pong or a control frame other than Ping) arrived; `weight` messages' worth for a frame
   * that costs this side as much work (its decoding, a CapabilityUpdate's renegotiation: `CapabilityTable.updateWeight`).
   */
  message(now: number, weight = 1): InboundRateTrip | undefined {
    return this.#take(this.#messages, "messages", now, weight);
  }

  /** One Ping arrived (each costs this side a Pong); `weight` pings' worth for one that cost more to decode. */
  ping(now: number, weight = 1): InboundRateTrip | undefined {
    return this.#take(this.#pings, "pings", now, weight);
  }

  #take(bucket: TokenBucket, kind: InboundRateKind, now: number, count: number): InboundRateTrip | undefined {
    if (this.#tripped !== undefined) return this.#tripped;
    // A chunk larger than the whole burst can never fit: it is judged against a full bucket instead, so a
    // burst below the socket's read size does not fail every connection on its first large read.
    if (bucket.tryTake(now, Math.min(count, bucket.capacity))) return undefined;
    const l = this.#limits;
    const [perSecond, burst] =
      kind === "messages" ? [l.messagesPerSecond, l.messageBurst] : kind === "bytes" ? [l.bytesPerSecond, l.byteBurst] : [l.pingsPerSecond, l.pingBurst];
    this.#tripped = { kind, perSecond, burst, retryAfterMs: l.retryAfterMs };
    return this.#tripped;
  }
}

/** The human-readable bound broken, for the Goodbye's detail and the error message. */
export function describeTrip(trip: InboundRateTrip): string {
  const unit = trip.kind === "bytes" ? " bytes" : "";
  return `inbound ${trip.kind} above ${trip.perSecond}${unit}/s (burst ${trip.burst}${unit})`;
}
