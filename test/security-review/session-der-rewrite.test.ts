/**
 * Security review of withoutPeerCertificate (the dialer keeps each TLS session without the listener's
 * certificate). The session bytes are Node's serialisation of OpenSSL's SSL_SESSION; the rewrite must never
 * turn bytes into a session that means something else to OpenSSL: either the same Buffer comes back, or a
 * session whose top-level fields are the original's, byte for byte, without the `[3]` certificate. Checked on
 * hand-made layouts, on every single-byte change and every truncation of a real session, on random bytes,
 * and on real TLS (the rewritten session resumes with the same cipher and ALPN; a ticket of one listener
 * offered to another at the same address gives a full handshake under the other's certificate).
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { TlsSessionCache } from "../../src/transport/session-cache.js";
import { withoutPeerCertificate } from "../../src/transport/session-der.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import { createTlsCredentials } from "../../src/transport/tls-credentials.js";
import type { TlsCredentials } from "../../src/transport/types.js";
import type { SecureChannel } from "../../src/transport/types.js";
import { propertyRuns } from "../helpers/property-runs.js";
import { prng } from "../helpers/seeded-random.js";
import { destroyAll, startTestServer } from "../transport/fixtures.js";

interface Field {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

/** Independent reader: the top-level fields of a DER SEQUENCE (low tag numbers, definite lengths), or null. */
function topLevel(der: Buffer): { fields: Field[]; minimalHeader: boolean } | null {
  const length = (at: number): [start: number, end: number, minimal: boolean] | null => {
    if (at >= der.length) return null;
    const first = der[at] as number;
    if (first < 0x80) return [at + 1, at + 1 + first, true];
    const count = first & 0x7f;
    if (count === 0 || count > 4 || at + 1 + count > der.length) return null;
    let value = 0;
    for (let i = 0; i < count; i++) value = value * 256 + (der[at + 1 + i] as number);
    const minimal = value >= 0x80 && value >= 256 ** (count - 1);
    return [at + 1 + count, at + 1 + count + value, minimal];
  };
  if (der[0] !== 0x30) return null;
  const outer = length(1);
  if (outer === null || outer[1] !== der.length) return null;
  const fields: Field[] = [];
  for (let at = outer[0]; at < der.length; ) {
    const tag = der[at] as number;
    if ((tag & 0x1f) === 0x1f) return null;
    const value = length(at + 1);
    if (value === null || value[1] > der.length) return null;
    fields.push({ tag, start: at, end: value[1] });
    at = value[1];
  }
  return { fields, minimalHeader: outer[2] };
}

/** Universal fields first, then context fields in strictly increasing tag order: the SSL_SESSION_ASN1 layout. */
function inTemplateOrder(fields: readonly Field[]): boolean {
  let last = -1;
  for (const { tag } of fields) {
    if ((tag & 0xc0) === 0x80) {
      if ((tag & 0x1f) <= last) return false;
      last = tag & 0x1f;
    } else if (last >= 0) return false;
  }
  return true;
}

/**
 * The property: `session` back unchanged, or its fields without the one `[3]`, under a minimal header. Returns
 * what is wrong, or null (a plain check: it runs on every single-byte change of a session).
 */
function meaningChange(session: Buffer): string | null {
  const out = withoutPeerCertificate(session);
  if (out === session) return null;
  const hex = session.subarray(0, 48).toString("hex");
  const before = topLevel(session);
  if (before === null) return `rewrote a session that is no DER SEQUENCE of fields: ${hex}`;
  if (!inTemplateOrder(before.fields)) return `rewrote a session whose fields are out of order: ${hex}`;
  if (before.fields.filter((field) => field.tag === 0xa3).length !== 1) return `rewrote a session without exactly one [3]: ${hex}`;
  const after = topLevel(out);
  if (after === null || !after.minimalHeader) return `wrote no minimal DER SEQUENCE: ${hex}`;
  const kept = before.fields.filter((field) => field.tag !== 0xa3);
  if (after.fields.length !== kept.length) return `kept ${after.fields.length} fields of ${kept.length}: ${hex}`;
  for (let i = 0; i < kept.length; i++) {
    const a = after.fields[i] as Field;
    const b = kept[i] as Field;
    if (!out.subarray(a.start, a.end).equals(session.subarray(b.start, b.end))) return `changed field ${i}: ${hex}`;
  }
  return out.length < session.length ? null : `grew: ${hex}`;
}

