/**
 * The byte strings the identity proof signs (docs/PROTOCOL.md §3.3).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { NONCE_BINDING_LABEL, TLS_BINDING_LABEL } from "./defaults.js";
import type { HandshakeRole } from "./types.js";

const encoder = new TextEncoder();
const TLS_LABEL_BYTES = encoder.encode(TLS_BINDING_LABEL);
const NONCE_LABEL_BYTES = encoder.encode(NONCE_BINDING_LABEL);

/** The role byte of a proof: `0x01` when the signer is the dialer, `0x02` when it is the listener. */
export function roleByte(role: HandshakeRole): number {
  return role === "dialer" ? 0x01 : 0x02;
}

/**
 * What the TLS-bound proof signs:
 * `"peerlink-v1-tls-binding" ‖ role ‖ exporter` (23 + 1 + 32 bytes).
 */
export function tlsBindingPayload(signer: HandshakeRole, exporter: Uint8Array): Uint8Array {
  const out = new Uint8Array(TLS_LABEL_BYTES.length + 1 + exporter.length);
  out.set(TLS_LABEL_BYTES, 0);
  out[TLS_LABEL_BYTES.length] = roleByte(signer);
  out.set(exporter, TLS_LABEL_BYTES.length + 1);
  return out;
}

/**
 * What the nonce-bound proof (plain TCP `Auth`) signs:
 * `"peerlink-v1-nonce-binding" ‖ role ‖ SHA-256(dialer Hello body) ‖ SHA-256(listener Hello body)`,
 * where a Hello body is the exact Frame bytes as sent, without the length prefix.
 */
export function nonceBindingPayload(
  signer: HandshakeRole,
  dialerHelloBody: Uint8Array,
  listenerHelloBody: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(NONCE_LABEL_BYTES.length + 1 + 64);
  out.set(NONCE_LABEL_BYTES, 0);
  out[NONCE_LABEL_BYTES.length] = roleByte(signer);
  out.set(sha256(dialerHelloBody), NONCE_LABEL_BYTES.length + 1);
  out.set(sha256(listenerHelloBody), NONCE_LABEL_BYTES.length + 33);
  return out;
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}
