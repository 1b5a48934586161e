/**
 * Outbound diversity groups: the network group of an address (its IPv4 /16 or IPv6 /32 by default, Bitcoin
 * Core's netgroups), so that the mesh does not put two outbound peers in one group while another exists.
 *
 * @module
 */
import { isIp, parseHostPort, subnetKey } from "../manager/ip.js";

/** Prefix lengths of the groups, or `false` for no grouping. */
export type DiversityPrefixes = { readonly ipv4Prefix: number; readonly ipv6Prefix: number } | false;

/**
 * The group of `address` (`"host:port"` or a bare IP): its subnet under `prefixes`, the lowercased host for a
 * host name, or undefined when diversity is off or the address cannot be read.
 */
export function groupOf(address: string, prefixes: DiversityPrefixes): string | undefined {
  if (prefixes === false) return undefined;
  let host = address;
  if (!isIp(address)) {
    try {
      host = parseHostPort(address).host;
    } catch {
      return undefined;
    }
  }
  if (!isIp(host)) return `name:${host.toLowerCase()}`;
  try {
    return subnetKey(host, prefixes.ipv4Prefix, prefixes.ipv6Prefix);
  } catch {
    return undefined;
  }
}
