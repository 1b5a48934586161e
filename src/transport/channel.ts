/**
 * Internal: builds the {@link SecureChannel} record of a ready socket and checks a finished TLS socket.
 *
 * @module
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { PEERLINK_ALPN, TLS_EXPORTER_LABEL, TLS_EXPORTER_LENGTH, type SecureChannel } from "./types.js";

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
    ...endpoints(socket),
  });
}

/**
 * Checks a TLS socket whose handshake just finished (ALPN `peerlink/1`, TLS 1.3,
 * a peer certificate present unless the session was resumed) and builds its channel record with the RFC 9266
 * exporter; addresses are read from `rawSocket`, the TCP socket under TLS.
 * Returns a TLS_FAILED error instead when a check fails.
 */
export function tlsChannel(
  socket: TLSSocket,
  rawSocket: Socket,
  direction: "inbound" | "outbound",
): SecureChannel | PeerlinkError {
  const side = direction === "outbound" ? "server" : "client";
  if (socket.alpnProtocol !== PEERLINK_ALPN) {
    return new PeerlinkError(
      ErrorCode.TLS_FAILED,
      `TLS peer negotiated ALPN ${JSON.stringify(socket.alpnProtocol)}, expected ${JSON.stringify(PEERLINK_ALPN)}`,
      { initiator: "local" },
    );
  }
  if (socket.getProtocol() !== "TLSv1.3") {
    return new PeerlinkError(ErrorCode.TLS_FAILED, `TLS peer negotiated ${socket.getProtocol() ?? "no version"}, expected TLSv1.3`, {
      initiator: "local",
    });
  }
  // A resumed session skips the certificate exchange; the certificate was checked when the ticket was issued.
  if (!socket.isSessionReused() && socket.getPeerX509Certificate() === undefined) {
    return new PeerlinkError(ErrorCode.TLS_FAILED, `TLS ${side} presented no certificate`, { initiator: "local" });
  }
  let exporter: Uint8Array;
  try {
    exporter = new Uint8Array(socket.exportKeyingMaterial(TLS_EXPORTER_LENGTH, TLS_EXPORTER_LABEL, EMPTY_CONTEXT));
  } catch (cause) {
    return new PeerlinkError(ErrorCode.TLS_FAILED, "TLS keying-material exporter unavailable", { cause, initiator: "local" });
  }
  // TLS records are counted on the TCP socket under TLS, which keeps its count after it closed.
  const readAtSecure = rawSocket.bytesRead;
  return Object.freeze({
    socket,
    direction,
    secure: true,
    tlsExporter: exporter,
    sessionReused: socket.isSessionReused(),
    receivedSinceSecure: () => rawSocket.bytesRead - readAtSecure,
    ...endpoints(rawSocket),
  });
}

function endpoints(socket: Socket): Pick<SecureChannel, "remoteAddress" | "remotePort" | "localAddress" | "localPort"> {
  return {
    remoteAddress: socket.remoteAddress ?? "",
    remotePort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? "",
    localPort: socket.localPort ?? 0,
  };
}
