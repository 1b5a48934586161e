// Streaming frame decoder over a region of linear memory (see src/wire/wasm-frame-core.ts).
//
// Region layout (all i32, little endian), written by JS once by initRegion():
//   +0  capacity of the data area in bytes
//   +4  used: end of the buffered bytes (JS appends at data + used, then stores used + n)
//   +8  read: start of the bytes not yet consumed
//   +12 maximum frame body size (the frame limit; JS may change it between scans)
//   +16 status of the last scan (see STATUS_*); >= 2 is sticky (the region is failed)
//   +20 the offending length after status 3 (frame too large)
//   +64 data area
//
// Frame records written by scan() with parse = 0 (framing only), 2 x i32 each:
//   [bodyAddress, bodyLength]
// Frame records written by scan() with parse = 1, 4 x i32 each:
//   kind 0 (generic): [0, bodyAddress, bodyLength, 0]
//   kind 1 (Data):    [1, protocol, payloadAddress, payloadLength]
//   kind 2 (Ping):    [2, nonce, timestampUs, 0]
//   kind 3 (Pong):    [3, nonce, timestampUs, 0]
// Addresses are absolute in linear memory and valid until the next reserve() or initRegion().
// Nothing here allocates, and no input can trap: every read is bounds-checked against
// the buffered bytes and errors are status codes.

const H_CAP: u32 = 0;
const H_USED: u32 = 4;
const H_READ: u32 = 8;
const H_MAX: u32 = 12;
const H_STATUS: u32 = 16;
const H_ERROR_LENGTH: u32 = 20;
const HEADER: u32 = 64;

const STATUS_NEED_MORE: i32 = 0;
const STATUS_OUT_FULL: i32 = 1;
const STATUS_MALFORMED: i32 = 2;
const STATUS_TOO_LARGE: i32 = 3;

const KIND_GENERIC: i32 = 0;
const KIND_DATA: i32 = 1;
const KIND_PING: i32 = 2;
const KIND_PONG: i32 = 3;

/** Writes the header of a fresh region: empty, status ok. */
export function initRegion(region: u32, capacity: u32, maxFrameSize: u32): void {
  store<u32>(region + H_CAP, capacity);
  store<u32>(region + H_USED, 0);
  store<u32>(region + H_READ, 0);
  store<u32>(region + H_MAX, maxFrameSize);
  store<i32>(region + H_STATUS, STATUS_NEED_MORE);
}

/**
 * Moves the unconsumed bytes to the start of the data area (invalidating the
 * addresses of earlier records) and returns the free space after them.
 */
export function reserve(region: u32): u32 {
  const used = load<u32>(region + H_USED);
  const read = load<u32>(region + H_READ);
  const cap = load<u32>(region + H_CAP);
  if (read >= used) {
    store<u32>(region + H_USED, 0);
    store<u32>(region + H_READ, 0);
    return cap;
  }
  if (read > 0) {
    const data = region + HEADER;
    memory.copy(data, data + read, used - read);
    store<u32>(region + H_USED, used - read);
    store<u32>(region + H_READ, 0);
    return cap - (used - read);
  }
  return cap > used ? cap - used : 0;
}

// Result of readVarint(): the value (low 64 bits) and the position after it.
let vValue: u64 = 0;
let vEnd: u32 = 0;

/**
 * Reads a protobuf varint of at most 10 bytes at [pos, end). Returns false when
 * it runs past `end` or has more than 10 bytes (the generic decoder decides those).
 */
function readVarint(pos: u32, end: u32): bool {
  let value: u64 = 0;
  let shift: u64 = 0;
  for (let i: u32 = 0; i < 10; i++) {
    if (pos >= end) return false;
    const b = <u64>load<u8>(pos);
    pos++;
    value |= (b & 0x7f) << shift;
    if (b < 0x80) {
      vValue = value;
      vEnd = pos;
      return true;
    }
    shift += 7;
  }
  return false;
}

// Result of readTag(): field number and wire type.
let tFieldNo: u32 = 0;
let tWireType: u32 = 0;

/** Reads a tag the way protobuf-es accepts it (<= 5 bytes, fits 32 bits, field number >= 1, wire type <= 5). */
function readTag(pos: u32, end: u32): bool {
  if (!readVarint(pos, end)) return false;
  const n = vEnd - pos;
  if (n > 5) return false;
  if (n == 5 && load<u8>(vEnd - 1) > 0x0f) return false;
  const tag = <u32>vValue;
  tFieldNo = tag >>> 3;
  tWireType = tag & 7;
  return tFieldNo != 0 && tWireType <= 5;
}

/**
 * Skips the value of an unknown field; sets vEnd. Groups (wire types 3, 4) and
 * anything unusual return false and go to the generic decoder.
 */
