/**
 * The maintenance state of one connection, sans-IO: keepalive and RTT, passive
 * rate meters, the active bandwidth prober and receiver, and health-grade
 * hysteresis. It never touches a socket or a timer; the maintenance service
 * feeds it traffic counters, pongs and probe frames with the time, polls it,
 * and performs what it returns.
 *
 * @module
 */
import { randomInt } from "node:crypto";
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
import type { ResolvedMaintenanceOptions } from "./maintenance-options.js";
import { nextRate } from "./throughput-meter.js";

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
 */
export class ConnectionMonitor {
  /** Grade hysteresis and degraded time. */
  readonly health: HealthTracker;
  /** Active prober; `undefined` when probing is off. */
  readonly prober: BandwidthProber | undefined;
  /** When monitoring began (ms). */
  readonly startedAt: number;

  readonly #options: ResolvedMaintenanceOptions;
  readonly #keepalive: KeepaliveTracker;
  /**
   * Set once {@link keepalive} was handed out: the tracker may then change
   * behind the monitor's back, so the copies below are re-read before use.
   */
  #exposed = false;
  // Copies of the keepalive tracker's counters and RTT, refreshed after every
  // call that can change them: a health check reads them for 10,000
  // connections without touching each tracker and its RTT estimator.
  #kaResolved = 0;
  #kaPongs = 0;
  #kaOutstandingSentAt = Number.POSITIVE_INFINITY;
  #srtt: number | undefined;
  #rttvar: number | undefined;
  // Traffic seen by `observe` and not yet given to the keepalive tracker
  // (-Infinity: none). Applied before anything reads or advances the tracker,
  // which gives the same state as applying it at once.
  #pendingReceivedAt = Number.NEGATIVE_INFINITY;
  #pendingSentAt = Number.NEGATIVE_INFINITY;
  // Passive throughput (the state of a ThroughputMeter, kept inline: one
  // object fewer to visit per connection and health check).
  #rateIn = 0;
  #rateOut = 0;
  #meteredIn: number;
  #meteredOut: number;
  #meteredAt: number;
  #receiver: ProbeReceiver | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  #observedAt: number;
  #rttPing: RttPing | undefined;
  /**
   * Keepalive pings recently sent, as the tracker knows them: the tracker's
   * timestamps are full microseconds, the wire carries their low 32 bits
   * (ping.proto), so a Pong is matched back by nonce + low bits.
   */
  readonly #keepalivePings: { nonce: number; timestampUs: number; sentAt: number }[] = [];
  #nextRttPingAt: number;
  #nextRttNonce: number;
  #rttPingsSent = 0;
  #rttPongs = 0;
  #probedBandwidth: number | undefined;
  #bursting = false;
  #ready = false;

  /**
   * @param options - resolved maintenance options.
   * @param now - time (ms) the connection opened; counts as the last time something was received.
   * @param traffic - the connection's byte counters at that moment (earlier bytes are not metered).
   */
  constructor(options: ResolvedMaintenanceOptions, now: number, traffic: { bytesIn: number; bytesOut: number } = { bytesIn: 0, bytesOut: 0 }) {
    this.#options = options;
    this.startedAt = now;
    this.#observedAt = now;
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
    this.#meteredIn = traffic.bytesIn;
    this.#meteredOut = traffic.bytesOut;
    this.#meteredAt = now;
    this.health = new HealthTracker({
      hysteresisSamples: options.hysteresisSamples,
      degradedThresholdMs: options.degradedReplaceAfterMs,
    });
    this.prober = options.bandwidthProbe === undefined ? undefined : new BandwidthProber(options.bandwidthProbe, now);
    this.#bytesIn = traffic.bytesIn;
    this.#bytesOut = traffic.bytesOut;
    this.#nextRttPingAt = now;
    this.#nextRttNonce = randomInt(0, 2 ** 32);
  }

  /**
   * Keepalive, RTT estimator and liveness, brought up to date with the traffic
   * observed so far. For inspection and tests: the monitor drives it.
   */
  get keepalive(): KeepaliveTracker {
    this.#exposed = true;
    this.#applyTraffic();
    return this.#keepalive;
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
    return this.#rateIn;
  }

