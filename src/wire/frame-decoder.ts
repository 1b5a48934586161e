/**
 * Streaming decoder for peerlink frames (docs/PROTOCOL.md, "Framing"): LEB128 length prefix +
 * `peerlink.v1.Frame` body, with a fast path for Data, Ping and Pong and the generated decoder for
 * everything else. Two engines with identical behaviour: `"js"` (the default: in-place scan) and
 * `"wasm"` (AssemblyScript core, bytes copied once into WASM memory).
 *
 * @example
 * ```ts
 * const decoder = createFrameDecoder();
 * socket.on("data", (chunk) => decoder.push(chunk, {
 *   onData: (protocol, payload) => app.deliver(protocol, payload),
 *   onPing: (nonce, ts) => socket.write(encodePongFrame(nonce, ts)),
 *   onPong: (nonce, ts) => keepalive.pong(nonce, ts),
 *   onControl: (frame, bytes) => connection.control(frame, bytes),
 * }));
 * socket.on("close", () => decoder.dispose());
 * ```
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { checkFrameLimit } from "./frame-limit.js";
import { JsFrameDecoder } from "./js-frame-decoder.js";
import type { FrameDecoder, FrameDecoderEngine } from "./frame-sink.js";
import { WasmFrameDecoder } from "./wasm-frame-decoder.js";

export type { FrameBodyCallback, FrameDecoder, FrameDecoderEngine, FrameSink } from "./frame-sink.js";

/**
 * Default maximum Frame body size: 1 MiB (docs/PROTOCOL.md). Large enough for any control message and
 * a generous application message; bounds what one peer can make us buffer.
 */
export const DEFAULT_MAX_FRAME_SIZE = 1_048_576;

/**
 * Engine used when none is asked for: `"js"`, chosen on this project's benchmark (BENCHMARKS.md,
 * "Default engines"). It scans each chunk where it lies and copies only a frame cut by a chunk boundary,
 * while the WASM engine first copies every byte into WASM memory: framing alone runs 1.3–5× faster in JS.
 * For Data delivery JS is ahead at 64 B (1.03–1.14×), WASM at 1 KiB on in-process streams (1.13–1.23×, a
 * cache effect of its bulk copy), and they are at parity on a loopback socket. `"wasm"` gives identical
 * results; it is clearly ahead only with `onread`, where the kernel writes straight into its region
 * (see {@link FrameDecoder.receiveBuffer}).
 */
export const DEFAULT_FRAME_DECODER_ENGINE: FrameDecoderEngine = "js";

/** Options of {@link createFrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest Frame body the decoder can accept, in bytes: the ceiling of its frame limit, checked as soon
   * as a length prefix is complete (before any of the body is buffered). Integer in [0, 2^31 - 2^17].
   * Buffers grow with the bytes received up to about this much (plus 64 KiB for the wasm engine).
   *
   * @default 1_048_576 (1 MiB)
   */
  maxFrameSize?: number;
  /**
   * Largest Frame body accepted at first, in [0, maxFrameSize]; change it later with
   * {@link FrameDecoder.setFrameLimit} (a connection starts with its pre-authentication limit).
   *
   * @default maxFrameSize
   */
  frameLimit?: number;
  /**
   * `"wasm"` or `"js"`; both give identical results. `"wasm"` is strict: it does not fall back to JS when
   * the WASM core cannot load (creation throws WASM_FAILURE), and a trap poisons the shared instance, failing
   * every wasm decoder on it at its next push (new decoders get a new instance).
   *
   * @default "js" ({@link DEFAULT_FRAME_DECODER_ENGINE})
   */
  engine?: FrameDecoderEngine | undefined;
}

/** Upper bound of `maxFrameSize`: keeps every region address in the i32 range of WASM memory. */
const MAX_MAX_FRAME_SIZE = 2 ** 31 - 2 ** 17;

/**
 * Creates a streaming frame decoder for one connection.
 *
 * @throws PeerlinkError INVALID_ARGUMENT for a bad option (`frameLimit` above `maxFrameSize` included), WASM_FAILURE when the wasm engine cannot load
 */
export function createFrameDecoder(options: FrameDecoderOptions = {}): FrameDecoder {
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (!Number.isInteger(maxFrameSize) || maxFrameSize < 0 || maxFrameSize > MAX_MAX_FRAME_SIZE) {
    throw new PeerlinkError(
      ErrorCode.INVALID_ARGUMENT,
      `maxFrameSize must be an integer in [0, ${MAX_MAX_FRAME_SIZE}], got ${maxFrameSize}`,
    );
  }
  const frameLimit = checkFrameLimit(options.frameLimit ?? maxFrameSize, maxFrameSize);
  const engine = options.engine ?? DEFAULT_FRAME_DECODER_ENGINE;
  switch (engine) {
    case "js":
      return new JsFrameDecoder(maxFrameSize, frameLimit);
    case "wasm":
      return new WasmFrameDecoder(maxFrameSize, frameLimit);
    default:
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `engine must be "wasm" or "js", got ${String(engine)}`);
  }
}
