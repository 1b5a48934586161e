/**
 * Connections: the sans-IO {@link ConnectionCore}, the socket adapter
 * {@link Connection} and {@link openConnection}.
 *
 * @module
 */
export { Connection, type CloseOptions, type ConnectionEvents, type ConnectionOptions, type SendOptions } from "./connection.js";
// Internal to the node layer (not exported from the package).
export { decoderBufferBytes, exemptFromInboundRate, tapMessages } from "./connection.js";
export { DEFAULT_INBOUND_RATE_LIMITS, InboundRateMeter, type InboundRateLimits, type InboundRateTrip } from "./inbound-rate.js";
export type { MessageTap } from "./inbox.js";
export {
  ConnectionCore,
  controlFrame,
  type ConnectionCoreOptions,
  type ConnectionHandshakeOptions,
  type CoreCloseOptions,
} from "./connection-core.js";
export {
  CapabilityTable,
  type CapabilityTableOptions,
  type CapabilityUpdateInput,
  type DeclaredSet,
  type UpdateSender,
} from "./capability-update.js";
export { DEFAULT_FAILURE_LINGER_MS, MAX_PEER_PROTOCOL_ALIASES, DEFAULT_GRACEFUL_CLOSE_TIMEOUT_MS, DEFAULT_MESSAGE_QUEUE_HIGH_WATER_BYTES } from "./defaults.js";
export { openConnection, type OpenConnectionOptions } from "./open-connection.js";
export type {
  AgreedSets,
  CapabilitiesChange,
  CapabilityChanges,
  CloseInfo,
  ConnectionState,
  ConnectionStats,
  ConnectionTransition,
  CoreAction,
  CoreEvent,
  InboundMessage,
  RemoteGoodbye,
  StateChange,
} from "./types.js";
