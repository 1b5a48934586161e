/**
 * Internal: random bytes served from a pooled buffer that is refilled from the OS CSPRNG when used up.
 * `crypto.randomBytes(32)` per handshake nonce was ~0.8 % of a connection's setup CPU (a Buffer and a
 * CSPRNG call each time); one 4 KiB fill serves 128 nonces. Bytes are handed out once and copied out, so no
 * two callers ever see the same bytes.
 *
 * @module
 */
import { randomFillSync } from "node:crypto";

const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let offset = POOL_BYTES;

/** `length` fresh random bytes (a new array); lengths above the pool size are filled directly. */
export function pooledRandomBytes(length: number): Uint8Array {
  if (length > POOL_BYTES) return randomFillSync(new Uint8Array(length));
  if (offset + length > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = pool.slice(offset, offset + length);
  offset += length;
  return out;
}

/**
 * A fresh random uint32 from the pool: a nonce a peer cannot predict (sequential ping nonces let a peer that never
 * answers forge the Pongs of the pings to come).
 */
export function randomUint32(): number {
  if (offset + 4 > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const value = (pool[offset]! | (pool[offset + 1]! << 8) | (pool[offset + 2]! << 16) | (pool[offset + 3]! << 24)) >>> 0;
  offset += 4;
  return value;
}

