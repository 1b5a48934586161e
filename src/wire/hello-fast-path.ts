/**
 * Internal: decodes a Frame whose only field is a Hello without the generated (reflective) decoder, which
 * was the largest allocation of a connection's handshake (~13 KiB of short-lived maps and objects per
 * connection, both ends). It accepts only the plain encoding every peerlink-family encoder writes —
 * single-byte tags of known fields with their own wire types, varints of at most 5 bytes within range,
 * `versions` packed or not — and returns `undefined` for anything else (unknown fields, other wire types,
 * oversized varints, truncation, a Frame with other fields, a list over the protocol's 256 entries), which then
 * goes to the generated decoder and its bounds, the judges of validity. Where it does decode, the result equals the generated decoder's (a property
 * test holds it to that, on valid and on mutated input).
 *
 * @module
 */
import type { Frame } from "../../generated/peerlink/v1/frame_pb.js";
import type { Hello } from "../../generated/peerlink/v1/handshake_pb.js";
import type { Capability, ProtocolSupport } from "../../generated/peerlink/v1/capability_pb.js";
import { append } from "../util/append.js";
import { MAX_HELLO_LIST_ENTRIES } from "../handshake/defaults.js";

/** Frame field 4 (`hello`), wire type 2. */
const TAG_FRAME_HELLO = 0x22;
/** Strict, as the generated decoder checks proto3 strings: invalid UTF-8 goes to it (and fails there). */
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A cursor over one message's bytes; `ok` turns false at the first thing the fast path does not take. */
class Reader {
  pos: number;
  ok = true;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint of at most 5 bytes whose value fits in 32 bits, else `ok = false` (returns 0). */
  uint32(): number {
    const buf = this.buf;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) break;
      const b = buf[this.pos++] as number;
      if (i === 4 && b > 0x0f) break; // over 32 bits (or a longer varint): the generic decoder decides
      value += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return value;
    }
    this.ok = false;
    return 0;
  }

  /** The bounds of a length-delimited value, or `ok = false`. */
  span(): number {
    // A length under 128 (every Hello field's) is its own byte: read here, without a call to uint32.
    const first = this.pos < this.end ? (this.buf[this.pos] as number) : 0x80;
    let length: number;
    if (first < 0x80) {
      length = first;
      this.pos++;
    } else length = this.uint32();
    if (!this.ok || length > this.end - this.pos) {
      this.ok = false;
      return this.pos;
    }
    const start = this.pos;
    this.pos += length;
    return start;
  }

  bytes(): Uint8Array {
    const start = this.span();
    return this.buf.subarray(start, this.pos);
  }

  string(): string {
    const start = this.span();
    if (!this.ok) return "";
    try {
      return utf8.decode(this.buf.subarray(start, this.pos));
    } catch {
      this.ok = false;
      return "";
    }
  }
}

/** Decodes `body` when it is exactly `Frame{hello}` in the plain encoding; `undefined` otherwise. */
export function decodeHelloFrame(body: Uint8Array): Frame | undefined {
  if (body[0] !== TAG_FRAME_HELLO) return undefined;
  const outer = new Reader(body, 1, body.length);
  const start = outer.span();
  if (!outer.ok || outer.pos !== body.length) return undefined;
  const hello = readHello(new Reader(body, start, body.length));
  return hello === undefined ? undefined : ({ $typeName: "peerlink.v1.Frame", kind: { case: "hello", value: hello } } as Frame);
}

