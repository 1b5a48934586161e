/**
 * Where the peer database persists: the {@link PeerStore} interface, the
 * snapshot it saves and loads, and an in-memory store for tests and for nodes
 * that need no persistence.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { type PeerRecord, parsePeerRecord } from "./peer-record.js";

/**
 * Any JSON value.
 *
 * @category Peer database
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * A JSON object.
 *
 * @category Peer database
 */
export type JsonObject = { [key: string]: JsonValue };

/**
 * Everything a {@link PeerStore} persists: all peer records plus opaque state of other components.
 *
 * @category Peer database
 */
export interface PeerSnapshot {
  /** Every peer record, in no particular order; peer ids are unique. */
  peers: PeerRecord[];
  /**
   * State of other components saved alongside the peers (e.g. the ban list
   * under a key of its own). The store does not interpret it.
   */
  extra: JsonObject;
}

/**
 * How a load fell back when the stored state was unreadable.
 *
 * @category Peer database
 */
export interface PeerStoreRecovery {
  /** `"prev"`: the previous good copy was used; `"empty"`: nothing readable was left, the snapshot is empty. */
  from: "prev" | "empty";
  /** What was wrong with the primary copy (code DATABASE_CORRUPT). */
  error: PeerlinkError;
}

/**
 * Result of {@link PeerStore.load}.
 *
 * @category Peer database
 */
export interface PeerStoreLoadResult {
  /** The state read (empty when nothing was stored). */
  snapshot: PeerSnapshot;
  /** Set when the primary copy was unreadable and a fallback was used; absent on a clean load. */
  recovered?: PeerStoreRecovery;
}

/**
 * Options of the asynchronous store operations.
 *
 * @category Peer database
 */
export interface PeerStoreOperationOptions {
  /**
   * Stops waiting. An aborted `load` rejects with ABORTED; an aborted `save`
   * rejects with ABORTED but a write already accepted still completes (the
   * state on disk stays whole).
   */
  signal?: AbortSignal;
}

/**
 * Persistence of a {@link PeerSnapshot}. Implementations never throw on
 * unreadable stored state: `load` reports it in
 * {@link PeerStoreLoadResult.recovered} and falls back.
 *
 * @category Peer database
 */
export interface PeerStore {
  /** Reads the stored state. Missing state gives an empty snapshot. */
  load(options?: PeerStoreOperationOptions): Promise<PeerStoreLoadResult>;
  /** Replaces the stored state with `snapshot` (taken as a copy at call time). Concurrent saves: the last one wins. */
  save(snapshot: PeerSnapshot, options?: PeerStoreOperationOptions): Promise<void>;
  /** Waits for pending saves, then releases the store. Later calls fail with STOPPED. Idempotent. */
  close(): Promise<void>;
}

/** A new empty snapshot. */
export function emptySnapshot(): PeerSnapshot {
  return { peers: [], extra: {} };
}

/**
 * Checks that `value` (parsed JSON read from storage) has the shape of a
 * {@link PeerSnapshot} with unique peer ids, and returns a validated copy.
 * Throws DATABASE_CORRUPT naming the first bad field.
 */
export function parsePeerSnapshot(value: unknown): PeerSnapshot {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new PeerlinkError(ErrorCode.DATABASE_CORRUPT, "snapshot must be an object");
  }
  const obj = value as Record<string, unknown>;
  if (!Array.isArray(obj["peers"])) {
    throw new PeerlinkError(ErrorCode.DATABASE_CORRUPT, "snapshot.peers must be an array");
  }
  const extra = obj["extra"];
  if (typeof extra !== "object" || extra === null || Array.isArray(extra)) {
    throw new PeerlinkError(ErrorCode.DATABASE_CORRUPT, "snapshot.extra must be an object");
  }
  // The owner copies it again with structuredClone, which runs out of stack some thousands of levels down.
  if (depthOf(extra, MAX_EXTRA_DEPTH) > MAX_EXTRA_DEPTH) {
    throw new PeerlinkError(ErrorCode.DATABASE_CORRUPT, `snapshot.extra is nested more than ${MAX_EXTRA_DEPTH} levels deep`);
  }
  const seen = new Set<string>();
  const peers = obj["peers"].map((raw, i) => {
    const record = parsePeerRecord(raw, `peers[${i}]`);
    if (seen.has(record.peerId)) {
      throw new PeerlinkError(ErrorCode.DATABASE_CORRUPT, `peers[${i}]: duplicate peer id ${record.peerId}`);
    }
    seen.add(record.peerId);
    return record;
  });
  return { peers, extra: structuredClone(extra) as JsonObject };
}

/** Levels of arrays and objects `snapshot.extra` may nest (what peerlink stores there nests 4). */
const MAX_EXTRA_DEPTH = 64;

/** How deep `value` nests arrays and objects, counted without recursion and no further than `limit` + 1. */
function depthOf(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== "object" || v === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** Throws ABORTED when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) {
    throw new PeerlinkError(ErrorCode.ABORTED, `${what} aborted`, { cause: signal.reason });
  }
}

/**
 * A {@link PeerStore} that keeps a copy of the last saved snapshot in memory.
 * Useful in tests (it counts saves) and for nodes that do not persist peers.
 *
 * @category Peer database
 */
export class MemoryPeerStore implements PeerStore {
  #json: string | undefined;
  #closed = false;
  #saves = 0;

  /** @param initial - State to start with, as if it had been saved. */
  constructor(initial?: PeerSnapshot) {
    if (initial !== undefined) this.#json = JSON.stringify(parsePeerSnapshot(initial));
  }

  /** Number of completed saves. */
  get saves(): number {
    return this.#saves;
  }

  /** Returns a copy of the last saved snapshot (empty when nothing was saved). */
  async load(options: PeerStoreOperationOptions = {}): Promise<PeerStoreLoadResult> {
    this.#checkOpen();
    throwIfAborted(options.signal, "load");
    return { snapshot: this.#json === undefined ? emptySnapshot() : parsePeerSnapshot(JSON.parse(this.#json)) };
  }

  /** Keeps a copy of `snapshot`. Rejects with INVALID_ARGUMENT if it is not a valid snapshot. */
  async save(snapshot: PeerSnapshot, options: PeerStoreOperationOptions = {}): Promise<void> {
    this.#checkOpen();
    throwIfAborted(options.signal, "save");
    try {
      this.#json = JSON.stringify(parsePeerSnapshot(JSON.parse(JSON.stringify(snapshot))));
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `invalid snapshot: ${message}`, { cause });
    }
    this.#saves++;
  }

  /** Marks the store closed. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new PeerlinkError(ErrorCode.STOPPED, "peer store is closed");
  }
}

/**
 * Internal: the store of a node given no `peerStore`. A node starts once, so nothing would ever read what it
 * saved: it keeps nothing, and the database never builds a snapshot for it (copying every record on each
 * automatic save was the largest allocation of a connection's setup).
 */
export class VolatilePeerStore implements PeerStore {
  /** Always an empty snapshot. */
  async load(options: PeerStoreOperationOptions = {}): Promise<PeerStoreLoadResult> {
    throwIfAborted(options.signal, "load");
    return { snapshot: emptySnapshot() };
  }

  /** Keeps nothing. */
  async save(_snapshot: PeerSnapshot, options: PeerStoreOperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal, "save");
  }

  /** Nothing to release. */
  async close(): Promise<void> {}
}

