/**
 * Internal: the bounds a Frame body must keep before the generated decoder may build it.
 *
 * The generated decoder builds an object for every list entry and every repeated message field it reads, at
 * about 1 µs each: a 1 MiB frame of empty list entries cost over a second of CPU and hundreds of MiB of heap
 * before any check could look at the result. This walk reads a body exactly as the generated decoder does (the
 * same `BinaryReader`, the same choices by field kind, the same merging of a singular message field read twice)
 * but builds nothing: it only counts, and stops as soon as a count passes its bound. So what a frame over the
 * bounds costs is the walk up to the bound, whatever its size.
 *
 * @module
 */
import { ScalarType, type DescField, type DescMessage, type DescOneof } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { MAX_HELLO_LIST_ENTRIES } from "../handshake/defaults.js";

/**
 * Times one message may hold a singular message field read again (merged) or replaced: a Frame carries one
 * kind, and each repetition costs the generated decoder a merge or a new object.
 */
export const MAX_MESSAGE_FIELD_READS = 16;

/**
 * Fields one message may hold besides its lists' entries and its message fields: scalars, and unknown fields
 * (each field of an unknown group counts). A Frame's own messages have at most 13; this leaves room for fields
 * added by later versions, and bounds the walk itself.
 */
export const MAX_OTHER_FIELDS = 1024;

/**
 * List entries, fields and message reads in one frame, all messages together: the largest Hello or
 * CapabilityUpdate the list rules allow (256 protocols of 256 versions, 256 capabilities, …) holds about 68,000.
 */
export const MAX_FRAME_ITEMS = 72 * 1024;

/**
 * Longest `Frame{hello}` in the plain encoding (one kind field, read once) that cannot pass any bound but a
 * list's: a field or list entry outside a packed run takes at least 2 bytes, so passing {@link MAX_OTHER_FIELDS}
 * takes more than this. The Hello fast path, which keeps the list bounds itself, may skip the walk for such a body.
 */
export const LIST_BOUNDS_ONLY_MAX_BYTES = 2 * MAX_OTHER_FIELDS;

/**
 * Bounds of an advisory list, by the list field's full name: past it the whole frame is ignored, not refused.
 * A peer-exchange frame is advisory (a receiver uses 32 peers of 4 addresses); these leave room for senders
 * that share more.
 */
const ADVISORY_LISTS: ReadonlyMap<string, number> = new Map([
  ["peerlink.v1.PeerAddresses.peers", 64],
  ["peerlink.v1.KnownPeer.addrs", 16],
]);

/** What {@link checkFrameShape} found: what decoding the body costs, and whether to decode it at all. */
export interface FrameShape {
  /** Fields, list entries and message reads the body holds (all messages together), or read before `ignore`. */
  readonly items: number;
  /** Ignore the frame as one of an unknown kind: an advisory list (peer exchange) is over its bound. */
  readonly ignore: boolean;
}

/** The generated decoder's default depth limit, which the walk keeps to agree with it on nested groups. */
const RECURSION_LIMIT = 100;

/** Thrown inside the walk when an advisory list passes its bound. */
const IGNORE: unique symbol = Symbol("ignore");

/**
 * Walks `body` as the generated decoder reads a message of `schema` and says whether it may be decoded, and what
 * decoding it costs.
 *
 * @returns the items the body holds, and whether it is to be ignored (see {@link FrameShape})
 * @throws PeerlinkError PROTOCOL_VIOLATION when a list holds more than {@link MAX_HELLO_LIST_ENTRIES} entries, a
 *   message field is read more than {@link MAX_MESSAGE_FIELD_READS} times or a message holds more than
 *   {@link MAX_OTHER_FIELDS} other fields, a oneof member follows another (a Frame carries one kind), or the
 *   frame holds more than {@link MAX_FRAME_ITEMS} items; MALFORMED_FRAME when the generated decoder would fail
 *   on the encoding itself (its error is the cause)
 */
export function checkFrameShape(schema: DescMessage, body: Uint8Array): FrameShape {
  const reader = new BinaryReader(body);
  const budget = new Budget();
  try {
    walkMessage(reader, schema, new Seen(budget), false, body.length, 1);
    return { items: budget.items, ignore: false };
  } catch (error) {
    if (error === IGNORE) return { items: budget.items, ignore: true };
    if (error instanceof PeerlinkError) throw error;
    throw new PeerlinkError(ErrorCode.MALFORMED_FRAME, `invalid Frame body (${body.length} bytes)`, { cause: error });
  }
}

