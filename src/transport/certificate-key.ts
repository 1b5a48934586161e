/**
 * Internal: the raw Ed25519 key of an X.509 certificate, for the certificate binding of docs/PROTOCOL.md §3.3.
 *
 * @module
 */
import type { X509Certificate } from "node:crypto";

/** Length of a raw Ed25519 public key (RFC 8032). */
const ED25519_KEY_BYTES = 32;

/**
 * The certificate's raw 32-byte Ed25519 subject public key, or `undefined` for any other key type.
 * Read through JWK: Node exports a key as JWK in ~1 µs and as DER SPKI in ~60 µs.
 */
export function ed25519KeyOf(certificate: X509Certificate): Uint8Array | undefined {
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== "ed25519") return undefined;
  const x = key.export({ format: "jwk" }).x;
  if (typeof x !== "string") return undefined;
  const raw = Buffer.from(x, "base64url");
  // A copy: a short Buffer is a view into Node's shared pool, and this key is kept (channel, ticket cache).
  return raw.length === ED25519_KEY_BYTES ? Uint8Array.from(raw) : undefined;
}
