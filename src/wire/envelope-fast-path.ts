/**
 * JS twin of the WASM envelope parser (assembly/frame.ts `parseEnvelope`): reads Data, Ping and
 * Pong straight from a Frame body, with protobuf semantics (fields in any order, last scalar wins,
 * unknown fields skipped). Anything it cannot decide with certainty — control messages, a second kind
 * field (merged or replacing: the bounds of docs/PROTOCOL.md §1 judge those), more than
 * {@link FAST_PATH_MAX_FIELDS} fields, groups, wire-type mismatches, fields that run past their
 * submessage, truncation, varints longer than 10 bytes — is reported as {@link ENVELOPE_GENERIC} and
 * left to the frame bounds walk and the generated decoder, the judges of validity.
 *
 * @module
 */

/** Record kind: decode with the generated decoder (control message, empty frame, or anything unusual). */
export const ENVELOPE_GENERIC = 0;
/** Record kind: Data; fields are `[kind, protocol, payloadStart, payloadLength]`. */
export const ENVELOPE_DATA = 1;
/** Record kind: Ping; fields are `[kind, nonce, timestampUs, 0]`. */
export const ENVELOPE_PING = 2;
/** Record kind: Pong; fields are `[kind, nonce, timestampUs, 0]`. */
export const ENVELOPE_PONG = 3;

/**
 * Fields (of the Frame and its kind, unknown ones included) the fast path reads before it leaves a body to the
 * generic path: a plain Data, Ping or Pong has 3, and within this the body keeps every bound of the walk.
 */
export const FAST_PATH_MAX_FIELDS = 16;

// Results of readVarint / readTag, kept in module state so the hot path allocates nothing.
let vLow = 0; // low 32 bits of the varint, as an unsigned number
let vEnd = 0;
let tFieldNo = 0;
let tWireType = 0;

/** Reads a varint of at most 10 bytes at [pos, end); false when truncated or longer. */
function readVarint(buf: Uint8Array, pos: number, end: number): boolean {
  let low = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return false;
    const b = buf[pos++] as number;
    if (i < 4) low |= (b & 0x7f) << (7 * i);
    else if (i === 4) low |= (b & 0x0f) << 28;
    if (b < 0x80) {
      vLow = low >>> 0;
      vEnd = pos;
      return true;
    }
  }
  return false;
}

/** Reads a tag as protobuf-es accepts it: <= 5 bytes, fits 32 bits, field number >= 1, wire type <= 5. */
function readTag(buf: Uint8Array, pos: number, end: number): boolean {
  if (!readVarint(buf, pos, end)) return false;
  const n = vEnd - pos;
  if (n > 5) return false;
  if (n === 5 && (buf[vEnd - 1] as number) > 0x0f) return false;
  tFieldNo = vLow >>> 3;
  tWireType = vLow & 7;
  return tFieldNo !== 0 && tWireType <= 5;
}

/** Skips an unknown field's value (sets vEnd); groups and anything unusual return false. */
function skipField(buf: Uint8Array, wireType: number, pos: number, end: number): boolean {
  switch (wireType) {
    case 0:
      return readVarint(buf, pos, end);
    case 1:
      if (pos + 8 > end) return false;
      vEnd = pos + 8;
      return true;
    case 5:
      if (pos + 4 > end) return false;
      vEnd = pos + 4;
      return true;
    case 2:
      if (!readVarint(buf, pos, end)) return false;
      if (vEnd + vLow > end) return false;
      vEnd += vLow;
      return true;
    default:
      return false;
  }
}

/** Frame field 1 (data), wire type 2. */
const TAG_DATA = 0x0a;

/**
 * Short varint as the canonical layout uses it: 1 to 3 bytes, last byte < 0x80 (values < 2^21), so the
 * value is exact in 32 bits. Returns the value and sets vEnd, or -1 for anything else.
 */
function shortVarint(buf: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return -1;
  const b0 = buf[pos] as number;
  if (b0 < 0x80) {
    vEnd = pos + 1;
    return b0;
  }
  if (pos + 1 >= end) return -1;
  const b1 = buf[pos + 1] as number;
  if (b1 < 0x80) {
    vEnd = pos + 2;
    return (b0 & 0x7f) | (b1 << 7);
  }
  if (pos + 2 >= end) return -1;
  const b2 = buf[pos + 2] as number;
  if (b2 >= 0x80) return -1;
  vEnd = pos + 3;
  return (b0 & 0x7f) | ((b1 & 0x7f) << 7) | (b2 << 14);
}