function expectSameMeaning(session: Buffer): void {
  expect(meaningChange(session)).toBeNull();
}

function sequence(...fields: Buffer[]): Buffer {
  const body = Buffer.concat(fields);
  const n = body.length;
  const header =
    n < 0x80 ? [0x30, n] : n < 0x100 ? [0x30, 0x81, n] : n < 0x10000 ? [0x30, 0x82, n >> 8, n & 0xff] : [0x30, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from(header), body]);
}

function tlv(tag: number, value: Buffer): Buffer {
  return sequence(value).fill(tag, 0, 1);
}

let credentials: TlsCredentials;
let server: tls.Server;
let port: number;
/** A real session from Node's client socket (certificate included) and the cipher and ALPN it was made with. */
let real: { session: Buffer; cipher: string; alpn: string | false | null };

interface Connected {
  readonly reused: boolean;
  readonly cipher: string;
  readonly alpn: string | false | null;
  readonly protocol: string | null;
  readonly tickets: Buffer[];
}

async function connect(session?: Buffer): Promise<Connected> {
  const tickets: Buffer[] = [];
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    rejectUnauthorized: false,
    ALPNProtocols: ["peerlink/1+cert"],
    minVersion: "TLSv1.3",
    ...(session === undefined ? {} : { session }),
  });
  socket.on("session", (s: Buffer) => tickets.push(s));
  await once(socket, "secureConnect");
  const connected = { reused: socket.isSessionReused(), cipher: socket.getCipher().name, alpn: socket.alpnProtocol, protocol: socket.getProtocol(), tickets };
  socket.resume();
  await once(socket, "end");
  socket.destroy();
  return connected;
}

