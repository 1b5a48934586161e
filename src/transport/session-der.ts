/**
 * Internal: a TLS client session as Node serialises it, without the server certificate it carries.
 *
 * @module
 */
import { readTlv, tlv } from "./der.js";

/** Context tag of the peer certificate in OpenSSL's SSL_SESSION_ASN1: `peer [3] EXPLICIT X509 OPTIONAL`. */
const PEER_CERTIFICATE_TAG = 0xa3;
/** DER SEQUENCE tag: the session is one. */
const SEQUENCE_TAG = 0x30;
/** Low five bits of a tag byte: the tag number, or all ones for the high-tag-number form (never in a session). */
const HIGH_TAG_NUMBER = 0x1f;
/** Class bits of a tag byte. */
const CLASS_MASK = 0xc0;
/** Context-specific class: every optional field of a session ([0] to [20]), after the universal ones. */
const CONTEXT_CLASS = 0x80;

/**
 * `session` (a client socket's `'session'` event value: OpenSSL's DER SSL_SESSION_ASN1) without its `peer`
 * field, the server's certificate; the same Buffer when it has none or is not laid out as expected.
 *
 * Why: offering a session (`setSession`) decodes everything in it, and decoding the certificate (its public
 * key through OpenSSL 3's decoders) is most of the cost, ~0.1 ms per resumed dial, for a certificate nothing
 * reads. A resumption handshake carries no certificate, Node does not return this one on a resumed client
 * session, and peerlink checks a certificate-bound Hello against the key kept with the ticket
 * (docs/PROTOCOL.md §3.3). Without the certificate, Node takes a resumed TLS 1.3 session as verified instead
 * of reading the verification result stored in it: a client that verifies the chain (a CA) is given sessions
 * only by connections that passed, so that result was a pass.
 */
export function withoutPeerCertificate(session: Buffer): Buffer {
  if (readTlv(session, 0, session.length) !== SEQUENCE_TAG || tlv.end !== session.length) return session;
  const bodyStart = tlv.start;
  let cut = -1;
  let resume = -1;
  // Every field is walked, not only those before the certificate: the copy is made only when the whole session
  // is laid out as OpenSSL writes it, so that the fields kept mean to OpenSSL what they meant with the
  // certificate (a high-tag-number form would be read at other boundaries; a second [3], or fields out of
  // order, would make a session OpenSSL refuses into one it accepts).
  let lastContextTag = -1;
  let at = bodyStart;
  while (at < session.length) {
    const tag = session[at] as number;
    if ((tag & HIGH_TAG_NUMBER) === HIGH_TAG_NUMBER) return session;
    if ((tag & CLASS_MASK) === CONTEXT_CLASS) {
      if ((tag & HIGH_TAG_NUMBER) <= lastContextTag) return session;
      lastContextTag = tag & HIGH_TAG_NUMBER;
    } else if (lastContextTag >= 0) return session;
    if (readTlv(session, at, session.length) < 0) return session;
    const end = tlv.end;
    if (tag === PEER_CERTIFICATE_TAG) {
      cut = at;
      resume = end;
    }
    at = end;
  }
  return cut < 0 ? session : joined(session, bodyStart, cut, resume);
}

/** The session's fields before `cut` and from `resume` on, under a new SEQUENCE header. */
function joined(session: Buffer, bodyStart: number, cut: number, resume: number): Buffer {
  const length = cut - bodyStart + (session.length - resume);
  const header = length < 0x80 ? 2 : length < 0x100 ? 3 : length < 0x10000 ? 4 : 5;
  // Not from the shared pool: the session is kept (in the cache), and a pooled view would keep the pool with it.
  const out = Buffer.allocUnsafeSlow(header + length);
  out[0] = SEQUENCE_TAG;
  if (header === 2) out[1] = length;
  else {
    out[1] = 0x80 | (header - 2);
    for (let i = header - 1, rest = length; i >= 2; i--, rest >>>= 8) out[i] = rest & 0xff;
  }
  session.copy(out, header, bodyStart, cut);
  session.copy(out, header + cut - bodyStart, resume);
  return out;
}