  /** Written bytes per second, like {@link rateIn}. */
  get rateOut(): number {
    return this.#rateOut;
  }

  /** Pings sent and resolved (answered or timed out), keepalive and RTT pings together. */
  get pingsResolved(): number {
    if (this.#exposed) this.#copyKeepalive();
    return this.#kaResolved + this.#rttPingsSent - (this.#rttPing === undefined ? 0 : 1);
  }

  /** Pings answered by a matching Pong, keepalive and RTT pings together. */
  get pongsReceived(): number {
    if (this.#exposed) this.#copyKeepalive();
    return this.#kaPongs + this.#rttPongs;
  }

  /** Gives the keepalive tracker the traffic {@link observe} recorded since the last time. */
  #applyTraffic(): void {
    if (this.#pendingReceivedAt !== Number.NEGATIVE_INFINITY) {
      this.#keepalive.onFrameReceived(this.#pendingReceivedAt);
      this.#pendingReceivedAt = Number.NEGATIVE_INFINITY;
    }
    if (this.#pendingSentAt !== Number.NEGATIVE_INFINITY) {
      this.#keepalive.onFrameSent(this.#pendingSentAt);
      this.#pendingSentAt = Number.NEGATIVE_INFINITY;
    }
  }

  /** Refreshes the copies of the keepalive tracker's counters and RTT (after anything that may change them). */
  #copyKeepalive(): void {
    const ka = this.#keepalive;
    const outstanding = ka.pingOutstanding;
    this.#kaResolved = ka.pingsSent - (outstanding ? 1 : 0);
    this.#kaPongs = ka.pongsReceived;
    const last = outstanding ? this.#keepalivePings[this.#keepalivePings.length - 1] : undefined;
    this.#kaOutstandingSentAt = last === undefined ? Number.POSITIVE_INFINITY : last.sentAt;
    this.#srtt = ka.rtt.srtt;
    this.#rttvar = ka.rtt.rttvar;
  }

  /** The last bandwidth an active probe measured, in bytes per second. */
  get probedBandwidth(): number | undefined {
    return this.#probedBandwidth;
  }

  /** True while a probe burst is being sent (its frames are paced finer than the cycle interval). */
  get bursting(): boolean {
    return this.#bursting;
  }

