/**
 * Figures an abuse, fault or soak test measured, for docs/RELIABILITY.md: printed as one
 * `RELIABILITY {json}` line, which `npm run reliability` (scripts/reliability-report.mjs) collects per
 * test from the run's console output. Figures are what happened, never what was asserted.
 */

/** A measured figure: a count, a duration in ms, a size, or a short label. */
export type Figure = number | string | boolean;

/** Prints `figures` as the current test's `RELIABILITY` line (one line; a test may print several). */
export function reportFigures(figures: Readonly<Record<string, Figure>>): void {
  console.log(`RELIABILITY ${JSON.stringify(figures)}`);
}
