/**
 * Test helper: a throwaway Ed25519 certificate authority that issues leaf
 * certificates for peerlink identities (made with @peculiar/x509).
 *
 * @module
 */
import "reflect-metadata";
import { createPublicKey, randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { Identity } from "../../src/identity/identity.js";
import type { TlsCredentials } from "../../src/transport/types.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ED25519 = { name: "Ed25519" };
const HOUR = 3600 * 1000;

/** A CA that can issue certificates. */
export interface TestCa {
  /** The CA certificate (PEM), to put in `TlsOptions.ca`. */
  readonly certificate: string;
  /** Issues a leaf certificate for `identity`'s key; returns credentials to use as `TlsOptions.credentials`. */
  issue(identity: Identity): Promise<TlsCredentials>;
}

/** Creates a self-signed Ed25519 CA named `name`. */
export async function createTestCa(name: string): Promise<TestCa> {
  const keys = (await webcrypto.subtle.generateKey(ED25519, false, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const now = Date.now();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + 24 * HOUR),
    keys,
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certificate: caCert.toString("pem"),
    async issue(identity) {
      const spki = createPublicKey(identity.privateKey).export({ format: "der", type: "spki" });
      const publicKey = (await webcrypto.subtle.importKey("spki", spki, ED25519, true, ["verify"])) as unknown as CryptoKey;
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${identity.peerId.toString()}`,
        issuer: caCert.subject,
        notBefore: new Date(now - HOUR),
        notAfter: new Date(now + 24 * HOUR),
        signingKey: keys.privateKey,
        publicKey,
        signingAlgorithm: ED25519,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
          await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      return { key: identity.toPem(), cert: leaf.toString("pem") };
    },
  };
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString("hex");
}
