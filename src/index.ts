/**
 * peerlink: authenticated peer-to-peer connection management for Node.js.
 *
 * Start with {@link ConnectionManager}: it listens, dials, enforces limits and bans, runs the handshake
 * (mutual TLS 1.3 plus an identity proof bound to the channel), keeps connections healthy and reconnects.
 *
 * Symbols in this module are the public API; everything else under `src/` is internal and may change
 * without notice. Wire codecs generated from `proto/peerlink/v1` are available under
 * `peerlink/generated/peerlink/v1/*_pb.js`; the wire protocol is specified in `docs/PROTOCOL.md`.
 * Importing this module has no global side effect: the `Reflect.getMetadata` polyfill that the X.509
 * library needs is loaded only when a TLS node first makes its certificate.
 *
 * @example
 * ```ts
 * import { ConnectionManager } from "peerlink";
 *
 * const node = new ConnectionManager({ listen: ["127.0.0.1:0"], protocols: [{ name: "/chat" }] });
 * node.on("message", ({ peer, data }) => console.log(peer, new TextDecoder().decode(data)));
 * await node.start();
 * console.log(node.addresses); // ["127.0.0.1:<port>"]
 * await node.stop();
 * ```
 *
 * @packageDocumentation
 */

// The manager: what most users need.
export { ConnectionManager } from "./node/connection-manager.js";
export type { ConnectionManagerEvents } from "./node/connection-manager.js";
export type { BanOptions, ConnectionCloseEvent, DialOptions, DialTarget, InboundRefusedEvent, NodeEvents } from "./node/events.js";
export type { CapabilityOption, ConnectionManagerOptions, ProtocolOption } from "./manager/manager-options.js";
export type { DialingOptions } from "./node/node-settings.js";
export type { ConnectionLimitsOptions } from "./manager/config.js";
// The misbehaviour policy: the `misbehaviour` option, and the evidence of the automatic bans it issues.
export type { AutoBanOptions, InboundRateOptions, MisbehaviourOptions } from "./manager/misbehaviour-options.js";
export type { MisbehaviourEvidence, Strike } from "./peers/strike-ledger.js";
export type { BanEntry, BanIssueOptions, BanKind, BanQuery, BanResult, BanTarget } from "./manager/ban-list.js";
export type { DecisionJournal, JournalEntry, JournalKind, JournalQuery } from "./manager/journal.js";
export type { ConnectionCounts, ConnectionDirection, RefusalReason } from "./manager/connection-limits.js";
// Application hooks: the `gater` and `allowList` options, `handle()` per protocol, weighted peer tags.
export type { ConnectionGater, GatedConnectionInfo, GaterDenial, GaterGoodbyeReason, GaterResult } from "./node/policy/gater.js";
export { GATER_TIMEOUT_MS } from "./node/policy/gater.js";
export { AllowList } from "./node/policy/allow-list.js";
export type { AllowListOptions } from "./node/policy/allow-list.js";
export type { HandlerFailedEvent, ProtocolHandler } from "./node/protocol-handlers.js";
export type { PeerTag, PeerTags, TagDecay, TagOptions } from "./peers/peer-tags.js";
// The service contract: the `services` option runs these beside the manager.
export type { ManagedClose, ManagedConnection, ManagerHost, ManagerService } from "./manager/services.js";
export * as limitDefaults from "./manager/defaults.js";

// Maintenance: created by the manager, reachable as `manager.maintenance`.
export type { MaintenanceService } from "./maintenance/maintenance-service.js";
export type { MaintenanceOptions } from "./maintenance/maintenance-options.js";
export type { HealthChangeEvent, MaintenanceSnapshot, NetworkChangedEvent, NodeResumedEvent } from "./maintenance/maintenance-types.js";
export type { WakeDetectorSettings } from "./maintenance/wake-detector.js";
export type { BandwidthProberOptions } from "./maintenance/bandwidth-probe.js";
export type { HealthScorerEngine } from "./health/scorer.js";
export * as maintenanceDefaults from "./maintenance/defaults.js";
export { DEFAULT_MIN_CYCLE_INTERVAL_MS, DEFAULT_RTT_SAMPLE_INTERVAL_MS } from "./maintenance/maintenance-options.js";

