/**
 * Version, capability and protocol negotiation (docs/PROTOCOL.md §3.4, steps
 * 3–5) as pure functions: both sides compute the same result from the same
 * two Hellos.
 *
 * @module
 */
import type { AgreedCapability, AgreedProtocol, CapabilitySpec, ProtocolSpec, VersionRange } from "./types.js";
import { firstIndex, SMALL_LIST } from "./list-checks.js";
import { append } from "../util/append.js";

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
  if (local.length <= SMALL_LIST && remote.length <= SMALL_LIST) return negotiateSmallCapabilities(local, remote);
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

/** {@link negotiateCapabilities} for short lists, by scanning instead of through Maps (same result). */
function negotiateSmallCapabilities(local: readonly CapabilitySpec[], remote: readonly CapabilitySpec[]): CapabilityNegotiation {
  for (let i = 0; i < local.length; i++) {
    const cap = local[i] as CapabilitySpec;
    if (cap.required === true && isFirst(local, i) && firstIndex(remote, cap.name) < 0) return { ok: false, name: cap.name, requiredBy: "local" };
  }
  for (let i = 0; i < remote.length; i++) {
    const cap = remote[i] as CapabilitySpec;
    if (cap.required === true && isFirst(remote, i) && firstIndex(local, cap.name) < 0) return { ok: false, name: cap.name, requiredBy: "remote" };
  }
  let agreed: AgreedCapability[] = [];
  for (let i = 0; i < local.length; i++) {
    const mine = local[i] as CapabilitySpec;
    if (!isFirst(local, i)) continue;
    const j = firstIndex(remote, mine.name);
    if (j >= 0) agreed = append(agreed, { name: mine.name, version: Math.min(mine.version, (remote[j] as CapabilitySpec).version) });
  }
  if (agreed.length > 1) agreed.sort((a, b) => compareNames(a.name, b.name));
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
  let agreed: AgreedProtocol[] = [];
  if (local.length <= SMALL_LIST && remote.length <= SMALL_LIST) {
    for (let i = 0; i < local.length; i++) {
      const mine = local[i] as ProtocolSpec;
      if (isFirst(local, i)) agreed = addAgreed(agreed, mine, remote[firstIndex(remote, mine.name)]);
    }
  } else {
    const remoteByName = firstByName(remote);
    for (const mine of firstByName(local).values()) agreed = addAgreed(agreed, mine, remoteByName.get(mine.name));
  }
  if (agreed.length > 1) agreed.sort((a, b) => compareNames(a.name, b.name));
  return agreed;
}

/** `agreed` with the protocol both `mine` and `theirs` speak added, if they have a version in common. */
function addAgreed(agreed: AgreedProtocol[], mine: ProtocolSpec, theirs: ProtocolSpec | undefined): AgreedProtocol[] {
  if (theirs === undefined) return agreed;
  const best = highestCommon(mine.versions, theirs.versions);
  return best === undefined ? agreed : append(agreed, { name: mine.name, version: best, localAlias: mine.alias, remoteAlias: theirs.alias });
}

/** The highest version in both lists; a Set of `theirs` only when both are long (the peer picks its length). */
function highestCommon(mine: readonly number[], theirs: readonly number[]): number | undefined {
  const theirVersions = mine.length <= SMALL_LIST || theirs.length <= SMALL_LIST ? undefined : new Set(theirs);
  let best: number | undefined;
  for (const v of mine) {
    if ((theirVersions === undefined ? theirs.includes(v) : theirVersions.has(v)) && (best === undefined || v > best)) best = v;
  }
  return best;
}

/** True when entry `i` is the first of its name. */
function isFirst(items: readonly { readonly name: string }[], i: number): boolean {
  return firstIndex(items, (items[i] as { readonly name: string }).name, i) < 0;
}

function firstByName<T extends { readonly name: string }>(items: readonly T[]): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) if (!map.has(item.name)) map.set(item.name, item);
  return map;
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
