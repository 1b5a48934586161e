/**
 * Frame encoders: the generic one (any {@link Frame}, via the generated codec) and hand-written
 * ones for the hot messages (Data, Ping, Pong) that produce byte-identical output without
 * building message objects.
 *
 * @module
 */
import { toBinary } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { FRAME_SLAB_MAX_FRAME_BYTES, sharedFrameSlab } from "./frame-slab.js";
import { varintLength, writeVarint } from "./varint.js";

/** Tag bytes of the Frame oneof fields and of the hot messages' fields (field number << 3 | wire type). */
const TAG_FRAME_DATA = 0x0a; // field 1, length-delimited
const TAG_FRAME_PING = 0x12; // field 2, length-delimited
const TAG_FRAME_PONG = 0x1a; // field 3, length-delimited
const TAG_FIELD1_VARINT = 0x08;
const TAG_FIELD2_VARINT = 0x10;
const TAG_FIELD2_BYTES = 0x12;

/**
 * Encodes any Frame as it travels on the wire: LEB128 length prefix plus the protobuf body
 * (generated `toBinary`).
 */
export function encodeFrame(frame: Frame): Uint8Array {
  const body = toBinary(FrameSchema, frame);
  const out = new Uint8Array(varintLength(body.length) + body.length);
  const offset = writeVarint(body.length, out, 0);
  out.set(body, offset);
  return out;
}

function assertUint32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${name} must be an integer in [0, 2^32 - 1], got ${value}`);
  }
}

/**
 * Encodes `Frame{data: {protocol, payload}}` with its length prefix; the same bytes as
 * `encodeFrame(create(FrameSchema, …))`, several times faster.
 *
 * @param protocol - the sender's protocol alias, an integer in [0, 2^32 - 1]
 * @param payload - application bytes (copied into the result)
 * @returns the frame, a view carved from the shared frame slab when small (see {@link sharedFrameSlab}): its
 *   `buffer` holds other frames too
 * @throws PeerlinkError INVALID_ARGUMENT when `protocol` is not a uint32, or `payload` is a subclass whose
 *   `length` is not the number of bytes it holds
 */
export function encodeDataFrame(protocol: number, payload: Uint8Array): Uint8Array {
  assertUint32("protocol", protocol);
  const payloadLen = payload.length;
  let inner = 0;
  if (protocol !== 0) inner += 1 + varintLength(protocol);
  if (payloadLen !== 0) inner += 1 + varintLength(payloadLen) + payloadLen;
  const body = 1 + varintLength(inner) + inner;
  const size = varintLength(body) + body;
  // A frame over the slab limit gets a buffer that is not zero-filled: it must be sized by the bytes `set` will
  // copy, or the rest of it would leave with whatever the allocator held (a subclass can fake `length`).
  if (size > FRAME_SLAB_MAX_FRAME_BYTES && realLength(payload) !== payloadLen) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "payload's length is not the number of bytes it holds");
  }
  const out = sharedFrameSlab.take(size);
  let o = writeVarint(body, out, 0);
  out[o++] = TAG_FRAME_DATA;
  o = writeVarint(inner, out, o);
  if (protocol !== 0) {
    out[o++] = TAG_FIELD1_VARINT;
    o = writeVarint(protocol, out, o);
  }
  if (payloadLen !== 0) {
    out[o++] = TAG_FIELD2_BYTES;
    o = writeVarint(payloadLen, out, o);
    out.set(payload, o);
  }
  return out;
}

/** The built-in `length` getter of typed arrays, which a subclass or a Proxy cannot override. */
const typedArrayLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "length")?.get as () => number;

/** The number of bytes `bytes` really holds, or -1 when it is not a typed array at all. */
function realLength(bytes: Uint8Array): number {
  try {
    return typedArrayLength.call(bytes);
  } catch {
    return -1;
  }
}

function encodeKeepalive(tag: number, nonce: number, timestampUs: number): Uint8Array {
  assertUint32("nonce", nonce);
  assertUint32("timestampUs", timestampUs);
  let inner = 0;
  if (nonce !== 0) inner += 1 + varintLength(nonce);
  if (timestampUs !== 0) inner += 1 + varintLength(timestampUs);
  const body = 2 + inner; // inner <= 12, so its length is one byte
  // Carved from the shared slab like a Data frame: a view, not a backing store of its own per Ping and Pong.
  const out = sharedFrameSlab.take(1 + body);
  out[0] = body;
  out[1] = tag;
  out[2] = inner;
  let o = 3;
  if (nonce !== 0) {
    out[o++] = TAG_FIELD1_VARINT;
    o = writeVarint(nonce, out, o);
  }
  if (timestampUs !== 0) {
    out[o++] = TAG_FIELD2_VARINT;
    writeVarint(timestampUs, out, o);
  }
  return out;
}

/**
 * Encodes `Frame{ping: {nonce, timestampUs}}` with its length prefix (byte-identical to {@link encodeFrame}).
 *
 * @param nonce - an integer in [0, 2^32 - 1]
 * @param timestampUs - low 32 bits of the sender's monotonic clock in microseconds
 * @returns the frame, a view carved from the shared frame slab (see {@link sharedFrameSlab})
 * @throws PeerlinkError INVALID_ARGUMENT when an argument is not a uint32
 */
export function encodePingFrame(nonce: number, timestampUs: number): Uint8Array {
  return encodeKeepalive(TAG_FRAME_PING, nonce, timestampUs);
}

/**
 * Encodes `Frame{pong: {nonce, timestampUs}}` with its length prefix (byte-identical to {@link encodeFrame}).
 *
 * @param nonce - the Ping's nonce, an integer in [0, 2^32 - 1]
 * @param timestampUs - the Ping's timestamp, echoed
 * @returns the frame, a view carved from the shared frame slab (see {@link sharedFrameSlab})
 * @throws PeerlinkError INVALID_ARGUMENT when an argument is not a uint32
 */
export function encodePongFrame(nonce: number, timestampUs: number): Uint8Array {
  return encodeKeepalive(TAG_FRAME_PONG, nonce, timestampUs);
}
