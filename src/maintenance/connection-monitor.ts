/**
 * The maintenance state of one connection, sans-IO: keepalive and RTT, passive
 * rate meters, the active bandwidth prober and receiver, and health-grade
 * hysteresis. It never touches a socket or a timer; the maintenance service
 * feeds it traffic counters, pongs and probe frames with the time, polls it,
 * and performs what it returns.
 *
 * The numbers a health check reads for every connection (byte counters seen,
 * rates, RTT, ping counts) live in a {@link MonitorTable} row, one row per
 * monitor, so that a check over 10,000 connections walks one contiguous array
 * instead of 10,000 monitors and the number boxes their fields point to.
 *
 * @module
 */
import { randomUint32 } from "../util/random-pool.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { HealthBatch } from "../health/scorer.js";
import {
  BandwidthProber,
  ProbeReceiver,
  type ProbeFrameHeader,
  type ProbeReport,
  type ProberAction,
  type ReceiverAction,
} from "./bandwidth-probe.js";
import { HealthTracker } from "./health-tracker.js";
import { KeepaliveTracker, type KeepaliveAction } from "./keepalive.js";
import { RTT_CONFIRMATION_PINGS, RTT_SHIFT_FRACTION } from "./defaults.js";
import type { ResolvedMaintenanceOptions } from "./maintenance-options.js";
import {
  BYTES_IN,
  BYTES_OUT,
  METERED_IN,
  METERED_OUT,
  MonitorTable,
  OBSERVED_AT,
  OUTSTANDING_SENT_AT,
  PENDING_RECEIVED_AT,
  PENDING_SENT_AT,
  PINGS_RESOLVED,
  PONGS,
  PROBED,
  RATE_IN,
  RATE_OUT,
  RTTVAR,
  SRTT,
  STARTED_AT,
  STRIDE,
  type RowOwner,
} from "./monitor-table.js";

/** What the connection should do after {@link ConnectionMonitor.poll}: a keepalive action (RTT pings are `ping` too). */
export type MonitorAction = KeepaliveAction;

interface RttPing {
  readonly nonce: number;
  readonly timestampUs: number;
  readonly sentAt: number;
  readonly deadline: number;
}

const NONE: MonitorAction = Object.freeze({ type: "none" });
const UINT32 = 2 ** 32;
const RECEIVER_NONE: ReceiverAction = Object.freeze({ type: "none" });
/** "Never" for an on-demand prober's periodic schedule (the largest delay the prober accepts). */
const NEVER_MS = Number.MAX_SAFE_INTEGER;

/**
 * Per-connection maintenance state. Times are milliseconds on the service's
 * clock, except the probe receiver's, which take a separate precise monotonic
 * time (`perfNow`, e.g. `performance.now()`) because a probe burst lasts only
 * milliseconds.
 *
 * Besides keepalive pings (sent only when nothing was received for the ping
 * interval), it sends an RTT ping when the connection opens and whenever the
 * last RTT sample is older than `rttSampleIntervalMs`, so a busy connection's
 * latency is still measured.
 *
 * Its numbers live in a row of a {@link MonitorTable} (its own, unless one is
 * given), which the table's batch operations read directly.
 */
export class ConnectionMonitor implements RowOwner {
  /** Grade hysteresis and degraded time. */
  readonly health: HealthTracker;
  /** When monitoring began (ms). */
  readonly startedAt: number;

  readonly #options: ResolvedMaintenanceOptions;
  readonly #keepalive: KeepaliveTracker;
  #table: MonitorTable;
  #row: number;
  #receiver: ProbeReceiver | undefined;
  /** Active prober: periodic when `bandwidthProbe` is set, else made at the first on-demand request. */
  #prober: BandwidthProber | undefined;
  #rttPing: RttPing | undefined;
  /**
   * Keepalive pings recently sent, as the tracker knows them, so a Pong is
   * matched back by nonce + the 32-bit timestamp the wire carries (ping.proto).
   */
  readonly #keepalivePings: { nonce: number; timestampUs: number; sentAt: number }[] = [];
  #nextRttPingAt: number;
  #rttPingsSent = 0;
  #rttPongs = 0;
  #bursting = false;
  /** RTT pings sent at once to confirm a shifted RTT since the last sample close to the average. */
  #confirmations = 0;
  /**
   * RTT pings in a row that went unanswered. The keepalive pings only a silent peer: one that sends anything
   * (a bogus Pong every few seconds) but answers nothing was never found dead, and was graded on reliability
   * alone, Fair or better. Counted here, it is dead after as many RTT pings as the keepalive allows misses.
   */
  #rttMissed = 0;
  #dead: MonitorAction | undefined;

