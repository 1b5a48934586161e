/**
 * The generic path: frames the fast path leaves alone are decoded with the generated decoder and
 * dispatched to the sink.
 *
 * @module
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { checkFrameShape, LIST_BOUNDS_ONLY_MAX_BYTES, type FrameShape } from "./frame-shape.js";
import type { FrameSink } from "./frame-sink.js";
import { decodeHelloFrame } from "./hello-fast-path.js";
import { keepable } from "./varint.js";

/**
 * Decodes `body` (a Frame body the caller owns and will not touch again) with the generated decoder
 * and hands it to the sink's `onControl`, with the items its encoding held (what decoding it cost), whatever
 * its kind: Data, Ping and Pong reach their own methods only from the fast paths.
 *
 * @throws PeerlinkError MALFORMED_FRAME or PROTOCOL_VIOLATION as {@link decodeFrameBody}
 */
export function dispatchGenericFrame(body: Uint8Array, sink: FrameSink): void {
  // Up to 2 KiB only a list can pass its bound, and the Hello fast path keeps those itself; a longer body is walked
  // first (a Hello of a million empty `agent` fields is one the fast path would take).
  let shape = body.length <= LIST_BOUNDS_ONLY_MAX_BYTES ? undefined : checkFrameShape(FrameSchema, body);
  if (shape?.ignore !== true) {
    const hello = decodeHelloFrame(body);
    if (hello !== undefined) {
      sink.onControl(hello, body, shape?.items ?? 0);
      return;
    }
  }
  shape ??= checkFrameShape(FrameSchema, body);
  const frame = decodeWalked(body, shape);
  // The generated decoder's payload is a view of `body`, which may be far larger (padded with fields it skips).
  if (frame.kind.case === "data") frame.kind.value.payload = keepable(frame.kind.value.payload);
  // Data, Ping and Pong too: an unusual encoding of them may have cost far more to decode than the fast path's.
  sink.onControl(frame, body, shape.items);
}

/**
 * Decodes a Frame body with the generated decoder once {@link checkFrameShape} allows it: a frame whose
 * advisory lists are over their bounds comes back as a Frame of no kind (ignored, like one of an unknown kind).
 * Unknown fields are skipped, not kept: a Frame of an unknown kind is ignored, and keeping a million of them as
 * objects cost what decoding them as known ones did.
 *
 * @throws PeerlinkError MALFORMED_FRAME when the body is not a valid Frame; PROTOCOL_VIOLATION when it is over
 *   the bounds of {@link checkFrameShape}
 */
export function decodeFrameBody(body: Uint8Array): Frame {
  return decodeWalked(body, checkFrameShape(FrameSchema, body));
}

/** Decodes a body the walk found `shape`. */
function decodeWalked(body: Uint8Array, shape: FrameShape): Frame {
  if (shape.ignore) return create(FrameSchema);
  try {
    return fromBinary(FrameSchema, body, { readUnknownFields: false });
  } catch (cause) {
    throw new PeerlinkError(ErrorCode.MALFORMED_FRAME, `invalid Frame body (${body.length} bytes)`, { cause });
  }
}

/** The error for a length prefix larger than the maximum frame size. */
export function frameTooLargeError(length: number, maxFrameSize: number): PeerlinkError {
  return new PeerlinkError(
    ErrorCode.FRAME_TOO_LARGE,
    `frame length ${length} exceeds the maximum frame size ${maxFrameSize}`,
    { initiator: "remote" },
  );
}

/** The error for a malformed length prefix. */
export function malformedPrefixError(): PeerlinkError {
  return new PeerlinkError(
    ErrorCode.MALFORMED_FRAME,
    "malformed frame length prefix (over 5 bytes, over 32 bits, or overlong)",
    { initiator: "remote" },
  );
}

/**
 * Marks a disposed decoder's failure until a call needs the error: every connection disposes its decoder at
 * close, and almost none is called afterwards, so the error (and its stack trace) is made only then.
 */
export const DISPOSED: unique symbol = Symbol("disposed");

/** What a failed decoder throws: its error, or for a disposed one {@link decoderDisposedError}. */
export function failureOf(failure: unknown): unknown {
  return failure === DISPOSED ? decoderDisposedError() : failure;
}

/** The error a disposed decoder throws. */
export function decoderDisposedError(): PeerlinkError {
  return new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "the frame decoder was disposed");
}
