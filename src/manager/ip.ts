/**
 * Pure helpers for IP addresses and `host:port` strings used by the connection
 * limits: canonical IP keys for per-IP accounting, subnet keys for per-subnet
 * accounting and bans, and strict `host:port` parsing. No dependencies, no I/O.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";

/** The two IP families. */
export type IpFamily = 4 | 6;

/** An IP address as raw bytes: 4 for IPv4, 16 for IPv6. */
interface IpBytes {
  readonly family: IpFamily;
  readonly bytes: readonly number[];
}

/** A parsed `host:port` string. */
export interface HostPort {
  /** Host name or IP literal, without brackets (an IPv6 zone id such as `%eth0` is kept). */
  host: string;
  /** TCP port, 1–65535. */
  port: number;
}

const IPV4_PART = /^(0|[1-9][0-9]{0,2})$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;
const ZONE = /^[0-9A-Za-z_.\-]{1,64}$/;
const HOSTNAME_LABEL = /^[0-9A-Za-z_]([0-9A-Za-z_-]{0,61}[0-9A-Za-z_])?$/;

function invalid(message: string): PeerlinkError {
  return new PeerlinkError(ErrorCode.INVALID_ARGUMENT, message);
}

function parseIpv4Bytes(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!IPV4_PART.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

function parseIpv6Bytes(text: string): number[] | undefined {
  let body = text;
  let tail: number[] = [];
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes the last two hextets.
  const lastColon = body.lastIndexOf(":");
  if (lastColon >= 0 && body.includes(".", lastColon)) {
    const v4 = parseIpv4Bytes(body.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = v4;
    const head = body.slice(0, lastColon + 1);
    // "::1.2.3.4" keeps its "::"; "1:2:3:4:5:6:1.2.3.4" drops the separator colon.
    body = head.endsWith("::") ? head : head.slice(0, -1);
  }
  const tailHextets = tail.length / 2;
  const doubleColon = body.indexOf("::");
  if (doubleColon !== body.lastIndexOf("::") && doubleColon >= 0) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const group of s.split(":")) {
      if (!HEXTET.test(group)) return undefined;
      out.push(Number.parseInt(group, 16));
    }
    return out;
  };
  let hextets: number[];
  if (doubleColon >= 0) {
    const head = parseGroups(body.slice(0, doubleColon));
    const rest = parseGroups(body.slice(doubleColon + 2));
    if (head === undefined || rest === undefined) return undefined;
    const missing = 8 - tailHextets - head.length - rest.length;
    if (missing < 1) return undefined;
    hextets = [...head, ...new Array<number>(missing).fill(0), ...rest];
  } else {
    const groups = parseGroups(body);
    if (groups === undefined || groups.length + tailHextets !== 8) return undefined;
    hextets = groups;
  }
  const bytes: number[] = [];
  for (const h of hextets) bytes.push(h >> 8, h & 0xff);
  return [...bytes, ...tail];
}

/** Parses an IP literal (optionally bracketed, optionally with a zone id) into raw bytes, without any mapping. */
function parseIpBytes(address: string): IpBytes | undefined {
  if (typeof address !== "string" || address.length === 0 || address.length > 100) return undefined;
  let text = address;
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const percent = text.indexOf("%");
  if (percent >= 0) {
    if (!ZONE.test(text.slice(percent + 1))) return undefined;
    text = text.slice(0, percent);
    if (!text.includes(":")) return undefined; // zone ids exist only on IPv6
  }
  if (!text.includes(":")) {
    const v4 = parseIpv4Bytes(text);
    return v4 === undefined ? undefined : { family: 4, bytes: v4 };
  }
  const v6 = parseIpv6Bytes(text);
  return v6 === undefined ? undefined : { family: 6, bytes: v6 };
}

function isV4Mapped(bytes: readonly number[]): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Recent parses by text: every connection's remote address is parsed by the limits, the bans, the subnet
 * accounting and the node core, and parsing allocated ~5 KiB per connection. Cleared when full, so bounded
 * whatever addresses arrive. Entries are shared: callers never change `bytes`.
 */
const parsedCache = new Map<string, IpBytes>();
const normalizedCache = new Map<string, string>();
const CACHE_ENTRIES = 1024;

function remember<V>(cache: Map<string, V>, key: string, value: V): V {
  if (cache.size >= CACHE_ENTRIES) cache.clear();
  cache.set(key, value);
  return value;
}

