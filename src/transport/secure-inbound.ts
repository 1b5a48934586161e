/**
 * Inbound transport: the server side of TLS 1.3 on an accepted TCP socket.
 *
 * @module
 */
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { alpnOption } from "./alpn.js";
import { boundedAttempt } from "./bounded-attempt.js";
import { plainChannel, tlsChannel } from "./channel.js";
import { tlsFailed } from "./early-close.js";
import type { SecureChannel, SecureInboundOptions } from "./types.js";

/**
 * The private parts of Node's `TLSSocket` this module relies on, the same ones
 * `tls.Server` uses for the sockets it accepts. A standalone server `TLSSocket`
 * does not verify the client certificate chain by itself and, until control is
 * released, turns TLS errors after the handshake into an internal event instead
 * of `'error'`. Both are checked at run time; if they are missing the handshake
 * fails closed (TLS_FAILED) instead of accepting an unverified peer.
 */
interface TlsSocketInternals {
  _handle?: { verifyError?: () => Error | null | undefined } | null;
  _releaseControl?: () => boolean;
}

/**
 * Turns an accepted TCP socket (from `listenTcp`'s `onSocket`) into a
 * {@link SecureChannel}. Without `tls`, it switches Nagle off and wraps the
 * socket (after the same signal/deadline checks). With `tls`, it runs the TLS 1.3
 * server handshake: a client certificate is required (a client without one gets a
 * `certificate_required` alert), ALPN `peerlink/1+cert` or `peerlink/1` is required, and with a CA the
 * client's certificate must chain to it (else the socket is closed after a `close_notify`: in TLS 1.3
 * the client sees no alert, see `classifyEarlyClose`). Node's 120 s TLS
 * handshake timeout is not used: pass `deadline` (absolute `Date.now()` ms), counted
 * from the moment the socket was accepted.
 *
 * Rejects with a {@link PeerlinkError}, after destroying the socket and removing
 * every listener and timer: CONNECTION_CLOSED (socket already closed), HANDSHAKE_TIMEOUT
 * (`deadline`), ABORTED (`signal`), TLS_FAILED (TLS error, close during TLS, no or
 * untrusted client certificate, wrong ALPN), AUTHENTICATION_FAILED (the client sent an
 * alert rejecting our certificate).
 *
 * @example
 * ```ts
 * const listener = await listenTcp({ host: "::", port: 4001, onSocket(raw) {
 *   if (overLimit()) return raw.destroy();
 *   secureInbound(raw, { tls, deadline: Date.now() + 10_000 }).then(startHandshake, logRefusal);
 * }});
 * ```
 */
export function secureInbound(socket: Socket, options: SecureInboundOptions = {}): Promise<SecureChannel> {
  const { tls } = options;
  const remote = socket.remoteAddress ?? "?";
  const what = `accept ${remote.includes(":") ? `[${remote}]` : remote}:${socket.remotePort ?? "?"}`;
  return boundedAttempt<SecureChannel>(options, what, (attempt) => {
    attempt.onFailure(() => socket.destroy());
    if (socket.destroyed || socket.readyState !== "open") {
      attempt.fail(new PeerlinkError(ErrorCode.CONNECTION_CLOSED, `${what}: socket is already closed`, { initiator: "remote" }));
      return;
    }
    socket.setNoDelay(true);
    if (tls === undefined) {
      attempt.resolve(plainChannel(socket, "inbound"));
      return;
    }

    // Until the TLSSocket exists, errors on the raw socket are ours to catch.
    const onRawError = (err: Error): void => attempt.fail(tlsFailed(`${what}: TLS handshake`, err));
    socket.on("error", onRawError);
    attempt.onCleanup(() => socket.off("error", onRawError));

    const secure = new TLSSocket(socket, {
      isServer: true,
      secureContext: tls.secureContext,
      // Always request a certificate and fail the handshake (alert) when none is sent.
      // OpenSSL itself accepts any certificate here; the chain is checked below.
      requestCert: true,
      rejectUnauthorized: true,
      // Server preference: the first of these the client offers is selected (peerlink/1+cert when offered).
      ALPNProtocols: alpnOption(tls.alpnProtocols),
    });
    attempt.onFailure(() => secure.destroy());

    const onError = (err: Error): void => attempt.fail(tlsFailed(`${what}: TLS handshake`, err));
    const onClose = (): void =>
      attempt.fail(tlsFailed(`${what}: TLS handshake`, new Error("connection closed during the TLS handshake")));
    const onSecure = (): void => {
      const internals = secure as unknown as TlsSocketInternals;
      if (typeof internals._releaseControl !== "function") {
        attempt.fail(new PeerlinkError(ErrorCode.TLS_FAILED, `${what}: unsupported Node TLS internals (no _releaseControl)`));
        return;
      }
      internals._releaseControl();
      if (tls.verifyPeer) {
        const verifyError = internals._handle?.verifyError;
        if (typeof verifyError !== "function") {
          attempt.fail(new PeerlinkError(ErrorCode.TLS_FAILED, `${what}: cannot verify the client certificate on this Node version`));
          return;
        }
        const problem = verifyError.call(internals._handle);
        if (problem) {
          refuseAfterTls(
            new PeerlinkError(ErrorCode.TLS_FAILED, `${what}: client certificate rejected: ${problem.message}`, {
              cause: problem,
              initiator: "local",
            }),
          );
          return;
        }
      }
      const channel = tlsChannel(secure, socket, "inbound", tls.ownCertificateKey, secure.getPeerX509Certificate());
      if (channel instanceof PeerlinkError) refuseAfterTls(channel);
      else attempt.resolve(channel);
    };
    // TLS is finished here: a close_notify before the close tells the dialer it was judged (it received bytes
    // after its own TLS finished), where a bare close would look like a pending connection dropped mid-TLS
    // (`classifyEarlyClose`). The deadline and the signal still bound the wait for the flush.
    const refuseAfterTls = (error: PeerlinkError): void => {
      const fail = (): void => attempt.fail(error);
      secure.off("error", onError);
      secure.off("close", onClose);
      secure.on("error", fail);
      secure.on("close", fail);
      attempt.onCleanup(() => {
        secure.off("error", fail);
        secure.off("close", fail);
      });
      secure.end(fail);
    };
    secure.on("error", onError);
    secure.on("close", onClose);
    secure.once("secure", onSecure);
    attempt.onCleanup(() => {
      secure.off("error", onError);
      secure.off("close", onClose);
      secure.off("secure", onSecure);
    });
  });
}
