/**
 * A crash-safe file {@link PeerStore}.
 *
 * File format: one header line of JSON
 * `{"format":"peerlink-peers","version":1,"length":N,"checksum":"<sha256 hex of the body>"}`,
 * a newline, then the body: the snapshot as JSON, exactly N bytes.
 *
 * A save never writes the live file in place:
 * 1. the new content goes to `<path>.tmp-<pid>-<n>` (mode 0600), which is fsynced;
 * 2. if the live file is known to be good, it is hard-linked (or, where links
 *    are not supported, copied and fsynced) to a temp name that is renamed
 *    over `<path>.prev`: the previous good state;
 * 3. the temp file is renamed over `<path>` and the directory is fsynced.
 *
 * Each rename is atomic, so a crash at any point leaves `<path>` holding
 * either the old or the new state, complete; `<path>.prev` holds the state
 * before that. `load()` verifies the header and checksum and falls back to
 * `<path>.prev` (then to an empty snapshot), reporting what happened instead
 * of throwing. Temp files left by a crashed process are removed on load.
 *
 * One process writes a given file (the node that owns it); other processes
 * may read it with `load()` at any time and always see a whole state.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { copyFile, link, mkdir, open, readdir, rename, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve as resolvePath } from "node:path";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { errorCode, fsyncDirectory } from "../util/fs-durable.js";
import {
  emptySnapshot,
  parsePeerSnapshot,
  type PeerSnapshot,
  type PeerStore,
  type PeerStoreLoadResult,
  type PeerStoreOperationOptions,
  throwIfAborted,
} from "./peer-store.js";

/** Value of the header's `format` field. */
export const PEER_FILE_FORMAT = "peerlink-peers";
/** Value of the header's `version` field written by this release. */
export const PEER_FILE_VERSION = 1;
/** Longest header line accepted, in bytes. */
const MAX_HEADER_BYTES = 1024;
/**
 * Default of {@link FilePeerStoreOptions.maxFileBytes}: 64 MiB, ~100x a full default database.
 *
 * @category Peer database
 */
export const DEFAULT_MAX_PEER_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Options of a {@link FilePeerStore}.
 *
 * @category Peer database
 */
export interface FilePeerStoreOptions {
  /**
   * Largest file `load` reads, in bytes; a larger file is reported as corrupt.
   * @default {@link DEFAULT_MAX_PEER_FILE_BYTES} (64 MiB)
   */
  maxFileBytes?: number;
}

/** Serializes a snapshot to the file format (header line + body). Does not validate. */
export function encodePeerFile(snapshot: PeerSnapshot): Buffer {
  const body = Buffer.from(JSON.stringify({ peers: snapshot.peers, extra: snapshot.extra }), "utf8");
  const header = JSON.stringify({
    format: PEER_FILE_FORMAT,
    version: PEER_FILE_VERSION,
    length: body.length,
    checksum: createHash("sha256").update(body).digest("hex"),
  });
  return Buffer.concat([Buffer.from(`${header}\n`, "utf8"), body]);
}

/**
 * Parses and verifies file content produced by {@link encodePeerFile}: header,
 * length, checksum, JSON and snapshot shape. Throws DATABASE_CORRUPT.
 */
export function decodePeerFile(bytes: Uint8Array): PeerSnapshot {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const newline = buf.indexOf(0x0a);
  if (newline < 0 || newline > MAX_HEADER_BYTES) throw corrupt("no header line");
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(0, newline).toString("utf8"));
  } catch (cause) {
    throw corrupt("header is not JSON", cause);
  }
  if (typeof header !== "object" || header === null) throw corrupt("header is not an object");
  const h = header as Record<string, unknown>;
  if (h["format"] !== PEER_FILE_FORMAT) throw corrupt(`header format is not "${PEER_FILE_FORMAT}"`);
  if (h["version"] !== PEER_FILE_VERSION) throw corrupt(`unsupported version ${JSON.stringify(h["version"])}`);
  const body = buf.subarray(newline + 1);
  if (h["length"] !== body.length) {
    throw corrupt(`body is ${body.length} bytes, header says ${JSON.stringify(h["length"])} (truncated?)`);
  }
  const checksum = createHash("sha256").update(body).digest("hex");
  if (h["checksum"] !== checksum) throw corrupt("checksum mismatch");
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (cause) {
    throw corrupt("body is not JSON", cause);
  }
  return parsePeerSnapshot(parsed);
}

function corrupt(message: string, cause?: unknown): PeerlinkError {
  return new PeerlinkError(ErrorCode.DATABASE_CORRUPT, message, cause === undefined ? {} : { cause });
}

type ReadOutcome =
  | { kind: "ok"; snapshot: PeerSnapshot }
  | { kind: "missing" }
  | { kind: "bad"; error: PeerlinkError };

interface Waiter {
  resolve: () => void;
  reject: (error: PeerlinkError) => void;
}

