/**
 * The WASM engine of the frame decoder. Each chunk is copied once into the decoder's region of WASM
 * linear memory, which is also the reassembly buffer; WASM finds the frames, validates the prefixes,
 * parses the Data/Ping/Pong envelopes and writes integer records that this class turns into sink calls.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { ENVELOPE_DATA, ENVELOPE_PING, ENVELOPE_PONG } from "./envelope-fast-path.js";
import {
  DISPOSED,
  failureOf,
  dispatchGenericFrame,
  frameTooLargeError,
  malformedPrefixError,
} from "./frame-dispatch.js";
import type { FrameBodyCallback, FrameDecoder, FrameSink } from "./frame-sink.js";
import { checkFrameLimit } from "./frame-limit.js";
import { copyBytes } from "./varint.js";
import {
  allocateFrameRegion,
  FRAMING_RECORDS_PER_SCAN,
  H_ERROR_LENGTH,
  H_MAX,
  H_STATUS,
  H_USED,
  RECORDS_PER_SCAN,
  REGION_BASE_BYTES,
  REGION_HEADER_BYTES,
  REGION_SLACK_BYTES,
  STATUS_MALFORMED,
  STATUS_OUT_FULL,
  STATUS_TOO_LARGE,
  type FrameCore,
} from "./wasm-frame-core.js";

/** WASM implementation of {@link FrameDecoder}. */
export class WasmFrameDecoder implements FrameDecoder {
  readonly engine = "wasm" as const;
  readonly maxFrameSize: number;
  private readonly core: FrameCore;
  /** Largest data area a region may need: one maximal frame with its prefix, plus a socket chunk. */
  private readonly ceiling: number;
  /** Data area of a fresh region ({@link REGION_BASE_BYTES}, or the ceiling when smaller). */
  private readonly base: number;
  private limit: number;
  private region: number;
  private capacity: number;
  /** Index of the region's first header word in the i32 view. */
  private word: number;
  private data: number;
  private failure: unknown = undefined;
  private hasFailed = false;
  private released = false;

  constructor(maxFrameSize: number, frameLimit: number) {
    this.maxFrameSize = maxFrameSize;
    this.limit = frameLimit;
    this.ceiling = maxFrameSize + 5 + REGION_SLACK_BYTES;
    this.base = Math.min(this.ceiling, REGION_BASE_BYTES);
    this.capacity = this.base;
    const { core, region } = allocateFrameRegion(this.capacity, frameLimit);
    this.core = core;
    this.region = region;
    this.word = region >>> 2;
    this.data = region + REGION_HEADER_BYTES;
  }

  get frameLimit(): number {
    return this.limit;
  }

  setFrameLimit(limit: number): void {
    this.limit = checkFrameLimit(limit, this.maxFrameSize);
    // Scans read the limit from the region header; a failed region keeps failing whatever it says.
    if (!this.released && !this.core.poisoned) this.core.i32[this.word + H_MAX] = limit;
  }

  get bufferCapacity(): number {
    return this.released ? 0 : this.capacity;
  }

  get bufferedBytes(): number {
    if (this.released) return 0;
    const i32 = this.core.i32;
    return (i32[this.word + H_USED] as number) - (i32[this.word + 2] as number);
  }

  get failed(): boolean {
    return this.hasFailed;
  }

  push(chunk: Uint8Array, sink: FrameSink): void {
    this.run(chunk, sink, undefined);
  }

  /** Same as {@link WasmFrameDecoder.push}: every chunk is copied into WASM memory, so owning it changes nothing. */
  pushOwned(chunk: Uint8Array, sink: FrameSink): void {
    this.push(chunk, sink);
  }

  pushFrames(chunk: Uint8Array, onFrame: FrameBodyCallback): void {
    this.run(chunk, undefined, onFrame);
  }

  receiveBuffer(): Uint8Array {
    this.checkUsable();
    const core = this.core;
    const free = this.reserveRoom();
    const used = core.i32[this.word + H_USED] as number;
    return new Uint8Array(core.memory.buffer, this.data + used, free);
  }

  commit(bytesWritten: number, sink: FrameSink): void {
    this.checkUsable();
    const core = this.core;
    const used = core.i32[this.word + H_USED] as number;
    const n = Math.max(0, Math.min(bytesWritten, this.capacity - used));
    core.i32[this.word + H_USED] = used + n;
    try {
      this.drain(sink, undefined);
      this.shrinkWhenEmpty();
    } catch (error) {
      this.fail(error);
      throw error;
    }
  }

  dispose(): void {
    if (!this.released) {
      this.released = true;
      if (!this.core.poisoned) this.core.releaseRegion(this.region, this.capacity);
    }
    this.hasFailed = true;
    this.failure = DISPOSED;
  }

  private fail(error: unknown): void {
    if (!this.hasFailed) {
      this.hasFailed = true;
      this.failure = error;
    }
    if (!this.released && !this.core.poisoned) {
      // Drop whatever is buffered; the region stays ours until dispose().
      this.core.initRegion(this.region, this.capacity, this.limit);
      this.core.i32[this.word + H_STATUS] = STATUS_MALFORMED; // keep the region failed
    }
  }

  /** After a WASM call threw: poisons the instance and fails this decoder with WASM_FAILURE. */
  private trapped(cause: unknown): PeerlinkError {
    this.core.poisoned = true;
    const error = new PeerlinkError(ErrorCode.WASM_FAILURE, "the WASM frame decoder trapped", { cause });
    this.hasFailed = true;
    this.failure = error;
    return error;
  }

  private reserveRegion(): number {
    try {
      return this.core.reserve(this.region);
    } catch (cause) {
      throw this.trapped(cause);
    }
  }

