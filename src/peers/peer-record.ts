/**
 * The peer record: everything the peer database remembers about one peer,
 * as plain JSON-serialisable data, plus the validation of records read back
 * from disk ("update peer database with disconnection reason").
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { type DisconnectReason, isDisconnectReason } from "../reasons.js";
import { MAX_PEER_ID_LENGTH } from "./defaults.js";

/** Which side opened a connection. */
export type { ConnectionDirection } from "../manager/connection-limits.js";
import type { ConnectionDirection } from "../manager/connection-limits.js";

/**
 * Which side decided to end a connection.
 *
 * @category Peer database
 */
export type DisconnectInitiator = "local" | "remote";

/**
 * One dialable address of a peer with its dial history. Times are epoch milliseconds.
 *
 * @category Peer database
 */
export interface PeerAddressRecord {
  /** `"host:port"`; an IPv6 host is bracketed (`"[::1]:4001"`). */
  address: string;
  /** Consecutive failed dials since the last success (reset to 0 by a success). */
  failures: number;
  /** When a dial to this address last succeeded. */
  lastSuccess?: number;
  /** When a dial to this address last failed. */
  lastFailure?: number;
}

/**
 * One ended connection, as kept in a peer's bounded disconnection history.
 *
 * @category Peer database
 */
export interface DisconnectionRecord {
  /** When the connection ended, epoch milliseconds. */
  at: number;
  /** Why it ended. */
  reason: DisconnectReason;
  /** Which side had opened it. */
  direction: ConnectionDirection;
  /** Which side ended it. */
  initiator: DisconnectInitiator;
  /** The peer's `retry_after_ms` hint from its Goodbye, if it sent one. */
  retryAfterMs?: number;
}

/**
 * Reconnect backoff progress of a peer, persisted so it survives a restart.
 *
 * @category Peer database
 */
export interface BackoffRecord {
  /** Failed attempts since the last established connection (0 = none). */
  attempt: number;
  /** When the next reconnect attempt is due, epoch milliseconds; absent when none is scheduled. */
  nextAttemptAt?: number;
}

/**
 * A ban on a peer, as given to `PeerDatabase.setBan` (the ban itself lives in the database's ban list).
 *
 * @category Peer database
 */
export interface BanRecord {
  /** When the ban ends, epoch milliseconds; absent for a ban without end. */
  until?: number;
  /** Why the peer was banned, for logs and the CLI. */
  reason?: string;
}

/**
 * How a peer came to the database when a remote party put it there, and from which network group: peers with an
 * origin make room for each other, by group, before any other peer is evicted (see `PeerDatabase`). A record
 * without one was put there by this node (the application, its configuration, its own dials).
 *
 * @category Peer database
 */
export interface PeerOrigin {
  /** `"inbound"`: the identity connected to this node; `"exchange"`: a connected peer named it in peer exchange. */
  kind: "inbound" | "exchange";
  /** The network group it came from (the connecting or the reporting peer's): `"a.b.0.0/16"` or an IPv6 `/32`. */
  group: string;
}

/**
 * Everything the database remembers about one peer. Plain data: `JSON.stringify` round-trips it.
 *
 * @category Peer database
 */
export interface PeerRecord {
  /** The peer's printable id. */
  peerId: string;
  /** Known addresses, in insertion order (use `PeerDatabase.addressesOf` for best-first). */
  addresses: PeerAddressRecord[];
  /** When the record was created, epoch milliseconds (eviction order of never-seen peers). */
  addedAt: number;
  /** When a connection to the peer was last established or ended, epoch milliseconds. */
  lastSeen?: number;
  /** The most recent disconnections, oldest first, bounded (oldest dropped). */
  disconnections: DisconnectionRecord[];
  /** Reconnect backoff progress. */
  backoff: BackoffRecord;
  /** A protected peer is never evicted (and, by the manager, never trimmed). */
  protected: boolean;
  /** Capabilities the peer announced in its last handshake. */
  capabilities: string[];
  /** Whether the last connection was graded `good` or better; absent when never graded. */
  healthy?: boolean;
  /** How a remote party put the peer here, set when the record was made; absent when this node did. */
  origin?: PeerOrigin;
}