let tempCounter = 0;

/** Error codes meaning "hard links are not possible here": fall back to a copy. */
const NO_LINK_CODES = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "EXDEV", "EMLINK", "ENOSYS", "EACCES"]);

/**
 * A {@link PeerStore} in one file, written crash-safely (see the module
 * documentation for the format and the write protocol). Concurrent saves are
 * serialized and coalesced: while one write is in progress, further saves
 * replace each other and only the last is written; every caller's promise
 * resolves once a state at least as new as its own is on disk.
 *
 * @example
 * ```ts
 * const store = new FilePeerStore("/var/lib/node/peers.json");
 * const { snapshot, recovered } = await store.load();
 * if (recovered) log.warn(`peer database: ${recovered.error.message}, using ${recovered.from}`);
 * ```
 *
 * @category Peer database
 */
export class FilePeerStore implements PeerStore {
  /** The live file, as an absolute path (a relative one is resolved against the working directory at construction). */
  readonly path: string;
  /** The previous good state (absolute path). */
  readonly prevPath: string;
  readonly #dir: string;
  readonly #maxFileBytes: number;
  #mainKnownGood = false;
  #pending: { data: Buffer; waiters: Waiter[] } | undefined;
  #running: Promise<void> | undefined;
  #closing = false;
  #writes = 0;

