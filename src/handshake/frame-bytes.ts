/**
 * Encoding of handshake frames with their exact body bytes kept, which the
 * nonce-binding transcript hashes (docs/PROTOCOL.md §3.3).
 *
 * @module
 */
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";

/** A frame ready to write: `bytes` is the length prefix followed by `body`. */
export interface EncodedFrame {
  /** The encoded `peerlink.v1.Frame`, without the length prefix. */
  readonly body: Uint8Array;
  /** Length prefix (unsigned LEB128) + body: what goes on the wire. */
  readonly bytes: Uint8Array;
}

/** Encodes a Frame and prefixes it with its LEB128 length (docs/PROTOCOL.md §1). */
export function encodeFrameWithBody(init: MessageInitShape<typeof FrameSchema>): EncodedFrame {
  const body = toBinary(FrameSchema, create(FrameSchema, init));
  return { body, bytes: prefixWithLength(body) };
}

/** Returns `leb128(body.length) ‖ body`. */
export function prefixWithLength(body: Uint8Array): Uint8Array {
  let n = body.length;
  let prefixLength = 1;
  while (n >= 0x80) {
    n >>>= 7;
    prefixLength++;
  }
  const out = new Uint8Array(prefixLength + body.length);
  n = body.length;
  let i = 0;
  while (n >= 0x80) {
    out[i++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[i] = n;
  out.set(body, prefixLength);
  return out;
}
