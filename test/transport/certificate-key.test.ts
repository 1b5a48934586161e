import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/identity.js";
import { ed25519KeyOf } from "../../src/transport/certificate-key.js";
import { createTlsCredentials } from "../../src/transport/tls-credentials.js";

describe("the Ed25519 key of a certificate", () => {
  it("is the identity key of a peerlink certificate, in an array of its own (not a view into a shared pool)", async () => {
    const identity = Identity.generate();
    const key = ed25519KeyOf(new X509Certificate((await createTlsCredentials(identity)).cert));
    expect(key && Buffer.from(key).equals(Buffer.from(identity.publicKey))).toBe(true);
    // Kept in tickets and handed out by the session cache: it must not expose other bytes through `.buffer`.
    expect(key?.buffer.byteLength).toBe(32);
  });
});