/**
 * What the walk has read in the whole frame. The bounds of {@link Seen} hold per message, and lists of messages
 * at their bounds nest: without a bound on the frame, 256 protocols of 1,024 fields each would be 262,144.
 */
class Budget {
  items = 0;

  /** Counts one list entry, field or message read. */
  item(): void {
    if (++this.items > MAX_FRAME_ITEMS) throw violation(`the frame holds more than ${MAX_FRAME_ITEMS} fields and list entries`);
  }
}

/** A list's bound, and whether passing it ignores the frame (advisory) or refuses it. */
interface ListBound {
  readonly max: number;
  readonly advisory: boolean;
}

const listBounds = new WeakMap<DescField, ListBound>();

function listBoundOf(field: DescField): ListBound {
  let bound = listBounds.get(field);
  if (bound === undefined) {
    const advisory = ADVISORY_LISTS.get(`${field.parent.typeName}.${field.name}`);
    bound = advisory === undefined ? { max: MAX_HELLO_LIST_ENTRIES, advisory: false } : { max: advisory, advisory: true };
    listBounds.set(field, bound);
  }
  return bound;
}

/** What the walk has read into one message: entries per list, the instance behind each singular message field. */
class Seen {
  lists: Map<DescField, number> | undefined;
  /** By oneof (one instance at a time for all its members) or by field. */
  children: Map<DescOneof | DescField, { field: DescField; seen: Seen }> | undefined;
  messageFieldReads = 0;
  otherFields = 0;

  constructor(readonly budget: Budget) {}

  /** Counts one scalar, unknown field or packed run. */
  other(desc: DescMessage): void {
    this.budget.item();
    if (++this.otherFields > MAX_OTHER_FIELDS) {
      throw violation(`${desc.name} holds more than ${MAX_OTHER_FIELDS} fields besides its lists`);
    }
  }

  /** Counts one entry of list `field`. */
  count(field: DescField): void {
    this.budget.item();
    const lists = (this.lists ??= new Map());
    const n = (lists.get(field) ?? 0) + 1;
    lists.set(field, n);
    const bound = listBoundOf(field);
    if (n <= bound.max) return;
    if (bound.advisory) throw IGNORE;
    throw violation(`${field.parent.name}.${field.name} holds more than ${bound.max} entries`);
  }

  /**
   * The instance a read of singular message field `field` merges into, as the generated decoder's `get`. A oneof
   * holds one member: another member after it would replace what was read (a Frame carries one kind), which the
   * generated decoder builds all the same, and the frame would then be charged as the last kind alone.
   */
  child(field: DescField): Seen {
    this.budget.item();
    if (++this.messageFieldReads > MAX_MESSAGE_FIELD_READS) {
      throw violation(`${field.parent.name} repeats its message fields more than ${MAX_MESSAGE_FIELD_READS} times`);
    }
    const children = (this.children ??= new Map());
    const key = field.oneof ?? field;
    const held = children.get(key);
    if (held !== undefined) {
      if (held.field === field) return held.seen;
      throw violation(`${field.parent.name} carries one ${field.oneof?.name ?? field.name}: ${field.name} after ${held.field.name}`);
    }
    const seen = new Seen(this.budget);
    children.set(key, { field, seen });
    return seen;
  }
}

const fieldsByNumber = new WeakMap<DescMessage, Map<number, DescField>>();

function fieldOf(desc: DescMessage, no: number): DescField | undefined {
  let fields = fieldsByNumber.get(desc);
  if (fields === undefined) {
    fields = new Map(desc.fields.map((f) => [f.number, f]));
    fieldsByNumber.set(desc, fields);
  }
  return fields.get(no);
}