/**
 * The layout every peerlink encoder writes for Data (`0x0a len [0x08 protocol] [0x12 n payload]`, the
 * submessage ending exactly at the frame end, short varints), read without the general loop. Writes
 * the record and returns true only when the bytes are exactly that; anything else returns false and
 * the general parser decides, so results never differ (the differential tests check it).
 */
function parseCanonicalData(buf: Uint8Array, pos: number, end: number, rec: Uint32Array): boolean {
  const inner = shortVarint(buf, pos, end);
  if (inner < 0 || vEnd + inner !== end) return false;
  let p = vEnd;
  let protocol = 0;
  if (p < end && buf[p] === 0x08) {
    protocol = shortVarint(buf, p + 1, end);
    if (protocol < 0) return false;
    p = vEnd;
  }
  let payStart = 0;
  let payLen = 0;
  if (p < end) {
    if (buf[p] !== 0x12) return false;
    payLen = shortVarint(buf, p + 1, end);
    if (payLen < 0 || vEnd + payLen !== end) return false;
    payStart = vEnd;
  }
  rec[0] = ENVELOPE_DATA;
  rec[1] = protocol;
  rec[2] = payStart;
  rec[3] = payLen;
  return true;
}

/**
 * Parses the Frame body `buf[start, start + length)` and writes one record into `rec`
 * (see {@link ENVELOPE_DATA} and siblings; positions are absolute in `buf`). Returns the kind.
 */
export function parseEnvelope(buf: Uint8Array, start: number, length: number, rec: Uint32Array): number {
  const end = start + length;
  if (buf[start] === TAG_DATA && parseCanonicalData(buf, start + 1, end, rec)) return ENVELOPE_DATA;
  let pos = start;
  let kind = 0;
  let f1 = 0;
  let f2 = 0;
  let payStart = 0;
  let payLen = 0;
  let generic = false;
  let fields = 0;
  outer: while (pos < end) {
    generic = true; // until this field is fully understood
    if (++fields > FAST_PATH_MAX_FIELDS || !readTag(buf, pos, end)) break;
    const fieldNo = tFieldNo;
    const wireType = tWireType;
    pos = vEnd;
    if (fieldNo <= 3) {
      // One kind field: a second one (merging or replacing) is for the walk to judge.
      if (kind !== 0 || wireType !== 2 || !readVarint(buf, pos, end)) break;
      const subEnd = vEnd + vLow;
      if (subEnd > end) break;
      let p = vEnd;
      kind = fieldNo;
      while (p < subEnd) {
        if (++fields > FAST_PATH_MAX_FIELDS || !readTag(buf, p, end)) break outer;
        const fn = tFieldNo;
        const wt = tWireType;
        p = vEnd;
        if (fn === 1) {
          if (wt !== 0 || !readVarint(buf, p, end)) break outer;
          f1 = vLow;
          p = vEnd;
        } else if (fn === 2 && kind === 1) {
          if (wt !== 2 || !readVarint(buf, p, end)) break outer;
          if (vEnd + vLow > end) break outer;
          payStart = vEnd;
          payLen = vLow;
          p = vEnd + vLow;
        } else if (fn === 2) {
          if (wt !== 0 || !readVarint(buf, p, end)) break outer;
          f2 = vLow;
          p = vEnd;
        } else {
          if (!skipField(buf, wt, p, end)) break outer;
          p = vEnd;
        }
      }
      if (p !== subEnd) break;
      pos = subEnd;
    } else if (fieldNo <= 9 || fieldNo >= 16) {
      // A control message (4-9, 16 and up); 10-15 are kept free for hot messages and skipped while unknown.
      break;
    } else {
      if (!skipField(buf, wireType, pos, end)) break;
      pos = vEnd;
    }
    generic = false;
  }
  if (generic || kind === 0) {
    rec[0] = ENVELOPE_GENERIC;
    rec[1] = start;
    rec[2] = length;
    rec[3] = 0;
    return ENVELOPE_GENERIC;
  }
  rec[0] = kind;
  rec[1] = f1;
  if (kind === ENVELOPE_DATA) {
    rec[2] = payStart;
    rec[3] = payLen;
  } else {
    rec[2] = f2;
    rec[3] = 0;
  }
  return kind;
}
