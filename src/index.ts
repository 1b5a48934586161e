/**
 * peerlink: authenticated peer-to-peer connection management for Node.js.
 *
 * Start with {@link ConnectionManager}: it listens, dials, enforces limits and bans, runs the handshake
 * (mutual TLS 1.3 plus an identity proof bound to the channel), keeps connections healthy and reconnects.
 *
 * Symbols in this module are the public API; everything else under `src/` is internal and may change
 * without notice. Wire codecs generated from `proto/peerlink/v1` are available under
 * `peerlink/generated/peerlink/v1/*_pb.js`; the wire protocol is specified in `docs/PROTOCOL.md`.
 *
 * @example
 * ```ts
 * import { ConnectionManager } from "peerlink";
 *
 * const node = new ConnectionManager({ listen: ["127.0.0.1:0"], protocols: [{ name: "/chat" }] });
 * node.on("message", ({ peer, data }) => console.log(peer, new TextDecoder().decode(data)));
 * await node.start();
 * const conn = await node.dial("127.0.0.1:4001");
 * await conn.send("/chat", new TextEncoder().encode("hello"));
 * await node.stop();
 * ```
 *
 * @packageDocumentation
 */

// The manager: what most users need.
export { ConnectionManager } from "./node/connection-manager.js";
export type { ConnectionManagerEvents } from "./node/connection-manager.js";
export type { BanOptions, ConnectionCloseEvent, DialOptions, DialTarget, InboundRefusedEvent, NodeEvents } from "./node/events.js";
export type { CapabilityOption, ConnectionManagerOptions, ProtocolOption, ResolvedManagerOptions } from "./manager/manager-options.js";
export type { ConnectionLimitsOptions, ResolvedLimits } from "./manager/config.js";
export type { BanEntry, BanIssueOptions, BanKind, BanListOptions, BanQuery, BanResult, BanTarget } from "./manager/ban-list.js";
export type { DecisionJournal, JournalEntry, JournalKind, JournalQuery } from "./manager/journal.js";
export type { ConnectionCounts, ConnectionDirection, RefusalReason } from "./manager/connection-limits.js";
export type { ManagedClose, ManagedConnection, ManagerHost, ManagerService } from "./manager/services.js";

// Maintenance (seed §4.2): created by the manager, reachable as `manager.maintenance`.
export { createMaintenanceService, HEALTH_CHANGE_EVENT } from "./maintenance/maintenance-service.js";
export type { MaintenanceService } from "./maintenance/maintenance-service.js";
export type { MaintenanceOptions, ResolvedMaintenanceOptions } from "./maintenance/maintenance-options.js";
export type { HealthChangeEvent, MaintenanceSnapshot } from "./maintenance/maintenance-types.js";
export type { BandwidthProberOptions } from "./maintenance/bandwidth-probe.js";
export type { HealthScorerEngine } from "./health/scorer.js";
export * as maintenanceDefaults from "./maintenance/defaults.js";
export { DEFAULT_MIN_CYCLE_INTERVAL_MS, DEFAULT_RTT_SAMPLE_INTERVAL_MS } from "./maintenance/maintenance-options.js";
export * as limitDefaults from "./manager/defaults.js";

// Reconnection (seed §4.3): created by the manager, reachable as `manager.reconnect`.
export type {
  ReconnectAbandonedEvent,
  ReconnectAttemptEvent,
  ReconnectOptions,
  ReconnectScheduledEvent,
  ReconnectService,
  ReconnectServiceEvents,
  ReconnectServiceStatus,
  ReconnectTrigger,
} from "./reconnect/reconnect-service.js";
export { createReconnectService } from "./reconnect/reconnect-service.js";
export { DEFAULT_STRATEGIES, ReconnectPolicy, backoffDelay } from "./reconnect/policy.js";
export type { BackoffConfig, ReconnectPolicyOptions, ReconnectStrategy } from "./reconnect/policy.js";
export type { FlapDampingOptions } from "./reconnect/flap-damping.js";
export * as reconnectDefaults from "./reconnect/defaults.js";
export { DEFAULT_MAX_WANTED_PEERS, RECONNECT_STATE_KEY } from "./reconnect/service-defaults.js";