/** Creates an empty record for `peerId`, added at `now` (epoch milliseconds). */
export function createPeerRecord(peerId: string, now: number): PeerRecord {
  assertPeerId(peerId);
  return {
    peerId,
    addresses: [],
    addedAt: now,
    disconnections: [],
    backoff: { attempt: 0 },
    protected: false,
    capabilities: [],
  };
}

/** A deep copy of a record (records are plain JSON data). */
export function clonePeerRecord(record: PeerRecord): PeerRecord {
  return structuredClone(record);
}

/** Throws INVALID_PEER_ID unless `peerId` is a non-empty string of at most {@link MAX_PEER_ID_LENGTH} characters. */
export function assertPeerId(peerId: unknown): asserts peerId is string {
  if (typeof peerId !== "string" || peerId.length === 0 || peerId.length > MAX_PEER_ID_LENGTH) {
    throw new PeerlinkError(
      ErrorCode.INVALID_PEER_ID,
      `a peer id is a non-empty string of at most ${MAX_PEER_ID_LENGTH} characters`,
    );
  }
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6_BODY = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/;

/**
 * True when `address` is `"host:port"`: a host name or IPv4 address, or an
 * IPv6 address in brackets, and a port 1–65535 in decimal.
 */
export function isHostPort(address: unknown): address is string {
  if (typeof address !== "string" || address.length > 300) return false;
  const colon = address.lastIndexOf(":");
  if (colon <= 0) return false;
  // The port read in place (1 to 5 digits, 1..65535): no substring and no pattern for it.
  const digits = address.length - colon - 1;
  if (digits < 1 || digits > 5) return false;
  let port = 0;
  for (let i = colon + 1; i < address.length; i++) {
    const c = address.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return false;
    port = port * 10 + c;
  }
  if (port < 1 || port > 65535) return false;
  const host = address.slice(0, colon);
  if (host.startsWith("[")) {
    return host.endsWith("]") && host.length > 2 && host.includes(":") && IPV6_BODY.test(host.slice(1, -1));
  }
  return HOST_NAME.test(host);
}

/** Throws INVALID_ARGUMENT unless `address` is a valid `"host:port"` (see {@link isHostPort}). */
export function assertHostPort(address: unknown): asserts address is string {
  if (!isHostPort(address)) {
    throw new PeerlinkError(
      ErrorCode.INVALID_ARGUMENT,
      `invalid address ${JSON.stringify(address)}: expected "host:port" (IPv6 as "[addr]:port")`,
    );
  }
}

/**
 * Checks that `value`, read from disk, has the shape of a {@link PeerRecord}
 * and returns a fresh copy holding only the known fields. Throws
 * DATABASE_CORRUPT naming the first bad field.
 *
 * @param where - Prefix of the error message, e.g. `"peers[3]"`.
 */
export function parsePeerRecord(value: unknown, where = "peer record"): PeerRecord {
  const obj = expectObject(value, where);
  const peerId = obj["peerId"];
  if (typeof peerId !== "string" || peerId.length === 0 || peerId.length > MAX_PEER_ID_LENGTH) {
    throw corrupt(`${where}.peerId must be a non-empty string`);
  }
  const record: PeerRecord = {
    peerId,
    addresses: expectArray(obj["addresses"], `${where}.addresses`).map((a, i) =>
      parseAddress(a, `${where}.addresses[${i}]`),
    ),
    addedAt: expectTime(obj["addedAt"], `${where}.addedAt`),
    disconnections: expectArray(obj["disconnections"], `${where}.disconnections`).map((d, i) =>
      parseDisconnection(d, `${where}.disconnections[${i}]`),
    ),
    backoff: parseBackoff(obj["backoff"], `${where}.backoff`),
    protected: expectBoolean(obj["protected"], `${where}.protected`),
    capabilities: expectArray(obj["capabilities"], `${where}.capabilities`).map((c, i) => {
      if (typeof c !== "string") throw corrupt(`${where}.capabilities[${i}] must be a string`);
      return c;
    }),
  };
  const lastSeen = optionalTime(obj["lastSeen"], `${where}.lastSeen`);
  if (lastSeen !== undefined) record.lastSeen = lastSeen;
  // A `ban` field from older files is ignored: bans are kept in the database's ban list.
  if (obj["healthy"] !== undefined) record.healthy = expectBoolean(obj["healthy"], `${where}.healthy`);
  if (obj["origin"] !== undefined) record.origin = parseOrigin(obj["origin"], `${where}.origin`);
  return record;
}

/** Longest group name kept (a CIDR block is at most 43 characters). */
const MAX_ORIGIN_GROUP_LENGTH = 64;

/**
 * A copy of `value` as a {@link PeerOrigin}, or what is wrong with it (naming the field after `where`): the one
 * check of an origin, for a caller's argument and for a record read from disk alike.
 */
export function checkOrigin(value: unknown, where: string): PeerOrigin | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return `${where} must be an object`;
  const { kind, group } = value as Record<string, unknown>;
  if (kind !== "inbound" && kind !== "exchange") return `${where}.kind must be "inbound" or "exchange"`;
  if (typeof group !== "string" || group.length === 0 || group.length > MAX_ORIGIN_GROUP_LENGTH) {
    return `${where}.group must be a non-empty string of at most ${MAX_ORIGIN_GROUP_LENGTH} characters`;
  }
  return { kind, group };
}