function readHello(r: Reader): Hello | undefined {
  const hello = {
    $typeName: "peerlink.v1.Hello",
    minVersion: 0,
    maxVersion: 0,
    peerId: EMPTY,
    keyType: 0,
    publicKey: EMPTY,
    nonce: EMPTY,
    protocols: [] as ProtocolSupport[],
    capabilities: [] as Capability[],
    listenAddrs: [] as string[],
    binding: 0,
    proof: EMPTY,
    earlyData: false,
    agent: "",
  };
  while (r.ok && r.pos < r.end) {
    const tag = r.buf[r.pos++] as number;
    switch (tag) {
      case 0x08: hello.minVersion = r.uint32(); break;
      case 0x10: hello.maxVersion = r.uint32(); break;
      case 0x1a: hello.peerId = r.bytes(); break;
      case 0x20: hello.keyType = enumValue(r); break;
      case 0x2a: hello.publicKey = r.bytes(); break;
      case 0x32: hello.nonce = r.bytes(); break;
      case 0x3a: {
        const start = r.span();
        const p = r.ok ? readProtocol(new Reader(r.buf, start, r.pos)) : undefined;
        if (p === undefined || hello.protocols.length === MAX_HELLO_LIST_ENTRIES) return undefined;
        hello.protocols = append(hello.protocols, p);
        break;
      }
      case 0x42: {
        const start = r.span();
        const c = r.ok ? readCapability(new Reader(r.buf, start, r.pos)) : undefined;
        if (c === undefined || hello.capabilities.length === MAX_HELLO_LIST_ENTRIES) return undefined;
        hello.capabilities = append(hello.capabilities, c);
        break;
      }
      case 0x4a:
        if (hello.listenAddrs.length === MAX_HELLO_LIST_ENTRIES) return undefined;
        hello.listenAddrs = append(hello.listenAddrs, r.string());
        break;
      case 0x50: hello.binding = enumValue(r); break;
      case 0x5a: hello.proof = r.bytes(); break;
      case 0x60: hello.earlyData = boolValue(r); break;
      case 0x6a: hello.agent = r.string(); break;
      default: return undefined;
    }
  }
  return r.ok ? (hello as Hello) : undefined;
}

function readProtocol(r: Reader): ProtocolSupport | undefined {
  const p = { $typeName: "peerlink.v1.ProtocolSupport", name: "", versions: [] as number[], alias: 0 };
  while (r.ok && r.pos < r.end) {
    const tag = r.buf[r.pos++] as number;
    switch (tag) {
      case 0x0a: p.name = r.string(); break;
      case 0x10: // unpacked
        if (p.versions.length === MAX_HELLO_LIST_ENTRIES) return undefined;
        p.versions = append(p.versions, r.uint32());
        break;
      case 0x12: {
        const start = r.span();
        if (!r.ok) return undefined;
        const packed = new Reader(r.buf, start, r.pos);
        while (packed.ok && packed.pos < packed.end) {
          if (p.versions.length === MAX_HELLO_LIST_ENTRIES) return undefined;
          p.versions = append(p.versions, packed.uint32());
        }
        if (!packed.ok) return undefined;
        break;
      }
      case 0x18: p.alias = r.uint32(); break;
      default: return undefined;
    }
  }
  return r.ok ? (p as ProtocolSupport) : undefined;
}

function readCapability(r: Reader): Capability | undefined {
  const c = { $typeName: "peerlink.v1.Capability", name: "", version: 0, required: false };
  while (r.ok && r.pos < r.end) {
    const tag = r.buf[r.pos++] as number;
    switch (tag) {
      case 0x0a: c.name = r.string(); break;
      case 0x10: c.version = r.uint32(); break;
      case 0x18: c.required = boolValue(r); break;
      default: return undefined;
    }
  }
  return r.ok ? (c as Capability) : undefined;
}

/** An enum (int32) value: only 0..2^31-1 here (a negative one takes 10 bytes: the generic decoder's). */
function enumValue(r: Reader): number {
  const v = r.uint32();
  if (v > 0x7fff_ffff) r.ok = false;
  return v;
}

/** A bool written as one byte 0 or 1; anything else goes to the generic decoder. */
function boolValue(r: Reader): boolean {
  const b = r.buf[r.pos];
  if (r.pos >= r.end || (b !== 0 && b !== 1)) {
    r.ok = false;
    return false;
  }
  r.pos++;
  return b === 1;
}

const EMPTY: Uint8Array = new Uint8Array(0);