  /**
   * @param options - resolved maintenance options.
   * @param now - time (ms) the connection opened; counts as the last time something was received.
   * @param traffic - the connection's byte counters at that moment (earlier bytes are not metered).
   * @param table - the table to keep its numbers in (a new row is added); @default a table of its own
   */
  constructor(
    options: ResolvedMaintenanceOptions,
    now: number,
    traffic: { bytesIn: number; bytesOut: number } = { bytesIn: 0, bytesOut: 0 },
    table: MonitorTable = new MonitorTable(options),
  ) {
    this.#options = options;
    this.startedAt = now;
    this.#keepalive = new KeepaliveTracker(
      {
        pingIntervalMs: options.pingIntervalMs,
        maxMissedPongs: options.maxMissedPongs,
        minPongTimeoutMs: options.minPongTimeoutMs,
        maxPongTimeoutMs: options.maxPongTimeoutMs,
        inactivityTimeoutMs: options.inactivityTimeoutMs,
      },
      now,
    );
    this.health = new HealthTracker({
      hysteresisSamples: options.hysteresisSamples,
      degradedThresholdMs: options.degradedReplaceAfterMs,
    });
    this.#prober = options.bandwidthProbe === undefined ? undefined : new BandwidthProber(options.bandwidthProbe, now);
    this.#nextRttPingAt = now;
    this.#table = table;
    this.#row = table.add(this);
    const v = table.values;
    const b = this.#row * STRIDE;
    v[b + BYTES_IN] = traffic.bytesIn;
    v[b + BYTES_OUT] = traffic.bytesOut;
    v[b + OBSERVED_AT] = now;
    v[b + PENDING_RECEIVED_AT] = Number.NEGATIVE_INFINITY;
    v[b + PENDING_SENT_AT] = Number.NEGATIVE_INFINITY;
    v[b + RATE_IN] = 0;
    v[b + RATE_OUT] = 0;
    v[b + METERED_IN] = traffic.bytesIn;
    v[b + METERED_OUT] = traffic.bytesOut;
    v[b + SRTT] = Number.NaN;
    v[b + RTTVAR] = Number.NaN;
    v[b + PINGS_RESOLVED] = 0;
    v[b + PONGS] = 0;
    v[b + OUTSTANDING_SENT_AT] = Number.POSITIVE_INFINITY;
    v[b + PROBED] = Number.NaN;
    v[b + STARTED_AT] = now;
  }

  /** Moves this monitor to row `row` of `table`, whose slots already hold its numbers (called by {@link MonitorTable}). */
  relocate(table: MonitorTable, row: number): void {
    if (table.monitorAt(row) !== this) throw new PeerlinkError(ErrorCode.INTERNAL, "monitor relocated to a row it does not own");
    this.#table = table;
    this.#row = row;
  }

  /** Active prober; `undefined` while probing is off and no probe was asked for. */
  get prober(): BandwidthProber | undefined {
    return this.#prober;
  }

  /**
   * Asks for a bandwidth probe at `now` (see `BandwidthProber.request`; a prober that only probes on
   * demand is made at the first request). Returns whether one is now due.
   */
  requestProbe(now: number, minGapMs: number): boolean {
    this.#prober ??= new BandwidthProber({ ...this.#options.bandwidthProbe, initialDelayMs: NEVER_MS, intervalMs: NEVER_MS }, now);
    return this.#prober.request(now, minGapMs);
  }

  /**
   * Re-checks the connection at `now` (after a sleep or a network change): an RTT ping is due at once
   * unless a ping is already waiting for its Pong.
   */
  recheck(now: number): void {
    if (this.#rttPing === undefined) this.#nextRttPingAt = now;
  }

  /** Smoothed RTT in ms, `undefined` before the first sample. */
  get srttMs(): number | undefined {
    return this.#keepalive.rtt.srtt;
  }

  /** RTT mean deviation (jitter) in ms, `undefined` before the first sample. */
  get rttVarMs(): number | undefined {
    return this.#keepalive.rtt.rttvar;
  }

  /** Smallest RTT sample in ms, `undefined` before the first sample. */
  get minRttMs(): number | undefined {
    return this.#keepalive.rtt.min;
  }

  /** RTT samples taken (keepalive and RTT pings). */
  get rttSamples(): number {
    return this.#keepalive.rtt.samples;
  }

  /** Consecutive unanswered keepalive pings, as of the traffic observed so far. */
  get consecutiveMissed(): number {
    this.#applyTraffic();
    return this.#keepalive.consecutiveMissed;
  }

  /**
   * Received bytes per second, an EWMA over the byte counters (time constant
   * `rateTimeConstantMs`, computed as a `ThroughputMeter` does), as of the last {@link observe}.
   */
  get rateIn(): number {
    return this.#table.values[this.#row * STRIDE + RATE_IN] as number;
  }

  /** Written bytes per second, like {@link rateIn}. */
  get rateOut(): number {
    return this.#table.values[this.#row * STRIDE + RATE_OUT] as number;
  }

  /** Pings sent and resolved (answered or timed out), keepalive and RTT pings together. */
  get pingsResolved(): number {
    return this.#table.values[this.#row * STRIDE + PINGS_RESOLVED] as number;
  }

  /** Pings answered by a matching Pong, keepalive and RTT pings together. */
  get pongsReceived(): number {
    return this.#table.values[this.#row * STRIDE + PONGS] as number;
  }

  /** The last bandwidth an active probe measured, in bytes per second. */
  get probedBandwidth(): number | undefined {
    const probed = this.#table.values[this.#row * STRIDE + PROBED] as number;
    return Number.isNaN(probed) ? undefined : probed;
  }

  /** True while a probe burst is being sent (its frames are paced finer than the cycle interval). */
  get bursting(): boolean {
    return this.#bursting;
  }

  /**
   * Gives the keepalive tracker the traffic {@link observe} recorded since the
   * last time; done before anything reads or advances the tracker, which gives
   * the same state as giving it at once.
   */
  #applyTraffic(): void {
    const v = this.#table.values;
    const b = this.#row * STRIDE;
    const received = v[b + PENDING_RECEIVED_AT] as number;
    if (received !== Number.NEGATIVE_INFINITY) {
      this.#keepalive.onFrameReceived(received);
      v[b + PENDING_RECEIVED_AT] = Number.NEGATIVE_INFINITY;
    }
    const sent = v[b + PENDING_SENT_AT] as number;
    if (sent !== Number.NEGATIVE_INFINITY) {
      this.#keepalive.onFrameSent(sent);
      v[b + PENDING_SENT_AT] = Number.NEGATIVE_INFINITY;
    }
  }

  /** Copies the ping counters, the oldest outstanding ping and the RTT into the row (after anything that may change them). */
  #syncRow(): void {
    const ka = this.#keepalive;
    const v = this.#table.values;
    const b = this.#row * STRIDE;
    const outstanding = ka.pingOutstanding;
    const rttPing = this.#rttPing;
    v[b + PINGS_RESOLVED] = ka.pingsSent - (outstanding ? 1 : 0) + this.#rttPingsSent - (rttPing === undefined ? 0 : 1);
    v[b + PONGS] = ka.pongsReceived + this.#rttPongs;
    let sentAt = Number.POSITIVE_INFINITY;
    if (outstanding) {
      const last = this.#keepalivePings[this.#keepalivePings.length - 1];
      if (last !== undefined) sentAt = last.sentAt;
    }
    if (rttPing !== undefined && rttPing.sentAt < sentAt) sentAt = rttPing.sentAt;
    v[b + OUTSTANDING_SENT_AT] = sentAt;
    v[b + SRTT] = ka.rtt.srtt ?? Number.NaN;
    v[b + RTTVAR] = ka.rtt.rttvar ?? Number.NaN;
  }

  /**
   * Records the connection's cumulative byte counters at `now`: they feed the
   * throughput meter, and received bytes prove liveness as of `lastReceivedAt`
   * (clamped to the time since the previous call, so a foreign clock cannot
   * move it backwards or into the future). Call it before {@link poll}, and at
   * every health check; in between it may be skipped.
   */
  observe(bytesIn: number, bytesOut: number, lastReceivedAt: number | undefined, now: number): void {
    this.#table.observe(this.#row, bytesIn, bytesOut, lastReceivedAt, now);
  }

  /**
   * Advances keepalive and RTT sampling to `now`: returns `ping` (send it),
   * `dead` (close the connection with `timeout`; final) or `none`.
   */
  poll(now: number): MonitorAction {
    this.#applyTraffic();
    const action = this.#pollPings(now);
    this.#syncRow();
    return action;
  }

  #pollPings(now: number): MonitorAction {
    if (this.#dead !== undefined) return this.#dead;
    const keepalive = this.#keepalive;
    const action = keepalive.poll(now);
    if (action.type === "ping") {
      const sent = this.#keepalivePings;
      sent.push({ nonce: action.nonce, timestampUs: action.timestampUs, sentAt: now });
      if (sent.length > keepalive.maxMissedPongs + 1) sent.shift();
      // The tracker's timestamp is already the low 32 bits the wire carries (ping.proto).
      return action;
    }
    if (action.type !== "none") return (this.#dead = action);
    const rttPing = this.#rttPing;
    if (rttPing !== undefined && now >= rttPing.deadline) {
      this.#rttPing = undefined;
      if (++this.#rttMissed >= keepalive.maxMissedPongs) {
        return (this.#dead = Object.freeze({ type: "dead", cause: "missed_pongs", missed: this.#rttMissed }));
      }
    }
    if (this.#rttPing === undefined && !keepalive.pingOutstanding && now >= this.#nextRttPingAt) {
      // Unpredictable, as the keepalive's: a peer that could tell the next nonce could forge its Pong early.
      const nonce = randomUint32();
      const timestampUs = Math.max(0, Math.round(now * 1000)) % UINT32;
      this.#rttPing = { nonce, timestampUs, sentAt: now, deadline: now + keepalive.pongTimeoutMs };
      this.#rttPingsSent += 1;
      this.#nextRttPingAt = now + this.#options.rttSampleIntervalMs;
      keepalive.onFrameSent(now);
      return { type: "ping", nonce, timestampUs };
    }
    return NONE;
  }

  /**
   * Handles a Pong at `now`. Returns the RTT sample in ms when it answers a
   * keepalive or RTT ping of ours, `undefined` otherwise (it still proves liveness).
   */
  onPong(nonce: number, timestampUs: number, now: number): number | undefined {
    this.#applyTraffic();
    const sent = this.#keepalivePings;
    let full = timestampUs;
    for (let i = 0; i < sent.length; i++) {
      const ping = sent[i] as { nonce: number; timestampUs: number; sentAt: number };
      if (ping.nonce === nonce && ping.timestampUs % UINT32 === timestampUs) {
        full = ping.timestampUs;
        sent.splice(i, 1);
        break;
      }
    }
    const before = this.#keepalive.rtt.srtt;
    let sample = this.#keepalive.onPong(nonce, full, now);
    const rttPing = this.#rttPing;
    if (sample === undefined && rttPing !== undefined && rttPing.nonce === nonce && rttPing.timestampUs === timestampUs) {
      this.#rttPing = undefined;
      this.#rttPongs += 1;
      sample = Math.max(0, now - rttPing.sentAt);
      this.#keepalive.rtt.addSample(sample);
    }
    // An answer to any ping of ours, keepalive or RTT, late or not.
    if (sample !== undefined) this.#rttMissed = 0;
    this.#syncRow();
    if (sample !== undefined) this.#scheduleRttPing(sample, before, now);
    return sample;
  }

  /**
   * Schedules the next RTT ping after a sample: the regular interval later, or at once when the sample is
   * far from the average it joins (the path changed: the 1/8-weight average would otherwise take many
   * intervals to follow it, and the grade with it), up to {@link RTT_CONFIRMATION_PINGS} in a row.
   */
  #scheduleRttPing(sample: number, before: number | undefined, now: number): void {
    const shifted = before !== undefined && Math.abs(sample - before) > before * RTT_SHIFT_FRACTION;
    if (!shifted) this.#confirmations = 0;
    else if (this.#confirmations < RTT_CONFIRMATION_PINGS) {
      this.#confirmations += 1;
      this.#nextRttPingAt = now;
      return;
    }
    this.#nextRttPingAt = now + this.#options.rttSampleIntervalMs;
  }

  /**
   * Advances the prober to `now`; call until it returns `none`. Tracks whether
   * a burst is being sent ({@link bursting}).
   */
  pollProbe(now: number): ProberAction {
    const prober = this.prober;
    if (prober === undefined) return NONE as ProberAction;
    const action = prober.poll(now);
    if (action.type === "probe") this.#bursting = action.frame.index + 1 < action.frame.count;
    else if (action.type === "timeout") this.#bursting = false;
    return action;
  }

  /** Handles the peer's BandwidthReport at `now`; returns the measured bytes per second when it answers our probe. */
  onReport(report: ProbeReport, now: number): number | undefined {
    const bandwidth = this.prober?.onReport(report, now);
    if (bandwidth !== undefined) this.#table.values[this.#row * STRIDE + PROBED] = bandwidth;
    return bandwidth;
  }

  /**
   * Records one of the peer's probe frames (`frameBytes` encoded bytes) that
   * arrived at `perfNow`; returns the report to send when it completes a burst.
   *
   * @throws PeerlinkError PROTOCOL_VIOLATION on an impossible probe (see {@link ProbeReceiver.onProbe}).
   */
  onProbe(probe: ProbeFrameHeader, frameBytes: number, perfNow: number): ProbeReport | undefined {
    this.#receiver ??= new ProbeReceiver({ receiveTimeoutMs: this.#options.probeReceiveTimeoutMs });
    return this.#receiver.onProbe(probe, frameBytes, perfNow);
  }

  /** Returns a report due for an incomplete or superseded burst of the peer's probes, at `perfNow`. */
  pollReceiver(perfNow: number): ReceiverAction {
    return this.#receiver === undefined ? RECEIVER_NONE : this.#receiver.poll(perfNow);
  }

  /**
   * The earliest time (ms, service clock) at which {@link poll},
   * {@link pollProbe} or {@link pollReceiver} may return something;
   * `now`/`perfNow` convert the receiver's precise clock.
   */
  nextDeadline(now: number, perfNow: number): number {
    let at = this.pingDeadline();
    if (this.prober !== undefined) {
      const probe = this.prober.nextDeadline();
      if (probe < at) at = probe;
    }
    if (this.#receiver !== undefined) {
      const receiver = this.#receiver.nextDeadline();
      if (receiver !== Number.POSITIVE_INFINITY) {
        const converted = receiver === Number.NEGATIVE_INFINITY ? now : now + (receiver - perfNow);
        if (converted < at) at = converted;
      }
    }
    return at;
  }

  /** The earliest time (ms) at which {@link poll} may return something (keepalive and RTT pings only). */
  pingDeadline(): number {
    this.#applyTraffic();
    const keepalive = this.#keepalive;
    const at = keepalive.nextDeadline();
    if (keepalive.pingOutstanding) return at;
    const rtt = this.#rttPing === undefined ? this.#nextRttPingAt : this.#rttPing.deadline;
    return rtt < at ? rtt : at;
  }

  /** True once the connection has something to be scored on: an RTT sample, or one pong timeout's worth of time. */
  readyForScoring(now: number): boolean {
    return this.#table.readyForScoring(this.#row, now);
  }

  /**
   * The bandwidth input of the health score, in bytes per second (as of the
   * last {@link observe}): the last
   * probe measurement, raised to the passive throughput when that is higher
   * (traffic that flowed proves the link carries it); without a probe, the
   * passive throughput only when it reaches the reference bandwidth (a quiet
   * link proves nothing); otherwise NaN (not measured: neutral score).
   */
  bandwidthInput(): number {
    return this.#table.bandwidthInput(this.#row);
  }

  /**
   * Age in ms of the oldest ping still waiting for its Pong (keepalive or RTT
   * ping), 0 when none is outstanding.
   */
  outstandingPingAge(now: number): number {
    return this.#table.outstandingPingAge(this.#row, now);
  }

  /**
   * The RTT input of the health score, in ms: the smoothed RTT, or the age of
   * a ping still unanswered when that is longer (the current round trip is at
   * least that long, so a stalled link scores badly before its pong arrives);
   * NaN before the first sample.
   */
  latencyInput(now: number): number {
    return this.#table.latencyInput(this.#row, now);
  }

  /**
   * Writes this connection's inputs into entry `i` of a health batch.
   * `framesOk`/`framesFailed` are the connection's cumulative frame counters.
   */
  fillInputs(batch: HealthBatch, i: number, framesOk: number, framesFailed: number, now: number): void {
    this.#table.fillInputs(this.#row, batch, i, framesOk, framesFailed, now);
  }
}