/** Parses and unmaps `::ffff:a.b.c.d` to IPv4. */
function parseCanonicalBytes(address: string): IpBytes | undefined {
  const cached = parsedCache.get(address);
  if (cached !== undefined) return cached;
  const parsed = parseIpBytes(address);
  if (parsed === undefined) return undefined;
  if (parsed.family === 6 && isV4Mapped(parsed.bytes)) return remember(parsedCache, address, { family: 4, bytes: parsed.bytes.slice(12) });
  return remember(parsedCache, address, parsed);
}

function formatBytes(ip: IpBytes): string {
  if (ip.family === 4) return ip.bytes.join(".");
  const hextets: number[] = [];
  for (let i = 0; i < 16; i += 2) hextets.push(((ip.bytes[i] ?? 0) << 8) | (ip.bytes[i + 1] ?? 0));
  // RFC 5952: compress the longest run (>= 2) of zero hextets, the first one on a tie.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (hextets[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && hextets[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = hextets.map((h) => h.toString(16));
  if (bestLength < 2) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

function maskBytes(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((byte, i) => {
    const bitsHere = Math.min(8, Math.max(0, prefix - i * 8));
    return bitsHere === 8 ? byte : byte & ((0xff << (8 - bitsHere)) & 0xff);
  });
}

function checkPrefix(prefix: number, max: number, name: string): void {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw invalid(`${name} must be an integer in 0..${max}, got ${String(prefix)}`);
  }
}

/**
 * Returns the canonical text of an IP address, the key used for per-IP
 * accounting and IP bans: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes plain
 * IPv4, brackets and zone ids (`%eth0`) are removed, and IPv6 is written in the
 * RFC 5952 form (lower case, longest zero run compressed).
 *
 * @example `normalizeIp("[::FFFF:127.0.0.1]")` → `"127.0.0.1"`; `normalizeIp("2001:DB8:0:0::1%en0")` → `"2001:db8::1"`
 * @throws PeerlinkError INVALID_ARGUMENT when `address` is not an IP literal.
 */
export function normalizeIp(address: string): string {
  const cached = normalizedCache.get(address);
  if (cached !== undefined) return cached;
  const parsed = parseCanonicalBytes(address);
  if (parsed === undefined) throw invalid(`not an IP address: ${JSON.stringify(String(address).slice(0, 100))}`);
  return remember(normalizedCache, address, formatBytes(parsed));
}

/**
 * Returns the family of an IP literal after normalisation (so an IPv4-mapped
 * IPv6 address is family 4), or `undefined` when `address` is not an IP literal.
 */
export function ipFamily(address: string): IpFamily | undefined {
  return parseCanonicalBytes(address)?.family;
}

/**
 * The bytes of an IP literal after normalisation (4 for IPv4, IPv4-mapped IPv6 included; 16 for IPv6), or
 * `undefined` when `address` is not an IP literal.
 */
export function ipBytes(address: string): number[] | undefined {
  return parseCanonicalBytes(address)?.bytes.slice();
}

/** True when `address` is an IP literal that {@link normalizeIp} accepts. */
export function isIp(address: string): boolean {
  return parseCanonicalBytes(address) !== undefined;
}

/**
 * Returns the subnet an address belongs to, in CIDR notation: the key used for
 * per-subnet accounting and subnet bans.
 *
 * @param ip - an IP literal (normalised first, so `::ffff:1.2.3.4` counts as IPv4).
 * @param v4Prefix - prefix length for IPv4 addresses, 0–32 (peerlink uses 24).
 * @param v6Prefix - prefix length for IPv6 addresses, 0–128 (peerlink uses 56).
 * @example `subnetKey("127.0.0.1", 24, 56)` → `"127.0.0.0/24"`; `subnetKey("2001:db8:0:1ab::1", 24, 56)` → `"2001:db8:0:100::/56"`
 * @throws PeerlinkError INVALID_ARGUMENT on a bad address or prefix.
 */
