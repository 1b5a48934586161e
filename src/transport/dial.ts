/**
 * Outbound transport: TCP connect, then TLS 1.3 as the client when configured.
 *
 * @module
 */
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { alpnOption } from "./alpn.js";
import { boundedAttempt, type Attempt, type CancelSlot } from "./bounded-attempt.js";
import { plainChannel, tlsChannel } from "./channel.js";
import { connectFailed, tlsFailed } from "./early-close.js";
import { sessionCacheKey, type TlsSessionCache, type TlsTicket } from "./session-cache.js";
import { withoutPeerCertificate } from "./session-der.js";
import { ed25519KeyOf } from "./certificate-key.js";
import { PEERLINK_CERT_ALPN, type DialOptions, type ResolvedTls, type SecureChannel } from "./types.js";

/**
 * Opens a TCP connection to `host:port` (Nagle off) and, when `tls` is given,
 * runs the TLS 1.3 client handshake on it: own certificate presented, ALPN
 * `peerlink/1` required, a cached session ticket for `host:port` offered, new
 * tickets stored in the cache. Without a CA any server certificate is accepted
 * but one must be presented; with a CA it must chain to it (host names are not
 * checked). Resolves once the channel is ready for the peerlink handshake: the
 * caller sends its Hello at once (docs/PROTOCOL.md §3.2).
 *
 * Nothing but `signal` and `deadline` bounds the attempt: Node's 120 s TLS
 * handshake timeout is not used. Pass the handshake deadline
 * (`Date.now() + handshakeTimeoutMs`, taken before the dial) so that TCP + TLS +
 * the peerlink handshake share one budget.
 *
 * Rejects with a {@link PeerlinkError}, after destroying the socket and removing
 * every listener and timer:
 * - INVALID_ARGUMENT: empty host, port outside 1–65535, deadline not finite;
 * - CONNECT_FAILED: TCP connect failed (refused, unreachable, reset, DNS), `cause` kept;
 * - HANDSHAKE_TIMEOUT: `deadline` passed (also when already past on call);
 * - ABORTED: `signal` aborted (also when already aborted on call);
 * - TLS_FAILED: TLS handshake error or alert, connection closed during TLS, ALPN other
 *   than `peerlink/1`, no server certificate, server certificate not chaining to the CA;
 * - AUTHENTICATION_FAILED: the server sent an alert rejecting our certificate during
 *   the handshake. In TLS 1.3 the server usually rejects a client certificate only
 *   after this function resolved; that close is classified by `classifyEarlyClose`.
 *
 * `slot`, when given, receives the attempt as it starts: cancelling it is as the signal aborting, for a
 * caller that owns the cancellation and so needs no AbortSignal.
 *
 * @example
 * ```ts
 * const tls = await resolveTls(identity);
 * const channel = await dialChannel({ host: "::1", port: 4001, tls, deadline: Date.now() + 10_000 });
 * channel.socket.on("data", onBytes); // then send the Hello
 * ```
 */
export function dialChannel(options: DialOptions, slot?: CancelSlot): Promise<SecureChannel> {
  const host = unbracket(options.host);
  const { port, tls, localAddress } = options;
  if (typeof host !== "string" || host.length === 0) {
    return Promise.reject(new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `dial: invalid host ${JSON.stringify(options.host)}`));
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    return Promise.reject(new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `dial: invalid port ${String(port)}`));
  }
  if (host !== lastDialed.host || port !== lastDialed.port) {
    const key = sessionCacheKey(host, port);
    lastDialed = { host, port, key, what: `dial ${key}` };
  }
  const { key, what } = lastDialed;

  return boundedAttempt<SecureChannel>(options, what, (attempt) => {
    if (tls === undefined) connectPlain(attempt, host, port, localAddress, what);
    else connectTls(attempt, host, port, localAddress, tls, key, what);
  }, slot);
}

