/**
 * The dialer's steps and errors that need none of its state: the name lookup of an attempt, and the
 * refusals a dial ends with before any socket.
 *
 * @module
 */
import { lookup } from "node:dns/promises";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { normalizeIp } from "../manager/ip.js";
import type { DialBackoff } from "../peers/dial-backoff.js";

/** Resolves a host name to one IP address (limits and bans are per IP); rejects with ABORTED when `signal` fires first. */
export async function resolveHost(host: string, signal: AbortSignal): Promise<string> {
  const aborted = (): PeerlinkError => new PeerlinkError(ErrorCode.ABORTED, `resolving ${host}: aborted`, { cause: signal.reason, initiator: "local" });
  if (signal.aborted) throw aborted();
  let onAbort: (() => void) | undefined;
  const abort = new Promise<never>((_, reject) => {
    onAbort = (): void => reject(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const { address } = await Promise.race([lookup(host), abort]);
    return normalizeIp(address);
  } catch (cause) {
    if (cause instanceof PeerlinkError && cause.code === ErrorCode.ABORTED) throw cause;
    throw new PeerlinkError(ErrorCode.CONNECT_FAILED, `cannot resolve ${host}`, { cause });
  } finally {
    signal.removeEventListener("abort", onAbort!);
  }
}

/**
 * Refusals before a socket (bans, limits), journaled where they happen: no dial failure for the services. A
 * module-level set (an error is unique to its dial), so a dial makes none of its own.
 */
export const refusals = new WeakSet<PeerlinkError>();

/** The retry-after of the peer's Goodbye that ended a handshake, when it gave one. */
export function remoteRetryAfterMs(error: PeerlinkError): number | undefined {
  const cause = error.cause as { retryAfterMs?: unknown } | undefined;
  const ms = error.initiator === "remote" ? cause?.retryAfterMs : undefined;
  return typeof ms === "number" && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** DIAL_BACKOFF for a peer whose Goodbye asked not to be redialed before `until`. */
export function retryAfterError(peerId: string, until: number, now: number): PeerlinkError {
  const retryAfterMs = Math.max(0, until - now);
  return new PeerlinkError(
    ErrorCode.DIAL_BACKOFF,
    `${peerId} asked not to be redialed before ${until} (the retry-after of its Goodbye): dial again in ${Math.ceil(retryAfterMs)} ms`,
    { cause: { peerId, retryAt: until, retryAfterMs }, initiator: "local" },
  );
}

/** The DIAL_BACKOFF refusal of a dial whose every address waits: says when the first may be dialed again. */
export function backoffError(addresses: readonly string[], backoff: DialBackoff, now: number): PeerlinkError {
  let first: { address: string; failures: number; retryAt: number } | undefined;
  for (const address of addresses) {
    const state = backoff.check(address, now);
    if (state !== undefined && (first === undefined || state.retryAt < first.retryAt)) first = { address, ...state };
  }
  const f = first ?? { address: addresses[0] ?? "", failures: 0, retryAt: now };
  const retryAfterMs = Math.max(0, f.retryAt - now);
  return new PeerlinkError(
    ErrorCode.DIAL_BACKOFF,
    `${f.address} failed ${f.failures} time(s) in a row: dial again in ${Math.ceil(retryAfterMs)} ms (or clearDialBackoff())`,
    { cause: { address: f.address, failures: f.failures, retryAt: f.retryAt, retryAfterMs }, initiator: "local" },
  );
}