// Connections.
export { Connection } from "./connection/connection.js";
export { MAX_PEER_PROTOCOL_ALIASES } from "./connection/defaults.js";
export type { MutableConnectionStats } from "./connection/stats.js";
export { openConnection } from "./connection/open-connection.js";
export type { OpenConnectionOptions } from "./connection/open-connection.js";
export type { ConnectionHandshakeOptions } from "./connection/connection-core.js";
export type { SecureChannel } from "./transport/types.js";
export type { FrameDecoderEngine } from "./wire/frame-sink.js";
export type { CloseOptions, ConnectionEvents, SendOptions } from "./connection/connection.js";
export type {
  AgreedSets,
  CapabilitiesChange,
  CapabilityChanges,
  CloseInfo,
  ConnectionState,
  ConnectionStats,
  ConnectionTransition,
  InboundMessage,
  RemoteGoodbye,
  StateChange,
} from "./connection/types.js";
// The sans-IO handshake (docs/PROTOCOL.md §3), for embedding peerlink in another transport.
export { Handshake } from "./handshake/handshake.js";
export { negotiateCapabilities, negotiateProtocols, negotiateVersion } from "./handshake/negotiate.js";
export type { CapabilityNegotiation } from "./handshake/negotiate.js";
export { DEFAULT_AGENT, MAX_EARLY_DATA_BYTES, WIRE_VERSION } from "./handshake/defaults.js";
export type {
  AgreedCapability,
  AgreedProtocol,
  CapabilitySpec,
  ChannelBindingInput,
  EarlyMessage,
  HandshakeAction,
  HandshakeOptions,
  HandshakePhase,
  HandshakeResult,
  HandshakeRole,
  ProtocolSpec,
  VersionRange,
} from "./handshake/types.js";

// Errors and reasons.
export { ErrorCode, PeerlinkError, isPeerlinkError } from "./errors.js";
export type { PeerlinkErrorOptions } from "./errors.js";
export { DisconnectReason, isDisconnectReason } from "./reasons.js";

// Identity.
export { Identity, verifySignature } from "./identity/identity.js";
export { PeerId } from "./identity/peer-id.js";

// TLS.
export { TlsSessionCache, sessionCacheKey } from "./transport/session-cache.js";
export type { TlsSessionCacheOptions } from "./transport/session-cache.js";
export { createTlsCredentials } from "./transport/tls-credentials.js";
export type { TlsCredentialsOptions } from "./transport/tls-credentials.js";
export type { TlsCredentials, TlsOptions } from "./transport/types.js";

// Health.
export { HealthGrade } from "./health/types.js";
export type { HealthScore } from "./health/types.js";

// Peer database.
export { PeerDatabase } from "./peers/peer-database.js";
export type { CandidateOptions, DisconnectionInput, PeerCandidate, PeerDatabaseOptions, PeerUpsert } from "./peers/peer-database.js";
export {
  DEFAULT_ADDRESS_FAILURE_DEMOTION,
  DEFAULT_FLUSH_DELAY_MS,
  DEFAULT_MAX_ADDRESSES_PER_PEER,
  DEFAULT_MAX_DISCONNECTIONS,
  DEFAULT_MAX_PEERS,
} from "./peers/defaults.js";
export { DEFAULT_MAX_PEER_FILE_BYTES, FilePeerStore } from "./peers/file-peer-store.js";
export type { FilePeerStoreOptions } from "./peers/file-peer-store.js";
export { MemoryPeerStore } from "./peers/peer-store.js";
export type {
  JsonObject,
  JsonValue,
  PeerSnapshot,
  PeerStore,
  PeerStoreLoadResult,
  PeerStoreOperationOptions,
  PeerStoreRecovery,
} from "./peers/peer-store.js";
export type { BackoffRecord, BanRecord, DisconnectInitiator, DisconnectionRecord, PeerAddressRecord, PeerRecord } from "./peers/peer-record.js";

// Events plumbing.
export type { Listener, Unsubscribe } from "./util/typed-emitter.js";
export { TypedEmitter } from "./util/typed-emitter.js";

// Wire messages (generated from proto/peerlink/v1), referenced by events.
export type { Frame } from "../generated/peerlink/v1/frame_pb.js";
export type { Data } from "../generated/peerlink/v1/data_pb.js";
export type { Ping, Pong } from "../generated/peerlink/v1/ping_pb.js";
export type { Auth, Hello } from "../generated/peerlink/v1/handshake_pb.js";
export { ChannelBinding, KeyType } from "../generated/peerlink/v1/handshake_pb.js";
export type { Goodbye } from "../generated/peerlink/v1/goodbye_pb.js";
export { GoodbyeReason } from "../generated/peerlink/v1/goodbye_pb.js";
export type { Capability, CapabilityUpdate, ProtocolSupport } from "../generated/peerlink/v1/capability_pb.js";
export type { BandwidthProbe, BandwidthReport } from "../generated/peerlink/v1/bandwidth_pb.js";

// Observability: Prometheus metrics (`metrics` option), structured logs (`logger` option, NODE_DEBUG/DEBUG), status page.
export { serveStatus, statusHandler } from "./observability/status-page/server.js";
export type { ServeStatusOptions, StatusHandler, StatusHandlerOptions, StatusServer } from "./observability/status-page/server.js";
export type { HistoryPoint, StatusPeer, StatusSnapshot } from "./observability/status-page/snapshot.js";
export { attachMetrics } from "./observability/metrics.js";
export { LOG_SUBSYSTEMS, createDebugLogger, debugSubsystems, formatLogLine } from "./observability/logger.js";
export type { DebugEnvironment, LogLevel, LogRecord, LogSubsystem, LogValue, Logger } from "./observability/logger.js";
export type { ObservedEvents, ObservedNode } from "./observability/node-view.js";