/**
 * The last dialed address with its session cache key and description. A redial of it (the usual case: a
 * node redials the peers it knows) reuses the same key string, whose hash the cache's map has kept: a key
 * built anew is a fresh string, hashed and compared character by character against the stored one at every
 * take and at every ticket stored.
 */
let lastDialed: { readonly host: string; readonly port: number; readonly key: string; readonly what: string } = {
  host: "",
  port: 0,
  key: "",
  what: "",
};

/** TCP only: resolves with a plain channel once connected. */
function connectPlain(attempt: Attempt<SecureChannel>, host: string, port: number, localAddress: string | undefined, what: string): void {
  const raw: Socket = netConnect({
    host,
    port,
    noDelay: true,
    ...(localAddress === undefined ? {} : { localAddress: unbracket(localAddress) }),
  });
  attempt.onFailure(() => raw.destroy());
  const onConnectError = (err: Error): void => attempt.fail(connectFailed(what, err));
  const onConnectClose = (): void => attempt.fail(connectFailed(what, new Error("socket closed before connect")));
  const onConnect = (): void => {
    raw.setNoDelay(true);
    attempt.resolve(plainChannel(raw, "outbound"));
  };
  raw.on("error", onConnectError);
  raw.on("close", onConnectClose);
  raw.once("connect", onConnect);
  attempt.onCleanup(() => {
    raw.off("error", onConnectError);
    raw.off("close", onConnectClose);
    raw.off("connect", onConnect);
  });
}

/**
 * TCP and TLS on one socket: Node's TLS socket connects TCP itself (a TCP socket connected first and then
 * wrapped would be a second socket object kept for the connection's life). Errors before TCP is up are
 * CONNECT_FAILED, after it TLS_FAILED (or AUTHENTICATION_FAILED for a certificate alert).
 */
