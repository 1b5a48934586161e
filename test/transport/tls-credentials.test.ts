import { describe, expect, it } from "vitest";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { CERTIFICATE_BACKDATE_MS, DEFAULT_CERTIFICATE_VALIDITY_MS, createTlsCredentials } from "../../src/transport/tls-credentials.js";

describe("creating TLS credentials for an identity", () => {
  it("makes a self-signed certificate for the identity key, named by its peer id", async () => {
    const identity = Identity.generate();
    const before = Date.now();
    const { key, cert } = await createTlsCredentials(identity);
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toBe(`CN=${identity.peerId.toString()}`);
    expect(x509.issuer).toBe(x509.subject);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.ca).toBe(false);
    const certKey = x509.publicKey.export({ format: "der", type: "spki" });
    expect(certKey).toEqual(createPublicKey(identity.privateKey).export({ format: "der", type: "spki" }));
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);
    const notBefore = Date.parse(x509.validFrom);
    const notAfter = Date.parse(x509.validTo);
    expect(notBefore).toBeLessThanOrEqual(before - CERTIFICATE_BACKDATE_MS + 1000);
    expect(notAfter).toBeGreaterThanOrEqual(before + DEFAULT_CERTIFICATE_VALIDITY_MS - 1000);
    expect(notAfter).toBeLessThanOrEqual(Date.now() + DEFAULT_CERTIFICATE_VALIDITY_MS);
  });

  it("returns the cached credentials for the same identity", async () => {
    const identity = Identity.generate();
    const first = await createTlsCredentials(identity);
    const second = await createTlsCredentials(identity);
    expect(second).toBe(first);
    expect(await createTlsCredentials(Identity.generate())).not.toBe(first);
  });

  it("makes a fresh certificate once less than half of the validity remains", async () => {
    const identity = Identity.generate();
    let now = Date.now();
    const validityMs = 3_600_000;
    const first = await createTlsCredentials(identity, { validityMs, now: () => now });
    now += validityMs * 0.4;
    expect(await createTlsCredentials(identity, { validityMs, now: () => now })).toBe(first);
    now += validityMs * 0.2;
    const renewed = await createTlsCredentials(identity, { validityMs, now: () => now });
    expect(renewed).not.toBe(first);
    expect(Date.parse(new X509Certificate(renewed.cert).validTo)).toBeGreaterThan(
      Date.parse(new X509Certificate(first.cert).validTo),
    );
  });

  it("rejects a validity under a minute with INVALID_ARGUMENT", async () => {
    await expect(createTlsCredentials(Identity.generate(), { validityMs: 59_999 })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
    });
  });
});
