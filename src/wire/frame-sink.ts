/**
 * Types shared by the frame decoders.
 *
 * @module
 */
import type { Frame } from "../../generated/peerlink/v1/frame_pb.js";

/**
 * Receives the frames a {@link FrameDecoder} finds, in wire order. Data, Ping and Pong in the plain encoding
 * (the fast path's) arrive through their own methods; every other Frame, including an empty one (no `kind`)
 * and a Data, Ping or Pong the generated decoder read, arrives through {@link FrameSink.onControl}.
 *
 * If a method throws, the decoder fails: the error propagates out of `push` and every later `push`
 * throws it again.
 */
export interface FrameSink {
  /**
   * A Data frame. `payload` is owned by the callee: nothing writes it again, and it stays valid after the call
   * returns. It may be a view of a larger buffer (see {@link FrameDecoder.pushOwned}), whose `buffer` must not be
   * transferred or detached before the push that delivered it returns.
   *
   * @param protocol - the sender's protocol alias (uint32)
   */
  onData(protocol: number, payload: Uint8Array): void;
  /** A Ping frame; both values are uint32 (`timestampUs` is the pinger's clock, modulo 2^32). */
  onPing(nonce: number, timestampUs: number): void;
  /** A Pong frame; both values are uint32, echoed from the Ping. */
  onPong(nonce: number, timestampUs: number): void;
  /**
   * Any other Frame, decoded by the generated decoder. `bytes` is the exact Frame body (without the
   * length prefix), e.g. for a handshake transcript hash; both are owned by the callee (a Data payload is
   * its own copy unless it is most of `bytes`). `items`: the fields, list entries and message reads its
   * encoding held, what decoding it cost (see `checkFrameShape`; 0 for a Hello the fast path took; for a
   * frame ignored as one of no kind, what was read before it was).
   */
  onControl(frame: Frame, bytes: Uint8Array, items: number): void;
}

/**
 * Receives raw frame bodies from {@link FrameDecoder.pushFrames}: the body is `bytes[offset, offset + length)`,
 * a view valid only until the callback returns.
 */
export type FrameBodyCallback = (bytes: Uint8Array, offset: number, length: number) => void;

/** Which implementation does the framing and envelope parsing. */
export type FrameDecoderEngine = "wasm" | "js";

/**
 * A streaming decoder for one connection's byte stream: LEB128 length prefix + `peerlink.v1.Frame`
 * body (docs/PROTOCOL.md, "Framing"). Create with `createFrameDecoder`.
 */
export interface FrameDecoder {
  /** The engine doing the work. */
  readonly engine: FrameDecoderEngine;
  /** Largest Frame body this decoder can ever accept, in bytes: the ceiling of {@link FrameDecoder.frameLimit}. */
  readonly maxFrameSize: number;
  /**
   * Largest Frame body accepted now, in bytes (at most {@link FrameDecoder.maxFrameSize}); a length prefix
   * above it fails with FRAME_TOO_LARGE. See {@link FrameDecoder.setFrameLimit}.
   */
  readonly frameLimit: number;
  /** Bytes held for an incomplete frame (0 after an error or when every frame was complete). */
  readonly bufferedBytes: number;
  /**
   * Bytes of reassembly buffer the decoder holds now (the WASM region's data area, or the JS carry and
   * receive buffers). It grows with the bytes of an incomplete frame actually received, at most to twice
   * that (plus a 64 KiB base for the WASM engine), never with the length the prefix declares. The JS
   * engine drops a carry above 64 KiB after each frame; the WASM engine goes back to its base region
   * once nothing is buffered.
   */
  readonly bufferCapacity: number;
  /**
   * Changes {@link FrameDecoder.frameLimit}, e.g. from a small pre-authentication limit to the full one once
   * the peer is authenticated. Takes effect for every length prefix completed after the call, also later in
   * a `push` whose sink makes the call; a frame whose prefix was already accepted is still reassembled.
   *
   * @throws PeerlinkError INVALID_ARGUMENT unless `limit` is an integer in [0, maxFrameSize]
   */
  setFrameLimit(limit: number): void;
  /** True after an error, a throwing sink, or {@link FrameDecoder.dispose}. */
  readonly failed: boolean;
  /**
   * Appends a chunk of the stream (copied once, not retained) and delivers every frame it completes.
   *
   * @throws PeerlinkError MALFORMED_FRAME (bad length prefix or protobuf body), FRAME_TOO_LARGE (prefix
   *   larger than `frameLimit`; nothing of that body is buffered), WASM_FAILURE (the WASM instance
   *   trapped), CONNECTION_CLOSED (after `dispose`), or whatever the sink threw. Frames before the
   *   error are delivered first; after an error every push throws the same error.
   */
  push(chunk: Uint8Array, sink: FrameSink): void;
  /**
   * Like {@link FrameDecoder.push}, for a chunk whose memory no one writes again (a socket's read): the decoder
   * may keep views of it. In the JS engine (the WASM engine copies every chunk into its memory anyway), the start
   * of a large frame that is at least half of its chunk's buffer is held as views of the chunks it arrives in and
   * copied once, when complete; and a Data payload of 4 KiB or more that is at least half of its buffer is
   * delivered as a view of it. A view is kept or handed on only when it is at least half of its buffer, so what
   * is held, or kept by the application, pins at most twice its bytes, and no payload handed on shares its
   * buffer with anything the decoder holds.
   */
  pushOwned(chunk: Uint8Array, sink: FrameSink): void;
  /**
   * Framing only: like {@link FrameDecoder.push} but hands each complete frame's body to `onFrame` as a
   * view, without parsing it. Do not mix with `push` in the middle of a frame.
   */
  pushFrames(chunk: Uint8Array, onFrame: FrameBodyCallback): void;
  /**
   * Zero-copy receive: returns the free space of the decoder's own buffer (in WASM memory for the wasm
   * engine), for `net.Socket`'s `onread.buffer`. Write bytes at its start, then call
   * {@link FrameDecoder.commit}. The view is valid until the next call on this decoder.
   */
  receiveBuffer(): Uint8Array;
  /** Delivers the frames completed by `bytesWritten` bytes written into the last {@link FrameDecoder.receiveBuffer}. */
  commit(bytesWritten: number, sink: FrameSink): void;
  /**
   * Releases the decoder's buffer (the wasm engine returns its region to a pool); later pushes throw
   * CONNECTION_CLOSED. Idempotent. Call it only when nothing (e.g. a socket's `onread`) still writes
   * into a {@link FrameDecoder.receiveBuffer}.
   */
  dispose(): void;
}
