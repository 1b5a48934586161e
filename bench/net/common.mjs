// Shared helpers of the network benchmark: statistics, length-prefix framing for the raw TLS baseline,
// a bounded in-flight window (the flow control every contender's sender uses), timing.

/** Median of a list of numbers (the lower middle for even lengths). */
export const median = (xs) => quantile(xs, 0.5);

/** The q-quantile (nearest rank) of a list of numbers. */
export function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The number after `name` in a command line's `args`, or `fallback` when `name` is absent. */
export function numberOption(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** CPU time of this process (user + system) in milliseconds. */
export function cpuMs() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * Runs `count` tasks with at most `concurrency` at once; `task(i)` returns a promise.
 * Rejects with the first failure after every started task settled.
 */
export async function pool(count, concurrency, task) {
  let next = 0;
  let failure;
  const lane = async () => {
    while (next < count && failure === undefined) {
      const i = next++;
      try {
        await task(i);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  if (failure !== undefined) throw failure;
}

/**
 * Sends `count` messages through `send` (which returns a promise settled once the message is handed to the
 * operating system, or `undefined` when it was accepted without one), keeping at most `window` unsettled.
 */
export async function sendWindowed(count, window, send) {
  const inFlight = new Set();
  for (let i = 0; i < count; i++) {
    const p = send();
    if (p === undefined) continue;
    inFlight.add(p);
    p.then(() => inFlight.delete(p), () => inFlight.delete(p));
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

/** A resolvable promise (Promise.withResolvers is Node 22+). */
export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

/** Frames a payload with a 4-byte big-endian length prefix into one pooled Buffer (what an application does). */
export function frame(payload) {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

/**
 * A decoder of 4-byte length-prefixed frames: `push(chunk)` calls `onFrame(bytes, offset, length)` for every
 * complete frame (a view, not a copy). A frame that spans chunks is gathered as a list of chunks and joined
 * once, when its last byte arrives: every byte is copied at most once. (Joining the carried tail with each new
 * chunk, as this did until 2026-12-05, copies a 64 KiB frame that arrives in 16 KiB TLS records 2.5 times over
 * and made the raw baseline's receiver slower than an application's.)
 */
export function lengthPrefixDecoder(onFrame) {
  let parts = [];
  let have = 0;
  let need = -1; // bytes of the pending frame, prefix included, once its prefix is in
  return (chunk) => {
    let buf = chunk;
    if (have > 0) {
      parts.push(chunk);
      have += chunk.length;
      if (need < 0 && have >= 4) need = 4 + Buffer.concat(parts, have).readUInt32BE(0);
      if (need < 0 || have < need) return;
      buf = Buffer.concat(parts, have);
      parts = [];
      have = 0;
      need = -1;
    }
    let at = 0;
    while (buf.length - at >= 4) {
      const len = buf.readUInt32BE(at);
      if (buf.length - at - 4 < len) {
        need = 4 + len;
        break;
      }
      onFrame(buf, at + 4, len);
      at += 4 + len;
    }
    if (at < buf.length) {
      parts = [buf.subarray(at)];
      have = buf.length - at;
    } else need = -1;
  };
}

/** Forces a full garbage collection when run with --expose-gc (twice: weak references clear on the second). */
export async function settleHeap() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await sleep(20);
  }
}
