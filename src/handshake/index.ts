/**
 * The sans-IO peerlink handshake (docs/PROTOCOL.md §3): the {@link Handshake}
 * state machine, negotiation functions, and their types.
 *
 * @module
 */
export { Handshake, encodeGoodbye } from "./handshake.js";
export { negotiateCapabilities, negotiateProtocols, negotiateVersion, type CapabilityNegotiation } from "./negotiate.js";
export { errorCodeForRemoteReason, reasonForErrorCode } from "./failure-reasons.js";
export { DEFAULT_HANDSHAKE_TIMEOUT_MS, MAX_EARLY_DATA_BYTES, MAX_EARLY_DATA_MESSAGES, MAX_PREAUTH_FRAME_BYTES, WIRE_VERSION } from "./defaults.js";
export type {
  AgreedCapability,
  AgreedProtocol,
  CapabilitySpec,
  ChannelBindingInput,
  ExporterInput,
  EarlyMessage,
  HandshakeAction,
  HandshakeOptions,
  HandshakePhase,
  HandshakeResult,
  HandshakeRole,
  ProtocolSpec,
  VersionRange,
} from "./types.js";
