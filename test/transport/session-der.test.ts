import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import type { TLSSocket } from "node:tls";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { TlsSessionCache } from "../../src/transport/session-cache.js";
import { withoutPeerCertificate } from "../../src/transport/session-der.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import type { ResolvedTls, SecureChannel } from "../../src/transport/types.js";
import { destroyAll, startTestServer } from "./fixtures.js";
import { countTransportHandles, expectHandlesBackTo } from "./resources.js";
import { createTestCa, type TestCa } from "./test-ca.js";

let baseline: number;
let ca: TestCa;
let listenerTls: ResolvedTls;
let listenerCertificate: Buffer;

beforeAll(async () => {
  baseline = countTransportHandles();
  ca = await createTestCa("peerlink session test CA");
  const identity = Identity.generate();
  listenerTls = await resolveTls(identity, { credentials: await ca.issue(identity), ca: [ca.certificate] });
  listenerCertificate = new X509Certificate(listenerTls.certificate).raw;
});

afterAll(async () => {
  await expectHandlesBackTo(baseline);
});

/** The top-level tags of a DER SEQUENCE (single-byte tags, definite lengths). */
function topLevelTags(der: Buffer): number[] {
  const tags: number[] = [];
  const lengthAt = (at: number): [start: number, end: number] => {
    const first = der[at] as number;
    if (first < 0x80) return [at + 1, at + 1 + first];
    let length = 0;
    for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + (der[at + 1 + i] as number);
    return [at + 1 + (first & 0x7f), at + 1 + (first & 0x7f) + length];
  };
  const [start, end] = lengthAt(1);
  expect(end).toBe(der.length);
  for (let at = start; at < end; at = lengthAt(at + 1)[1]) tags.push(der[at] as number);
  return tags;
}

describe("a TLS client session without the server certificate", () => {
  it("is what the dialer keeps, with the listener's key beside it, and it resumes verified under a CA", async () => {
    const cache = new TlsSessionCache();
    const dialerIdentity = Identity.generate();
    const tls = await resolveTls(dialerIdentity, { credentials: await ca.issue(dialerIdentity), ca: [ca.certificate], sessionCache: cache });
    const server = await startTestServer(listenerTls);
    const channels: SecureChannel[] = [];
    try {
      const first = await dialChannel({ host: "127.0.0.1", port: server.port, tls });
      channels.push(first);
      // The collector of dialChannel listens first: when this listener runs, the ticket is stored.
      const delivered = once(first.socket, "session") as Promise<[Buffer]>;
      first.socket.resume();
      const firstIn = await server.nextInbound();
      if (!firstIn.ok) throw firstIn.error;
      channels.push(firstIn.channel);
      const [session] = await delivered;

      expect(session.includes(listenerCertificate)).toBe(true);
      expect(topLevelTags(session)).toContain(0xa3);
      const stripped = withoutPeerCertificate(session);
      expect(stripped.includes(listenerCertificate)).toBe(false);
      expect(topLevelTags(stripped)).toEqual(topLevelTags(session).filter((tag) => tag !== 0xa3));
      const kept = cache.takeTicket(`127.0.0.1:${server.port}`, tls.ticketOwner);
      expect(kept?.session).toEqual(stripped);
      expect(kept?.peerCertificateKey).toEqual(listenerTls.ownCertificateKey);
      cache.add(`127.0.0.1:${server.port}`, kept?.session as Buffer, kept?.peerCertificateKey, tls.ticketOwner);

      const second = await dialChannel({ host: "127.0.0.1", port: server.port, tls });
      channels.push(second);
      const secondIn = await server.nextInbound();
      if (!secondIn.ok) throw secondIn.error;
      channels.push(secondIn.channel);
      expect(second.sessionReused).toBe(true);
      expect(secondIn.channel.sessionReused).toBe(true);
      expect((second.socket as TLSSocket).authorized).toBe(true);
      expect(second.certificateBinding).toBe(true);
      expect(second.peerCertificateKey).toEqual(listenerTls.ownCertificateKey);
    } finally {
      await destroyAll(...channels);
      await server.close();
    }
  });

  it("is never kept from a connection whose server certificate failed verification", async () => {
    const cache = new TlsSessionCache();
    const other = await createTestCa("a CA the listener's certificate does not chain to");
    const dialerIdentity = Identity.generate();
    const tls = await resolveTls(dialerIdentity, { credentials: await ca.issue(dialerIdentity), ca: [other.certificate], sessionCache: cache });
    const server = await startTestServer(listenerTls);
    try {
      await expect(dialChannel({ host: "127.0.0.1", port: server.port, tls })).rejects.toMatchObject({ code: ErrorCode.TLS_FAILED });
      await server.nextInbound();
      expect(cache.size).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("is re-encoded with a minimal length, the other fields byte for byte", () => {
    const certificate = Buffer.concat([Buffer.from([0xa3, 0x82, 0x01, 0x2c]), Buffer.alloc(300, 7)]);
    const before = Buffer.from([0x02, 0x01, 0x01, 0x04, 0x02, 0xaa, 0xbb]);
    const after = Buffer.from([0xa4, 0x03, 0x04, 0x01, 0xcc]);
    const body = Buffer.concat([before, certificate, after]);
    const session = Buffer.concat([Buffer.from([0x30, 0x82, body.length >> 8, body.length & 0xff]), body]);
    expect(withoutPeerCertificate(session)).toEqual(Buffer.concat([Buffer.from([0x30, before.length + after.length]), before, after]));
  });

  it("is the same Buffer when there is no certificate or the layout is not the expected one", () => {
    const cases = [
      Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), // no [3] field
      Buffer.from([0x31, 0x05, 0xa3, 0x03, 0x04, 0x01, 0x00]), // a SET, not a SEQUENCE
      Buffer.from([0x30, 0x80, 0xa3, 0x03, 0x04, 0x01, 0x00, 0x00, 0x00]), // indefinite length
      Buffer.from([0x30, 0x05, 0xa3, 0x09, 0x04, 0x01, 0x00]), // a field longer than the session
      Buffer.from([0x30, 0x09, 0xa3, 0x03, 0x04, 0x01, 0x00]), // a session shorter than it says
      Buffer.from([0x30, 0x04, 0x02, 0x01, 0x01, 0xa3]), // truncated at a field's length
      Buffer.from([0x30]),
    ];
    for (const session of cases) expect(withoutPeerCertificate(session)).toBe(session);
  });
});