function skipField(wireType: u32, pos: u32, end: u32): bool {
  if (wireType == 0) return readVarint(pos, end);
  if (wireType == 1) {
    if (<u64>pos + 8 > <u64>end) return false;
    vEnd = pos + 8;
    return true;
  }
  if (wireType == 5) {
    if (<u64>pos + 4 > <u64>end) return false;
    vEnd = pos + 4;
    return true;
  }
  if (wireType == 2) {
    if (!readVarint(pos, end)) return false;
    const len = <u64>(<u32>vValue);
    if (<u64>vEnd + len > <u64>end) return false;
    vEnd = vEnd + <u32>len;
    return true;
  }
  return false;
}

/**
 * Short varint as the canonical layout uses it: 1 to 3 bytes, last byte < 0x80. Returns the value
 * and sets vEnd, or -1 for anything else.
 */
function shortVarint(pos: u32, end: u32): i32 {
  if (pos >= end) return -1;
  const b0 = <i32>load<u8>(pos);
  if (b0 < 0x80) {
    vEnd = pos + 1;
    return b0;
  }
  if (pos + 1 >= end) return -1;
  const b1 = <i32>load<u8>(pos + 1);
  if (b1 < 0x80) {
    vEnd = pos + 2;
    return (b0 & 0x7f) | (b1 << 7);
  }
  if (pos + 2 >= end) return -1;
  const b2 = <i32>load<u8>(pos + 2);
  if (b2 >= 0x80) return -1;
  vEnd = pos + 3;
  return (b0 & 0x7f) | ((b1 & 0x7f) << 7) | (b2 << 14);
}

/**
 * The layout every peerlink encoder writes for Data (0x0a len [0x08 protocol] [0x12 n payload], the
 * submessage ending exactly at the frame end, short varints), read without the general loop. Writes
 * the record and returns true only for exactly that; otherwise the general parser decides.
 * Twin of parseCanonicalData in src/wire/envelope-fast-path.ts.
 */
function parseCanonicalData(pos: u32, end: u32, rec: u32): bool {
  const inner = shortVarint(pos, end);
  if (inner < 0 || vEnd + <u32>inner != end) return false;
  let p = vEnd;
  let protocol: i32 = 0;
  if (p < end && load<u8>(p) == 0x08) {
    protocol = shortVarint(p + 1, end);
    if (protocol < 0) return false;
    p = vEnd;
  }
  let payAddr: u32 = 0;
  let payLen: i32 = 0;
  if (p < end) {
    if (load<u8>(p) != 0x12) return false;
    payLen = shortVarint(p + 1, end);
    if (payLen < 0 || vEnd + <u32>payLen != end) return false;
    payAddr = vEnd;
  }
  store<i32>(rec, KIND_DATA);
  store<u32>(rec + 4, <u32>protocol);
  store<u32>(rec + 8, payAddr);
  store<u32>(rec + 12, <u32>payLen);
  return true;
}

/**
 * Fields (of the Frame and its kind, unknown ones included) the fast path reads before it leaves a body to the
 * generic path: a plain Data, Ping or Pong has 3 (as the JS twin's FAST_PATH_MAX_FIELDS).
 */
const FAST_PATH_MAX_FIELDS: u32 = 16;

/**
 * Parses a Frame body at [start, start + len) into one record at `rec`: the
 * fast path for Data, Ping and Pong (protobuf semantics: any order, last scalar
 * wins, unknown fields skipped). A second kind field (merging or replacing) and
 * more than FAST_PATH_MAX_FIELDS fields are written as generic, as everything
 * else: the frame bounds walk judges them.
 */

