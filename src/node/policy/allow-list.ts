/**
 * The allow-list: peers, IP addresses and subnets this node trusts enough to exempt from its defensive
 * bounds — connection limits, pending per-IP/per-subnet bounds, the inbound rate limit, trimming and the
 * misbehaviour rate bounds. Like Bitcoin Core's `-whitelist` and CometBFT's unconditional peers: an
 * operator lists the nodes it runs itself (or its validators) so a flood from elsewhere can never crowd
 * them out. Bans still apply; the allow-list lifts limits, not judgement.
 *
 * Pure and immutable after construction: parsing goes through the same IP helpers as the limits
 * (`normalizeIp`, `parseSubnet`), so `::ffff:10.0.0.1` matches `10.0.0.0/8` exactly as the per-IP
 * accounting counts it.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../../errors.js";
import { PeerId } from "../../identity/peer-id.js";
import { ipBytes, parseSubnet } from "../../manager/ip.js";

/**
 * Who is exempt from connection limits, pending bounds, the inbound rate limit, trimming and
 * misbehaviour rate bounds (not from bans). Default: nobody.
 *
 * @category Configuration
 */
export interface AllowListOptions {
  /** Printable peer ids (`PeerId.toString()`): exempt once the handshake has proved the identity. Default `[]`. */
  peers?: readonly string[];
  /**
   * IP addresses (`"10.0.0.7"`, `"::1"`) and CIDR subnets (`"10.0.0.0/8"`, `"2001:db8::/32"`): exempt from
   * the moment the socket is accepted, before any handshake. Default `[]`.
   */
  addresses?: readonly string[];
}

/** Most entries accepted per list: membership is checked on every accept, so the list stays small. */
export const ALLOW_LIST_MAX_ENTRIES = 4096;

interface Block {
  readonly bytes: readonly number[];
  readonly prefix: number;
}

/**
 * A parsed allow-list. Matching costs one map lookup for a peer id and a scan of the (bounded) subnet
 * list for an address.
 *
 * @category Configuration
 */
export class AllowList {
  /** The empty list: nobody is exempt. */
  static readonly EMPTY = new AllowList({});

  readonly #peers: ReadonlySet<string>;
  /** Listed blocks by prefix length, per family (4 or 16 bytes): a lookup costs one probe per distinct prefix. */
  readonly #byPrefix = new Map<number, Map<number, Set<string>>>();
  #blockCount = 0;
  readonly #entries: { peers: string[]; addresses: string[] };

  /**
   * Parses `options`.
   *
   * @throws PeerlinkError INVALID_ARGUMENT naming the first bad entry (a malformed peer id, IP or CIDR
   *   block, or more than 4096 entries in a list).
   */
  constructor(options: AllowListOptions) {
    const peers = options.peers ?? [];
    const addresses = options.addresses ?? [];
    if (!Array.isArray(peers)) throw invalid("peers must be an array of peer ids");
    if (!Array.isArray(addresses)) throw invalid("addresses must be an array of IP addresses or CIDR blocks");
    if (peers.length > ALLOW_LIST_MAX_ENTRIES) throw invalid(`peers: at most ${ALLOW_LIST_MAX_ENTRIES} entries`);
    if (addresses.length > ALLOW_LIST_MAX_ENTRIES) throw invalid(`addresses: at most ${ALLOW_LIST_MAX_ENTRIES} entries`);
    const peerSet = new Set<string>();
    peers.forEach((text: unknown, i) => {
      try {
        peerSet.add(PeerId.parse(String(text)).toString());
      } catch {
        throw invalid(`peers[${i}] is not a peer id: ${JSON.stringify(String(text).slice(0, 100))}`);
      }
    });
    const blocks: Block[] = [];
    const canonical: string[] = [];
    addresses.forEach((text: unknown, i) => {
      const block = parseBlock(text);
      if (block === undefined) {
        throw invalid(`addresses[${i}] is not an IP address or CIDR block: ${JSON.stringify(String(text).slice(0, 100))}`);
      }
      blocks.push(block.block);
      canonical.push(block.key);
    });
    this.#peers = peerSet;
    for (const block of blocks) {
      let prefixes = this.#byPrefix.get(block.bytes.length);
      if (prefixes === undefined) this.#byPrefix.set(block.bytes.length, (prefixes = new Map()));
      let keys = prefixes.get(block.prefix);
      if (keys === undefined) prefixes.set(block.prefix, (keys = new Set()));
      keys.add(maskedKey(block.bytes, block.prefix));
    }
    this.#blockCount = blocks.length;
    this.#entries = { peers: [...peerSet], addresses: canonical };
  }

  /** True when nothing is listed (the default): callers can skip every check. */
  get empty(): boolean {
    return this.#peers.size === 0 && this.#blockCount === 0;
  }

  /** The canonical entries (peer ids as printed, addresses as CIDR blocks), for status output. */
  get entries(): {
    /** Listed peer ids, printable form. */
    readonly peers: readonly string[];
    /** Listed addresses and subnets as CIDR blocks (a single IP as /32 or /128). */
    readonly addresses: readonly string[];
  } {
    return this.#entries;
  }

  /** Whether the peer (printable id or {@link PeerId}) is listed. */
  allowsPeer(peerId: string | PeerId | undefined): boolean {
    if (peerId === undefined || this.#peers.size === 0) return false;
    return this.#peers.has(typeof peerId === "string" ? peerId : peerId.toString());
  }

  /**
   * Whether the IP address falls in a listed address or subnet. Accepts what a socket reports
   * (`"::ffff:127.0.0.1"`, a zone id); anything that is not an IP literal is not allowed.
   */
  allowsAddress(ip: string | undefined): boolean {
    if (ip === undefined || this.#blockCount === 0) return false;
    const bytes = ipBytes(ip);
    if (bytes === undefined) return false;
    const prefixes = this.#byPrefix.get(bytes.length);
    if (prefixes === undefined) return false;
    for (const [prefix, keys] of prefixes) if (keys.has(maskedKey(bytes, prefix))) return true;
    return false;
  }

  /** Whether either the peer or the address is listed: the test for an established connection. */
  allows(peerId: string | PeerId | undefined, ip: string | undefined): boolean {
    return this.allowsPeer(peerId) || this.allowsAddress(ip);
  }
}

function invalid(message: string): PeerlinkError {
  return new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `allowList.${message}`);
}

function parseBlock(text: unknown): { block: Block; key: string } | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const cidr = text.includes("/") ? text : undefined;
    if (cidr === undefined) {
      const bytes = ipBytes(text);
      if (bytes === undefined) return undefined;
      const subnet = parseSubnet(`${bytesText(bytes)}/${bytes.length * 8}`);
      return { block: { bytes, prefix: subnet.prefix }, key: subnet.key };
    }
    const subnet = parseSubnet(cidr);
    const base = subnet.key.slice(0, subnet.key.lastIndexOf("/"));
    const bytes = ipBytes(base);
    if (bytes === undefined) return undefined;
    return { block: { bytes, prefix: subnet.prefix }, key: subnet.key };
  } catch {
    return undefined;
  }
}

function bytesText(bytes: readonly number[]): string {
  if (bytes.length === 4) return bytes.join(".");
  const hextets: string[] = [];
  for (let i = 0; i < 16; i += 2) hextets.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return hextets.join(":");
}

/** The first `prefix` bits of `bytes` as a lookup key (the remaining bits cleared). */
function maskedKey(bytes: readonly number[], prefix: number): string {
  let key = "";
  let bits = prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    key += String.fromCharCode((bytes[i] ?? 0) & mask);
  }
  return key;
}