/** The generated decoder's `readMessage`, counting instead of building. */
function walkMessage(reader: BinaryReader, desc: DescMessage, seen: Seen, delimited: boolean, lengthOrFieldNo: number, depth: number): void {
  if (depth > RECURSION_LIMIT) throw new Error(`maximum recursion depth of ${RECURSION_LIMIT} reached`);
  const end = delimited ? reader.len : reader.pos + lengthOrFieldNo;
  let fieldNo = 0;
  let wireType: WireType = WireType.Varint;
  while (reader.pos < end) {
    [fieldNo, wireType] = reader.tag();
    if (delimited && wireType === WireType.EndGroup) break;
    const field = fieldOf(desc, fieldNo);
    if (field === undefined) {
      seen.other(desc);
      if (wireType === WireType.StartGroup) skipGroup(reader, desc, seen, fieldNo, RECURSION_LIMIT - depth);
      else reader.skip(wireType, fieldNo);
      continue;
    }
    walkField(reader, field, wireType, seen, depth);
  }
  if (delimited && (wireType !== WireType.EndGroup || fieldNo !== lengthOrFieldNo)) throw new Error("invalid end group tag");
}

/** The generated decoder's `readField`: by the field's kind in the schema, whatever the wire type says. */
function walkField(reader: BinaryReader, field: DescField, wireType: WireType, seen: Seen, depth: number): void {
  switch (field.fieldKind) {
    case "scalar":
      seen.other(field.parent);
      readScalar(reader, field.scalar);
      return;
    case "enum":
      seen.other(field.parent);
      reader.int32();
      return;
    case "message":
      walkMessageField(reader, field, seen.child(field), depth);
      return;
    case "list": {
      if (field.listKind === "message") {
        seen.count(field);
        walkMessageField(reader, field, new Seen(seen.budget), depth);
        return;
      }
      const scalar = field.scalar ?? ScalarType.INT32;
      if (wireType !== WireType.LengthDelimited || scalar === ScalarType.STRING || scalar === ScalarType.BYTES) {
        seen.count(field);
        readScalar(reader, scalar);
        return;
      }
      seen.other(field.parent); // the run itself: empty runs would otherwise count nothing
      const end = reader.uint32() + reader.pos;
      while (reader.pos < end) {
        seen.count(field);
        readScalar(reader, scalar);
      }
      return;
    }
    case "map":
      // No peerlink message has a map; one added to the schema must get its bounds here first.
      throw new PeerlinkError(ErrorCode.INTERNAL, `no frame bounds for the map field ${field.parent.name}.${field.name}`);
  }
}

/** The generated decoder's `skip` of an unknown group, counting each field inside it against `seen`. */
function skipGroup(reader: BinaryReader, desc: DescMessage, seen: Seen, fieldNo: number, recursionLimit: number): void {
  if (recursionLimit <= 0) throw new Error("maximum recursion depth reached");
  for (;;) {
    const [fn, wt] = reader.tag();
    if (wt === WireType.EndGroup) {
      if (fn !== fieldNo) throw new Error("invalid end group tag");
      break;
    }
    seen.other(desc);
    if (wt === WireType.StartGroup) skipGroup(reader, desc, seen, fn, recursionLimit - 1);
    else reader.skip(wt, fn);
  }
  if (reader.pos > reader.len) throw new RangeError("premature EOF");
}

function walkMessageField(reader: BinaryReader, field: DescField & { message: DescMessage }, seen: Seen, depth: number): void {
  const delimited = field.delimitedEncoding === true;
  walkMessage(reader, field.message, seen, delimited, delimited ? field.number : reader.uint32(), depth + 1);
}

/** Advances past one scalar exactly as the generated decoder reads it (a string's bytes are not decoded). */
function readScalar(reader: BinaryReader, type: ScalarType): void {
  switch (type) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      reader.bytes();
      return;
    case ScalarType.BOOL:
      reader.bool();
      return;
    case ScalarType.DOUBLE:
      reader.double();
      return;
    case ScalarType.FLOAT:
      reader.float();
      return;
    case ScalarType.INT64:
      reader.int64();
      return;
    case ScalarType.UINT64:
      reader.uint64();
      return;
    case ScalarType.FIXED64:
      reader.fixed64();
      return;
    case ScalarType.FIXED32:
      reader.fixed32();
      return;
    case ScalarType.SFIXED32:
      reader.sfixed32();
      return;
    case ScalarType.SFIXED64:
      reader.sfixed64();
      return;
    case ScalarType.SINT64:
      reader.sint64();
      return;
    case ScalarType.SINT32:
      reader.sint32();
      return;
    default:
      reader.uint32(); // INT32 and UINT32 read the same varint
  }
}

function violation(message: string): PeerlinkError {
  return new PeerlinkError(ErrorCode.PROTOCOL_VIOLATION, message);
}
