/**
 * Internal: builds the {@link SecureChannel} record of a ready socket and checks a finished TLS socket.
 *
 * @module
 */
import type { X509Certificate } from "node:crypto";
import { isIPv4, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { ed25519KeyOf } from "./certificate-key.js";
import { PEERLINK_ALPN, PEERLINK_CERT_ALPN, TLS_EXPORTER_LABEL, TLS_EXPORTER_LENGTH, type SecureChannel } from "./types.js";

/** RFC 9266: the `tls-exporter` context is empty (in TLS 1.3 the same as no context, RFC 8446 §7.5). */
const EMPTY_CONTEXT = Buffer.alloc(0);

/** A frozen channel record for a plain TCP socket. */
export function plainChannel(socket: Socket, direction: "inbound" | "outbound"): SecureChannel {
  return Object.freeze({
    socket,
    direction,
    secure: false,
    tlsExporter: undefined,
    sessionReused: false,
    certificateBinding: false,
    peerCertificateKey: undefined,
    ownCertificateKey: undefined,
    ...endpoints(socket),
  });
}

/**
 * Checks a TLS socket whose handshake just finished (ALPN `peerlink/1+cert` or `peerlink/1`, TLS 1.3,
 * a peer certificate present unless the session was resumed) and builds its channel record with, under
 * `peerlink/1+cert`, the certificate keys. The RFC 9266 exporter is computed on first read of
 * {@link SecureChannel.tlsExporter} (under certificate binding most connections never need it), the local
 * endpoint likewise. Addresses and TLS record bytes are read from `rawSocket`, the TCP socket under TLS, or from
 * `socket` itself when Node connected it (no `rawSocket`).
 * `peerCertificate`: the socket's `getPeerX509Certificate()`, read once by the caller (on a client socket Node
 * returns the certificate only to the first call). `knownPeerKey`: the dialer reads the listener's certificate
 * key itself (from the certificate, or on a resumed session from the ticket it resumed: Node returns no peer
 * certificate there) and passes it. `dialedHost`, `dialedPort`: what the dialer connected to; an IPv4 literal
 * is then the remote address as the socket would report it, without asking the kernel. Returns a TLS_FAILED
 * error instead when a check fails.
 */
export function tlsChannel(
  socket: TLSSocket,
  rawSocket: Socket | undefined,
  direction: "inbound" | "outbound",
  ownCertificateKey: Uint8Array | undefined,
  peerCertificate: X509Certificate | undefined,
  knownPeerKey?: Uint8Array,
  dialedHost?: string,
  dialedPort?: number,
): SecureChannel | PeerlinkError {
  const side = direction === "outbound" ? "server" : "client";
  const alpn = socket.alpnProtocol;
  if (alpn !== PEERLINK_CERT_ALPN && alpn !== PEERLINK_ALPN) {
    return new PeerlinkError(
      ErrorCode.TLS_FAILED,
      `TLS peer negotiated ALPN ${JSON.stringify(alpn)}, expected ${JSON.stringify(PEERLINK_CERT_ALPN)} or ${JSON.stringify(PEERLINK_ALPN)}`,
      { initiator: "local" },
    );
  }
  if (socket.getProtocol() !== "TLSv1.3") {
    return new PeerlinkError(ErrorCode.TLS_FAILED, `TLS peer negotiated ${socket.getProtocol() ?? "no version"}, expected TLSv1.3`, {
      initiator: "local",
    });
  }
  // A resumed session skips the certificate exchange; the certificate was checked when the ticket was issued.
  const reused = socket.isSessionReused();
  if (!reused && peerCertificate === undefined) {
    return new PeerlinkError(ErrorCode.TLS_FAILED, `TLS ${side} presented no certificate`, { initiator: "local" });
  }
  const certificateBinding = alpn === PEERLINK_CERT_ALPN;
  // A listener finds the client's certificate in the ticket, also on a resumed session.
  const peerCertificateKey = !certificateBinding
    ? undefined
    : direction === "outbound"
      ? knownPeerKey
      : peerCertificate === undefined
        ? undefined
        : ed25519KeyOf(peerCertificate);
  return Object.freeze(
    new TlsChannel(
      socket,
      rawSocket ?? socket,
      rawSocket ?? tcpHandleOf(socket),
      direction,
      reused,
      certificateBinding,
      peerCertificateKey,
      certificateBinding ? ownCertificateKey : undefined,
      dialedHost !== undefined && dialedPort !== undefined && isIPv4(dialedHost) ? dialedHost : undefined,
      dialedPort,
    ),
  );
}

/**
 * The channel record of a TLS socket: one object, its lazily read parts (exporter, local endpoint, bytes
 * received since TLS finished) behind methods and getters on the prototype instead of closures of its own.
 */
class TlsChannel implements SecureChannel {
  readonly socket: TLSSocket;
  readonly direction: "inbound" | "outbound";
  readonly secure = true;
  readonly sessionReused: boolean;
  readonly certificateBinding: boolean;
  readonly peerCertificateKey: Uint8Array | undefined;
  readonly ownCertificateKey: Uint8Array | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The socket that knows the TCP endpoints: the TCP socket under TLS, or the TLS socket Node connected. */
  readonly #endpoints: Socket;
  readonly #counter: { readonly bytesRead: number } | undefined;
  readonly #readAtSecure: number;
  #exporter: Uint8Array | undefined = undefined;

  constructor(
    socket: TLSSocket,
    endpoints: Socket,
    counter: { readonly bytesRead: number } | undefined,
    direction: "inbound" | "outbound",
    reused: boolean,
    certificateBinding: boolean,
    peerCertificateKey: Uint8Array | undefined,
    ownCertificateKey: Uint8Array | undefined,
    remoteAddress: string | undefined,
    remotePort: number | undefined,
  ) {
    this.socket = socket;
    this.direction = direction;
    this.sessionReused = reused;
    this.certificateBinding = certificateBinding;
    this.peerCertificateKey = peerCertificateKey;
    this.ownCertificateKey = ownCertificateKey;
    this.#endpoints = endpoints;
    this.#counter = counter;
    this.#readAtSecure = counter?.bytesRead ?? 0;
    if (remoteAddress !== undefined && remotePort !== undefined) {
      this.remoteAddress = remoteAddress;
      this.remotePort = remotePort;
    } else {
      this.remoteAddress = endpoints.remoteAddress ?? "";
      this.remotePort = endpoints.remotePort ?? 0;
    }
    // Where Node's TCP handle is not found, nothing is counted (see tcpHandleOf): the record has no counter.
    if (counter === undefined) (this as unknown as { receivedSinceSecure?: undefined }).receivedSinceSecure = undefined;
  }

  /**
   * The RFC 9266 exporter, computed on first read (then the same array). Throws TLS_FAILED when the socket can
   * no longer export (read it while the socket is open: the handshake reads it when a proof needs it).
   */
  get tlsExporter(): Uint8Array {
    return (this.#exporter ??= exporterOf(this.socket));
  }

  get localAddress(): string {
    return this.#endpoints.localAddress ?? "";
  }

  get localPort(): number {
    return this.#endpoints.localPort ?? 0;
  }

  receivedSinceSecure(): number {
    return (this.#counter as { readonly bytesRead: number }).bytesRead - this.#readAtSecure;
  }
}

/** The RFC 9266 `tls-exporter` value of `socket`, or TLS_FAILED when its keying material is gone. */
function exporterOf(socket: TLSSocket): Uint8Array {
  try {
    return new Uint8Array(socket.exportKeyingMaterial(TLS_EXPORTER_LENGTH, TLS_EXPORTER_LABEL, EMPTY_CONTEXT));
  } catch (cause) {
    throw new PeerlinkError(ErrorCode.TLS_FAILED, "TLS keying-material exporter unavailable", { cause, initiator: "local" });
  }
}

/**
 * What counts the TLS records of a TLS socket that Node connected itself: the TCP handle under its TLS layer
 * (the socket's own `bytesRead` counts decrypted bytes). Node keeps that handle as `_handle._parent`, which is
 * not public API: where it is missing, nothing is counted and an early close is judged without the count.
 * The count is read in the socket's `close` handlers, while Node still holds the handle.
 */
function tcpHandleOf(socket: TLSSocket): { readonly bytesRead: number } | undefined {
  const handle = (socket as unknown as { _handle?: { _parent?: { bytesRead?: unknown } } | null })._handle?._parent;
  return typeof handle?.bytesRead === "number" ? (handle as { readonly bytesRead: number }) : undefined;
}

function endpoints(socket: Socket): Pick<SecureChannel, "remoteAddress" | "remotePort" | "localAddress" | "localPort"> {
  return {
    remoteAddress: socket.remoteAddress ?? "",
    remotePort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? "",
    localPort: socket.localPort ?? 0,
  };
}
