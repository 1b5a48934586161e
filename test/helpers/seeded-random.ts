/**
 * Test helper: a small seeded pseudo-random generator, so a failing randomized
 * round can be replayed from the seed the test printed.
 *
 * @module
 */

/**
 * Returns a generator of numbers in [0, 1) determined by `seed` (mulberry32:
 * 32-bit state, fast, not cryptographic).
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
