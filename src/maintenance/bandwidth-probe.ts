/**
 * Active bandwidth measurement, sans-IO: the {@link BandwidthProber} paces a
 * short burst of BandwidthProbe frames, the peer's {@link ProbeReceiver} times
 * their arrival and answers with a BandwidthReport, and
 * {@link bandwidthFromReport} turns the report into bytes per second.
 * Wire messages: proto/peerlink/v1/bandwidth.proto.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import {
  DEFAULT_PROBE_FRAME_COUNT,
  DEFAULT_PROBE_INITIAL_DELAY_MS,
  DEFAULT_PROBE_INTERVAL_MS,
  DEFAULT_PROBE_MAX_BYTES_PER_SECOND,
  DEFAULT_PROBE_PADDING_BYTES,
  DEFAULT_PROBE_RECEIVE_TIMEOUT_MS,
  DEFAULT_PROBE_REPORT_TIMEOUT_MS,
  MAX_PROBE_BURST_BYTES,
  MAX_SENT_PROBE_FRAME_COUNT,
  PROBE_FRAME_OVERHEAD_BYTES,
} from "./defaults.js";

/** Largest padding a probe frame may carry, in bytes (1 MiB). */
export const MAX_PROBE_PADDING_BYTES = 1024 * 1024;

/** The fields of one BandwidthProbe frame to send, ready for `create(BandwidthProbeSchema, frame)`. */
export interface ProbeFrame {
  /** Identifies the burst. */
  readonly probeId: number;
  /** Position in the burst, from 0. */
  readonly index: number;
  /** Frames in the burst. */
  readonly count: number;
  /** Filler bytes (zeros, shared between frames: do not modify). */
  readonly padding: Uint8Array;
}

/** The identifying fields of a received BandwidthProbe (its padding is not needed). */
export interface ProbeFrameHeader {
  /** Identifies the burst. */
  readonly probeId: number;
  /** Position in the burst, from 0. */
  readonly index: number;
  /** Frames in the burst. */
  readonly count: number;
}

/** The fields of a BandwidthReport, ready for `create(BandwidthReportSchema, report)`. */
export interface ProbeReport {
  /** The burst's probe id. */
  readonly probeId: number;
  /** Probe frames of the burst that arrived. */
  readonly framesReceived: number;
  /** Encoded bytes of those frames, length prefixes included. */
  readonly bytesReceived: number;
  /** Microseconds between the arrival of the first and the last frame (uint32, saturating). */
  readonly elapsedUs: number;
}

/**
 * Bandwidth in bytes per second measured by a probe report: the bytes that
 * arrived after the first frame, over the time between the first and the last
 * arrival, i.e. `bytesReceived · (n − 1)/n / elapsed`. `undefined` when fewer
 * than two frames arrived or no time elapsed (nothing can be measured).
 */
export function bandwidthFromReport(report: ProbeReport): number | undefined {
  const n = report.framesReceived;
  if (!(n >= 2) || !(report.elapsedUs > 0) || !(report.bytesReceived > 0)) return undefined;
  return (report.bytesReceived * ((n - 1) / n)) / (report.elapsedUs / 1e6);
}

