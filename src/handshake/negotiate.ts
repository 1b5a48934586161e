/**
 * Version, capability and protocol negotiation (docs/PROTOCOL.md §3.4, steps
 * 3–5) as pure functions: both sides compute the same result from the same
 * two Hellos.
 *
 * @module
 */
import type { AgreedCapability, AgreedProtocol, CapabilitySpec, ProtocolSpec, VersionRange } from "./types.js";

/** Outcome of {@link negotiateCapabilities}. */
export type CapabilityNegotiation =
  /** Every required capability is listed by the other side; `agreed` is sorted by name. */
  | { readonly ok: true; readonly agreed: readonly AgreedCapability[] }
  /** A capability `name` required by `requiredBy` is not listed by the other side. */
  | { readonly ok: false; readonly name: string; readonly requiredBy: "local" | "remote" };

/**
 * Picks the wire version: `min(local.max, remote.max)`, or `undefined` when it
 * is below `max(local.min, remote.min)` (no common version).
 */
export function negotiateVersion(local: VersionRange, remote: VersionRange): number | undefined {
  const agreed = Math.min(local.max, remote.max);
  return agreed < Math.max(local.min, remote.min) ? undefined : agreed;
}

/**
 * Intersects capabilities: fails on the first required capability (checking
 * the local list first, then the remote one) the other side does not list;
 * otherwise the agreed set is every name listed by both, at the lower of the
 * two versions, sorted by name (code-unit order). When a name appears twice in
 * one list, its first occurrence counts.
 */
export function negotiateCapabilities(
  local: readonly CapabilitySpec[],
  remote: readonly CapabilitySpec[],
): CapabilityNegotiation {
  const localByName = firstByName(local);
  const remoteByName = firstByName(remote);
  for (const cap of localByName.values()) {
    if (cap.required === true && !remoteByName.has(cap.name)) return { ok: false, name: cap.name, requiredBy: "local" };
  }
  for (const cap of remoteByName.values()) {
    if (cap.required === true && !localByName.has(cap.name)) return { ok: false, name: cap.name, requiredBy: "remote" };
  }
  const agreed: AgreedCapability[] = [];
  for (const [name, mine] of localByName) {
    const theirs = remoteByName.get(name);
    if (theirs !== undefined) agreed.push({ name, version: Math.min(mine.version, theirs.version) });
  }
  agreed.sort((a, b) => compareNames(a.name, b.name));
  return { ok: true, agreed };
}

/**
 * Intersects protocols: every name listed by both sides with at least one
 * version in common, at the highest common version, with both sides' aliases;
 * sorted by name. A protocol without a common version is left out.
 */
export function negotiateProtocols(
  local: readonly ProtocolSpec[],
  remote: readonly ProtocolSpec[],
): AgreedProtocol[] {
  const remoteByName = firstByName(remote);
  const agreed: AgreedProtocol[] = [];
  for (const mine of firstByName(local).values()) {
    const theirs = remoteByName.get(mine.name);
    if (theirs === undefined) continue;
    const theirVersions = new Set(theirs.versions);
    let best: number | undefined;
    for (const v of mine.versions) {
      if (theirVersions.has(v) && (best === undefined || v > best)) best = v;
    }
    if (best !== undefined) {
      agreed.push({ name: mine.name, version: best, localAlias: mine.alias, remoteAlias: theirs.alias });
    }
  }
  agreed.sort((a, b) => compareNames(a.name, b.name));
  return agreed;
}

function firstByName<T extends { readonly name: string }>(items: readonly T[]): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) if (!map.has(item.name)) map.set(item.name, item);
  return map;
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
