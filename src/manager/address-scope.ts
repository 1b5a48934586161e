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
import { ipBytes, ipFamily, parseHostPort } from "./ip.js";

/**
 * Reachability class of an address:
 * - `loopback`: this host only (127.0.0.0/8, ::1, and the names `localhost`, `*.localhost`,
 *   `ip6-localhost`, `ip6-loopback`, which always mean this host);
 * - `link-local`: this link only (169.254.0.0/16, fe80::/10);
 * - `shared`: carrier-grade NAT space (100.64.0.0/10): other customers of the same carrier, not this
 *   node's own network;
 * - `private`: a private network (RFC 1918, fc00::/7 unique local, the deprecated fec0::/10 site-local,
 *   198.18.0.0/15 benchmarking, 192.0.0.0/24 protocol assignments);
 * - `public`: anything routable on the internet;
 * - `unroutable`: never a peer's listening address (0.0.0.0/8, multicast 224.0.0.0/4, 240.0.0.0/4 and
 *   broadcast, `::`, the deprecated IPv4-compatible ::/96, multicast ff00::/8);
 * - `name`: any other host name (resolved when dialed).
 *
 * IPv6 addresses that carry an IPv4 address (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4
 * 2002::/16) have the scope of that IPv4 address.
 */
export type AddressScope = "loopback" | "link-local" | "shared" | "private" | "public" | "unroutable" | "name";

/** Host names that always mean this host (RFC 6761, and Debian's /etc/hosts IPv6 names). */
const LOOPBACK_NAMES = new Set(["localhost", "ip6-localhost", "ip6-loopback"]);

/** The scope of an IP literal or host name (brackets and zone ids allowed). */
export function addressScope(host: string): AddressScope {
  const bytes = ipBytes(host);
  if (bytes === undefined) {
    const name = host.toLowerCase().replace(/\.$/, "");
    return LOOPBACK_NAMES.has(name) || name.endsWith(".localhost") ? "loopback" : "name";
  }
  return bytes.length === 4 ? ipv4Scope(bytes) : ipv6Scope(bytes);
}

function ipv4Scope(bytes: readonly number[]): AddressScope {
  const [a, b, c] = bytes as [number, number, number, number];
  if (a === 127) return "loopback";
  if (a === 0 || a >= 224) return "unroutable"; // this network, multicast, reserved, broadcast
  if (a === 169 && b === 254) return "link-local";
  if (a === 100 && b >= 64 && b <= 127) return "shared";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
  if ((a === 198 && (b === 18 || b === 19)) || (a === 192 && b === 0 && c === 0)) return "private";
  return "public";
}

function ipv6Scope(bytes: readonly number[]): AddressScope {
  const word = (i: number) => ((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number);
  const zeroUpTo = (n: number) => bytes.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(15)) return bytes[15] === 1 ? "loopback" : "unroutable"; // ::1, ::
  if (zeroUpTo(12)) return "unroutable"; // IPv4-compatible ::a.b.c.d (deprecated)
  const first = word(0);
  if (first === 0x0064 && word(1) === 0xff9b && bytes.slice(4, 12).every((x) => x === 0)) return ipv4Scope(bytes.slice(12)); // NAT64
  if (first === 0x2002) return ipv4Scope(bytes.slice(2, 6)); // 6to4
  if ((first & 0xff00) === 0xff00) return "unroutable"; // multicast
  if ((first & 0xffc0) === 0xfe80) return "link-local";
  if ((first & 0xffc0) === 0xfec0) return "private"; // site-local (deprecated)
  if ((first & 0xfe00) === 0xfc00) return "private"; // unique local
  return "public";
}

/**
 * Whether `advertised` (`"host:port"`) may be recorded for a peer that connected from (or was dialed at)
 * `remoteAddress` (`"host:port"` or an IP):
 * - a loopback peer may advertise anything dialable (local meshes and tests);
 * - a peer on a private network or link may advertise public, private and carrier-NAT (`shared`) addresses
 *   and host names, and link-local ones only from a link-local address;
 * - a peer behind carrier-grade NAT (`shared`) may advertise public and `shared` addresses only: it is
 *   another customer of the same carrier, not on this node's network;
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
  if (scope === "shared") return from === "shared" || from === "private" || from === "link-local";
  if (scope === "link-local") return from === "link-local";
  return false; // loopback advertised by a non-loopback peer
}

function remoteHost(remoteAddress: string): string {
  // A connection's remote address is `host:port` or `[v6]:port`: read as such first. Tried as a bare IP
  // first, it went through the IPv6 parser (it has a colon) at every adoption before being split.
  const colon = remoteAddress.indexOf(":");
  if (colon >= 0 && (remoteAddress.charCodeAt(0) === 0x5b /* [ */ || colon === remoteAddress.lastIndexOf(":"))) {
    return parseHostPort(remoteAddress).host;
  }
  return ipFamily(remoteAddress) !== undefined ? remoteAddress : parseHostPort(remoteAddress).host;
}
