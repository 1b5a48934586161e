/**
 * The WASM instance behind the wasm frame decoders: one instance per process (replaced when it traps
 * or runs out of memory), fixed regions of its linear memory handed out to decoders and pooled by
 * size, and persistent typed-array views that are re-created whenever memory grows.
 *
 * Internal to src/wire.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { instantiateCore } from "../wasm/loader.js";

/** Bytes of a region header (see assembly/frame.ts). */
export const REGION_HEADER_BYTES = 64;
/** Header word (i32 index relative to the region's first word): end of the buffered bytes. */
export const H_USED = 1;
/** Header word: the frame limit (largest accepted Frame body) the next scan checks against. */
export const H_MAX = 3;
/** Header word: status of the last scan. */
export const H_STATUS = 4;
/** Header word: the offending length after {@link STATUS_TOO_LARGE}. */
export const H_ERROR_LENGTH = 5;
/** Scan status: the record area is full, scan again. */
export const STATUS_OUT_FULL = 1;
/** Scan status: malformed length prefix (sticky). */
export const STATUS_MALFORMED = 2;
/** Scan status: length prefix above the maximum frame size (sticky). */
export const STATUS_TOO_LARGE = 3;
/**
 * Envelope records one scan call may write (16 bytes each, `parse` = 1). Framing-only scans write
 * 8-byte records into the same area, twice as many ({@link FRAMING_RECORDS_PER_SCAN}).
 */
export const RECORDS_PER_SCAN = 2048;
/** Framing-only records (body address, body length: 8 bytes) one scan call may write. */
export const FRAMING_RECORDS_PER_SCAN = RECORDS_PER_SCAN * 2;
/**
 * Extra room a region has beyond one maximal frame, so that a socket chunk (64 KiB) is normally
 * copied in one piece.
 */
export const REGION_SLACK_BYTES = 64 * 1024;
/**
 * Data area of a fresh region, in bytes: one socket chunk (64 KiB), copied in one piece. A region grows
 * (by doubling, into a new region) only when it is full of one incomplete frame, so its size follows the
 * bytes received, and goes back to this size once nothing is buffered.
 */
export const REGION_BASE_BYTES = 64 * 1024;

const WASM_PAGE = 65536;

interface FrameCoreExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  initRegion(region: number, capacity: number, maxFrameSize: number): void;
  reserve(region: number): number;
  scan(region: number, out: number, outCapacity: number, parse: number): number;
}

/** One instance of the core used for frame decoding. */
export class FrameCore {
  readonly memory: WebAssembly.Memory;
  readonly reserve: (region: number) => number;
  readonly scan: (region: number, out: number, outCapacity: number, parse: number) => number;
  readonly initRegion: (region: number, capacity: number, maxFrameSize: number) => void;
  /** Address of the shared record area (consumed by JS right after each scan). */
  readonly records: number;
  u8: Uint8Array;
  i32: Int32Array;
  u32: Uint32Array;
  /** Set after a trap: the instance is never used for new decoders again. */
  poisoned = false;
  private top: number;
  private readonly pool = new Map<number, number[]>();

  constructor() {
    const exports = instantiateCore() as unknown as FrameCoreExports;
    this.memory = exports.memory;
    this.reserve = exports.reserve;
    this.scan = exports.scan;
    this.initRegion = exports.initRegion;
    this.top = align(exports.heapBase(), 64);
    this.u8 = new Uint8Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.u32 = new Uint32Array(this.memory.buffer);
    this.records = this.bump(RECORDS_PER_SCAN * 16);
  }

  /** Re-creates the views after memory grew (old views of a grown memory are detached). */
  refreshViews(): void {
    if (this.u8.buffer !== this.memory.buffer) {
      this.u8 = new Uint8Array(this.memory.buffer);
      this.i32 = new Int32Array(this.memory.buffer);
      this.u32 = new Uint32Array(this.memory.buffer);
    }
  }

  private bump(bytes: number): number {
    const start = this.top;
    const end = start + align(bytes, 64);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / WASM_PAGE));
      } catch (cause) {
        throw new PeerlinkError(ErrorCode.WASM_FAILURE, "WASM memory exhausted", { cause });
      }
      this.refreshViews();
    }
    this.top = end;
    return start;
  }

  /** Hands out a region able to hold `capacity` buffered bytes (reused from the pool when possible). */
  allocateRegion(capacity: number, maxFrameSize: number): number {
    const free = this.pool.get(capacity);
    const region = free !== undefined && free.length > 0 ? (free.pop() as number) : this.bump(REGION_HEADER_BYTES + capacity);
    this.initRegion(region, capacity, maxFrameSize);
    return region;
  }

  /** Returns a region to the pool. */
  releaseRegion(region: number, capacity: number): void {
    let free = this.pool.get(capacity);
    if (free === undefined) {
      free = [];
      this.pool.set(capacity, free);
    }
    free.push(region);
  }
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

let current: FrameCore | undefined;

/**
 * Allocates a region from the current instance, creating a new instance when there is none, the
 * current one was poisoned by a trap, or its memory is exhausted.
 */
export function allocateFrameRegion(capacity: number, maxFrameSize: number): { core: FrameCore; region: number } {
  if (current === undefined || current.poisoned) current = new FrameCore();
  try {
    return { core: current, region: current.allocateRegion(capacity, maxFrameSize) };
  } catch (error) {
    if (!(error instanceof PeerlinkError) || error.code !== ErrorCode.WASM_FAILURE) throw error;
    current = new FrameCore();
    return { core: current, region: current.allocateRegion(capacity, maxFrameSize) };
  }
}

/** The instance new decoders currently use (for tests and diagnostics). */
export function currentFrameCore(): FrameCore | undefined {
  return current;
}