beforeAll(async () => {
  credentials = await createTlsCredentials(Identity.generate());
  server = tls.createServer({ ...credentials, minVersion: "TLSv1.3", ALPNProtocols: ["peerlink/1+cert"] }, (socket) => {
    socket.on("error", () => undefined);
    socket.end("x"); // application data after the handshake: the tickets go out first
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  port = (server.address() as AddressInfo).port;
  const { tickets, cipher, alpn } = await connect();
  expect(tickets.length).toBeGreaterThan(0);
  real = { session: tickets[0] as Buffer, cipher, alpn };
});

afterAll(async () => {
  server.close();
  await once(server, "close");
});

describe("withoutPeerCertificate on layouts OpenSSL does not write", () => {
  it("leaves a session with a high-tag-number field as it is (OpenSSL reads another field there)", () => {
    // bf 01 05 …: OpenSSL reads [1] (high-tag form) of 5 bytes; a one-byte-tag reader reads a 1-byte field and
    // finds an [3] inside [1]'s value.
    const session = sequence(Buffer.from([0x02, 0x01, 0x01, 0xbf, 0x01, 0x05, 0xa3, 0x03, 0x04, 0x01, 0x00]));
    expect(withoutPeerCertificate(session)).toBe(session);
  });

  it("leaves a session with the certificate field twice as it is (OpenSSL refuses it; without one it would not)", () => {
    const certificate = tlv(0xa3, tlv(0x30, Buffer.alloc(4, 1)));
    const other = tlv(0xa3, tlv(0x30, Buffer.alloc(4, 2)));
    const session = sequence(tlv(0x02, Buffer.from([1])), certificate, other);
    expect(withoutPeerCertificate(session)).toBe(session);
  });

  it("leaves a session with fields out of order as it is", () => {
    const certificate = tlv(0xa3, tlv(0x30, Buffer.alloc(4, 1)));
    const outOfOrder = sequence(tlv(0x02, Buffer.from([1])), certificate, tlv(0xa1, tlv(0x02, Buffer.from([5]))));
    const universalLate = sequence(tlv(0x02, Buffer.from([1])), certificate, tlv(0x04, Buffer.from([5])));
    expect(withoutPeerCertificate(outOfOrder)).toBe(outOfOrder);
    expect(withoutPeerCertificate(universalLate)).toBe(universalLate);
  });

  it("leaves a session with bytes after the certificate that are no field as it is", () => {
    const certificate = tlv(0xa3, tlv(0x30, Buffer.alloc(4, 1)));
    for (const trailing of [[0xa4], [0xa4, 0x05, 0x00], [0xa4, 0x80, 0x00, 0x00], [0xa4, 0x84, 0, 0, 0, 1, 0]]) {
      const session = sequence(tlv(0x02, Buffer.from([1])), certificate, Buffer.from(trailing));
      expect(withoutPeerCertificate(session)).toBe(session);
    }
  });

  it("re-encodes each length form of the session, with the kept fields byte for byte", () => {
    for (const size of [10, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x20000]) {
      const certificate = tlv(0xa3, Buffer.alloc(40, 3));
      const session = sequence(tlv(0x02, Buffer.from([1])), tlv(0x04, Buffer.alloc(size, 9)), certificate, tlv(0xa4, Buffer.alloc(5, 4)));
      const out = withoutPeerCertificate(session);
      expect(out).not.toBe(session);
      expectSameMeaning(session);
    }
  });
});

describe("withoutPeerCertificate on a real OpenSSL session, changed", () => {
  it("strips the certificate of the real session and nothing else", () => {
    expect(withoutPeerCertificate(real.session)).not.toBe(real.session);
    expectSameMeaning(real.session);
  });

  it("gives back every single-byte change either unchanged or with the same meaning without the certificate", () => {
    const session = Buffer.from(real.session);
    const failures: string[] = [];
    for (let at = 0; at < session.length; at++) {
      const original = session[at] as number;
      for (let v = 0; v < 256; v++) {
        session[at] = v;
        const failure = meaningChange(session);
        if (failure !== null && failures.length < 3) failures.push(`byte ${at} = ${v}: ${failure}`);
      }
      session[at] = original;
    }
    expect(failures).toEqual([]);
  });

  it("gives back every truncation unchanged", () => {
    for (let length = 0; length < real.session.length; length++) {
      const cut = real.session.subarray(0, length);
      expect(withoutPeerCertificate(cut)).toBe(cut);
    }
  });

  it("gives back random bytes, and random bytes under a SEQUENCE header, unchanged or with the same meaning", () => {
    const random = prng(0xde7_0001);
    const failures: string[] = [];
    const check = (session: Buffer): void => {
      const failure = meaningChange(session);
      if (failure !== null && failures.length < 3) failures.push(failure);
    };
    for (let run = 0; run < propertyRuns(3000); run++) {
      const body = Buffer.alloc(Math.floor(random() * 300));
      for (let i = 0; i < body.length; i++) body[i] = random() < 0.2 ? 0xa3 : Math.floor(random() * 256);
      check(body);
      check(sequence(body));
      // Random fields around a certificate, in any order: the rewrite happens only in template order.
      const fields: Buffer[] = [];
      for (let i = Math.floor(random() * 6); i > 0; i--) {
        const tag = [0x02, 0x04, 0xa1, 0xa2, 0xa3, 0xa4, 0xaa, 0xb0, 0xbf][Math.floor(random() * 9)] as number;
        fields.push(tlv(tag, Buffer.alloc(Math.floor(random() * 200), Math.floor(random() * 256))));
      }
      check(sequence(...fields));
    }
    expect(failures).toEqual([]);
  });
});

/** What OpenSSL makes of a client session offered to the real server: the handshake's outcome, or its error. */
async function outcome(session: Buffer): Promise<string> {
  const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["peerlink/1+cert"], minVersion: "TLSv1.3", session });
  socket.resume();
  const result = await new Promise<string>((resolve) => {
    socket.once("secureConnect", () => resolve(`reused ${socket.isSessionReused()} ${socket.getCipher().name} ${socket.alpnProtocol}`));
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
    socket.once("close", () => resolve("closed"));
  });
  socket.on("error", () => undefined);
  socket.destroy();
  if (!socket.closed) await once(socket, "close");
  return result;
}