  constructor(path: string, options: FilePeerStoreOptions = {}) {
    if (typeof path !== "string" || path.length === 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "FilePeerStore needs a file path");
    }
    const max = options.maxFileBytes ?? DEFAULT_MAX_PEER_FILE_BYTES;
    if (!Number.isSafeInteger(max) || max <= 0) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "maxFileBytes must be a positive integer");
    }
    // Resolved once: a later process.chdir() must not move the database.
    this.path = resolvePath(path);
    this.prevPath = `${this.path}.prev`;
    this.#dir = dirname(this.path);
    this.#maxFileBytes = max;
  }

  /** Number of files written so far (coalesced saves count once). */
  get writes(): number {
    return this.#writes;
  }

  /**
   * Reads the live file; when it is unreadable, the previous good copy; when
   * that is unreadable too, an empty snapshot. Never throws for bad content:
   * the fallback is reported in `recovered` (code DATABASE_CORRUPT). Also
   * removes temp files left behind by crashed processes.
   */
  async load(options: PeerStoreOperationOptions = {}): Promise<PeerStoreLoadResult> {
    this.#checkOpen();
    throwIfAborted(options.signal, "load");
    await this.#removeStaleTemps();
    const main = await this.#read(this.path);
    throwIfAborted(options.signal, "load");
    if (main.kind === "ok") {
      this.#mainKnownGood = true;
      return { snapshot: main.snapshot };
    }
    this.#mainKnownGood = false;
    const prev = await this.#read(this.prevPath);
    throwIfAborted(options.signal, "load");
    if (main.kind === "missing") {
      if (prev.kind === "missing") return { snapshot: emptySnapshot() };
      if (prev.kind === "ok") {
        return {
          snapshot: prev.snapshot,
          recovered: { from: "prev", error: corrupt(`${this.path} is missing; using ${this.prevPath}`) },
        };
      }
      return {
        snapshot: emptySnapshot(),
        recovered: { from: "empty", error: corrupt(`${this.path} is missing and ${prev.error.rawMessage}`) },
      };
    }
    if (prev.kind === "ok") return { snapshot: prev.snapshot, recovered: { from: "prev", error: main.error } };
    return { snapshot: emptySnapshot(), recovered: { from: "empty", error: main.error } };
  }

  /**
   * Writes `snapshot` crash-safely. The snapshot is validated and serialized
   * at call time (later changes to the object are not seen). Rejects with
   * INVALID_ARGUMENT for a snapshot that would not load back, DATABASE_CORRUPT
   * when the file cannot be written (the previous state is then intact),
   * STOPPED after {@link FilePeerStore.close}.
   */
  save(snapshot: PeerSnapshot, options: PeerStoreOperationOptions = {}): Promise<void> {
    try {
      this.#checkOpen();
      throwIfAborted(options.signal, "save");
    } catch (error) {
      return Promise.reject(error);
    }
    let data: Buffer;
    try {
      data = encodePeerFile(parsePeerSnapshot(JSON.parse(JSON.stringify(snapshot))));
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      return Promise.reject(new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `invalid snapshot: ${message}`, { cause }));
    }
    return new Promise<void>((resolve, reject) => {
      const signal = options.signal;
      let settled = false;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        reject(new PeerlinkError(ErrorCode.ABORTED, "save aborted (the write still completes)", { cause: signal?.reason }));
      };
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          if (!settled) {
            settled = true;
            resolve();
          }
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          if (!settled) {
            settled = true;
            reject(error);
          }
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (this.#pending === undefined) this.#pending = { data, waiters: [waiter] };
      else {
        this.#pending.data = data;
        this.#pending.waiters.push(waiter);
      }
      this.#kick();
    });
  }

  /** Waits for pending saves to finish, then rejects further calls with STOPPED. Idempotent. */
  async close(): Promise<void> {
    this.#closing = true;
    while (this.#running !== undefined) await this.#running;
  }

  #checkOpen(): void {
    if (this.#closing) throw new PeerlinkError(ErrorCode.STOPPED, "peer store is closed");
  }

  #kick(): void {
    if (this.#running !== undefined || this.#pending === undefined) return;
    this.#running = this.#drain();
  }

  /**
   * Writes pending jobs until none is left. `#running` is cleared before the
   * last job's waiters are settled, so a save() made by a waiter's
   * continuation starts a new drain instead of being stranded.
   */
  async #drain(): Promise<void> {
    for (;;) {
      const job = this.#pending;
      if (job === undefined) {
        this.#running = undefined;
        return;
      }
      this.#pending = undefined;
      let error: PeerlinkError | undefined;
      try {
        await this.#write(job.data);
      } catch (cause) {
        error =
          cause instanceof PeerlinkError
            ? cause
            : new PeerlinkError(
                ErrorCode.DATABASE_CORRUPT,
                `cannot write ${this.path}: ${cause instanceof Error ? cause.message : String(cause)}`,
                { cause },
              );
      }
      const last = this.#pending === undefined;
      if (last) this.#running = undefined;
      for (const w of job.waiters) {
        if (error === undefined) w.resolve();
        else w.reject(error);
      }
      if (last) return;
    }
  }

  async #write(data: Buffer): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp-${process.pid}-${++tempCounter}`;
    try {
      const fh = await open(tmp, "wx", 0o600);
      try {
        await fh.chmod(0o600);
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (await this.#mainIsGood()) await this.#keepPrevious();
      await rename(tmp, this.path);
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    this.#mainKnownGood = true;
    this.#writes++;
    await fsyncDirectory(this.#dir);
  }

  /** Makes `<path>.prev` the current live file, atomically (link or copy to a temp name, then rename). */
  async #keepPrevious(): Promise<void> {
    const tmp = `${this.prevPath}.tmp-${process.pid}-${++tempCounter}`;
    try {
      try {
        await link(this.path, tmp);
      } catch (error) {
        if (!NO_LINK_CODES.has(errorCode(error))) throw error;
        await copyFile(this.path, tmp);
        const fh = await open(tmp, "r+");
        try {
          await fh.chmod(0o600);
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
      await rename(tmp, this.prevPath);
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      if (errorCode(error) === "ENOENT") return; // the live file vanished: nothing to keep
      throw error;
    }
  }

  /** True when the live file holds a verified state (checked once, then tracked). */
  async #mainIsGood(): Promise<boolean> {
    if (!this.#mainKnownGood) this.#mainKnownGood = (await this.#read(this.path)).kind === "ok";
    return this.#mainKnownGood;
  }

  async #read(path: string): Promise<ReadOutcome> {
    let bytes: Buffer;
    try {
      // Non-blocking, so that a FIFO at the path cannot hold a thread of the I/O pool; and only a regular file is
      // read (a FIFO, or a symlink to /dev/zero, reports size 0 and would be read forever).
      const fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      try {
        const stats = await fh.stat();
        if (!stats.isFile()) return { kind: "bad", error: corrupt(`${path} is not a regular file`) };
        const { size } = stats;
        if (size > this.#maxFileBytes) {
          return { kind: "bad", error: corrupt(`${path} is ${size} bytes, over the ${this.#maxFileBytes}-byte limit`) };
        }
        bytes = await fh.readFile();
      } finally {
        await fh.close();
      }
    } catch (error) {
      if (errorCode(error) === "ENOENT") return { kind: "missing" };
      return { kind: "bad", error: corrupt(`cannot read ${path}: ${(error as Error).message}`, error) };
    }
    try {
      return { kind: "ok", snapshot: decodePeerFile(bytes) };
    } catch (error) {
      const e = PeerlinkError.from(error, ErrorCode.DATABASE_CORRUPT);
      return { kind: "bad", error: corrupt(`${path}: ${e.rawMessage}`, e) };
    }
  }

  /** Removes `<path>.tmp-<pid>-<n>` and `<path>.prev.tmp-<pid>-<n>` files of processes that no longer run. */
  async #removeStaleTemps(): Promise<void> {
    const base = basename(this.path);
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch {
      return;
    }
    const pattern = new RegExp(`^${escapeRegExp(base)}(?:\\.prev)?\\.tmp-(\\d+)-\\d+$`);
    for (const name of names) {
      const match = pattern.exec(name);
      if (match === null) continue;
      const pid = Number(match[1]);
      if (pid === process.pid || isProcessAlive(pid)) continue;
      await unlink(join(this.#dir, name)).catch(() => undefined);
    }
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === "EPERM";
  }
}

