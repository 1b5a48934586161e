/**
 * Transport layer: TCP dial/listen and mutual TLS 1.3, below the peerlink handshake.
 *
 * @module
 */
export { dialChannel } from "./dial.js";
export { classifyEarlyClose, isCertificateRejectedAlert } from "./early-close.js";
export { DEFAULT_LISTEN_BACKLOG, listenTcp } from "./listen.js";
export { secureInbound } from "./secure-inbound.js";
export {
  DEFAULT_SESSION_CACHE_ADDRESSES,
  DEFAULT_SESSION_TICKET_MAX_AGE_MS,
  DEFAULT_SESSION_TICKETS_PER_ADDRESS,
  TlsSessionCache,
  sessionCacheKey,
  type TlsSessionCacheOptions,
} from "./session-cache.js";
export { resolveTls } from "./tls-config.js";
export {
  CERTIFICATE_BACKDATE_MS,
  DEFAULT_CERTIFICATE_VALIDITY_MS,
  createTlsCredentials,
  type TlsCredentialsOptions,
} from "./tls-credentials.js";
export {
  PEERLINK_ALPN,
  PEERLINK_CERT_ALPN,
  TLS_EXPORTER_LABEL,
  TLS_EXPORTER_LENGTH,
  type DialOptions,
  type ListenAddress,
  type ListenOptions,
  type ResolvedTls,
  type SecureChannel,
  type SecureInboundOptions,
  type TcpListener,
  type TlsCredentials,
  type TlsOptions,
  type TransportBounds,
} from "./types.js";