describe("a rewritten real session on real TLS", () => {
  it("resumes with the cipher and ALPN of the original session", async () => {
    const stripped = withoutPeerCertificate(real.session);
    const resumed = await connect(stripped);
    expect(resumed.reused).toBe(true);
    expect(resumed.cipher).toBe(real.cipher);
    expect(resumed.alpn).toBe(real.alpn);
    expect(resumed.protocol).toBe("TLSv1.3");
  });

  it("changed outside its certificate, means to OpenSSL what the original means (sampled changes)", async () => {
    const fields = topLevel(real.session)?.fields ?? [];
    const certificate = fields.find((field) => field.tag === 0xa3) as Field;
    const random = prng(0x0ff5_e7ed);
    const differences: string[] = [];
    let compared = 0;
    for (let tries = 0; compared < propertyRuns(16) && tries < 10_000; tries++) {
      const at = Math.floor(random() * real.session.length);
      if (at >= certificate.start && at < certificate.end) continue;
      const changed = Buffer.from(real.session);
      changed[at] = Math.floor(random() * 256);
      const stripped = withoutPeerCertificate(changed);
      if (stripped === changed) continue;
      compared++;
      const [original, rewritten] = [await outcome(changed), await outcome(stripped)];
      if (original !== rewritten) differences.push(`byte ${at} = ${changed[at]}: ${original} / ${rewritten}`);
    }
    expect(compared).toBe(propertyRuns(16));
    expect(differences).toEqual([]);
  });

  it("offered to another listener at the same address, gives a full handshake under that listener's certificate", async () => {
    const cache = new TlsSessionCache();
    const tlsA = await resolveTls(Identity.generate());
    const tlsB = await resolveTls(Identity.generate());
    const dialer = await resolveTls(Identity.generate(), { sessionCache: cache });
    const a = await startTestServer(tlsA);
    const b = await startTestServer(tlsB);
    const channels: SecureChannel[] = [];
    try {
      const first = await dialChannel({ host: "127.0.0.1", port: a.port, tls: dialer });
      channels.push(first);
      const delivered = once(first.socket, "session");
      first.socket.resume();
      const firstIn = await a.nextInbound();
      if (firstIn.ok) channels.push(firstIn.channel);
      await delivered;
      // Another identity now answers at A's address (a restarted node with a new key, or another process): the
      // cache holds A's ticket, with A's key, under the address B is dialed at.
      const ticket = cache.takeTicket(`127.0.0.1:${a.port}`, dialer.ticketOwner);
      expect(ticket?.peerCertificateKey).toEqual(tlsA.ownCertificateKey);
      cache.add(`127.0.0.1:${b.port}`, ticket?.session as Buffer, ticket?.peerCertificateKey, dialer.ticketOwner);
      const second = await dialChannel({ host: "127.0.0.1", port: b.port, tls: dialer });
      channels.push(second);
      const secondIn = await b.nextInbound();
      if (secondIn.ok) channels.push(secondIn.channel);
      expect(second.sessionReused).toBe(false);
      expect(second.peerCertificateKey).toEqual(tlsB.ownCertificateKey);
    } finally {
      await destroyAll(...channels);
      await a.close();
      await b.close();
    }
  });
});
