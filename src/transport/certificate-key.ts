/**
 * Internal: the raw Ed25519 key of an X.509 certificate, for the certificate binding of docs/PROTOCOL.md §3.3.
 *
 * @module
 */
import type { X509Certificate } from "node:crypto";
import { readTlv, tlv } from "./der.js";

/** Length of a raw Ed25519 public key (RFC 8032). */
const ED25519_KEY_BYTES = 32;

/** DER of an Ed25519 SubjectPublicKeyInfo up to its key (RFC 8410 §4): SEQUENCE { AlgorithmIdentifier { 1.3.101.112 }, BIT STRING (33 bytes, 0 unused bits) }. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** DER tags of the TBSCertificate fields between the version and the key: serialNumber, signature, issuer, validity, subject. */
const FIELDS_BEFORE_KEY = [0x02, 0x30, 0x30, 0x30, 0x30] as const;

/**
 * The certificate's raw 32-byte Ed25519 subject public key, or `undefined` for any other key type.
 * Read from the certificate's DER (its subjectPublicKeyInfo, found by walking the TBSCertificate's fields,
 * never by searching for bytes): a certificate read from a TLS socket is a new object each time, and making
 * its KeyObject and exporting it cost ~15 µs a connection per side. Anything but the exact Ed25519 form goes
 * through the KeyObject (JWK export, ~1 µs against ~60 µs for DER SPKI), which decides.
 */
export function ed25519KeyOf(certificate: X509Certificate): Uint8Array | undefined {
  const fromDer = ed25519KeyFromDer(certificate.raw);
  if (fromDer !== undefined) return fromDer;
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== "ed25519") return undefined;
  const x = key.export({ format: "jwk" }).x;
  if (typeof x !== "string") return undefined;
  const raw = Buffer.from(x, "base64url");
  // A copy: a short Buffer is a view into Node's shared pool, and this key is kept (channel, ticket cache).
  return raw.length === ED25519_KEY_BYTES ? Uint8Array.from(raw) : undefined;
}

/**
 * Internal: the Ed25519 key in the subjectPublicKeyInfo of a DER certificate (RFC 5280 §4.1: Certificate ::=
 * SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity,
 * subject, subjectPublicKeyInfo, … }, … }), in an array of its own; `undefined` when the field is not exactly
 * an Ed25519 key or the DER is not laid out as expected.
 */
export function ed25519KeyFromDer(der: Uint8Array): Uint8Array | undefined {
  if (readTlv(der, 0, der.length) !== 0x30) return undefined; // Certificate
  if (readTlv(der, tlv.start, tlv.end) !== 0x30) return undefined; // tbsCertificate
  const end = tlv.end;
  let at = tlv.start;
  let tag = readTlv(der, at, end);
  if (tag === 0xa0) {
    at = tlv.end; // version
    tag = readTlv(der, at, end);
  }
  for (const expected of FIELDS_BEFORE_KEY) {
    if (tag !== expected) return undefined;
    at = tlv.end;
    tag = readTlv(der, at, end);
  }
  if (tag !== 0x30 || tlv.end - at !== ED25519_SPKI_PREFIX.length + ED25519_KEY_BYTES) return undefined;
  for (let i = 0; i < ED25519_SPKI_PREFIX.length; i++) if (der[at + i] !== ED25519_SPKI_PREFIX[i]) return undefined;
  // A copy (Buffer#slice would be a view): the key is kept, and must not hold the certificate's bytes.
  const key = new Uint8Array(ED25519_KEY_BYTES);
  key.set(der.subarray(at + ED25519_SPKI_PREFIX.length, tlv.end));
  return key;
}