  /**
   * Records the connection's cumulative byte counters at `now`: they feed the
   * throughput meter, and received bytes prove liveness as of `lastReceivedAt`
   * (clamped to the time since the previous call, so a foreign clock cannot
   * move it backwards or into the future). Call it before {@link poll}, and at
   * every health check; in between it may be skipped.
   */
  observe(bytesIn: number, bytesOut: number, lastReceivedAt: number | undefined, now: number): void {
    if (bytesIn > this.#bytesIn) {
      this.#bytesIn = bytesIn;
      let at = lastReceivedAt ?? now;
      if (!(at <= now)) at = now;
      if (at < this.#observedAt) at = this.#observedAt;
      if (at > this.#pendingReceivedAt) this.#pendingReceivedAt = at;
    }
    if (bytesOut > this.#bytesOut) {
      this.#bytesOut = bytesOut;
      if (now > this.#pendingSentAt) this.#pendingSentAt = now;
    }
    // The throughput meter's update (see ThroughputMeter.update), inline.
    const dt = now - this.#meteredAt;
    if (dt > 0) {
      const dIn = bytesIn > this.#meteredIn ? bytesIn - this.#meteredIn : 0;
      const dOut = bytesOut > this.#meteredOut ? bytesOut - this.#meteredOut : 0;
      const tau = this.#options.rateTimeConstantMs;
      this.#rateIn = nextRate(this.#rateIn, dIn, dt, tau);
      this.#rateOut = nextRate(this.#rateOut, dOut, dt, tau);
      this.#meteredIn = bytesIn;
      this.#meteredOut = bytesOut;
      this.#meteredAt = now;
    }
    if (now > this.#observedAt) this.#observedAt = now;
  }

  /**
   * Advances keepalive and RTT sampling to `now`: returns `ping` (send it),
   * `dead` (close the connection with `timeout`; final) or `none`.
   */
  poll(now: number): MonitorAction {
    this.#applyTraffic();
    const keepalive = this.#keepalive;
    const action = keepalive.poll(now);
    if (action.type === "ping") {
      const sent = this.#keepalivePings;
      sent.push({ nonce: action.nonce, timestampUs: action.timestampUs, sentAt: now });
      if (sent.length > keepalive.maxMissedPongs + 1) sent.shift();
      this.#copyKeepalive();
      // The tracker's timestamp is already the low 32 bits the wire carries (ping.proto).
      return action;
    }
    this.#copyKeepalive();
    if (action.type !== "none") return action;
    const rttPing = this.#rttPing;
    if (rttPing !== undefined && now >= rttPing.deadline) this.#rttPing = undefined;
    if (this.#rttPing === undefined && !keepalive.pingOutstanding && now >= this.#nextRttPingAt) {
      const nonce = this.#nextRttNonce;
      this.#nextRttNonce = (nonce + 1) >>> 0;
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
    let sample = this.#keepalive.onPong(nonce, full, now);
    const rttPing = this.#rttPing;
    if (sample === undefined && rttPing !== undefined && rttPing.nonce === nonce && rttPing.timestampUs === timestampUs) {
      this.#rttPing = undefined;
      this.#rttPongs += 1;
      sample = Math.max(0, now - rttPing.sentAt);
      this.#keepalive.rtt.addSample(sample);
    }
    this.#copyKeepalive();
    if (sample !== undefined) this.#nextRttPingAt = now + this.#options.rttSampleIntervalMs;
    return sample;
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
    if (bandwidth !== undefined) this.#probedBandwidth = bandwidth;
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
    if (this.#ready) return true;
    return (this.#ready = this.#keepalive.rtt.samples > 0 || now - this.startedAt >= this.#options.maxPongTimeoutMs);
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
    const rx = this.#rateIn;
    const tx = this.#rateOut;
    const passive = rx > tx ? rx : tx;
    const probed = this.#probedBandwidth;
    if (probed !== undefined) return probed > passive ? probed : passive;
    return passive >= this.#options.referenceBandwidthBps ? passive : Number.NaN;
  }

  /**
   * Age in ms of the oldest ping still waiting for its Pong (keepalive or RTT
   * ping), 0 when none is outstanding.
   */
  outstandingPingAge(now: number): number {
    if (this.#exposed) this.#copyKeepalive();
    let sentAt = this.#kaOutstandingSentAt;
    if (this.#rttPing !== undefined && this.#rttPing.sentAt < sentAt) sentAt = this.#rttPing.sentAt;
    return sentAt === Number.POSITIVE_INFINITY ? 0 : Math.max(0, now - sentAt);
  }

  /**
   * The RTT input of the health score, in ms: the smoothed RTT, or the age of
   * a ping still unanswered when that is longer (the current round trip is at
   * least that long, so a stalled link scores badly before its pong arrives);
   * NaN before the first sample.
   */
  latencyInput(now: number): number {
    if (this.#exposed) this.#copyKeepalive();
    const srtt = this.#srtt;
    if (srtt === undefined) return Number.NaN;
    const age = this.outstandingPingAge(now);
    return age > srtt ? age : srtt;
  }

  /**
   * Writes this connection's inputs into entry `i` of a health batch.
   * `framesOk`/`framesFailed` are the connection's cumulative frame counters.
   */
  fillInputs(batch: HealthBatch, i: number, framesOk: number, framesFailed: number, now: number): void {
    batch.rttMs[i] = this.latencyInput(now);
    batch.jitterMs[i] = this.#rttvar ?? Number.NaN;
    batch.pingsSent[i] = this.pingsResolved;
    batch.pingsAnswered[i] = this.pongsReceived;
    batch.framesOk[i] = framesOk;
    batch.framesFailed[i] = framesFailed;
    batch.bandwidthBps[i] = this.bandwidthInput();
  }
}
