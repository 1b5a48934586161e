/**
 * Property-test run counts sized for `npm test` on a busy 2-core machine (each file well under its
 * timeout at load average 8). `PEERLINK_PROPERTY_SCALE=10 npx vitest run FILE` searches ten times deeper.
 */

/** `base` runs, times `PEERLINK_PROPERTY_SCALE` (default 1), at least 1. */
export function propertyRuns(base: number): number {
  const scale = Number(process.env.PEERLINK_PROPERTY_SCALE ?? 1);
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}
