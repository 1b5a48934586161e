/**
 * The generic path: frames the fast path leaves alone are decoded with the generated decoder and
 * dispatched to the sink.
 *
 * @module
 */
import { fromBinary } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { FrameSink } from "./frame-sink.js";
import { decodeHelloFrame } from "./hello-fast-path.js";
import { keepable } from "./varint.js";

/**
 * Decodes `body` (a Frame body the caller owns and will not touch again) with the generated decoder
 * and hands it to the sink: Data, Ping and Pong through their own methods, the rest through
 * `onControl`.
 *
 * @throws PeerlinkError MALFORMED_FRAME when the body is not a valid Frame
 */
export function dispatchGenericFrame(body: Uint8Array, sink: FrameSink): void {
  const hello = decodeHelloFrame(body);
  if (hello !== undefined) {
    sink.onControl(hello, body);
    return;
  }
  let frame: Frame;
  try {
    // Unknown fields skipped, not kept: a Frame of an unknown kind is ignored (§1.1), and keeping a million
    // of them as objects cost what decoding them as known ones did.
    frame = fromBinary(FrameSchema, body, { readUnknownFields: false });
  } catch (cause) {
    throw new PeerlinkError(ErrorCode.MALFORMED_FRAME, `invalid Frame body (${body.length} bytes)`, { cause });
  }
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
      sink.onControl(frame, body);
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
