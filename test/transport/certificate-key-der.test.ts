// The Ed25519 key of a certificate is read from its DER by walking the TBSCertificate: it must be the key the
// certificate's KeyObject holds, for any certificate layout, and never bytes found elsewhere in it.
import "reflect-metadata";
import { X509Certificate, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/identity.js";
import { ed25519KeyFromDer, ed25519KeyOf } from "../../src/transport/certificate-key.js";
import { createTlsCredentials } from "../../src/transport/tls-credentials.js";
import { createTestCa } from "./test-ca.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const HOUR = 3600 * 1000;

async function selfSigned(algorithm: Algorithm | EcKeyGenParams | RsaHashedKeyGenParams, name: string, extensions: x509.Extension[] = []): Promise<X509Certificate> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const signingAlgorithm = algorithm.name === "ECDSA" ? { name: "ECDSA", hash: "SHA-256" } : algorithm;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name,
    notBefore: new Date(Date.now() - HOUR),
    notAfter: new Date(Date.now() + HOUR),
    keys,
    signingAlgorithm,
    extensions,
  });
  return new X509Certificate(cert.toString("pem"));
}

function keyObjectKey(certificate: X509Certificate): Buffer | undefined {
  const key = certificate.publicKey;
  return key.asymmetricKeyType === "ed25519" ? Buffer.from(key.export({ format: "jwk" }).x as string, "base64url") : undefined;
}

describe("the Ed25519 key of a certificate, from its DER", () => {
  it("is the KeyObject's key for peerlink's own, CA-issued and differently named certificates", async () => {
    const identity = Identity.generate();
    const ca = await createTestCa("test ca with a name long enough to need a two-byte DER length ".repeat(3));
    const certificates = [
      new X509Certificate((await createTlsCredentials(identity)).cert),
      new X509Certificate((await ca.issue(identity)).cert),
      await selfSigned({ name: "Ed25519" }, `CN=${"x".repeat(300)}, O=${"y".repeat(200)}`),
      await selfSigned({ name: "Ed25519" }, "CN=a"),
    ];
    for (const certificate of certificates) {
      const fromDer = ed25519KeyFromDer(certificate.raw);
      expect(fromDer && Buffer.from(fromDer).equals(keyObjectKey(certificate)!)).toBe(true);
      expect(fromDer?.buffer.byteLength).toBe(32);
      expect(Buffer.from(ed25519KeyOf(certificate)!).equals(keyObjectKey(certificate)!)).toBe(true);
    }
    expect(Buffer.from(ed25519KeyOf(certificates[0]!)!).equals(Buffer.from(identity.publicKey))).toBe(true);
  });

  it("is undefined for ECDSA and RSA certificates, as through the KeyObject", async () => {
    for (const algorithm of [
      { name: "ECDSA", namedCurve: "P-256" },
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    ]) {
      const certificate = await selfSigned(algorithm, "CN=other");
      expect(ed25519KeyFromDer(certificate.raw)).toBeUndefined();
      expect(ed25519KeyOf(certificate)).toBeUndefined();
    }
  });

  it("is the subject key even when another Ed25519 key's SubjectPublicKeyInfo is carried elsewhere in the certificate", async () => {
    const victim = Identity.generate();
    const victimSpki = new Uint8Array(Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(victim.publicKey)]));
    // RFC 4514 `oid=#hex`: the attribute value is the given BER, a T61String (its bytes unchecked) holding the victim's SPKI as is.
    const certificate = await selfSigned({ name: "Ed25519" }, `CN=victim, 1.3.6.1.4.1.99999.2=#142c${Buffer.from(victimSpki).toString("hex")}`, [
      new x509.Extension("1.3.6.1.4.1.99999.1", false, victimSpki),
    ]);
    // Once in the subject (before the real key) and once in the extension (after it).
    const raw = certificate.raw;
    const first = raw.indexOf(Buffer.from(victimSpki));
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(raw.indexOf(Buffer.from("302a300506032b6570032100", "hex"), first + 1));
    expect(raw.indexOf(Buffer.from(victimSpki), first + 1)).toBeGreaterThan(first);
    const key = ed25519KeyOf(certificate);
    expect(key && Buffer.from(key).equals(keyObjectKey(certificate)!)).toBe(true);
    expect(key && Buffer.from(key).equals(Buffer.from(victim.publicKey))).toBe(false);
  });

  it("is the key or undefined, never other bytes, for every truncation and single-byte change of a certificate", async () => {
    const identity = Identity.generate();
    const der = new X509Certificate((await createTlsCredentials(identity)).cert).raw;
    const real = Buffer.from(identity.publicKey);
    for (let length = 0; length < der.length; length++) {
      const key = ed25519KeyFromDer(der.subarray(0, length));
      expect(key === undefined || Buffer.from(key).equals(real)).toBe(true);
    }
    for (let at = 0; at < der.length; at++) {
      const changed = Buffer.from(der);
      changed[at] = (changed[at] as number) ^ 0x80;
      const key = ed25519KeyFromDer(changed);
      // Only a change inside the key itself may change the key read.
      if (key !== undefined && !Buffer.from(key).equals(real)) {
        const keyAt = der.indexOf(real);
        expect(at >= keyAt && at < keyAt + 32).toBe(true);
      }
    }
  });
});
