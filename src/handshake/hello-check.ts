/**
 * Structural checks of a received Hello (docs/PROTOCOL.md §3.2), before any
 * signature or negotiation work.
 *
 * @module
 */
import type { Hello } from "../../generated/peerlink/v1/handshake_pb.js";
import { KeyType } from "../../generated/peerlink/v1/handshake_pb.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { base32DecodeInto } from "../identity/base32.js";
import { PeerId, peerIdDigest } from "../identity/peer-id.js";
import { isSmallOrderKey } from "../identity/small-order.js";
import {
  MAX_CAPABILITY_NAME_BYTES,
  MAX_HELLO_LIST_ENTRIES,
  MAX_PROTOCOL_NAME_BYTES,
  NONCE_LENGTH,
} from "./defaults.js";
import type { HandshakeRole } from "./types.js";
import { firstIndex, sameBytes, SMALL_LIST } from "./list-checks.js";

/** Outcome of {@link checkHello}. */
export type HelloCheck =
  | {
      readonly ok: true;
      readonly peerId: PeerId;
      /** The key's 32 bytes as a one-byte string (see {@link keyText}). */
      readonly keyText: string;
    }
  | { readonly ok: false; readonly error: PeerlinkError };

/**
 * Checks a peer's Hello: field sizes, key type, version range, list sizes,
 * name lengths and unique aliases (PROTOCOL_VIOLATION); that `peer_id` is the
 * hash of `public_key` (AUTHENTICATION_FAILED); that a listener did not
 * announce early data (PROTOCOL_VIOLATION). `sender` is the peer's role.
 */
export function checkHello(hello: Hello, sender: HandshakeRole): HelloCheck {
  if (hello.keyType !== KeyType.ED25519) return violation(`unsupported key type ${hello.keyType}`);
  if (hello.publicKey.length !== 32) return violation(`public_key is ${hello.publicKey.length} bytes, want 32`);
  if (hello.peerId.length !== 32) return violation(`peer_id is ${hello.peerId.length} bytes, want 32`);
  if (hello.nonce.length !== NONCE_LENGTH) return violation(`nonce is ${hello.nonce.length} bytes, want ${NONCE_LENGTH}`);
  if (hello.minVersion < 1 || hello.minVersion > hello.maxVersion) {
    return violation(`version range ${hello.minVersion}..${hello.maxVersion} is empty`);
  }
  if (
    hello.protocols.length > MAX_HELLO_LIST_ENTRIES ||
    hello.capabilities.length > MAX_HELLO_LIST_ENTRIES ||
    hello.listenAddrs.length > MAX_HELLO_LIST_ENTRIES
  ) {
    return violation(`more than ${MAX_HELLO_LIST_ENTRIES} protocols, capabilities or listen addresses`);
  }
  // Duplicates: a scan of the entries before for the few a node lists, Sets above (the peer picks the sizes).
  const protocols = hello.protocols;
  const small = protocols.length <= SMALL_LIST;
  const aliases = small ? undefined : new Set<number>();
  const protocolNames = small ? undefined : new Set<string>();
  for (let i = 0; i < protocols.length; i++) {
    const p = protocols[i] as (typeof protocols)[number];
    const length = Buffer.byteLength(p.name, "utf8");
    if (length === 0 || length > MAX_PROTOCOL_NAME_BYTES) return violation(`protocol name of ${length} bytes`);
    if (protocolNames === undefined ? firstIndex(protocols, p.name, i) >= 0 : protocolNames.has(p.name)) {
      return violation(`protocol ${JSON.stringify(p.name)} listed twice`);
    }
    if (aliases === undefined ? aliasBefore(protocols, i, p.alias) : aliases.has(p.alias)) return violation(`alias ${p.alias} used twice`);
    if (p.versions.length > MAX_HELLO_LIST_ENTRIES) return violation(`too many versions for ${JSON.stringify(p.name)}`);
    protocolNames?.add(p.name);
    aliases?.add(p.alias);
  }
  const capabilities = hello.capabilities;
  const capabilityNames = capabilities.length <= SMALL_LIST ? undefined : new Set<string>();
  for (let i = 0; i < capabilities.length; i++) {
    const c = capabilities[i] as (typeof capabilities)[number];
    const length = Buffer.byteLength(c.name, "utf8");
    if (length === 0 || length > MAX_CAPABILITY_NAME_BYTES) return violation(`capability name of ${length} bytes`);
    if (capabilityNames === undefined ? firstIndex(capabilities, c.name, i) >= 0 : capabilityNames.has(c.name)) {
      return violation(`capability ${JSON.stringify(c.name)} listed twice`);
    }
    capabilityNames?.add(c.name);
  }
  if (sender === "listener" && hello.earlyData) return violation("a listener announced early data");
  // The key's peer id, hashed and encoded once per key seen lately (a peer that reconnects, a node dialed again).
  const keyText = keyTextOf(hello.publicKey);
  let peerId = peerIdsByKey.get(keyText);
  const derived = peerId === undefined ? peerIdDigest(hello.publicKey, hello.keyType) : base32DecodeInto(peerId.toString(), DIGEST_SCRATCH);
  if (!sameBytes(derived, hello.peerId)) {
    return {
      ok: false,
      error: new PeerlinkError(ErrorCode.AUTHENTICATION_FAILED, "peer_id is not the hash of public_key", {
        initiator: "local",
      }),
    };
  }
  if (isSmallOrderKey(hello.publicKey)) {
    return {
      ok: false,
      error: new PeerlinkError(ErrorCode.AUTHENTICATION_FAILED, "public_key has small order: anyone can sign for it", {
        initiator: "local",
      }),
    };
  }
  if (peerId === undefined) {
    peerId = PeerId.fromBytes(derived);
    if (peerIdsByKey.size >= MAX_KNOWN_KEYS) peerIdsByKey.clear();
    peerIdsByKey.set(keyText, peerId);
  }
  return { ok: true, peerId, keyText };
}

