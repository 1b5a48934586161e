/**
 * Internal: encodes `Frame{hello}` by hand, byte for byte what `toBinary(FrameSchema, …)` writes (fields in
 * number order, proto3 defaults left out, `versions` packed), without the generic reflection path: every
 * connection writes one Hello, and the generic encoder was ~3 % of a connection's setup CPU.
 * A differential test holds it to protobuf-es's output.
 *
 * @module
 */
import type { ChannelBinding, KeyType } from "../../generated/peerlink/v1/handshake_pb.js";
import { varintLength, writeVarint } from "../wire/varint.js";
import type { EncodedFrame } from "./frame-bytes.js";

/** The fields of a Hello, as the handshake fills them. */
export interface HelloFields {
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly peerId: Uint8Array;
  readonly keyType: KeyType;
  readonly publicKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly protocols: readonly { readonly name: string; readonly versions: readonly number[]; readonly alias: number }[];
  readonly capabilities: readonly { readonly name: string; readonly version: number; readonly required: boolean }[];
  readonly listenAddrs: readonly string[];
  readonly binding: ChannelBinding;
  readonly proof: Uint8Array;
  readonly earlyData: boolean;
  readonly agent: string;
}

/** Frame field 4 (`hello`), wire type 2. */
const FRAME_HELLO_TAG = (4 << 3) | 2;
const utf8 = new TextEncoder();

/** Wire tag byte of field `n` (< 16) with wire type `w`. */
const tag = (n: number, w: number): number => (n << 3) | w;

/** A byte string field's size: tag, length, bytes (left out when empty, as proto3 does). */
const bytesFieldSize = (length: number): number => (length === 0 ? 0 : 1 + varintLength(length) + length);
/** A uint32/enum field's size (left out when 0). */
const varintFieldSize = (value: number): number => (value === 0 ? 0 : 1 + varintLength(value));

/** Encodes `Frame{hello: fields}`: the body and the length-prefixed bytes to write. */
export function encodeHelloFrame(fields: HelloFields): EncodedFrame {
  return encodeHelloFrameWith(fields, encodeHelloLists(fields.protocols, fields.capabilities, fields.listenAddrs), utf8.encode(fields.agent));
}

/**
 * Hello fields 7–9 (`protocols`, `capabilities`, `listen_addrs`) as they appear inside the Hello message. They
 * are the same on every connection of a node, so the handshake encodes them once and passes them to
 * {@link encodeHelloFrameWith}.
 */
export function encodeHelloLists(
  protocols: HelloFields["protocols"],
  capabilities: HelloFields["capabilities"],
  listenAddrs: HelloFields["listenAddrs"],
): Uint8Array {
  const protocolNames = protocols.map((p) => utf8.encode(p.name));
  const capabilityNames = capabilities.map((c) => utf8.encode(c.name));
  const addrs = listenAddrs.map((a) => utf8.encode(a));
  // Sizes first (nested messages need their length before their bytes).
  const packedSizes = protocols.map((p) => p.versions.reduce((n, v) => n + varintLength(v), 0));
  const protocolSizes = protocols.map(
    (p, i) => bytesFieldSize((protocolNames[i] as Uint8Array).length) + bytesFieldSize(packedSizes[i] as number) + varintFieldSize(p.alias),
  );
  const capabilitySizes = capabilities.map(
    (c, i) => bytesFieldSize((capabilityNames[i] as Uint8Array).length) + varintFieldSize(c.version) + (c.required ? 2 : 0),
  );
  // Repeated message and string fields are written even when empty (each element is a field).
  let size = 0;
  for (const s of protocolSizes) size += 1 + varintLength(s) + s;
  for (const s of capabilitySizes) size += 1 + varintLength(s) + s;
  for (const a of addrs) size += 1 + varintLength(a.length) + a.length;

  const out = new Uint8Array(size);
  let o = 0;
  protocols.forEach((p, i) => {
    out[o++] = tag(7, 2);
    o = writeVarint(protocolSizes[i] as number, out, o);
    o = writeBytes(out, o, 1, protocolNames[i] as Uint8Array);
    const packed = packedSizes[i] as number;
    if (packed > 0) {
      out[o++] = tag(2, 2);
      o = writeVarint(packed, out, o);
      for (const v of p.versions) o = writeVarint(v, out, o);
    }
    o = writeUint(out, o, 3, p.alias);
  });
  capabilities.forEach((c, i) => {
    out[o++] = tag(8, 2);
    o = writeVarint(capabilitySizes[i] as number, out, o);
    o = writeBytes(out, o, 1, capabilityNames[i] as Uint8Array);
    o = writeUint(out, o, 2, c.version);
    if (c.required) {
      out[o++] = tag(3, 0);
      out[o++] = 1;
    }
  });
  for (const a of addrs) o = writeBytes(out, o, 9, a, true);
  return out;
}

