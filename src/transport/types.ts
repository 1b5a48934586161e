/**
 * Types of the transport layer: TCP plus optional mutual TLS 1.3, below the
 * peerlink handshake (docs/PROTOCOL.md §3.1 states `connecting` and `securing`).
 *
 * @module
 */
import type { Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { TlsSessionCache } from "./session-cache.js";

/** ALPN protocol id under which every Hello carries a signed identity proof (docs/PROTOCOL.md §2). */
export const PEERLINK_ALPN = "peerlink/1";

/**
 * ALPN protocol id under which a Hello may instead rely on the sender's TLS certificate when its key is the
 * identity key (docs/PROTOCOL.md §3.3, certificate binding). Offered and selected before {@link PEERLINK_ALPN}.
 */
export const PEERLINK_CERT_ALPN = "peerlink/1+cert";

/** Label of the RFC 9266 `tls-exporter` channel binding (keying-material exporter, RFC 8446 §7.5). */
export const TLS_EXPORTER_LABEL = "EXPORTER-Channel-Binding";

/** Length in bytes of the `tls-exporter` value used for the identity proof (docs/PROTOCOL.md §3.3). */
export const TLS_EXPORTER_LENGTH = 32;

/**
 * A transport connection that is ready for the peerlink handshake: TCP is
 * connected and, when TLS is configured, the TLS 1.3 handshake has finished
 * (own `Finished` sent, ALPN `peerlink/1+cert` or `peerlink/1` agreed, a peer certificate present).
 *
 * Ownership passes to the caller: it must attach its `'error'` and `'close'`
 * listeners to {@link SecureChannel.socket} synchronously after the promise
 * that produced the channel resolves (before awaiting anything else), and it
 * must destroy the socket when done.
 */
export interface SecureChannel {
  /** The socket to read and write frames on; a `tls.TLSSocket` when {@link SecureChannel.secure}. */
  readonly socket: Socket;
  /** `"outbound"` for a dialed connection, `"inbound"` for an accepted one. */
  readonly direction: "inbound" | "outbound";
  /** True when the bytes flow inside TLS 1.3. */
  readonly secure: boolean;
  /**
   * RFC 9266 `tls-exporter` value: `exportKeyingMaterial(32, "EXPORTER-Channel-Binding")`
   * with an empty context. Equal on both ends of one TLS connection, different on the
   * two legs of a relay. `undefined` when not {@link SecureChannel.secure}. On a TLS channel it is computed on
   * first read, which must come while the socket is open (else it throws TLS_FAILED): peerlink reads it only
   * when a proof needs it (an own Hello signed under exporter binding, or a peer's that is).
   */
  readonly tlsExporter: Uint8Array | undefined;
  /** True when the TLS session was resumed from a cached ticket (always false without TLS). */
  readonly sessionReused: boolean;
  /** True when ALPN `peerlink/1+cert` was agreed: a Hello may prove its identity by the TLS certificate. */
  readonly certificateBinding: boolean;
  /**
   * With {@link SecureChannel.certificateBinding}: the raw Ed25519 key of the peer's TLS certificate (on a
   * resumed session, the one authenticated when the ticket was issued), or `undefined` when the certificate's
   * key is not Ed25519 or not known. Always `undefined` otherwise.
   */
  readonly peerCertificateKey: Uint8Array | undefined;
  /** With {@link SecureChannel.certificateBinding}: the raw Ed25519 key of the own certificate, if it has one. */
  readonly ownCertificateKey: Uint8Array | undefined;
  /**
   * Bytes received on the TCP connection since TLS finished on this side, read at call time; absent without
   * TLS. A TLS 1.3 server sends its session tickets as soon as it has read the client's Finished, so for a
   * dialer 0 means the listener had not finished its side of TLS (see `classifyEarlyClose`).
   */
  readonly receivedSinceSecure?: (() => number) | undefined;
  /** The peer's IP address (IPv6 without brackets). */
  readonly remoteAddress: string;
  /** The peer's TCP port. */
  readonly remotePort: number;
  /** The local IP address of this connection (on a TLS channel read from the socket on first use, while it is open). */
  readonly localAddress: string;
  /** The local TCP port of this connection (like {@link SecureChannel.localAddress}). */
  readonly localPort: number;
}

/**
 * A PEM private key and certificate (chain) a node presents in TLS.
 *
 * @category TLS
 */
export interface TlsCredentials {
  /** PEM private key (PKCS#8). */
  readonly key: string;
  /** PEM certificate, optionally followed by intermediate certificates. */
  readonly cert: string;
}

/**
 * User-facing TLS configuration. Without any option, peerlink generates a
 * self-signed certificate for the node's identity key and accepts any peer
 * certificate: identity is proved by the peerlink handshake's channel
 * binding (docs/PROTOCOL.md §3.3), not by the certificate.
 *
 * @category TLS
 */
export interface TlsOptions {
  /**
   * The key and certificate to present.
   * @default a self-signed Ed25519 certificate for the node's identity, see `createTlsCredentials`
   */
  readonly credentials?: TlsCredentials;
  /**
   * PEM CA certificates the peer's certificate must chain to. When set, the listener
   * requires a client certificate that chains to one of them and refuses every other
   * client, and the dialer verifies the listener's certificate against them (no host
   * name check: certificates name peers, not hosts). When unset, any certificate is
   * accepted, but a peer must still present one.
   * @default undefined (no chain verification)
   */
  readonly ca?: readonly string[];
  /**
   * Where dialers keep TLS session tickets for resumption on redial; `false` disables resumption.
   * @default a new `TlsSessionCache` with its defaults
   */
  readonly sessionCache?: TlsSessionCache | false;
  /**
   * Offer and accept ALPN `peerlink/1+cert`, under which a side whose certificate key is its identity key
   * proves its identity by the TLS handshake instead of a second signature (one Ed25519 signature and one
   * verification saved per side). On a resumed session the identity then rests on the TLS ticket; `false`
   * makes every connection carry a signed proof by the identity key.
   * @default true
   */
  readonly certificateBinding?: boolean;
  /**
   * Issue resumable TLS session tickets to dialers, so that their redials can skip the full handshake.
   * OpenSSL 3 encrypts two tickets per full handshake at the listener: 0.15–0.6 ms of CPU, about 0.3 (measured
   * on a 2-core x86 VM; about a tenth of a connection's setup, both ends). `false` saves that where dialers
   * seldom redial; every dial to this node then makes a full handshake (dialers still receive tickets, which
   * resume nothing). Only this node as a listener is affected: its own dials still resume.
   * @default true
   */
  readonly sessionTickets?: boolean;
}

/**
 * TLS configuration ready for use on sockets: built once per node by
 * `resolveTls` (parses keys and certificates once), shared by every dial and accept.
 */
export interface ResolvedTls {
  /** Secure context with the own key and certificate, the CA (if any), TLS 1.3 only. */
  readonly secureContext: SecureContext;
  /** True when the peer's certificate must chain to the configured CA. */
  readonly verifyPeer: boolean;
  /** Ticket cache for resumption on redial, or `undefined` when disabled. */
  readonly sessionCache: TlsSessionCache | undefined;
  /** The own certificate (PEM), e.g. for logs. */
  readonly certificate: string;
  /** ALPN ids to offer (dialer) and select from (listener), in order of preference. */
  readonly alpnProtocols: readonly string[];
  /** The raw Ed25519 key of the own certificate, or `undefined` when its key is of another type. */
  readonly ownCertificateKey: Uint8Array | undefined;
  /** Marks this node's tickets in a session cache (OpenSSL resumes a session only in the context it came from). */
  readonly ticketOwner: string;
}

/**
 * Bounds of a transport operation that can wait.
 *
 * `deadline` is an absolute time in milliseconds on the `Date.now()` clock
 * (Unix epoch), not a duration: the handshake timeout covers TCP connect, TLS
 * and the peerlink handshake together, so callers compute one deadline and
 * pass it down.
 */
export interface TransportBounds {
  /** Cancels the operation: it rejects with ABORTED and the socket is destroyed. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Absolute `Date.now()` time (ms) by which the operation must finish, else it
   * rejects with HANDSHAKE_TIMEOUT and the socket is destroyed.
   * @default undefined (no deadline; only the signal bounds the operation)
   */
  readonly deadline?: number | undefined;
}

/** Options of `dialChannel`. */
export interface DialOptions extends TransportBounds {
  /** IPv4 or IPv6 literal (brackets allowed: `"[::1]"`), or a host name. */
  readonly host: string;
  /** TCP port, 1–65535. */
  readonly port: number;
  /** TLS to run after TCP connect; `undefined` for plain TCP. */
  readonly tls?: ResolvedTls | undefined;
  /** Local address to bind before connecting. @default chosen by the OS */
  readonly localAddress?: string | undefined;
}

/** Options of `secureInbound`. */
export interface SecureInboundOptions extends TransportBounds {
  /** TLS to run as the server side; `undefined` for plain TCP. */
  readonly tls?: ResolvedTls | undefined;
}

/** A bound TCP address. */
export interface ListenAddress {
  /** IP address as bound (IPv6 without brackets). */
  readonly host: string;
  /** TCP port actually bound (never 0). */
  readonly port: number;
}

/** Options of `listenTcp`. */
export interface ListenOptions {
  /**
   * Address(es) to bind: IPv4 or IPv6 literals, e.g. `"0.0.0.0"`, `"::"`, `"127.0.0.1"`, `"::1"`.
   * With several addresses and port 0, all share the port chosen for the first one.
   */
  readonly host: string | readonly string[];
  /** TCP port, 0–65535; 0 picks a free port (see {@link TcpListener.addresses}). */
  readonly port: number;
  /**
   * Receives every accepted raw TCP socket, before any TLS work, so the caller can refuse it
   * cheaply (by destroying it) or continue with `secureInbound`. The callee owns the socket.
   * If it throws, the socket is destroyed.
   */
  readonly onSocket: (socket: Socket) => void;
  /** Pending-connection queue length passed to `listen(2)`. @default 511 */
  readonly backlog?: number;
  /** Cancels binding; `listenTcp` then rejects with ABORTED and nothing stays bound. */
  readonly signal?: AbortSignal;
}

/** A bound TCP listener returned by `listenTcp`. */
export interface TcpListener {
  /** Every bound address with its real port. */
  readonly addresses: readonly ListenAddress[];
  /**
   * Stops accepting and releases the listening sockets. Connections already handed to
   * `onSocket` are not touched (they belong to the receiver). Idempotent.
   */
  close(): Promise<void>;
}