function connectTls(
  attempt: Attempt<SecureChannel>,
  host: string,
  port: number,
  localAddress: string | undefined,
  tls: ResolvedTls,
  key: string,
  what: string,
): void {
  const cache = tls.sessionCache;
  // Node's options for the socket's connect accept a local address too (not in the TLS options' type).
  const options: ConnectionOptions & { localAddress: string | undefined } = {
    host,
    port,
    // Undefined as absent: Node reads it only when set (a literal without a conditional spread).
    localAddress: localAddress === undefined ? undefined : unbracket(localAddress),
    secureContext: tls.secureContext,
    ALPNProtocols: alpnOption(tls.alpnProtocols),
    rejectUnauthorized: tls.verifyPeer,
    // Certificates name peers, not hosts: the CA chain (if any) is the whole policy. A module-level function:
    // Node keeps it with the socket, and a closure here would keep this dial attempt alive with it.
    checkServerIdentity: acceptAnyServerName,
  };
  const socket: TLSSocket = tlsConnect(options);
  attempt.onFailure(() => socket.destroy());
  let connected = false;
  let ticket: TlsTicket | undefined;
  // Runs before Node's own connect listener, which sends the ClientHello: a ticket (single use) is taken only
  // for a dial that reached the listener.
  const onConnect = (): void => {
    connected = true;
    socket.setNoDelay(true);
    // Under peerlink/1+cert a resumed session is checked against the listener's certificate key kept with
    // the ticket (docs/PROTOCOL.md §3.3): a ticket without one is not offered.
    ticket = cache?.takeTicket(key, tls.ticketOwner);
    if (ticket !== undefined && ticket.peerCertificateKey === undefined && tls.alpnProtocols.includes(PEERLINK_CERT_ALPN)) {
      ticket = undefined;
    }
    // The method `tls.connect` itself uses for its `session` option (not in Node's type definitions).
    if (ticket !== undefined) (socket as TLSSocket & { setSession(session: Buffer): void }).setSession(ticket.session);
  };

  // Tickets arrive after secureConnect, so their collector lives with the socket (see TicketCollector).
  const tickets = cache === undefined ? undefined : new TicketCollector(socket, cache, key, tls.ticketOwner);
  if (tickets !== undefined) {
    socket.on("session", tickets.onSession);
    attempt.onFailure(() => socket.off("session", tickets.onSession));
  }
  const onError = (err: Error): void => attempt.fail(connected ? tlsFailed(`${what}: TLS handshake`, err) : connectFailed(what, err));
  const onClose = (): void =>
    attempt.fail(
      connected
        ? tlsFailed(`${what}: TLS handshake`, new Error("connection closed during the TLS handshake"))
        : connectFailed(what, new Error("socket closed before connect")),
    );
  const onSecureConnect = (): void => {
    // Node returns the peer certificate of a client socket to the first call only, and none on a resumed
    // session: the ticket it resumed holds the key.
    const certificate = socket.getPeerX509Certificate();
    // Needed by a certificate-bound Hello and kept with the tickets; null: the certificate's key is known not
    // to be Ed25519 (that listener signs its Hello).
    const wanted = tickets !== undefined || socket.alpnProtocol === PEERLINK_CERT_ALPN;
    const peerKey = !wanted
      ? undefined
      : certificate === undefined
        ? socket.isSessionReused()
          ? ticket?.peerCertificateKey
          : undefined
        : (ed25519KeyOf(certificate) ?? null);
    if (tickets !== undefined) tickets.peerKey = peerKey;
    const channel = tlsChannel(socket, undefined, "outbound", tls.ownCertificateKey, certificate, peerKey ?? undefined, host, port);
    if (channel instanceof PeerlinkError) attempt.fail(channel);
    else attempt.resolve(channel);
  };
  // Plain listeners, not once(): each event comes once per socket and the cleanup removes them all, and a
  // once() wrapper is two more objects per dial.
  socket.prependListener("connect", onConnect);
  socket.on("error", onError);
  socket.on("close", onClose);
  socket.on("secureConnect", onSecureConnect);
  attempt.onCleanup(() => {
    socket.off("connect", onConnect);
    socket.off("error", onError);
    socket.off("close", onClose);
    socket.off("secureConnect", onSecureConnect);
  });
}

/** `checkServerIdentity` that accepts any name (see the call). */
function acceptAnyServerName(): undefined {
  return undefined;
}

/** Session tickets taken from one connection (a hostile listener could send many). */
const MAX_TICKETS_PER_CONNECTION = 4;

/**
 * Stores the session tickets of one client socket, each with the listener's certificate key of this session
 * (a resumed one inherits the key of its own ticket). A class rather than a closure in `dialChannel`: its
 * listener stays on the socket for the connection's life, and a closure would keep the whole dial attempt
 * alive with it. A listener may send any number of tickets, each serialised by Node: the first few are kept,
 * then the listener is removed (OpenSSL servers send 2 per handshake).
 */
class TicketCollector {
  /** The listener's certificate key for this session; set once TLS is done (`null`: not Ed25519). */
  peerKey: Uint8Array | null | undefined;
  #taken = 0;

  constructor(
    readonly socket: TLSSocket,
    readonly cache: TlsSessionCache,
    readonly key: string,
    readonly owner: string,
  ) {}

  readonly onSession = (session: Buffer): void => {
    if (++this.#taken >= MAX_TICKETS_PER_CONNECTION) this.socket.off("session", this.onSession);
    // Stored without the listener's certificate, its key being kept beside it: see withoutPeerCertificate.
    this.cache.add(this.key, withoutPeerCertificate(session), this.peerKey, this.owner);
  };
}

/** `"[::1]"` → `"::1"`; other strings unchanged. */
function unbracket(host: string): string {
  if (typeof host !== "string") return host;
  if (host.startsWith("[") && host.endsWith("]") && isIP(host.slice(1, -1)) === 6) return host.slice(1, -1);
  return host;
}
