/**
 * A userspace TCP relay on 127.0.0.1 that adds a one-way delay (and optionally
 * a byte-rate cap) in both directions, for tests that need latency the kernel
 * cannot give us (no `tc netem` on this machine).
 *
 * @module
 */
import net from "node:net";
import { performance } from "node:perf_hooks";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";

/** Options of {@link DelayRelay.start}. */
export interface DelayRelayOptions {
  /** Port of the server the relay forwards to. */
  targetPort: number;
  /** Host of that server. @default "127.0.0.1" */
  targetHost?: string;
  /** One-way delay added to every chunk, in ms (so the RTT grows by twice this). @default 0 */
  delayMs?: number;
  /** Cap on each direction's throughput, in bytes per second. @default no cap */
  bytesPerSecond?: number;
  /** Port to listen on. @default 0 (any free port) */
  listenPort?: number;
  /** Aborts the start (the listener is closed). */
  signal?: AbortSignal;
}

/** Pieces larger than this are split when a rate cap applies, so the cap is smooth. */
const RATE_PIECE_BYTES = 16 * 1024;
/** Pause reading from the source while this many bytes wait (queued + unwritten). */
const HIGH_WATER_BYTES = 1024 * 1024;
/** A chunk due within this many ms is written now (timers fire on whole milliseconds). */
const EARLY_TOLERANCE_MS = 0.5;

function checkDelay(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `relay delay must be a finite number >= 0 (ms), got ${ms}`);
  }
  return ms;
}

function checkRate(rate: number | undefined): number | undefined {
  if (rate !== undefined && (!Number.isFinite(rate) || rate <= 0)) {
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `relay bytesPerSecond must be a finite number > 0, got ${rate}`);
  }
  return rate;
}

interface Scheduled {
  readonly chunk: Buffer;
  readonly dueAt: number;
}

/** One direction of a relayed connection: reads `src`, writes `dst` after the delay, in order. */
class DelayedPipe {
  readonly #relay: DelayRelay;
  readonly #src: net.Socket;
  readonly #dst: net.Socket;
  readonly #queue: Scheduled[] = [];
  #head = 0;
  #queuedBytes = 0;
  #lastDueAt = 0;
  #linkFreeAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #ended = false;
  #paused = false;

  constructor(relay: DelayRelay, src: net.Socket, dst: net.Socket) {
    this.#relay = relay;
    this.#src = src;
    this.#dst = dst;
    src.on("data", (chunk: Buffer) => this.#onData(chunk));
    src.on("end", () => {
      this.#ended = true;
      this.#flush();
    });
    dst.on("drain", () => this.#updatePressure());
  }

  #onData(chunk: Buffer): void {
    const arrival = performance.now();
    this.#relay.noteBytesIn(chunk.length);
    const delay = this.#relay.delayMs;
    const rate = this.#relay.bytesPerSecond;
    const pieceSize = rate === undefined ? chunk.length : RATE_PIECE_BYTES;
    for (let off = 0; off < chunk.length; off += pieceSize) {
      const piece = chunk.subarray(off, Math.min(chunk.length, off + pieceSize));
      let dueAt = arrival + delay;
      if (rate !== undefined) {
        // serialise on the capped link, then propagate
        this.#linkFreeAt = Math.max(arrival, this.#linkFreeAt) + (piece.length / rate) * 1000;
        dueAt = this.#linkFreeAt + delay;
      }
      dueAt = Math.max(dueAt, this.#lastDueAt); // order is preserved even when the delay shrinks
      this.#lastDueAt = dueAt;
      this.#queue.push({ chunk: piece, dueAt });
      this.#queuedBytes += piece.length;
    }
    this.#updatePressure();
    this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const head = this.#queue[this.#head];
    if (head === undefined) return;
    const wait = Math.max(0, head.dueAt - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, wait);
  }

  #flush(): void {
    if (this.#dst.destroyed) return;
    const now = performance.now();
    for (let head = this.#queue[this.#head]; head !== undefined; head = this.#queue[this.#head]) {
      if (head.dueAt - now > EARLY_TOLERANCE_MS) break;
      this.#head += 1;
      this.#queuedBytes -= head.chunk.length;
      this.#dst.write(head.chunk);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.#head >= this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
      if (this.#ended && !this.#dst.writableEnded) this.#dst.end();
    }
    this.#updatePressure();
    this.#arm();
  }

  #updatePressure(): void {
    const waiting = this.#queuedBytes + this.#dst.writableLength;
    if (!this.#paused && waiting > HIGH_WATER_BYTES) {
      this.#paused = true;
      this.#src.pause();
    } else if (this.#paused && waiting <= HIGH_WATER_BYTES / 2) {
      this.#paused = false;
      this.#src.resume();
    }
  }

  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
    this.#head = 0;
  }
}

/**
 * A TCP relay on 127.0.0.1 that forwards each accepted connection to the
 * target and delays every chunk by {@link delayMs} in each direction (RTT + 2 ×
 * delay), preserving byte order: each chunk is scheduled at arrival + delay,
 * never before the chunk ahead of it. With a rate cap, each direction behaves
 * like a link of that many bytes per second followed by the delay.
 *
 * @example
 * ```ts
 * const relay = await DelayRelay.start({ targetPort: server.port, delayMs: 20 });
 * const socket = net.connect(relay.listenPort, "127.0.0.1");
 * relay.setDelay(100); // later chunks take 100 ms each way
 * await relay.close();
 * ```
 */
export class DelayRelay {
  /** Port the relay listens on (127.0.0.1). */
  readonly listenPort: number;
  /** Port of the target server. */
  readonly targetPort: number;
  /** Host of the target server. */
  readonly targetHost: string;

  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #pipes = new Set<DelayedPipe>();
  #delayMs: number;
  #bytesPerSecond: number | undefined;
  #accepted = 0;
  #open = 0;
  #bytesIn = 0;
  #waiters: { readonly bytes: number; readonly resolve: () => void; readonly reject: (e: Error) => void }[] = [];
  #closing: Promise<void> | undefined;