function checkNumber(
  component: string,
  name: string,
  value: number,
  min: number,
  max: number,
  integer: boolean,
): number {
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    const kind = integer ? "an integer" : "a number";
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${component} option ${name} must be ${kind} in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/**
 * Options of a `BandwidthProber`. Durations in milliseconds.
 *
 * @category Maintenance
 */
export interface BandwidthProberOptions {
  /**
   * Time between the starts of two probes.
   * @default 60000 ({@link DEFAULT_PROBE_INTERVAL_MS})
   */
  intervalMs?: number;
  /**
   * Delay from creation to the first probe.
   * @default 5000 ({@link DEFAULT_PROBE_INITIAL_DELAY_MS})
   */
  initialDelayMs?: number;
  /**
   * Frames per burst, 2 to 1024 (one frame cannot measure anything).
   * @default 8 ({@link DEFAULT_PROBE_FRAME_COUNT})
   */
  frameCount?: number;
  /**
   * Padding bytes per frame, 0 to 1 MiB; keep it below the connection's maximum frame size.
   * @default 32768 ({@link DEFAULT_PROBE_PADDING_BYTES})
   */
  paddingBytes?: number;
  /**
   * Hard cap on the probe's write rate, in bytes per second: consecutive frames
   * are written at least `frameBytes / maxBytesPerSecond` apart.
   * @default 20000000 ({@link DEFAULT_PROBE_MAX_BYTES_PER_SECOND})
   */
  maxBytesPerSecond?: number;
  /**
   * How long to wait for the report after the last frame was written.
   * @default 10000 ({@link DEFAULT_PROBE_REPORT_TIMEOUT_MS})
   */
  reportTimeoutMs?: number;
  /**
   * Id of the first probe; later probes count up (mod 2^32).
   * @default 1
   */
  firstProbeId?: number;
}

/** What the connection should do after {@link BandwidthProber.poll}. */
export type ProberAction =
  /** Nothing now; poll again at {@link BandwidthProber.nextDeadline}. */
  | { readonly type: "none" }
  /** Send this BandwidthProbe frame now. */
  | { readonly type: "probe"; readonly frame: ProbeFrame }
  /** The report for `probeId` did not arrive in time; the probe is abandoned. */
  | { readonly type: "timeout"; readonly probeId: number };

type ProberState =
  | { readonly kind: "idle"; readonly dueAt: number }
  | { readonly kind: "sending"; readonly probeId: number; readonly startedAt: number; nextIndex: number; nextFrameAt: number }
  | { readonly kind: "awaiting"; readonly probeId: number; readonly startedAt: number; readonly deadline: number };

const NONE = Object.freeze({ type: "none" } as const);

/**
 * Sender side of active bandwidth probing for one connection. Decides when a
 * probe is due (every `intervalMs`, never while one is in flight), paces its
 * frames under a hard byte-rate cap, and matches the peer's report.
 *
 * The measurement is `min(link bandwidth, achieved pacing rate)`: on a link
 * faster than `maxBytesPerSecond` it is a lower bound near the cap.
 *
 * @example
 * ```ts
 * const prober = new BandwidthProber({}, performance.now());
 * // on timer expiry:
 * for (let a = prober.poll(now), i = 0; a.type !== "none" && i < 1024; a = prober.poll(now), i++) {
 *   if (a.type === "probe") send({ case: "bandwidthProbe", value: a.frame });
 * }
 * setTimer(prober.nextDeadline());
 * // on a BandwidthReport frame:
 * const bytesPerSecond = prober.onReport(report, performance.now());
 * ```
 */
export class BandwidthProber {
  /** Time between probe starts in ms (validated). */
  readonly intervalMs: number;
  /** Frames per burst (validated). */
  readonly frameCount: number;
  /** Padding bytes per frame (validated). */
  readonly paddingBytes: number;
  /** Write-rate cap in bytes per second (validated). */
  readonly maxBytesPerSecond: number;
  /** Report timeout in ms (validated). */
  readonly reportTimeoutMs: number;
  /** Minimum time between two frames of a burst, in ms, that the cap implies. */
  readonly frameGapMs: number;

  readonly #padding: Uint8Array;
  #state: ProberState;
  #nextProbeId: number;
  #probesStarted = 0;
  #probesCompleted = 0;
  #probesTimedOut = 0;
  #lastBandwidth: number | undefined;
  #lastStartedAt: number | undefined;

  /**
   * @param options - see {@link BandwidthProberOptions}.
   * @param now - creation time in ms; the first probe is due at `now + initialDelayMs`.
   * @throws PeerlinkError INVALID_ARGUMENT on an option out of range.
   */
  constructor(options: BandwidthProberOptions, now: number) {
    const c = "bandwidth prober";
    this.intervalMs = checkNumber(c, "intervalMs", options.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS, 1, Number.MAX_SAFE_INTEGER, false);
    const initialDelay = checkNumber(
      c,
      "initialDelayMs",
      options.initialDelayMs ?? DEFAULT_PROBE_INITIAL_DELAY_MS,
      0,
      Number.MAX_SAFE_INTEGER,
      false,
    );
    // §6: count MUST be at most 64, and a burst over 1 MiB in total MAY be treated as a protocol violation.
    this.frameCount = checkNumber(c, "frameCount", options.frameCount ?? DEFAULT_PROBE_FRAME_COUNT, 2, MAX_SENT_PROBE_FRAME_COUNT, true);
    this.paddingBytes = checkNumber(
      c,
      "paddingBytes",
      options.paddingBytes ?? DEFAULT_PROBE_PADDING_BYTES,
      0,
      MAX_PROBE_PADDING_BYTES,
      true,
    );
    this.maxBytesPerSecond = checkNumber(
      c,
      "maxBytesPerSecond",
      options.maxBytesPerSecond ?? DEFAULT_PROBE_MAX_BYTES_PER_SECOND,
      1,
      Number.MAX_SAFE_INTEGER,
      false,
    );
    this.reportTimeoutMs = checkNumber(
      c,
      "reportTimeoutMs",
      options.reportTimeoutMs ?? DEFAULT_PROBE_REPORT_TIMEOUT_MS,
      1,
      Number.MAX_SAFE_INTEGER,
      false,
    );
    if (this.frameCount * (this.paddingBytes + PROBE_FRAME_OVERHEAD_BYTES) > MAX_PROBE_BURST_BYTES) {
      throw new PeerlinkError(
        ErrorCode.INVALID_ARGUMENT,
        `${c}: frameCount × paddingBytes must stay within ${MAX_PROBE_BURST_BYTES} bytes per burst (docs/PROTOCOL.md §6)`,
      );
    }
    this.#nextProbeId = checkNumber(c, "firstProbeId", options.firstProbeId ?? 1, 0, 0xffff_ffff, true);
    this.frameGapMs = ((this.paddingBytes + PROBE_FRAME_OVERHEAD_BYTES) / this.maxBytesPerSecond) * 1000;
    this.#padding = new Uint8Array(this.paddingBytes);
    this.#state = { kind: "idle", dueAt: now + initialDelay };
  }

  /** True from the first frame of a probe until its report arrives or times out. */
  get inFlight(): boolean {
    return this.#state.kind !== "idle";
  }

  /** Probes started so far. */
  get probesStarted(): number {
    return this.#probesStarted;
  }

  /** Probes whose report arrived. */
  get probesCompleted(): number {
    return this.#probesCompleted;
  }

  /** Probes abandoned because the report did not arrive in time. */
  get probesTimedOut(): number {
    return this.#probesTimedOut;
  }

  /** The most recent measurement in bytes per second, or `undefined` if none yet. */
  get lastBandwidth(): number | undefined {
    return this.#lastBandwidth;
  }

  #frame(probeId: number, index: number): ProbeFrame {
    return { probeId, index, count: this.frameCount, padding: this.#padding };
  }

  #finish(startedAt: number, now: number): void {
    this.#state = { kind: "idle", dueAt: Math.max(startedAt + this.intervalMs, now) };
  }

  /**
   * Advances to `now` (ms) and returns at most one action. Call it repeatedly
   * until it returns `none`; frames of a burst are released no faster than the
   * rate cap allows, so a late timer never produces a burst above the cap.
   */
  poll(now: number): ProberAction {
    const s = this.#state;
    switch (s.kind) {
      case "idle": {
        if (now < s.dueAt) return NONE;
        const probeId = this.#nextProbeId;
        this.#nextProbeId = (probeId + 1) >>> 0;
        this.#probesStarted += 1;
        this.#lastStartedAt = now;
        this.#state = { kind: "sending", probeId, startedAt: now, nextIndex: 1, nextFrameAt: now + this.frameGapMs };
        return { type: "probe", frame: this.#frame(probeId, 0) };
      }
      case "sending": {
        if (now < s.nextFrameAt) return NONE;
        const index = s.nextIndex;
        if (index + 1 >= this.frameCount) {
          this.#state = { kind: "awaiting", probeId: s.probeId, startedAt: s.startedAt, deadline: now + this.reportTimeoutMs };
        } else {
          s.nextIndex = index + 1;
          s.nextFrameAt = now + this.frameGapMs;
        }
        return { type: "probe", frame: this.#frame(s.probeId, index) };
      }
      case "awaiting": {
        if (now < s.deadline) return NONE;
        this.#probesTimedOut += 1;
        this.#finish(s.startedAt, now);
        return { type: "timeout", probeId: s.probeId };
      }
    }
  }

  /**
   * Asks for a probe at `now` (on demand), unless one is in flight, already due, or the last one started
   * less than `minGapMs` ago. Returns whether a probe is now due.
   */
  request(now: number, minGapMs: number): boolean {
    const s = this.#state;
    if (s.kind !== "idle" || s.dueAt <= now) return false;
    if (this.#lastStartedAt !== undefined && now - this.#lastStartedAt < minGapMs) return false;
    this.#state = { kind: "idle", dueAt: now };
    return true;
  }

  /**
   * Handles the peer's BandwidthReport. Returns the measured bandwidth in bytes
   * per second and ends the probe when the report answers the probe in flight;
   * returns `undefined` (and changes nothing) for any other probe id or an
   * impossible report (more frames than sent). A matching report that cannot
   * measure anything (fewer than two frames) ends the probe and returns `undefined`.
   */
  onReport(report: ProbeReport, now: number): number | undefined {
    const s = this.#state;
    if (s.kind === "idle" || s.probeId !== report.probeId) return undefined;
    if (!this.#plausible(report, s, now)) return undefined;
    this.#finish(s.startedAt, now);
    this.#probesCompleted += 1;
    const bandwidth = bandwidthFromReport(report);
    if (bandwidth !== undefined) this.#lastBandwidth = bandwidth;
    return bandwidth;
  }

  /**
   * Whether a report can describe what was really sent: no more frames than sent so far, no more bytes
   * than those frames carry, and no faster than they were sent (the pacing gap between frames) nor slower
   * than the time since the first one left. A peer could otherwise claim any bandwidth it likes, e.g. to
   * keep a slow connection from being graded down and replaced.
   */
  #plausible(report: ProbeReport, s: Exclude<ProberState, { kind: "idle" }>, now: number): boolean {
    const sent = s.kind === "sending" ? s.nextIndex : this.frameCount;
    const n = report.framesReceived;
    if (!(Number.isInteger(n) && n >= 0 && n <= sent)) return false;
    if (!(report.bytesReceived >= 0 && report.bytesReceived <= n * (this.paddingBytes + PROBE_FRAME_OVERHEAD_BYTES))) return false;
    if (n >= 2) {
      const elapsedMs = report.elapsedUs / 1000;
      // Half the pacing gap as slack: the receiver's clock and coalesced reads can compress arrivals a little.
      if (!(elapsedMs >= (n - 1) * this.frameGapMs * 0.5 && elapsedMs <= now - s.startedAt + 1)) return false;
    }
    return true;
  }

  /** The earliest time (ms) at which {@link poll} may return something other than `none`. */
  nextDeadline(): number {
    const s = this.#state;
    switch (s.kind) {
      case "idle":
        return s.dueAt;
      case "sending":
        return s.nextFrameAt;
      case "awaiting":
        return s.deadline;
    }
  }
}

/** Options of a {@link ProbeReceiver}. */
export interface ProbeReceiverOptions {
  /**
   * How long to wait after a probe frame for the next one before reporting the
   * incomplete burst, in ms.
   * @default 5000 ({@link DEFAULT_PROBE_RECEIVE_TIMEOUT_MS})
   */
  receiveTimeoutMs?: number;
}

/** What the connection should do after {@link ProbeReceiver.poll}. */
export type ReceiverAction =
  /** Nothing now. */
  | { readonly type: "none" }
  /** Send this BandwidthReport now. */
  | { readonly type: "report"; readonly report: ProbeReport };

interface Burst {
  readonly probeId: number;
  readonly count: number;
  readonly firstAt: number;
  lastAt: number;
  frames: number;
  bytes: number;
}

/**
 * Receiver side of active bandwidth probing for one connection: timestamps
 * arriving BandwidthProbe frames and produces the BandwidthReport, either when
 * the frame with the last index arrives ({@link onProbe} returns it) or, for an
 * incomplete burst, once no frame came for `receiveTimeoutMs`
 * ({@link poll} returns it). Keeps O(1) state whatever the peer sends.
 */
export class ProbeReceiver {
  /** Receive timeout in ms (validated). */
  readonly receiveTimeoutMs: number;
  #burst: Burst | undefined;
  #pending: ProbeReport | undefined;
  #lastFinishedId: number | undefined;

  /**
   * @param options - see {@link ProbeReceiverOptions}.
   * @throws PeerlinkError INVALID_ARGUMENT when `receiveTimeoutMs` is not a finite number > 0.
   */
  constructor(options: ProbeReceiverOptions = {}) {
    this.receiveTimeoutMs = checkNumber(
      "probe receiver",
      "receiveTimeoutMs",
      options.receiveTimeoutMs ?? DEFAULT_PROBE_RECEIVE_TIMEOUT_MS,
      1,
      Number.MAX_SAFE_INTEGER,
      false,
    );
  }

  /**
   * Ends `burst`: its report, or undefined when a single frame of it arrived. Such a burst measures nothing (no
   * time between arrivals), and answering it would let a peer send lone frames of alternating bursts (`count` 2,
   * `index` 1) and have each answered with a report: a write for every frame it sends.
   */
  #finalize(burst: Burst): ProbeReport | undefined {
    this.#burst = undefined;
    this.#lastFinishedId = burst.probeId;
    if (burst.frames < 2) return undefined;
    return {
      probeId: burst.probeId,
      framesReceived: burst.frames,
      bytesReceived: burst.bytes,
      elapsedUs: Math.min(0xffff_ffff, Math.max(0, Math.round((burst.lastAt - burst.firstAt) * 1000))),
    };
  }

  /**
   * Records a probe frame of `frameBytes` encoded bytes (length prefix
   * included) that arrived at `now` (ms). Returns the report when this frame
   * completes the burst (last index), otherwise `undefined`. A frame of a new
   * burst while another is open closes the open one (its report comes from
   * {@link poll}); frames of the burst reported last are ignored.
   *
   * @throws PeerlinkError PROTOCOL_VIOLATION when `count` is 0 or above 64 (docs/PROTOCOL.md §6),
   *   `index >= count`, or `count` changes within a burst.
   */
  onProbe(probe: ProbeFrameHeader, frameBytes: number, now: number): ProbeReport | undefined {
    const { probeId, index, count } = probe;
    // §6: count MUST be at most 64; a receiver treats a larger one as a protocol violation.
    if (!Number.isInteger(count) || count < 1 || count > MAX_SENT_PROBE_FRAME_COUNT) {
      throw new PeerlinkError(ErrorCode.PROTOCOL_VIOLATION, `bandwidth probe count must be 1..${MAX_SENT_PROBE_FRAME_COUNT}, got ${count}`);
    }
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new PeerlinkError(ErrorCode.PROTOCOL_VIOLATION, `bandwidth probe index ${index} out of range for count ${count}`);
    }
    // A one-frame probe measures nothing: no report (each would cost a write, for free to the sender).
    if (count < 2) return undefined;
    const bytes = Number.isFinite(frameBytes) && frameBytes > 0 ? frameBytes : 0;
    let burst = this.#burst;
    if (burst !== undefined && burst.probeId !== probeId) {
      this.#pending = this.#finalize(burst);
      burst = undefined;
    }
    if (burst === undefined) {
      if (probeId === this.#lastFinishedId) return undefined;
      burst = { probeId, count, firstAt: now, lastAt: now, frames: 0, bytes: 0 };
      this.#burst = burst;
    } else if (burst.count !== count) {
      throw new PeerlinkError(
        ErrorCode.PROTOCOL_VIOLATION,
        `bandwidth probe ${probeId} changed its count from ${burst.count} to ${count}`,
      );
    }
    burst.frames += 1;
    burst.bytes += bytes;
    if (now > burst.lastAt) burst.lastAt = now;
    if (index === count - 1 || burst.frames >= count) return this.#finalize(burst);
    return undefined;
  }

  /** Advances to `now` (ms): returns a report for a burst that was superseded or timed out. */
  poll(now: number): ReceiverAction {
    if (this.#pending !== undefined) {
      const report = this.#pending;
      this.#pending = undefined;
      return { type: "report", report };
    }
    const burst = this.#burst;
    if (burst !== undefined && now >= burst.lastAt + this.receiveTimeoutMs) {
      const report = this.#finalize(burst);
      if (report !== undefined) return { type: "report", report };
    }
    return NONE;
  }

  /** The earliest time (ms) at which {@link poll} may return a report; `-Infinity` if one is ready, `Infinity` if none can come. */
  nextDeadline(): number {
    if (this.#pending !== undefined) return Number.NEGATIVE_INFINITY;
    return this.#burst === undefined ? Number.POSITIVE_INFINITY : this.#burst.lastAt + this.receiveTimeoutMs;
  }
}