export function subnetKey(ip: string, v4Prefix: number, v6Prefix: number): string {
  checkPrefix(v4Prefix, 32, "v4Prefix");
  checkPrefix(v6Prefix, 128, "v6Prefix");
  const pair = v4Prefix * 129 + v6Prefix;
  let cache = subnetCaches.get(pair);
  const cached = cache?.get(ip);
  if (cached !== undefined) return cached;
  const parsed = parseCanonicalBytes(ip);
  if (parsed === undefined) throw invalid(`not an IP address: ${JSON.stringify(String(ip).slice(0, 100))}`);
  const prefix = parsed.family === 4 ? v4Prefix : v6Prefix;
  const key = `${formatBytes({ family: parsed.family, bytes: maskBytes(parsed.bytes, prefix) })}/${prefix}`;
  if (cache === undefined) {
    if (subnetCaches.size >= SUBNET_PREFIX_PAIRS) subnetCaches.clear();
    cache = new Map();
    subnetCaches.set(pair, cache);
  }
  return remember(cache, ip, key);
}

/**
 * The subnet keys computed lately, per prefix pair (`v4 * 129 + v6`): a node's limits and its subnet bans ask
 * for the same addresses' subnets with a few pairs, several times per arrival and dial.
 */
const subnetCaches = new Map<number, Map<string, string>>();
const SUBNET_PREFIX_PAIRS = 8;

/** A parsed CIDR block. */
export interface Subnet {
  /** Family of the block. */
  family: IpFamily;
  /** Prefix length in bits. */
  prefix: number;
  /** Canonical CIDR text, host bits cleared (`"10.1.2.0/24"`). */
  key: string;
}

/**
 * Parses a CIDR block (`"10.1.2.3/24"`, `"2001:db8::/32"`) and returns it with
 * the host bits cleared. An IPv4-mapped IPv6 block with prefix >= 96 is
 * converted to the equivalent IPv4 block.
 *
 * @throws PeerlinkError INVALID_ARGUMENT on a bad address or prefix.
 */
export function parseSubnet(cidr: string): Subnet {
  const text = typeof cidr === "string" ? cidr : "";
  const slash = text.lastIndexOf("/");
  const prefixText = slash >= 0 ? text.slice(slash + 1) : "";
  const parsed = slash >= 0 ? parseIpBytes(text.slice(0, slash)) : undefined;
  if (parsed === undefined || !/^[0-9]{1,3}$/.test(prefixText) || text.includes("%")) {
    throw invalid(`not a CIDR block: ${JSON.stringify(String(cidr).slice(0, 100))}`);
  }
  let prefix = Number(prefixText);
  let ip = parsed;
  checkPrefix(prefix, ip.family === 4 ? 32 : 128, "CIDR prefix");
  if (ip.family === 6 && prefix >= 96 && isV4Mapped(ip.bytes)) {
    ip = { family: 4, bytes: ip.bytes.slice(12) };
    prefix -= 96;
  }
  return { family: ip.family, prefix, key: `${formatBytes({ family: ip.family, bytes: maskBytes(ip.bytes, prefix) })}/${prefix}` };
}

function parsePort(text: string, input: string, minPort: number): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw invalid(`bad port in ${JSON.stringify(input.slice(0, 300))}`);
  const port = Number(text);
  if (port < minPort || port > 65535) throw invalid(`port must be ${minPort}..65535 in ${JSON.stringify(input.slice(0, 300))}`);
  return port;
}

function isHostname(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const labels = (host.endsWith(".") ? host.slice(0, -1) : host).split(".");
  if (!labels.every((label) => HOSTNAME_LABEL.test(label))) return false;
  // An all-numeric last label is an IPv4 literal, never a host name: "1.2.3.256" is simply invalid.
  return !/^[0-9]+$/.test(labels[labels.length - 1] ?? "");
}

/**
 * Recent `host:port` parses (port zero refused) and their canonical text: a dial parses its addresses when
 * it starts and again per attempt, and parsing (splits, regular expressions, slices) allocated on every call.
 * Cleared when full, as the IP caches; only valid input is kept.
 */
const hostPortCache = new Map<string, HostPort>();
const canonicalHostPortCache = new Map<string, string>();

/**
 * Parses `"host:port"` or `"[ipv6]:port"` strictly. The host is an IPv4
 * literal, a DNS name or a bracketed IPv6 literal (a zone id such as
 * `[fe80::1%eth0]` is allowed and kept); the port is decimal, 1–65535.
 * An unbracketed IPv6 address (`"::1:80"`) is rejected as ambiguous.
 *
 * With `{ allowPortZero: true }` (listen addresses) port 0 is accepted too.
 *
 * @throws PeerlinkError INVALID_ARGUMENT on any malformed input.
 */
