/**
 * Health publication, sans-IO: scores the connections a health check filled
 * into the batch in one call, applies each connection's hysteresis, decides
 * what to publish (an object, or lazily the table's numbers) and which grade
 * changes to announce, and asks for the replacement of connections degraded for
 * long enough. It writes only the {@link ConnectionTable} and the outbox.
 *
 * @module
 */
import { createHealthScorer, type HealthScorer, type HealthScorerEngine } from "../health/scorer.js";
import { GRADE_BY_INDEX, type HealthGrade, type HealthScore } from "../health/types.js";
import { DEAD, DEGRADED, LAZY, REMOVED, SETTLED, type ConnectionTable, type Entry } from "./connection-table.js";
import { isDegradedGrade } from "./health-tracker.js";
import { bandwidthCouldMatter } from "./probe-demand.js";
import type { Outbox } from "./maintenance-actions.js";
import { INITIAL_HEALTH_BATCH_CAPACITY, type ResolvedMaintenanceOptions } from "./maintenance-options.js";

/**
 * Smallest change of a score component (each in [0, 1]) that makes a new
 * health snapshot; smaller moves keep the previous one (and its grade decides
 * hysteresis all the same). Avoids allocating and republishing 10,000 nearly
 * identical objects at every check.
 */
export const HEALTH_REPUBLISH_DELTA = 0.005;

/** Scores, hysteresis and publication decisions over a {@link ConnectionTable}. */
export class HealthPublication<H> {
  readonly #options: ResolvedMaintenanceOptions;
  readonly #table: ConnectionTable<H>;
  readonly #out: Outbox<H>;
  #engine: HealthScorerEngine;
  #scorer: HealthScorer | undefined;
  readonly #wantProbe: ((entry: Entry<H>) => void) | undefined;
  /** Batch entry → table row, for the check in progress (sized with the batch). */
  order = new Int32Array(0);

  /** @param wantProbe - told of each connection a bandwidth measurement could change the grade of (`probeOnDemand`). */
  constructor(options: ResolvedMaintenanceOptions, table: ConnectionTable<H>, out: Outbox<H>, wantProbe?: (entry: Entry<H>) => void) {
    this.#options = options;
    this.#table = table;
    this.#out = out;
    this.#wantProbe = options.probeOnDemand ? wantProbe : undefined;
    this.#engine = options.engine;
  }

  /** The scoring engine in use (`"js"` after a WASM failure). */
  get engine(): HealthScorerEngine {
    return this.#engine;
  }

  /** Forgets the scorer and the order array (the core stopped). */
  reset(): void {
    this.#scorer = undefined;
    this.order = new Int32Array(0);
  }

