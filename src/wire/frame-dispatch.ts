/**
 * The generic path: frames the fast path leaves alone are decoded with the generated decoder and
 * dispatched to the sink.
 *
 * @module
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { checkFrameShape, LIST_BOUNDS_ONLY_MAX_BYTES, SHAPE_IGNORE } from "./frame-shape.js";
import type { FrameSink } from "./frame-sink.js";
import { decodeHelloFrame } from "./hello-fast-path.js";
import { keepable } from "./varint.js";

/**
 * Decodes `body` (a Frame body the caller owns and will not touch again) with the generated decoder
 * and hands it to the sink: Data, Ping and Pong through their own methods, the rest through
 * `onControl`.
 *
 * @throws PeerlinkError MALFORMED_FRAME or PROTOCOL_VIOLATION as {@link decodeFrameBody}
 */
export function dispatchGenericFrame(body: Uint8Array, sink: FrameSink): void {
  // Up to 2 KiB only a list can pass its bound, and the Hello fast path keeps those itself; a longer body is walked
  // first (a Hello of a million empty `agent` fields is one the fast path would take).
  let items = body.length <= LIST_BOUNDS_ONLY_MAX_BYTES ? undefined : checkFrameShape(FrameSchema, body);
  if (items !== SHAPE_IGNORE) {
    const hello = decodeHelloFrame(body);
    if (hello !== undefined) {
      sink.onControl(hello, body, items ?? 0);
      return;
    }
  }
  items ??= checkFrameShape(FrameSchema, body);
  const frame = decodeWalked(body, items);
  switch (frame.kind.case) {
    case "data":
      // The generated decoder's payload is a view of `body`, which may be far larger (padded with fields it skips).
      sink.onData(frame.kind.value.protocol, keepable(frame.kind.value.payload));
      return;
    case "ping":
      sink.onPing(frame.kind.value.nonce, frame.kind.value.timestampUs);
      return;
    case "pong":
      sink.onPong(frame.kind.value.nonce, frame.kind.value.timestampUs);
      return;
    default:
      sink.onControl(frame, body, Math.max(items, 0));
  }
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

/** Decodes a body the walk returned `items` for. */
function decodeWalked(body: Uint8Array, items: number): Frame {
  if (items === SHAPE_IGNORE) return create(FrameSchema);
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