// Reconnection: created by the manager, reachable as `manager.reconnect`.
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
export { DEFAULT_STRATEGIES, ReconnectPolicy } from "./reconnect/policy.js";
export type { BackoffConfig, ReconnectPolicyOptions, ReconnectStrategy } from "./reconnect/policy.js";
export type { FlapDampingOptions } from "./reconnect/flap-damping.js";
export * as reconnectDefaults from "./reconnect/defaults.js";
export { DEFAULT_MAX_WANTED_PEERS, RECONNECT_STATE_KEY } from "./reconnect/service-defaults.js";

// Target mesh: created by the manager from its `mesh` option, reachable as `manager.mesh`.
export type { MeshDialEvent, MeshLearnedEvent, MeshService, MeshServiceEvents, MeshStatus } from "./mesh/mesh-service.js";
export type { BootstrapPeer, MeshOptions, ResolvedMeshOptions } from "./mesh/mesh-options.js";
export * as meshDefaults from "./mesh/defaults.js";

// Connections.
export { Connection } from "./connection/connection.js";
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
export { DEFAULT_AGENT, MAX_EARLY_DATA_BYTES, MAX_EARLY_DATA_MESSAGES, WIRE_VERSION } from "./handshake/defaults.js";
export type { AgreedCapability, AgreedProtocol, HandshakeResult, IdentityProof } from "./handshake/types.js";

// Errors and reasons.
export { ErrorCode, PeerlinkError, isPeerlinkError } from "./errors.js";
export type { PeerlinkErrorOptions } from "./errors.js";
export { DisconnectReason, isDisconnectReason } from "./reasons.js";

// Identity.
export { Identity, verifySignature } from "./identity/identity.js";
export { PeerId } from "./identity/peer-id.js";

// TLS.
export { TlsSessionCache } from "./transport/session-cache.js";
export type { TlsSessionCacheOptions, TlsTicket } from "./transport/session-cache.js";
export { createTlsCredentials } from "./transport/tls-credentials.js";
export type { TlsCredentialsOptions } from "./transport/tls-credentials.js";
export type { TlsCredentials, TlsOptions } from "./transport/types.js";

// Health.
export { HealthGrade } from "./health/types.js";
export type { HealthScore } from "./health/types.js";

// Peer database (`manager.peers`) and its stores (the `peerStore` option).
export type { CandidateOptions, DisconnectionInput, PeerCandidate, PeerDatabase, PeerUpsert } from "./peers/peer-database.js";
export type { DialBackoff, DialBackoffOptions, DialBackoffState } from "./peers/dial-backoff.js";
export { DEFAULT_MAX_PEER_FILE_BYTES, FilePeerStore } from "./peers/file-peer-store.js";
export type { FilePeerStoreOptions } from "./peers/file-peer-store.js";
export { MemoryPeerStore } from "./peers/peer-store.js";
export type { JsonObject, JsonValue, PeerSnapshot, PeerStore, PeerStoreLoadResult, PeerStoreOperationOptions, PeerStoreRecovery } from "./peers/peer-store.js";
export type { BackoffRecord, BanRecord, DisconnectInitiator, DisconnectionRecord, PeerAddressRecord, PeerOrigin, PeerRecord } from "./peers/peer-record.js";

// Events plumbing.
export type { Listener, Unsubscribe } from "./util/typed-emitter.js";

// Observability: Prometheus metrics (`metrics` option), structured logs (`logger` option, NODE_DEBUG/DEBUG), status page.
export { serveStatus, statusHandler } from "./observability/status-page/server.js";
export type { ServeStatusOptions, StatusHandler, StatusHandlerOptions, StatusServer } from "./observability/status-page/server.js";
export type { HistoryPoint, StatusPeer, StatusSnapshot } from "./observability/status-page/snapshot.js";
export { attachMetrics } from "./observability/metrics.js";
export { LOG_SUBSYSTEMS, createDebugLogger, debugSubsystems, formatLogLine } from "./observability/logger.js";
export type { DebugEnvironment, LogLevel, LogRecord, LogSubsystem, LogValue, Logger } from "./observability/logger.js";
export type { ObservedEvents, ObservedNode } from "./observability/node-view.js";
