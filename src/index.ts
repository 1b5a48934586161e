/**
 * peerlink: authenticated peer-to-peer connection management for Node.js.
 *
 * Symbols in this module are the public API; everything else under `src/` is
 * internal and may change without notice. Wire codecs generated from
 * `proto/peerlink/v1` are available under `peerlink/generated/peerlink/v1/*_pb.js`.
 *
 * @packageDocumentation
 */

export { ErrorCode, PeerlinkError, isPeerlinkError } from "./errors.js";
export type { PeerlinkErrorOptions } from "./errors.js";
export { DisconnectReason, isDisconnectReason } from "./reasons.js";
export { Identity, verifySignature } from "./identity/identity.js";
export { PeerId } from "./identity/peer-id.js";
export { HealthGrade } from "./health/types.js";
export type { HealthScore } from "./health/types.js";