/** Where the per-node and per-connection byte fields lie in an encoded Hello frame (offsets into its `bytes`, prefix included). */
export interface HelloFieldOffsets {
  peerId: number;
  publicKey: number;
  nonce: number;
  proof: number;
}

/**
 * Encodes `Frame{hello: fields}` with fields 7–9 already encoded (`lists`, from {@link encodeHelloLists} of the
 * same lists; `fields`' own lists are not read) and the agent already UTF-8 (`agent`). When `at` is given, the
 * offsets of the peer id, public key, nonce and proof bytes are written into it.
 */
export function encodeHelloFrameWith(fields: HelloFields, lists: Uint8Array, agent: Uint8Array, at?: HelloFieldOffsets): EncodedFrame {
  const hello =
    varintFieldSize(fields.minVersion) +
    varintFieldSize(fields.maxVersion) +
    bytesFieldSize(fields.peerId.length) +
    varintFieldSize(fields.keyType) +
    bytesFieldSize(fields.publicKey.length) +
    bytesFieldSize(fields.nonce.length) +
    lists.length +
    varintFieldSize(fields.binding) +
    bytesFieldSize(fields.proof.length) +
    (fields.earlyData ? 2 : 0) +
    bytesFieldSize(agent.length);

  const bodyLength = 1 + varintLength(hello) + hello;
  const prefix = varintLength(bodyLength);
  const out = new Uint8Array(prefix + bodyLength);
  let o = writeVarint(bodyLength, out, 0);
  out[o++] = FRAME_HELLO_TAG;
  o = writeVarint(hello, out, o);
  o = writeUint(out, o, 1, fields.minVersion);
  o = writeUint(out, o, 2, fields.maxVersion);
  o = writeBytes(out, o, 3, fields.peerId);
  const peerIdEnd = o;
  o = writeUint(out, o, 4, fields.keyType);
  o = writeBytes(out, o, 5, fields.publicKey);
  const publicKeyEnd = o;
  o = writeBytes(out, o, 6, fields.nonce);
  const nonceEnd = o;
  out.set(lists, o);
  o += lists.length;
  o = writeUint(out, o, 10, fields.binding);
  o = writeBytes(out, o, 11, fields.proof);
  if (at !== undefined) {
    // Each field's bytes end where writeBytes returned.
    at.peerId = peerIdEnd - fields.peerId.length;
    at.publicKey = publicKeyEnd - fields.publicKey.length;
    at.nonce = nonceEnd - fields.nonce.length;
    at.proof = o - fields.proof.length;
  }
  if (fields.earlyData) {
    out[o++] = tag(12, 0);
    out[o++] = 1;
  }
  writeBytes(out, o, 13, agent);
  return { body: out.subarray(prefix), bytes: out };
}

/** Writes a uint32/enum field at `o` (nothing when 0); returns the offset after it. */
function writeUint(out: Uint8Array, o: number, field: number, value: number): number {
  if (value === 0) return o;
  out[o++] = tag(field, 0);
  return writeVarint(value, out, o);
}

/** Writes a byte string field at `o` (nothing when empty, unless `always`); returns the offset after it. */
function writeBytes(out: Uint8Array, o: number, field: number, value: Uint8Array, always = false): number {
  if (value.length === 0 && !always) return o;
  out[o++] = tag(field, 2);
  o = writeVarint(value.length, out, o);
  out.set(value, o);
  return o + value.length;
}