export function parseHostPort(input: string, options?: { allowPortZero?: boolean }): HostPort {
  const minPort = options?.allowPortZero ? 0 : 1;
  const cached = hostPortCache.get(input);
  // Each call gets its own object: callers may change it.
  if (cached !== undefined) return { host: cached.host, port: cached.port };
  const parsed = parseHostPortText(input, minPort);
  if (parsed.port !== 0) remember(hostPortCache, input, { host: parsed.host, port: parsed.port });
  return parsed;
}

/**
 * The canonical text of a `"host:port"` string, as {@link formatHostPort} writes what {@link parseHostPort}
 * reads (`"[::1]:4001"`, IPv6 host lower-cased).
 *
 * @throws PeerlinkError INVALID_ARGUMENT on any malformed input (see {@link parseHostPort}).
 */
export function normalizeHostPort(input: string): string {
  const cached = canonicalHostPortCache.get(input);
  if (cached !== undefined) return cached;
  const { host, port } = parseHostPort(input);
  return remember(canonicalHostPortCache, input, formatHostPort(host, port));
}

function parseHostPortText(input: string, minPort: number): HostPort {
  if (typeof input !== "string" || input.length === 0 || input.length > 300) {
    throw invalid(`expected "host:port", got ${JSON.stringify(typeof input === "string" ? input.slice(0, 300) : typeof input)}`);
  }
  if (input.startsWith("[")) {
    const close = input.indexOf("]");
    if (close < 0 || input[close + 1] !== ":") throw invalid(`expected "[ipv6]:port", got ${JSON.stringify(input)}`);
    const host = input.slice(1, close);
    const parsed = parseIpBytes(host);
    if (parsed === undefined || parsed.family !== 6) throw invalid(`not an IPv6 address in brackets: ${JSON.stringify(input)}`);
    const percent = host.indexOf("%");
    const normalizedHost = percent < 0 ? host.toLowerCase() : host.slice(0, percent).toLowerCase() + host.slice(percent);
    return { host: normalizedHost, port: parsePort(input.slice(close + 2), input, minPort) };
  }
  const colon = input.lastIndexOf(":");
  if (colon < 0) throw invalid(`missing port in ${JSON.stringify(input)}`);
  const host = input.slice(0, colon);
  if (host.includes(":")) throw invalid(`IPv6 addresses must be written in brackets ("[::1]:4001"), got ${JSON.stringify(input)}`);
  const port = parsePort(input.slice(colon + 1), input, minPort);
  if (parseIpv4Bytes(host) === undefined && !isHostname(host)) throw invalid(`bad host in ${JSON.stringify(input)}`);
  return { host, port };
}

/**
 * Formats a host and port as `"host:port"`, bracketing IPv6 literals
 * (`formatHostPort("::1", 4001)` → `"[::1]:4001"`). Inverse of {@link parseHostPort}.
 *
 * @throws PeerlinkError INVALID_ARGUMENT when the port is not an integer in 1–65535 or the host is empty.
 */
export function formatHostPort(host: string, port: number): string {
  if (typeof host !== "string" || host.length === 0) throw invalid("host must be a non-empty string");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`port must be an integer in 1..65535, got ${String(port)}`);
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return bare.includes(":") ? `[${bare}]:${port}` : `${bare}:${port}`;
}

/** The normalised IP of `"host:port"` (bracketed IPv6 included) or of a bare IP. */
export function ipOf(address: string): string {
  // `[host]:port` or `host:port` (host without a colon), as the patterns /^\[(.*)\]:\d+$/ and
  // /^([^:]+):\d+$/ would read them, without a match array per call (twice per connection).
  const colon = address.lastIndexOf(":");
  let host = address;
  if (colon > 0 && digitsFrom(address, colon + 1)) {
    if (address.charCodeAt(0) === 0x5b /* [ */ && colon >= 2 && address.charCodeAt(colon - 1) === 0x5d /* ] */) host = address.slice(1, colon - 1);
    else if (address.indexOf(":") === colon) host = address.slice(0, colon);
  }
  try {
    return normalizeIp(host);
  } catch {
    return address;
  }
}

/** True when `text` from `start` to its end is one or more ASCII digits. */
function digitsFrom(text: string, start: number): boolean {
  if (start >= text.length) return false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
