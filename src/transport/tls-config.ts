/**
 * Turns user {@link TlsOptions} into a {@link ResolvedTls} shared by every dial and accept.
 *
 * @module
 */
import { constants, createHash, X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { Identity } from "../identity/identity.js";
import { TlsSessionCache } from "./session-cache.js";
import { createTlsCredentials } from "./tls-credentials.js";
import { ed25519KeyOf } from "./certificate-key.js";
import { PEERLINK_ALPN, PEERLINK_CERT_ALPN, type ResolvedTls, type TlsOptions } from "./types.js";

/**
 * The two ALPN lists, shared by every node of a process: their wire form is made once per list
 * (`alpnOption`), not once per node on its first connection.
 */
const CERTIFICATE_BOUND_ALPN: readonly string[] = Object.freeze([PEERLINK_CERT_ALPN, PEERLINK_ALPN]);
const PLAIN_ALPN: readonly string[] = Object.freeze([PEERLINK_ALPN]);

/**
 * Builds the TLS configuration of a node once: the credentials (generated from
 * `identity` unless `options.credentials` is given), one `SecureContext` (TLS 1.3
 * only, used for both dialing and accepting, so session tickets it issues are
 * accepted on redial unless `sessionTickets` is false), the CA policy and the session cache.
 *
 * Throws INVALID_ARGUMENT when the key, certificate or CA cannot be parsed, when
 * key and certificate do not match, when `ca` is an empty list, or when
 * `certificateBinding` or `sessionTickets` is not a boolean.
 *
 * @example
 * ```ts
 * const tls = await resolveTls(identity);                       // self-signed, any peer certificate
 * const strict = await resolveTls(identity, { credentials, ca: [caPem] }); // chain to our CA
 * ```
 */
export async function resolveTls(identity: Identity, options: TlsOptions = {}): Promise<ResolvedTls> {
  const credentials = options.credentials ?? (await createTlsCredentials(identity));
  if (typeof credentials.key !== "string" || typeof credentials.cert !== "string") {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "TLS credentials must be PEM strings { key, cert }");
  }
  const ca = options.ca;
  if (ca !== undefined && (ca.length === 0 || ca.some((pem) => typeof pem !== "string" || pem.length === 0))) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "TLS ca must be a non-empty list of PEM certificates");
  }
  const sessionTickets = options.sessionTickets ?? true;
  if (typeof sessionTickets !== "boolean") {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "TLS sessionTickets must be a boolean");
  }
  const contextId = sessionIdContext(credentials.cert, ca);
  let secureContext;
  try {
    secureContext = createSecureContext({
      key: credentials.key,
      cert: credentials.cert,
      ...(ca === undefined ? {} : { ca: [...ca] }),
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      // Required by OpenSSL to resume sessions when client certificates are requested.
      sessionIdContext: contextId,
      // Without stateless tickets OpenSSL sends TLS 1.3 tickets naming a session in its server cache, which
      // Node leaves off: they cost little to make and resume nothing. The flag does not stop this node's own
      // dials from resuming (a TLS 1.3 client ignores it).
      ...(sessionTickets ? {} : { secureOptions: constants.SSL_OP_NO_TICKET }),
    });
  } catch (cause) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `invalid TLS credentials or CA: ${(cause as Error).message}`, { cause });
  }
  const sessionCache = options.sessionCache === false ? undefined : (options.sessionCache ?? new TlsSessionCache());
  const certificateBinding = options.certificateBinding ?? true;
  if (typeof certificateBinding !== "boolean") {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "TLS certificateBinding must be a boolean");
  }
  return Object.freeze({
    secureContext,
    verifyPeer: ca !== undefined,
    sessionCache,
    certificate: credentials.cert,
    alpnProtocols: certificateBinding ? CERTIFICATE_BOUND_ALPN : PLAIN_ALPN,
    // createSecureContext accepted the PEM, so the leaf certificate parses.
    ownCertificateKey: ed25519KeyOf(new X509Certificate(credentials.cert)),
    ticketOwner: contextId,
  });
}

/** 32 hex characters naming this TLS configuration, so sessions from another configuration are not resumed. */
function sessionIdContext(cert: string, ca: readonly string[] | undefined): string {
  const hash = createHash("sha256").update("peerlink/1\0").update(cert);
  for (const pem of ca ?? []) hash.update("\0").update(pem);
  return hash.digest("hex").slice(0, 32);
}
