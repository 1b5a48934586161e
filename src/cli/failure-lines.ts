/**
 * How many lines the CLI prints for inbound handshake failures: an unauthenticated host makes one with every
 * connection it opens (even one that sends nothing), so a flood of connects would flood stdout and, in the live
 * table, push every other event off the screen. The decision journal keeps them all.
 *
 * @module
 */
import { TokenBucket } from "../util/token-bucket.js";

/** Inbound failure lines printed at once. */
const BURST = 10;
/** Inbound failure lines printed per second after the burst. */
const PER_SECOND = 1;

/** Decides which inbound handshake failures get a line; the time is passed in (ms). */
export class FailureLines {
  readonly #bucket: TokenBucket;
  #unshown = 0;

  constructor(now: number) {
    this.#bucket = new TokenBucket({ capacity: BURST, refillPerSecond: PER_SECOND }, now);
  }

  /**
   * One more inbound failure: the number of failures not printed since the last line (0 or more) when this one
   * gets a line, or undefined when it does not.
   */
  admit(now: number): number | undefined {
    if (!this.#bucket.tryTake(now)) {
      this.#unshown++;
      return undefined;
    }
    const unshown = this.#unshown;
    this.#unshown = 0;
    return unshown;
  }
}
