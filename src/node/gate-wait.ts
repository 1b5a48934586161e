/**
 * Waiting for a gater's asynchronous answer, bounded: the adapters own this timer, the node core and the
 * gater module stay free of them.
 *
 * @module
 */
import { gateTimedOut, GATER_TIMEOUT_MS, isPendingGate, type GateOutcome, type GateVerdict } from "./policy/gater.js";

/**
 * The verdict of `outcome`: at once when it is known, else its Promise, a denial after `timeoutMs`, or the
 * verdict `onAbort` gives when `signal` fires first (the node is stopping). Never rejects; leaves no timer
 * or listener behind.
 */
export function awaitGate(
  outcome: GateOutcome,
  hook: string,
  signal: AbortSignal,
  onAbort: () => GateVerdict,
  timeoutMs: number = GATER_TIMEOUT_MS,
): GateVerdict | Promise<GateVerdict> {
  if (!isPendingGate(outcome)) return outcome;
  if (signal.aborted) return onAbort();
  return new Promise<GateVerdict>((resolve) => {
    const finish = (verdict: GateVerdict): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", aborted);
      resolve(verdict);
    };
    const aborted = (): void => finish(onAbort());
    const timer = setTimeout(() => finish(gateTimedOut(hook, timeoutMs)), timeoutMs);
    signal.addEventListener("abort", aborted, { once: true });
    void outcome.then(finish);
  });
}
