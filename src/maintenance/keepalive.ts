/**
 * Keepalive bookkeeping of one connection, sans-IO: decides when to send a
 * Ping, matches Pongs, measures RTT and declares the peer dead.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import {
  DEFAULT_INACTIVITY_TIMEOUT_MS,
  DEFAULT_MAX_MISSED_PONGS,
  DEFAULT_MAX_PONG_TIMEOUT_MS,
  DEFAULT_MIN_PONG_TIMEOUT_MS,
  DEFAULT_PING_INTERVAL_MS,
  PONG_TIMEOUT_RTTVAR_FACTOR,
} from "./defaults.js";
import { RttEstimator } from "./rtt-estimator.js";
import { randomUint32 } from "../util/random-pool.js";

/** Options of a {@link KeepaliveTracker}. All durations are in milliseconds. */
export interface KeepaliveOptions {
  /**
   * Silence (nothing received) after which a Ping is sent. Equivalent to
   * gRPC's `GRPC_ARG_KEEPALIVE_TIME_MS`; sensible range 1 s – 5 min.
   * @default 15000 ({@link DEFAULT_PING_INTERVAL_MS})
   */
  pingIntervalMs?: number;
  /**
   * Consecutive unanswered pings after which the connection is dead. At least 1.
   * @default 3 ({@link DEFAULT_MAX_MISSED_PONGS})
   */
  maxMissedPongs?: number;
  /**
   * Lower bound of the adaptive pong timeout.
   * @default 2000 ({@link DEFAULT_MIN_PONG_TIMEOUT_MS})
   */
  minPongTimeoutMs?: number;
  /**
   * Upper bound of the adaptive pong timeout, and the timeout before the first
   * RTT sample. Equivalent to gRPC's `GRPC_ARG_KEEPALIVE_TIMEOUT_MS`.
   * @default 10000 ({@link DEFAULT_MAX_PONG_TIMEOUT_MS})
   */
  maxPongTimeoutMs?: number;
  /**
   * Silence (nothing at all received) after which the connection is dead.
   * @default 60000 ({@link DEFAULT_INACTIVITY_TIMEOUT_MS})
   */
  inactivityTimeoutMs?: number;
  /**
   * Where each Ping's nonce comes from (uint32). Unpredictable by default: a peer that could tell the next nonce
   * and timestamp could answer pings it never received, and never be found dead.
   * @default a fresh random uint32 each
   */
  nonces?: () => number;
}

/** What the connection should do after {@link KeepaliveTracker.poll}. */
export type KeepaliveAction =
  /** Nothing now; call `poll` again at {@link KeepaliveTracker.nextDeadline}. */
  | { readonly type: "none" }
  /** Send `Ping { nonce, timestamp_us: timestampUs }` now. */
  | { readonly type: "ping"; readonly nonce: number; readonly timestampUs: number }
  /**
   * The peer is dead: close the connection with reason `timeout`. `missed` is
   * the number of consecutive unanswered pings at that moment.
   */
  | { readonly type: "dead"; readonly cause: "missed_pongs" | "inactivity"; readonly missed: number };

interface OutstandingPing {
  readonly nonce: number;
  readonly timestampUs: number;
  readonly sentAt: number;
  readonly deadline: number;
}

const NONE: KeepaliveAction = Object.freeze({ type: "none" });

function positiveDuration(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `keepalive option ${name} must be a finite number > 0 (ms), got ${v}`);
  }
  return v;
}

/**
 * Keepalive state machine of one connection. It never touches a socket or a
 * timer: the connection reports traffic (`onFrameSent`, `onFrameReceived`,
 * `onPong`), calls {@link poll} whenever {@link nextDeadline} is reached, and
 * executes the returned action.
 *
 * Rules:
 * - a Ping is due when nothing was received for `pingIntervalMs` and no Ping is
 *   outstanding (application traffic proves liveness, so a busy link never pings);
 * - the pong timeout is `clamp(srtt + 4·rttvar, minPongTimeoutMs, maxPongTimeoutMs)`,
 *   `maxPongTimeoutMs` before the first RTT sample, fixed when the Ping is sent;
 * - an unanswered Ping counts as one consecutive miss and the next Ping is due at once;
 * - any received frame or Pong resets the consecutive misses;
 * - the peer is dead after `maxMissedPongs` consecutive misses, or when nothing
 *   at all was received for `inactivityTimeoutMs`. Dead is final.
 *
 * @example
 * ```ts
 * const ka = new KeepaliveTracker({}, performance.now());
 * // on every timer expiry:
 * const action = ka.poll(performance.now());
 * if (action.type === "ping") send({ case: "ping", value: { nonce: action.nonce, timestampUs: action.timestampUs } });
 * else if (action.type === "dead") close("timeout");
 * setTimer(ka.nextDeadline());
 * ```
 */