function parseOrigin(value: unknown, where: string): PeerOrigin {
  const origin = checkOrigin(value, where);
  if (typeof origin === "string") throw corrupt(origin);
  return origin;
}

function parseAddress(value: unknown, where: string): PeerAddressRecord {
  const obj = expectObject(value, where);
  if (!isHostPort(obj["address"])) throw corrupt(`${where}.address must be "host:port"`);
  const out: PeerAddressRecord = {
    address: obj["address"],
    failures: expectCount(obj["failures"], `${where}.failures`),
  };
  const lastSuccess = optionalTime(obj["lastSuccess"], `${where}.lastSuccess`);
  if (lastSuccess !== undefined) out.lastSuccess = lastSuccess;
  const lastFailure = optionalTime(obj["lastFailure"], `${where}.lastFailure`);
  if (lastFailure !== undefined) out.lastFailure = lastFailure;
  return out;
}

function parseDisconnection(value: unknown, where: string): DisconnectionRecord {
  const obj = expectObject(value, where);
  const reason = obj["reason"];
  if (!isDisconnectReason(reason)) throw corrupt(`${where}.reason is not a disconnect reason`);
  const direction = obj["direction"];
  if (direction !== "inbound" && direction !== "outbound") {
    throw corrupt(`${where}.direction must be "inbound" or "outbound"`);
  }
  const initiator = obj["initiator"];
  if (initiator !== "local" && initiator !== "remote") {
    throw corrupt(`${where}.initiator must be "local" or "remote"`);
  }
  const out: DisconnectionRecord = { at: expectTime(obj["at"], `${where}.at`), reason, direction, initiator };
  const retryAfterMs = optionalTime(obj["retryAfterMs"], `${where}.retryAfterMs`);
  if (retryAfterMs !== undefined) out.retryAfterMs = retryAfterMs;
  return out;
}

function parseBackoff(value: unknown, where: string): BackoffRecord {
  const obj = expectObject(value, where);
  const out: BackoffRecord = { attempt: expectCount(obj["attempt"], `${where}.attempt`) };
  const next = optionalTime(obj["nextAttemptAt"], `${where}.nextAttemptAt`);
  if (next !== undefined) out.nextAttemptAt = next;
  return out;
}

function corrupt(message: string): PeerlinkError {
  return new PeerlinkError(ErrorCode.DATABASE_CORRUPT, message);
}

function expectObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw corrupt(`${where} must be an object`);
  }
  return value as Record<string, unknown>;
}

function expectArray(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw corrupt(`${where} must be an array`);
  return value;
}

function expectBoolean(value: unknown, where: string): boolean {
  if (typeof value !== "boolean") throw corrupt(`${where} must be a boolean`);
  return value;
}

function expectTime(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw corrupt(`${where} must be a finite number >= 0`);
  }
  return value;
}

function optionalTime(value: unknown, where: string): number | undefined {
  return value === undefined ? undefined : expectTime(value, where);
}

function expectCount(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw corrupt(`${where} must be an integer >= 0`);
  }
  return value;
}
