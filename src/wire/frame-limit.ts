/**
 * Validation of a decoder's frame limit, shared by both engines.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";

/**
 * Returns `limit` when it is an integer in [0, `maxFrameSize`].
 *
 * @throws PeerlinkError INVALID_ARGUMENT otherwise
 */
export function checkFrameLimit(limit: number, maxFrameSize: number): number {
  if (!Number.isInteger(limit) || limit < 0 || limit > maxFrameSize) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `frame limit must be an integer in [0, ${maxFrameSize}], got ${limit}`);
  }
  return limit;
}
