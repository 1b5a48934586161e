/**
 * Where an IP address can be reached from, and which addresses a peer may
 * advertise given where it connected from. A peer's Hello lists the addresses it
 * listens on; recording them lets this node (and the peers it tells) dial back
 * later. Recording them blindly lets any remote peer plant addresses that point
 * into this node's own networks (`127.0.0.1:22`, `10.0.0.5:6379`): a later
 * redial would then connect to a local service, not to the peer. The rule here:
 * an advertised address is recorded only when its scope is reachable from where
 * the peer itself was seen.
 *
 * @module
 */
import { ipFamily, normalizeIp, parseHostPort } from "./ip.js";

/**
 * Reachability class of an address:
 * - `loopback`: this host only (127.0.0.0/8, ::1);
 * - `link-local`: this link only (169.254.0.0/16, fe80::/10);
 * - `private`: a private network (RFC 1918, 100.64.0.0/10 shared address space, fc00::/7 unique local);
 * - `public`: anything routable on the internet;
 * - `unroutable`: never a peer's listening address (0.0.0.0/8, multicast 224.0.0.0/4, 240.0.0.0/4 and
 *   broadcast, `::`, multicast ff00::/8);
 * - `name`: a host name, not an IP literal (resolved when dialed).
 */
export type AddressScope = "loopback" | "link-local" | "private" | "public" | "unroutable" | "name";

/** The scope of an IP literal or host name (brackets and zone ids allowed; IPv4-mapped IPv6 counts as IPv4). */
export function addressScope(host: string): AddressScope {
  if (ipFamily(host) === undefined) return "name";
  const ip = normalizeIp(host);
  return ipFamily(ip) === 4 ? ipv4Scope(ip) : ipv6Scope(ip);
}

function ipv4Scope(ip: string): AddressScope {
  const [a, b] = ip.split(".").map(Number) as [number, number, number, number];
  if (a === 127) return "loopback";
  if (a === 0 || a >= 224) return "unroutable"; // this network, multicast, reserved, broadcast
  if (a === 169 && b === 254) return "link-local";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) {
    return "private";
  }
  return "public";
}

function ipv6Scope(ip: string): AddressScope {
  if (ip === "::1") return "loopback";
  if (ip === "::") return "unroutable";
  const first = parseInt(ip.split(":")[0] || "0", 16);
  if ((first & 0xff00) === 0xff00) return "unroutable"; // multicast
  if ((first & 0xffc0) === 0xfe80) return "link-local";
  if ((first & 0xfe00) === 0xfc00) return "private"; // unique local
  return "public";
}

/**
 * Whether `advertised` (`"host:port"`) may be recorded for a peer that connected from (or was dialed at)
 * `remoteAddress` (`"host:port"` or an IP):
 * - a loopback peer may advertise anything dialable (local meshes and tests);
 * - a peer on a private network or link may advertise public and private addresses and host names, and
 *   link-local ones only from a link-local address;
 * - a public peer may advertise only public IP addresses (a host name could resolve to this node's own
 *   networks when dialed);
 * - unroutable addresses (multicast, broadcast, unspecified) are never recorded; neither is anything when
 *   the remote address cannot be parsed.
 */
export function mayAdvertise(advertised: string, remoteAddress: string): boolean {
  let scope: AddressScope;
  let from: AddressScope;
  try {
    scope = addressScope(parseHostPort(advertised).host);
    from = addressScope(remoteHost(remoteAddress));
  } catch {
    return false;
  }
  if (scope === "unroutable" || from === "unroutable" || from === "name") return false;
  if (from === "loopback") return true;
  if (scope === "public") return true;
  // A host name is resolved only when dialed, and may then point anywhere (`localhost`, DNS rebinding to
  // 127.0.0.1 or 10.x): accepted only from peers on this node's own networks, like private addresses.
  if (scope === "private" || scope === "name") return from === "private" || from === "link-local";
  if (scope === "link-local") return from === "link-local";
  return false; // loopback advertised by a non-loopback peer
}

function remoteHost(remoteAddress: string): string {
  return ipFamily(remoteAddress) !== undefined ? remoteAddress : parseHostPort(remoteAddress).host;
}