  private constructor(server: net.Server, options: DelayRelayOptions) {
    this.#server = server;
    const address = server.address();
    if (address === null || typeof address === "string") throw new PeerlinkError(ErrorCode.INTERNAL, "relay has no TCP address");
    this.listenPort = address.port;
    this.targetPort = options.targetPort;
    this.targetHost = options.targetHost ?? "127.0.0.1";
    this.#delayMs = checkDelay(options.delayMs ?? 0);
    this.#bytesPerSecond = checkRate(options.bytesPerSecond);
    server.on("connection", (socket) => this.#accept(socket));
  }

  /**
   * Starts a relay listening on 127.0.0.1.
   *
   * @throws PeerlinkError INVALID_ARGUMENT on a bad delay, rate or port; ABORTED when `signal` aborts.
   */
  static async start(options: DelayRelayOptions): Promise<DelayRelay> {
    checkDelay(options.delayMs ?? 0);
    checkRate(options.bytesPerSecond);
    if (!Number.isInteger(options.targetPort) || options.targetPort < 1 || options.targetPort > 65535) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `relay targetPort must be a TCP port, got ${options.targetPort}`);
    }
    options.signal?.throwIfAborted();
    // Half-open sockets: a FIN is relayed after the delayed bytes ahead of it, not applied at once.
    const server = net.createServer({ noDelay: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        server.close();
        reject(new PeerlinkError(ErrorCode.ABORTED, "relay start aborted"));
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      server.once("error", (error) => {
        options.signal?.removeEventListener("abort", onAbort);
        reject(PeerlinkError.from(error, ErrorCode.INVALID_ARGUMENT));
      });
      server.listen(options.listenPort ?? 0, "127.0.0.1", () => {
        options.signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
    return new DelayRelay(server, options);
  }

  /** Current one-way delay in ms. */
  get delayMs(): number {
    return this.#delayMs;
  }

  /** Current per-direction rate cap in bytes per second, `undefined` for none. */
  get bytesPerSecond(): number | undefined {
    return this.#bytesPerSecond;
  }

  /** Relayed connections currently open. */
  get openConnections(): number {
    return this.#open;
  }

  /** Connections accepted since the start. */
  get acceptedConnections(): number {
    return this.#accepted;
  }

  /** Bytes the relay has read from either side since the start. */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** @internal Called by the pipes for every chunk read. */
  noteBytesIn(n: number): void {
    this.#bytesIn += n;
    const ready = this.#waiters.filter((w) => this.#bytesIn >= w.bytes);
    this.#waiters = this.#waiters.filter((w) => this.#bytesIn < w.bytes);
    for (const w of ready) w.resolve();
  }

  /**
   * Resolves once the relay has read at least `bytes` bytes in total (both
   * directions): lets a test know a chunk is scheduled without sleeping.
   * Rejects with ABORTED when `signal` aborts and with CONNECTION_CLOSED when the relay closes first.
   */
  waitForBytesIn(bytes: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#bytesIn >= bytes) return Promise.resolve();
    if (this.#closing !== undefined) {
      return Promise.reject(new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "relay is closed"));
    }
    options.signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new PeerlinkError(ErrorCode.ABORTED, "waitForBytesIn aborted"));
      };
      const waiter = {
        bytes,
        resolve: (): void => {
          options.signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (error: Error): void => {
          options.signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Changes the one-way delay for chunks that arrive from now on (earlier chunks keep theirs; order is kept). */
  setDelay(ms: number): void {
    this.#delayMs = checkDelay(ms);
  }

  /** Changes (or with `undefined` removes) the per-direction rate cap for chunks that arrive from now on. */
  setRate(bytesPerSecond: number | undefined): void {
    this.#bytesPerSecond = checkRate(bytesPerSecond);
  }

  #accept(client: net.Socket): void {
    if (this.#closing !== undefined) {
      client.destroy();
      return;
    }
    this.#accepted += 1;
    this.#open += 1;
    client.setNoDelay(true);
    const upstream = net.connect({ port: this.targetPort, host: this.targetHost, noDelay: true, allowHalfOpen: true });
    const pipes = [new DelayedPipe(this, client, upstream), new DelayedPipe(this, upstream, client)];
    for (const p of pipes) this.#pipes.add(p);
    let torn = false;
    const teardown = (): void => {
      if (!torn) {
        torn = true;
        this.#open -= 1;
      }
      for (const p of pipes) {
        p.dispose();
        this.#pipes.delete(p);
      }
      client.destroy();
      upstream.destroy();
    };
    // An error on either side tears both down; a clean close of one side waits for
    // the other, so bytes still delayed towards it are delivered before its FIN.
    let cleanlyClosed = 0;
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on("error", teardown);
      socket.on("close", (hadError: boolean) => {
        this.#sockets.delete(socket);
        cleanlyClosed += 1;
        if (hadError || cleanlyClosed === 2) teardown();
      });
    }
  }

  /** Stops listening and destroys every relayed connection and pending timer. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      for (const p of this.#pipes) p.dispose();
      this.#pipes.clear();
      for (const s of this.#sockets) s.destroy();
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w.reject(new PeerlinkError(ErrorCode.CONNECTION_CLOSED, "relay closed"));
    });
    return this.#closing;
  }
}