  /** A scorer whose batch holds at least `count` entries (made, grown, or switched to JS after a WASM failure). */
  scorer(count: number): HealthScorer {
    const current = this.#scorer;
    if (current !== undefined && current.batch.capacity >= count && current.engine === this.#engine) return current;
    let capacity = current?.batch.capacity ?? INITIAL_HEALTH_BATCH_CAPACITY;
    while (capacity < count) capacity *= 2;
    const make = (engine: HealthScorerEngine): HealthScorer =>
      createHealthScorer({
        engine,
        capacity,
        referenceLatencyMs: this.#options.referenceLatencyMs,
        referenceBandwidthBps: this.#options.referenceBandwidthBps,
      });
    try {
      this.#scorer = make(this.#engine);
    } catch (error) {
      if (this.#engine === "js") throw error;
      this.#out.push({ type: "warn", message: `the WASM health scorer is unavailable, using the JS engine: ${String(error)}` });
      this.#engine = "js";
      this.#scorer = make("js");
    }
    if (this.order.length < capacity) {
      const order = new Int32Array(capacity);
      order.set(this.order);
      this.order = order;
    }
    return this.#scorer;
  }

  /**
   * Scores the `filledCount` connections whose inputs the cycle wrote into the
   * batch (rows in {@link order}) in one call, applies hysteresis, decides what
   * to publish, and asks for the replacement of degraded connections.
   */
  check(filled: HealthScorer, filledCount: number, now: number): void {
    let scorer = filled;
    let count = filledCount;
    try {
      scorer.scoreBatch(count);
    } catch (error) {
      if (this.#engine === "js") throw error;
      this.#out.push({ type: "warn", message: `the WASM health scorer failed, switching to the JS engine: ${String(error)}` });
      this.#engine = "js";
      scorer = this.scorer(this.#table.size);
      count = this.#refill(scorer, now);
      scorer.scoreBatch(count);
    }
    const order = this.order;
    const { latency, reliability, bandwidth, overall, grade: grades, rttMs, bandwidthBps } = scorer.batch;
    const wantProbe = this.#wantProbe;
    const table = this.#table;
    const { flags, rawLatency, rawReliability, rawBandwidth, rawOverall, rawGrade, rawScores, entries } = table;
    const replaceDegraded = this.#options.replaceDegraded;
    for (let k = 0; k < count; k++) {
      const i = order[k] as number;
      const f = flags[i] as number;
      if (f & (DEAD | REMOVED)) continue;
      const gradeIndex = grades[k] as number;
      const lat = latency[k] as number;
      const rel = reliability[k] as number;
      const bw = bandwidth[k] as number;
      // Unmeasured bandwidth (passive rate below the reference) on a borderline score: measure it.
      if (wantProbe !== undefined && !((bandwidthBps[k] as number) >= 0) && bandwidthCouldMatter(lat, rel, (rttMs[k] as number) >= 0, overall[k] as number)) {
        wantProbe(entries[i] as Entry<H>);
      }
      // A score is an immutable snapshot; a new one is made only when it moved (steady links allocate nothing).
      const moved =
        rawGrade[i] !== gradeIndex ||
        Math.abs((rawLatency[i] as number) - lat) >= HEALTH_REPUBLISH_DELTA ||
        Math.abs((rawReliability[i] as number) - rel) >= HEALTH_REPUBLISH_DELTA ||
        Math.abs((rawBandwidth[i] as number) - bw) >= HEALTH_REPUBLISH_DELTA;
      // Same score as last time and nothing pending: the hysteresis would change nothing. Only a Poor or
      // Critical published grade can need a replacement.
      if (!moved && f & SETTLED && !(replaceDegraded && f & DEGRADED)) continue;
      const entry = entries[i] as Entry<H>;
      if (moved) {
        const sameGrade = rawGrade[i] === gradeIndex;
        rawLatency[i] = lat;
        rawReliability[i] = rel;
        rawBandwidth[i] = bw;
        rawOverall[i] = overall[k] as number;
        rawGrade[i] = gradeIndex;
        if (sameGrade && f & SETTLED) {
          // Components moved, grade unchanged and equal to the published one: nothing for the hysteresis to
          // decide, so the row's numbers are published as they are, lazily (made into an object on first read).
          if (!(f & LAZY)) {
            flags[i] = f | LAZY;
            this.#out.push({ type: "publish", entry, score: undefined });
          }
        } else {
          const grade = GRADE_BY_INDEX[gradeIndex] as HealthGrade;
          const raw: HealthScore = { latency: lat, reliability: rel, bandwidth: bw, overall: overall[k] as number, grade };
          rawScores[i] = raw;
          flags[i] = f & ~LAZY;
          this.#update(entry, raw, now);
        }
      } else if (!(f & SETTLED)) {
        this.#update(entry, rawScores[i] as HealthScore, now);
      }
      if (
        replaceDegraded &&
        (flags[i] as number) & DEGRADED &&
        !entry.replaced &&
        entry.replacingWith === undefined &&
        entry.monitor.health.isDegradedFor(now, this.#options.degradedReplaceAfterMs)
      ) {
        this.#out.push({ type: "replace", entry });
      }
    }
  }

  /** True while `entry`'s published health is the table's numbers, not yet an object (see LAZY). */
  isLazy(entry: Entry<H>): boolean {
    return !entry.removed && ((this.#table.flags[entry.index] as number) & LAZY) !== 0;
  }

  /** The published health of `entry`, made into an object first if it is lazy (then no longer lazy). */
  materialize(entry: Entry<H>): HealthScore | undefined {
    const table = this.#table;
    const i = entry.index;
    if (entry.removed) return entry.finalHealth;
    const f = table.flags[i] as number;
    if (!(f & LAZY)) return table.healths[i];
    const score: HealthScore = {
      latency: table.rawLatency[i] as number,
      reliability: table.rawReliability[i] as number,
      bandwidth: table.rawBandwidth[i] as number,
      overall: table.rawOverall[i] as number,
      grade: GRADE_BY_INDEX[table.rawGrade[i] as number] as HealthGrade,
    };
    table.rawScores[i] = score;
    table.healths[i] = score;
    table.healthFroms[i] = score;
    table.flags[i] = f & ~LAZY;
    return score;
  }

  /** Feeds a raw score to the connection's hysteresis; publishes its health and announces a grade change. */
  #update(entry: Entry<H>, raw: HealthScore, now: number): void {
    const tracker = entry.monitor.health;
    const change = tracker.update(raw, now);
    const published = tracker.grade ?? raw.grade;
    const { flags, healths, healthFroms } = this.#table;
    const i = entry.index;
    let f = (flags[i] as number) & ~(SETTLED | DEGRADED);
    if (published === raw.grade) f |= SETTLED;
    if (isDegradedGrade(published)) f |= DEGRADED;
    flags[i] = f;
    let health = healths[i];
    if (health === undefined || healthFroms[i] !== raw || health.grade !== published) {
      health = published === raw.grade ? raw : { ...raw, grade: published };
      healths[i] = health;
      healthFroms[i] = raw;
      this.#out.push({ type: "publish", entry, score: health });
    }
    if (change !== undefined) this.#out.push({ type: "health-change", entry, from: change.old, to: change.new, score: health });
  }

  /** Fills a batch from scratch (after switching engines), from the counters read in this cycle. */
  #refill(scorer: HealthScorer, now: number): number {
    const b = scorer.batch;
    const order = this.order;
    const { flags, framesOk, framesFailed, monitors } = this.#table;
    let count = 0;
    for (let i = 0; i < monitors.size && count < b.capacity; i++) {
      if ((flags[i] as number) & (DEAD | REMOVED) || !monitors.readyForScoring(i, now)) continue;
      monitors.fillInputs(i, b, count, framesOk[i] as number, framesFailed[i] as number, now);
      order[count++] = i;
    }
    return count;
  }
}
