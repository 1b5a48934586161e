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
  const agent = utf8.encode(fields.agent);
  const protocolNames = fields.protocols.map((p) => utf8.encode(p.name));
  const capabilityNames = fields.capabilities.map((c) => utf8.encode(c.name));
  const addrs = fields.listenAddrs.map((a) => utf8.encode(a));

  // Sizes first (nested messages need their length before their bytes).
  const protocolSizes = fields.protocols.map((p, i) => {
    const packed = p.versions.reduce((n, v) => n + varintLength(v), 0);
    return bytesFieldSize((protocolNames[i] as Uint8Array).length) + bytesFieldSize(packed) + varintFieldSize(p.alias);
  });
  const capabilitySizes = fields.capabilities.map(
    (c, i) => bytesFieldSize((capabilityNames[i] as Uint8Array).length) + varintFieldSize(c.version) + (c.required ? 2 : 0),
  );
  let hello =
    varintFieldSize(fields.minVersion) +
    varintFieldSize(fields.maxVersion) +
    bytesFieldSize(fields.peerId.length) +
    varintFieldSize(fields.keyType) +
    bytesFieldSize(fields.publicKey.length) +
    bytesFieldSize(fields.nonce.length) +
    varintFieldSize(fields.binding) +
    bytesFieldSize(fields.proof.length) +
    (fields.earlyData ? 2 : 0) +
    bytesFieldSize(agent.length);
  // Repeated message and string fields are written even when empty (each element is a field).
  for (const size of protocolSizes) hello += 1 + varintLength(size) + size;
  for (const size of capabilitySizes) hello += 1 + varintLength(size) + size;
  for (const a of addrs) hello += 1 + varintLength(a.length) + a.length;

  const bodyLength = 1 + varintLength(hello) + hello;
  const prefix = varintLength(bodyLength);
  const out = new Uint8Array(prefix + bodyLength);
  let o = writeVarint(bodyLength, out, 0);
  out[o++] = FRAME_HELLO_TAG;
  o = writeVarint(hello, out, o);

  const writeUint = (field: number, value: number): void => {
    if (value === 0) return;
    out[o++] = tag(field, 0);
    o = writeVarint(value, out, o);
  };
  const writeBytes = (field: number, value: Uint8Array, always = false): void => {
    if (value.length === 0 && !always) return;
    out[o++] = tag(field, 2);
    o = writeVarint(value.length, out, o);
    out.set(value, o);
    o += value.length;
  };

  writeUint(1, fields.minVersion);
  writeUint(2, fields.maxVersion);
  writeBytes(3, fields.peerId);
  writeUint(4, fields.keyType);
  writeBytes(5, fields.publicKey);
  writeBytes(6, fields.nonce);
  fields.protocols.forEach((p, i) => {
    out[o++] = tag(7, 2);
    o = writeVarint(protocolSizes[i] as number, out, o);
    writeBytes(1, protocolNames[i] as Uint8Array);
    const packed = p.versions.reduce((n, v) => n + varintLength(v), 0);
    if (packed > 0) {
      out[o++] = tag(2, 2);
      o = writeVarint(packed, out, o);
      for (const v of p.versions) o = writeVarint(v, out, o);
    }
    writeUint(3, p.alias);
  });
  fields.capabilities.forEach((c, i) => {
    out[o++] = tag(8, 2);
    o = writeVarint(capabilitySizes[i] as number, out, o);
    writeBytes(1, capabilityNames[i] as Uint8Array);
    writeUint(2, c.version);
    if (c.required) {
      out[o++] = tag(3, 0);
      out[o++] = 1;
    }
  });
  for (const a of addrs) writeBytes(9, a, true);
  writeUint(10, fields.binding);
  writeBytes(11, fields.proof);
  if (fields.earlyData) {
    out[o++] = tag(12, 0);
    out[o++] = 1;
  }
  writeBytes(13, agent);
  return { body: out.subarray(prefix), bytes: out };
}
