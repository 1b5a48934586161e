/**
 * Self-signed X.509 certificates for a node's Ed25519 identity key, made in
 * pure JS with @peculiar/x509 over Node's WebCrypto (no openssl process).
 *
 * @module
 */
import { createPublicKey, randomBytes, webcrypto } from "node:crypto";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { Identity } from "../identity/identity.js";
import type { TlsCredentials } from "./types.js";

type X509 = typeof import("@peculiar/x509");
let x509Module: Promise<X509> | undefined;

/**
 * @peculiar/x509, loaded on the first certificate. Its dependency tsyringe needs the `Reflect.getMetadata`
 * polyfill (reflect-metadata, a global) before it loads; loading both lazily keeps importing peerlink free
 * of global side effects: the polyfill is installed only when a TLS node first makes its certificate.
 */
function loadX509(): Promise<X509> {
  x509Module ??= import("reflect-metadata").then(async () => {
    const x509 = await import("@peculiar/x509");
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    return x509;
  });
  return x509Module;
}

/** Default of {@link TlsCredentialsOptions.validityMs}: 7 days. */
export const DEFAULT_CERTIFICATE_VALIDITY_MS = 7 * 24 * 3600 * 1000;

/** How far `notBefore` lies in the past, so that peers with a slow clock accept the certificate: 1 hour. */
export const CERTIFICATE_BACKDATE_MS = 3600 * 1000;

/**
 * Options of {@link createTlsCredentials}.
 *
 * @category TLS
 */
export interface TlsCredentialsOptions {
  /**
   * Certificate validity in milliseconds from now (a sensible range is 1 hour to 90 days).
   * Peerlink does not rely on the certificate for identity (docs/PROTOCOL.md §2), so a
   * short validity costs nothing; peers with CA policies may check it.
   * @default 604_800_000 (7 days)
   */
  readonly validityMs?: number;
  /** Clock in milliseconds (Unix epoch). @default Date.now */
  readonly now?: () => number;
}

interface CachedCredentials {
  readonly credentials: Promise<TlsCredentials>;
  readonly notAfter: number;
  readonly validityMs: number;
}

const cache = new WeakMap<Identity, CachedCredentials>();

/**
 * Creates a self-signed X.509 certificate for `identity`'s Ed25519 key, with
 * CN = its printable peer id, `notBefore` one hour back and `notAfter`
 * `validityMs` ahead; key usage digitalSignature, extended key usage
 * serverAuth + clientAuth, not a CA. Takes about 5–15 ms.
 *
 * The result is cached per identity (and validity): later calls return the same
 * credentials until less than half of the validity remains, then a fresh
 * certificate is made.
 *
 * @example
 * ```ts
 * const { key, cert } = await createTlsCredentials(Identity.generate());
 * tls.createSecureContext({ key, cert });
 * ```
 *
 * @category TLS
 */
export function createTlsCredentials(identity: Identity, options: TlsCredentialsOptions = {}): Promise<TlsCredentials> {
  const validityMs = options.validityMs ?? DEFAULT_CERTIFICATE_VALIDITY_MS;
  if (!Number.isSafeInteger(validityMs) || validityMs < 60_000) {
    return Promise.reject(
      new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `certificate validityMs must be an integer >= 60000, got ${validityMs}`),
    );
  }
  const now = (options.now ?? Date.now)();
  const cached = cache.get(identity);
  if (cached !== undefined && cached.validityMs === validityMs && cached.notAfter - now > validityMs / 2) {
    return cached.credentials;
  }
  const notAfter = now + validityMs;
  const credentials = generate(identity, now, notAfter);
  cache.set(identity, { credentials, notAfter, validityMs });
  // A failed generation must not stay cached.
  credentials.catch(() => {
    if (cache.get(identity)?.credentials === credentials) cache.delete(identity);
  });
  return credentials;
}

async function generate(identity: Identity, now: number, notAfter: number): Promise<TlsCredentials> {
  const x509 = await loadX509();
  try {
    const pkcs8 = identity.privateKey.export({ format: "der", type: "pkcs8" });
    const spki = createPublicKey(identity.privateKey).export({ format: "der", type: "spki" });
    const algorithm = { name: "Ed25519" };
    const [privateKey, publicKey] = await Promise.all([
      webcrypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]),
      webcrypto.subtle.importKey("spki", spki, algorithm, true, ["verify"]),
    ]);
    const serial = randomBytes(16);
    serial[0] = (serial[0] ?? 0) & 0x7f; // positive INTEGER (RFC 5280 §4.1.2.2)
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial.toString("hex"),
      name: `CN=${identity.peerId.toString()}`,
      notBefore: new Date(now - CERTIFICATE_BACKDATE_MS),
      notAfter: new Date(notAfter),
      keys: { privateKey: privateKey as unknown as CryptoKey, publicKey: publicKey as unknown as CryptoKey },
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      ],
    });
    return { key: identity.toPem(), cert: certificate.toString("pem") };
  } catch (cause) {
    throw new PeerlinkError(ErrorCode.INTERNAL, "could not create the TLS certificate for the identity key", { cause });
  }
}