export class KeepaliveTracker {
  /** Ping interval in ms (validated). */
  readonly pingIntervalMs: number;
  /** Consecutive misses that make the peer dead (validated). */
  readonly maxMissedPongs: number;
  /** Lower bound of the pong timeout in ms (validated). */
  readonly minPongTimeoutMs: number;
  /** Upper bound of the pong timeout in ms (validated). */
  readonly maxPongTimeoutMs: number;
  /** Inactivity timeout in ms (validated). */
  readonly inactivityTimeoutMs: number;
  /** RTT measured from answered pings. */
  readonly rtt = new RttEstimator();

  #lastReceivedAt: number;
  #lastSentAt: number;
  readonly #nonces: () => number;
  #outstanding: OutstandingPing | undefined;
  /** Pings that timed out, kept so a late Pong still yields a true RTT sample. Bounded by maxMissedPongs. */
  #late: OutstandingPing[] = [];
  #missed = 0;
  #pingsSent = 0;
  #pongsReceived = 0;
  #dead: KeepaliveAction | undefined;

  /**
   * @param options - see {@link KeepaliveOptions}.
   * @param now - current time in ms; counts as the last moment something was
   *   received and sent (the handshake just completed).
   * @throws PeerlinkError INVALID_ARGUMENT on a non-positive or non-finite option,
   *   or `minPongTimeoutMs > maxPongTimeoutMs`.
   */
  constructor(options: KeepaliveOptions, now: number) {
    this.pingIntervalMs = positiveDuration("pingIntervalMs", options.pingIntervalMs, DEFAULT_PING_INTERVAL_MS);
    this.minPongTimeoutMs = positiveDuration("minPongTimeoutMs", options.minPongTimeoutMs, DEFAULT_MIN_PONG_TIMEOUT_MS);
    this.maxPongTimeoutMs = positiveDuration("maxPongTimeoutMs", options.maxPongTimeoutMs, DEFAULT_MAX_PONG_TIMEOUT_MS);
    this.inactivityTimeoutMs = positiveDuration(
      "inactivityTimeoutMs",
      options.inactivityTimeoutMs,
      DEFAULT_INACTIVITY_TIMEOUT_MS,
    );
    const maxMissed = options.maxMissedPongs ?? DEFAULT_MAX_MISSED_PONGS;
    if (!Number.isInteger(maxMissed) || maxMissed < 1) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `keepalive option maxMissedPongs must be an integer >= 1, got ${maxMissed}`);
    }
    this.maxMissedPongs = maxMissed;
    if (this.minPongTimeoutMs > this.maxPongTimeoutMs) {
      throw new PeerlinkError(
        ErrorCode.INVALID_ARGUMENT,
        `keepalive minPongTimeoutMs (${this.minPongTimeoutMs}) exceeds maxPongTimeoutMs (${this.maxPongTimeoutMs})`,
      );
    }
    if (!Number.isFinite(now)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `keepalive: now must be a finite number of ms, got ${now}`);
    }
    this.#nonces = options.nonces ?? randomUint32;
    this.#lastReceivedAt = now;
    this.#lastSentAt = now;
  }

  /** Time (ms) anything was last received from the peer. */
  get lastReceivedAt(): number {
    return this.#lastReceivedAt;
  }

  /** Time (ms) anything was last sent to the peer. */
  get lastSentAt(): number {
    return this.#lastSentAt;
  }

  /** Pings sent so far (reliability denominator). */
  get pingsSent(): number {
    return this.#pingsSent;
  }

  /** Pongs received that matched a ping we sent (reliability numerator). */
  get pongsReceived(): number {
    return this.#pongsReceived;
  }

  /** Consecutive unanswered pings right now. */
  get consecutiveMissed(): number {
    return this.#missed;
  }

  /** True once {@link poll} returned `dead`. */
  get isDead(): boolean {
    return this.#dead !== undefined;
  }

  /** True while a Ping waits for its Pong. */
  get pingOutstanding(): boolean {
    return this.#outstanding !== undefined;
  }

  /** The pong timeout (ms) a Ping sent now would get: `clamp(srtt + 4·rttvar, min, max)`. */
  get pongTimeoutMs(): number {
    return this.rtt.timeout(this.minPongTimeoutMs, this.maxPongTimeoutMs, PONG_TIMEOUT_RTTVAR_FACTOR);
  }

  /** Records that a frame was written to the peer at `now` (ms). Informational: pings depend on what is received. */
  onFrameSent(now: number): void {
    if (now > this.#lastSentAt) this.#lastSentAt = now;
  }

  /** Records that a frame (any kind) arrived from the peer at `now` (ms): proves liveness, resets the misses. */
  onFrameReceived(now: number): void {
    if (this.#dead !== undefined) return;
    if (now > this.#lastReceivedAt) this.#lastReceivedAt = now;
    this.#missed = 0;
  }

  /**
   * Handles a Pong. It counts as a received frame (calling
   * {@link onFrameReceived} for it too is harmless). Returns the RTT sample in
   * ms when the nonce and echoed timestamp match a Ping we sent (outstanding or
   * recently timed out), `undefined` otherwise.
   */
  onPong(nonce: number, timestampUs: number, now: number): number | undefined {
    if (this.#dead !== undefined) return undefined;
    this.onFrameReceived(now);
    let ping: OutstandingPing | undefined;
    if (this.#outstanding !== undefined && this.#outstanding.nonce === nonce) {
      ping = this.#outstanding;
      if (ping.timestampUs !== timestampUs) return undefined;
      this.#outstanding = undefined;
    } else {
      const i = this.#late.findIndex((p) => p.nonce === nonce);
      const late = this.#late[i];
      if (late === undefined || late.timestampUs !== timestampUs) return undefined;
      ping = late;
      this.#late.splice(i, 1);
    }
    this.#pongsReceived += 1;
    const sample = Math.max(0, now - ping.sentAt);
    this.rtt.addSample(sample);
    return sample;
  }

  /**
   * Advances the state machine to `now` (ms) and returns what to do. At most one
   * action per call; once `dead` is returned, every later call returns it again.
   */
  poll(now: number): KeepaliveAction {
    if (this.#dead !== undefined) return this.#dead;
    const out = this.#outstanding;
    if (out !== undefined && now >= out.deadline) {
      this.#outstanding = undefined;
      this.#late.push(out);
      if (this.#late.length > this.maxMissedPongs) this.#late.shift();
      this.#missed += 1;
      if (this.#missed >= this.maxMissedPongs) {
        return (this.#dead = Object.freeze({ type: "dead", cause: "missed_pongs", missed: this.#missed }));
      }
    }
    if (now - this.#lastReceivedAt >= this.inactivityTimeoutMs) {
      return (this.#dead = Object.freeze({ type: "dead", cause: "inactivity", missed: this.#missed }));
    }
    if (this.#outstanding === undefined && now - this.#lastReceivedAt >= this.pingIntervalMs) {
      const nonce = this.#nonces() >>> 0;
      // The wire carries the low 32 bits of the microsecond clock (ping.proto): RTT is computed modulo 2^32.
      const timestampUs = ((Math.round(now * 1000) % 4294967296) + 4294967296) % 4294967296;
      this.#outstanding = { nonce, timestampUs, sentAt: now, deadline: now + this.pongTimeoutMs };
      this.#pingsSent += 1;
      this.onFrameSent(now);
      return { type: "ping", nonce, timestampUs };
    }
    return NONE;
  }

  /**
   * The earliest time (ms) at which {@link poll} may return something other
   * than `none`; `Infinity` once dead. May be in the past (poll now).
   */
  nextDeadline(): number {
    if (this.#dead !== undefined) return Number.POSITIVE_INFINITY;
    const inactivity = this.#lastReceivedAt + this.inactivityTimeoutMs;
    const keepalive =
      this.#outstanding !== undefined ? this.#outstanding.deadline : this.#lastReceivedAt + this.pingIntervalMs;
    return Math.min(inactivity, keepalive);
  }
}