function parseEnvelope(start: u32, len: u32, rec: u32): void {
  const end = start + len;
  if (len > 0 && load<u8>(start) == 0x0a && parseCanonicalData(start + 1, end, rec)) return;
  let pos = start;
  let kind: u32 = 0;
  let f1: u32 = 0; // protocol or nonce
  let f2: u32 = 0; // Ping/Pong timestamp
  let payAddr: u32 = 0;
  let payLen: u32 = 0;
  let generic = false;
  let fields: u32 = 0;
  while (pos < end) {
    generic = true; // until this field is fully understood
    if (++fields > FAST_PATH_MAX_FIELDS || !readTag(pos, end)) break;
    const fieldNo = tFieldNo;
    const wireType = tWireType;
    pos = vEnd;
    if (fieldNo <= 3) {
      // One kind field: a second one (merging or replacing) is for the walk to judge.
      if (kind != 0 || wireType != 2) break;
      if (!readVarint(pos, end)) break;
      const subLen = <u64>(<u32>vValue);
      if (<u64>vEnd + subLen > <u64>end) break;
      const subEnd = vEnd + <u32>subLen;
      let p = vEnd;
      kind = fieldNo;
      let ok = true;
      while (p < subEnd) {
        if (++fields > FAST_PATH_MAX_FIELDS || !readTag(p, end)) {
          ok = false;
          break;
        }
        const fn = tFieldNo;
        const wt = tWireType;
        p = vEnd;
        if (fn == 1) {
          if (wt != 0 || !readVarint(p, end)) {
            ok = false;
            break;
          }
          f1 = <u32>vValue;
          p = vEnd;
        } else if (fn == 2 && kind == 1) {
          if (wt != 2 || !readVarint(p, end)) {
            ok = false;
            break;
          }
          const l = <u64>(<u32>vValue);
          if (<u64>vEnd + l > <u64>end) {
            ok = false;
            break;
          }
          payAddr = vEnd;
          payLen = <u32>l;
          p = vEnd + <u32>l;
        } else if (fn == 2) {
          if (wt != 0 || !readVarint(p, end)) {
            ok = false;
            break;
          }
          f2 = <u32>vValue;
          p = vEnd;
        } else {
          if (!skipField(wt, p, end)) {
            ok = false;
            break;
          }
          p = vEnd;
        }
      }
      // A field that runs past its submessage is accepted by some decoders: let the generic one judge.
      if (!ok || p != subEnd) break;
      pos = subEnd;
    } else if (fieldNo <= 9 || fieldNo >= 16) {
      // A control message (4-9, 16 and up); 10-15 are kept free for hot messages and skipped while unknown.
      break;
    } else {
      if (!skipField(wireType, pos, end)) break;
      pos = vEnd;
    }
    generic = false;
  }
  if (generic || kind == 0) {
    store<i32>(rec, KIND_GENERIC);
    store<u32>(rec + 4, start);
    store<u32>(rec + 8, len);
    store<u32>(rec + 12, 0);
    return;
  }
  store<i32>(rec, <i32>kind);
  store<u32>(rec + 4, f1);
  if (kind == KIND_DATA) {
    store<u32>(rec + 8, payAddr);
    store<u32>(rec + 12, payLen);
  } else {
    store<u32>(rec + 8, f2);
    store<u32>(rec + 12, 0);
  }
}

/**
 * Finds complete frames in the region's buffered bytes and writes up to
 * `outCapacity` records at `out`. With `parse` = 0 (framing only) each record
 * is [bodyAddress, bodyLength] (8 bytes); otherwise 16-byte envelope records
 * (see the top of this file). Returns the number of records; the status is in
 * the header: 0 need more bytes, 1 record area full or an oversized frame
 * follows the records (call again), 2 malformed length prefix, 3 the first
 * frame of the scan is larger than the maximum. After 2 or 3 the region is
 * failed, its buffered bytes are dropped, and later scans return 0.
 */
export function scan(region: u32, out: u32, outCapacity: i32, parse: i32): i32 {
  if (load<i32>(region + H_STATUS) >= STATUS_MALFORMED) return 0;
  const data = region + HEADER;
  const used = load<u32>(region + H_USED);
  const maxSize = load<u32>(region + H_MAX);
  let read = load<u32>(region + H_READ);
  let n: i32 = 0;
  let status = STATUS_NEED_MORE;
  const stride: u32 = parse != 0 ? 16 : 8;
  let rec = out;
  while (read < used) {
    if (n >= outCapacity) {
      status = STATUS_OUT_FULL;
      break;
    }
    const p = data + read;
    const avail = used - read;
    let b = <u32>load<u8>(p);
    let length: u32 = 0;
    let prefix: u32 = 0;
    if (b < 0x80) {
      length = b;
      prefix = 1;
    } else {
      length = b & 0x7f;
      let i: u32 = 1;
      let shift: u32 = 7;
      while (true) {
        if (i >= avail) break;
        b = <u32>load<u8>(p + i);
        i++;
        if (i == 5) {
          if (b > 0x0f || b == 0) {
            status = STATUS_MALFORMED;
          } else {
            length |= b << 28;
            prefix = 5;
          }
          break;
        }
        length |= (b & 0x7f) << shift;
        if (b < 0x80) {
          if (b == 0) status = STATUS_MALFORMED;
          else prefix = i;
          break;
        }
        shift += 7;
      }
      if (status == STATUS_MALFORMED) break;
      if (prefix == 0) break; // incomplete prefix
    }
    if (length > maxSize) {
      // With records pending, stop without failing: delivering them may raise the limit (a connection
      // does once the peer is authenticated), and the caller scans again, which re-reads the limit.
      if (n > 0) {
        status = STATUS_OUT_FULL;
        break;
      }
      status = STATUS_TOO_LARGE;
      store<u32>(region + H_ERROR_LENGTH, length);
      break;
    }
    if (<u64>prefix + <u64>length > <u64>avail) break;
    const body = p + prefix;
    if (parse != 0) {
      parseEnvelope(body, length, rec);
    } else {
      store<u32>(rec, body);
      store<u32>(rec + 4, length);
    }
    rec += stride;
    n++;
    read += prefix + length;
  }
  if (status >= STATUS_MALFORMED) {
    store<u32>(region + H_USED, 0);
    store<u32>(region + H_READ, 0);
  } else {
    store<u32>(region + H_READ, read);
  }
  store<i32>(region + H_STATUS, status);
  return n;
}
