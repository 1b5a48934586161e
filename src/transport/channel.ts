/**
 * Internal: builds the {@link SecureChannel} record of a ready socket and checks a finished TLS socket.
 *
 * @module
 */
import type { X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
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
 * a peer certificate present unless the session was resumed) and builds its channel record with the RFC 9266
 * exporter and, under `peerlink/1+cert`, the certificate keys. Addresses and TLS record bytes are read from
 * `rawSocket`, the TCP socket under TLS, or from `socket` itself when Node connected it (no `rawSocket`).
 * `peerCertificate`: the socket's `getPeerX509Certificate()`, read once by the caller (on a client socket Node
 * returns the certificate only to the first call). `knownPeerKey`: the dialer reads the listener's certificate
 * key itself (from the certificate, or on a resumed session from the ticket it resumed: Node returns no peer
 * certificate there) and passes it. Returns a TLS_FAILED error instead when a check fails.
 */
export function tlsChannel(
  socket: TLSSocket,
  rawSocket: Socket | undefined,
  direction: "inbound" | "outbound",
  ownCertificateKey: Uint8Array | undefined,
  peerCertificate: X509Certificate | undefined,
  knownPeerKey?: Uint8Array,
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
  let exporter: Uint8Array;
  try {
    exporter = new Uint8Array(socket.exportKeyingMaterial(TLS_EXPORTER_LENGTH, TLS_EXPORTER_LABEL, EMPTY_CONTEXT));
  } catch (cause) {
    return new PeerlinkError(ErrorCode.TLS_FAILED, "TLS keying-material exporter unavailable", { cause, initiator: "local" });
  }
  const counter = rawSocket ?? tcpHandleOf(socket);
  const readAtSecure = counter?.bytesRead ?? 0;
  return Object.freeze({
    socket,
    direction,
    secure: true,
    tlsExporter: exporter,
    sessionReused: reused,
    certificateBinding,
    peerCertificateKey,
    ownCertificateKey: certificateBinding ? ownCertificateKey : undefined,
    receivedSinceSecure: counter === undefined ? undefined : () => counter.bytesRead - readAtSecure,
    ...endpoints(rawSocket ?? socket),
  });
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