  /**
   * Compacts the region and returns its free space, first moving to a region twice as large when it
   * is full. After a scan the region holds at most one incomplete frame whose prefix passed the limit,
   * so a full region means that frame has more bytes than fit: the region grows with the bytes
   * received, never with the length the prefix declared, and never beyond one maximal frame.
   */
  private reserveRoom(): number {
    const free = this.reserveRegion();
    if (free > 0) return free;
    if (this.capacity >= this.ceiling) throw new PeerlinkError(ErrorCode.INTERNAL, "frame decoder region is full");
    this.moveRegion(Math.min(this.ceiling, 2 * this.capacity));
    return this.reserveRegion();
  }

  /** Goes back to a base-size region once a grown one holds nothing (pooled regions are reused). */
  private shrinkWhenEmpty(): void {
    if (this.capacity > this.base && this.bufferedBytes === 0) this.moveRegion(this.base);
  }

  /** Moves the buffered bytes (compacted: read offset 0) into a new region of `capacity` bytes. */
  private moveRegion(capacity: number): void {
    const core = this.core;
    const used = this.bufferedBytes;
    this.reserveRegion(); // compacts: the buffered bytes start at the data area
    const next = core.allocateRegion(capacity, this.limit); // may grow memory: views are refreshed
    const nextData = next + REGION_HEADER_BYTES;
    if (used > 0) core.u8.copyWithin(nextData, this.data, this.data + used);
    core.i32[(next >>> 2) + H_USED] = used;
    core.releaseRegion(this.region, this.capacity);
    this.region = next;
    this.capacity = capacity;
    this.word = next >>> 2;
    this.data = nextData;
  }

  /** Throws when this decoder failed, or when another decoder's trap poisoned the shared instance. */
  private checkUsable(): void {
    if (this.hasFailed) throw (this.failure = failureOf(this.failure));
    if (this.core.poisoned) throw this.trapped(new Error("the shared WASM instance was poisoned by a trap"));
  }

  private run(chunk: Uint8Array, sink: FrameSink | undefined, onFrame: FrameBodyCallback | undefined): void {
    this.checkUsable();
    const core = this.core;
    const total = chunk.length;
    let offset = 0;
    try {
      while (offset < total) {
        const free = this.reserveRoom();
        const used = core.i32[this.word + H_USED] as number;
        const n = Math.min(free, total - offset);
        core.u8.set(n === total ? chunk : chunk.subarray(offset, offset + n), this.data + used);
        core.i32[this.word + H_USED] = used + n;
        offset += n;
        this.drain(sink, onFrame);
      }
      this.shrinkWhenEmpty();
    } catch (error) {
      this.fail(error);
      throw error;
    }
  }

  /** Scans until the region needs more bytes, delivering every record; throws on a framing error. */
  private drain(sink: FrameSink | undefined, onFrame: FrameBodyCallback | undefined): void {
    const core = this.core;
    const framingOnly = sink === undefined;
    for (;;) {
      let count: number;
      try {
        count = framingOnly
          ? core.scan(this.region, core.records, FRAMING_RECORDS_PER_SCAN, 0)
          : core.scan(this.region, core.records, RECORDS_PER_SCAN, 1);
      } catch (cause) {
        throw this.trapped(cause);
      }
      if (framingOnly) this.deliverFrames(count, onFrame as FrameBodyCallback);
      else this.deliverEnvelopes(count, sink);
      const i32 = core.i32;
      const status = i32[this.word + H_STATUS] as number;
      if (status === STATUS_OUT_FULL) continue;
      if (status === STATUS_MALFORMED) throw malformedPrefixError();
      if (status === STATUS_TOO_LARGE) {
        throw frameTooLargeError(core.u32[this.word + H_ERROR_LENGTH] as number, this.maxFrameSize);
      }
      return;
    }
  }

  /**
   * Hands the `count` framing records of the last scan ([bodyAddress, bodyLength] pairs) to `onFrame`.
   * A callback that makes memory grow (a new decoder) detaches the views: they are fetched again then.
   */
  private deliverFrames(count: number, onFrame: FrameBodyCallback): void {
    const core = this.core;
    let i32 = core.i32;
    let u8 = core.u8;
    const end = (core.records >>> 2) + 2 * count;
    for (let r = core.records >>> 2; r < end; r += 2) {
      let length = i32[r + 1];
      if (length === undefined) {
        i32 = core.i32;
        u8 = core.u8;
        length = i32[r + 1] as number;
      }
      onFrame(u8, i32[r] as number, length);
    }
  }

  /** Turns the `count` envelope records of the last scan into sink calls. */
  private deliverEnvelopes(count: number, sink: FrameSink): void {
    const core = this.core;
    let u32 = core.u32;
    let u8 = core.u8;
    const end = (core.records >>> 2) + 4 * count;
    for (let r = core.records >>> 2; r < end; r += 4) {
      let kind = u32[r];
      if (kind === undefined) {
        u32 = core.u32;
        u8 = core.u8;
        kind = u32[r] as number;
      }
      if (kind === ENVELOPE_DATA) {
        sink.onData(u32[r + 1] as number, copyBytes(u8, u32[r + 2] as number, u32[r + 3] as number));
      } else if (kind === ENVELOPE_PING) {
        sink.onPing(u32[r + 1] as number, u32[r + 2] as number);
      } else if (kind === ENVELOPE_PONG) {
        sink.onPong(u32[r + 1] as number, u32[r + 2] as number);
      } else {
        dispatchGenericFrame(copyBytes(u8, u32[r + 1] as number, u32[r + 2] as number), sink);
      }
    }
  }
}