/**
 * The 32 bytes of `key` as a one-byte string, for keys checked to be 32 bytes long. Each byte an argument:
 * `apply` or a spread would first copy the bytes into an argument list (~0.3 KiB, 3× the time).
 */
export function keyTextOf(b: Uint8Array): string {
  return String.fromCharCode(
    b[0] as number, b[1] as number, b[2] as number, b[3] as number, b[4] as number, b[5] as number, b[6] as number, b[7] as number,
    b[8] as number, b[9] as number, b[10] as number, b[11] as number, b[12] as number, b[13] as number, b[14] as number, b[15] as number,
    b[16] as number, b[17] as number, b[18] as number, b[19] as number, b[20] as number, b[21] as number, b[22] as number, b[23] as number,
    b[24] as number, b[25] as number, b[26] as number, b[27] as number, b[28] as number, b[29] as number, b[30] as number, b[31] as number,
  );
}

/**
 * The peer ids of the keys of Hellos that passed the checks lately, by the key's bytes as a one-byte string
 * (~50 B an entry beside the id, which the connection keeps anyway). A pure function of the key, so nothing a
 * peer sends can make an entry wrong; bounded (cleared when full) against a flood of fresh keys.
 */
const peerIdsByKey = new Map<string, PeerId>();
const MAX_KNOWN_KEYS = 1024;
/** The id bytes of a known key, decoded from its text to compare with the Hello's (single-threaded, never kept). */
const DIGEST_SCRATCH = new Uint8Array(32);

/** True when an entry before `end` has alias `alias`. */
function aliasBefore(list: readonly { readonly alias: number }[], end: number, alias: number): boolean {
  for (let j = 0; j < end; j++) if ((list[j] as { readonly alias: number }).alias === alias) return true;
  return false;
}

function violation(message: string): HelloCheck {
  return { ok: false, error: new PeerlinkError(ErrorCode.PROTOCOL_VIOLATION, `bad Hello: ${message}`, { initiator: "local" }) };
}
