/**
 * The capabilities and protocols of an open connection as both sides declared
 * them, and how a CapabilityUpdate changes them (docs/PROTOCOL.md §7): pure
 * bookkeeping, no I/O and no clock.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { MAX_CAPABILITY_NAME_BYTES, MAX_HELLO_LIST_ENTRIES, MAX_PROTOCOL_NAME_BYTES } from "../handshake/defaults.js";
import { isUint32 } from "../handshake/list-checks.js";
import { negotiateCapabilities, negotiateProtocols } from "../handshake/negotiate.js";
import type { AgreedCapability, AgreedProtocol, CapabilitySpec, ProtocolSpec } from "../handshake/types.js";
import { MAX_PEER_PROTOCOL_ALIASES } from "./defaults.js";
import type { AgreedSets, CapabilityChanges } from "./types.js";

/** What one side declared: its capabilities and protocols (from its Hello, or the local handshake options). */
export interface DeclaredSet {
  /** Capabilities the side supports; `required` ones are fixed for the connection's life. */
  readonly capabilities: readonly CapabilitySpec[];
  /** Protocols the side speaks, with its aliases. */
  readonly protocols: readonly ProtocolSpec[];
}

/**
 * A CapabilityUpdate as this module reads it; the generated
 * `CapabilityUpdate` message has this shape.
 */
export interface CapabilityUpdateInput {
  /** Capabilities the sender now also supports (a `required` flag is ignored). */
  readonly added: readonly { readonly name: string; readonly version: number; readonly required?: boolean }[];
  /** Names of capabilities the sender no longer supports. */
  readonly removed: readonly string[];
  /** Protocols the sender now also speaks, with the aliases it will use. */
  readonly protocolsAdded: readonly { readonly name: string; readonly versions: readonly number[]; readonly alias: number }[];
  /** Names of protocols the sender no longer speaks. */
  readonly protocolsRemoved: readonly string[];
}

/** Which side sent an update: this node (`"local"`) or the peer (`"remote"`). */
export type UpdateSender = "local" | "remote";

/** Options of a {@link CapabilityTable}. */
export interface CapabilityTableOptions {
  /**
   * Most distinct aliases the peer may bind over the connection's life, retired ones included.
   * @default 4096 ({@link MAX_PEER_PROTOCOL_ALIASES})
   */
  readonly maxPeerAliases?: number;
}

interface DeclaredProtocol {
  readonly versions: readonly number[];
  readonly alias: number;
}

/** One side's current declarations and every alias it ever bound on this connection. */
class SideState {
  readonly capabilities = new Map<string, number>();
  readonly protocols = new Map<string, DeclaredProtocol>();
  /** Alias → the protocol it was bound to; never shrinks, so a retired alias stays bound to its protocol. */
  readonly aliasOwner = new Map<number, string>();

  constructor(declared: DeclaredSet) {
    for (const c of declared.capabilities) if (!this.capabilities.has(c.name)) this.capabilities.set(c.name, c.version);
    for (const p of declared.protocols) {
      if (this.protocols.has(p.name)) continue;
      this.protocols.set(p.name, { versions: [...p.versions], alias: p.alias });
      this.aliasOwner.set(p.alias, p.name);
    }
  }

  capabilitySpecs(): CapabilitySpec[] {
    return [...this.capabilities].map(([name, version]) => ({ name, version }));
  }

  protocolSpecs(): ProtocolSpec[] {
    return [...this.protocols].map(([name, p]) => ({ name, versions: p.versions, alias: p.alias }));
  }
}

const UINT32_MAX = 0xffff_ffff;
const encoder = new TextEncoder();
/** List entries an update's renegotiation handles for the cost of about one message (see `updateWeight`). */
const ENTRIES_PER_MESSAGE = 16;

/**
 * The capability and protocol view of one open connection (docs/PROTOCOL.md
 * §3.4 and §7). It keeps both sides' declared lists, applies updates from
 * either side and recomputes the agreed sets exactly as the handshake did:
 * capabilities listed by both at the lower version, protocols listed by both
 * at the highest common version. Within one update, removals apply before
 * additions; adding a name the sender already lists replaces its entry.
 * Capabilities marked required in either Hello cannot be removed. An alias
 * stays bound to its protocol for the connection's life, so a retired alias is
 * never reused for another protocol; this node's own new protocols always get
 * an alias it never used before.
 *
 * @example
 * ```ts
 * const table = new CapabilityTable(localDeclared, peerDeclared);
 * const problem = table.check(update, "remote");
 * if (problem === undefined && table.apply(update, "remote")) console.log(table.agreed);
 * ```
 */
export class CapabilityTable {
  readonly #local: SideState;
  readonly #remote: SideState;
  readonly #required = new Set<string>();
  readonly #maxPeerAliases: number;
  #nextLocalAlias: number;
  #agreed: AgreedSets;

  /** Starts from both sides' handshake declarations. */
  constructor(local: DeclaredSet, remote: DeclaredSet, options: CapabilityTableOptions = {}) {
    this.#local = new SideState(local);
    this.#remote = new SideState(remote);
    for (const c of [...local.capabilities, ...remote.capabilities]) if (c.required === true) this.#required.add(c.name);
    this.#maxPeerAliases = options.maxPeerAliases ?? MAX_PEER_PROTOCOL_ALIASES;
    let max = -1;
    for (const alias of this.#local.aliasOwner.keys()) max = Math.max(max, alias);
    this.#nextLocalAlias = max + 1;
    this.#agreed = this.#negotiate();
  }

  /** The agreed capabilities and protocols now, each sorted by name. */
  get agreed(): AgreedSets {
    return this.#agreed;
  }

  /**
   * What checking and applying `update` from the peer costs, in messages of the inbound rate bound: one, plus one
   * per {@link ENTRIES_PER_MESSAGE} entries (capabilities and protocol versions) in both sides' lists before it and
   * in the update itself. Every update renegotiates the lists it leaves, at most those before it plus what it adds:
   * tiny updates against lists filled to the limits cost ~64 µs each, so counting them as one message let 12,000 a
   * second (84 KB/s, under the bound) keep a core busy; counting only the lists before it let an update that fills
   * them, followed by one that empties them, pay for one of the two.
   */
  updateWeight(update: CapabilityUpdateInput): number {
    let entries = this.#local.capabilities.size + this.#remote.capabilities.size;
    for (const p of this.#local.protocols.values()) entries += p.versions.length;
    for (const p of this.#remote.protocols.values()) entries += p.versions.length;
    entries += update.added.length + update.removed.length + update.protocolsRemoved.length;
    for (const p of update.protocolsAdded) entries += 1 + p.versions.length;
    return 1 + Math.floor(entries / ENTRIES_PER_MESSAGE);
  }

  /**
   * Checks an update from `sender` against the rules of docs/PROTOCOL.md §7
   * without changing anything: list sizes (at most 256 entries in each list
   * and in each protocol's versions, and in the sender's resulting sets), name
   * lengths, unique names and aliases among the added protocols, no removal of
   * a required capability, no alias bound earlier to another protocol, and
   * (peer only) at most `maxPeerAliases` aliases over the connection's life.
   * A local update must also carry uint32 numbers. Returns what is wrong, or
   * `undefined` when the update may be applied.
   */
  check(update: CapabilityUpdateInput, sender: UpdateSender): string | undefined {
    const side = sender === "local" ? this.#local : this.#remote;
    const lists = [update.added, update.removed, update.protocolsAdded, update.protocolsRemoved];
    if (lists.some((list) => list.length > MAX_HELLO_LIST_ENTRIES)) return `more than ${MAX_HELLO_LIST_ENTRIES} entries in a list`;
    const capabilityNames = new Set<string>();
    for (const c of update.added) {
      const problem = nameProblem("capability", c.name, MAX_CAPABILITY_NAME_BYTES);
      if (problem !== undefined) return problem;
      if (capabilityNames.has(c.name)) return `capability ${JSON.stringify(c.name)} added twice`;
      if (sender === "local" && !isUint32(c.version)) return `capability ${JSON.stringify(c.name)}: version must be a uint32`;
      capabilityNames.add(c.name);
    }
    for (const name of update.removed) {
      const problem = nameProblem("capability", name, MAX_CAPABILITY_NAME_BYTES);
      if (problem !== undefined) return problem;
      if (this.#required.has(name)) return `capability ${JSON.stringify(name)} was required in the handshake and cannot be removed`;
    }
    const protocolNames = new Set<string>();
    const aliases = new Set<number>();
    let newAliases = 0;
    for (const p of update.protocolsAdded) {
      const problem = nameProblem("protocol", p.name, MAX_PROTOCOL_NAME_BYTES);
      if (problem !== undefined) return problem;
      if (protocolNames.has(p.name)) return `protocol ${JSON.stringify(p.name)} added twice`;
      if (aliases.has(p.alias)) return `alias ${p.alias} used twice`;
      if (p.versions.length > MAX_HELLO_LIST_ENTRIES) return `too many versions for ${JSON.stringify(p.name)}`;
      if (sender === "local" && (!isUint32(p.alias) || !p.versions.every(isUint32))) {
        return `protocol ${JSON.stringify(p.name)}: alias and versions must be uint32`;
      }
      const owner = side.aliasOwner.get(p.alias);
      if (owner === undefined) newAliases++;
      else if (owner !== p.name) return `alias ${p.alias} was bound to protocol ${JSON.stringify(owner)} on this connection`;
      protocolNames.add(p.name);
      aliases.add(p.alias);
    }
    for (const name of update.protocolsRemoved) {
      const problem = nameProblem("protocol", name, MAX_PROTOCOL_NAME_BYTES);
      if (problem !== undefined) return problem;
    }
    if (sizeAfter(side.capabilities, update.removed, capabilityNames) > MAX_HELLO_LIST_ENTRIES) {
      return `more than ${MAX_HELLO_LIST_ENTRIES} capabilities`;
    }
    if (sizeAfter(side.protocols, update.protocolsRemoved, protocolNames) > MAX_HELLO_LIST_ENTRIES) {
      return `more than ${MAX_HELLO_LIST_ENTRIES} protocols`;
    }
    if (sender === "remote" && side.aliasOwner.size + newAliases > this.#maxPeerAliases) {
      return `more than ${this.#maxPeerAliases} protocol aliases over the connection's life`;
    }
    return undefined;
  }

  /**
   * Applies an update from `sender` that {@link CapabilityTable.check} accepted:
   * removals first, then additions (a `required` flag is treated as false).
   * Returns true when the agreed sets changed.
   */
  apply(update: CapabilityUpdateInput, sender: UpdateSender): boolean {
    const side = sender === "local" ? this.#local : this.#remote;
    for (const name of update.removed) side.capabilities.delete(name);
    for (const c of update.added) side.capabilities.set(c.name, c.version);
    for (const name of update.protocolsRemoved) side.protocols.delete(name);
    for (const p of update.protocolsAdded) {
      side.protocols.set(p.name, { versions: [...p.versions], alias: p.alias });
      side.aliasOwner.set(p.alias, p.name);
      if (sender === "local" && p.alias >= this.#nextLocalAlias) this.#nextLocalAlias = p.alias + 1;
    }
    const before = this.#agreed;
    this.#agreed = this.#negotiate();
    return !sameSets(before, this.#agreed);
  }

  /**
   * Turns this node's requested changes into the update to send, without
   * changing anything: a protocol this node still speaks keeps its alias,
   * every other added protocol gets an alias this node never used on the
   * connection. Throws INVALID_ARGUMENT on a bad request (malformed entries,
   * a required capability removed, a limit exceeded).
   */
  plan(changes: CapabilityChanges): CapabilityUpdateInput {
    if (typeof changes !== "object" || changes === null) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "capability changes must be an object");
    }
    const addCapabilities = listOf(changes.addCapabilities, "addCapabilities");
    const removed = listOf(changes.removeCapabilities, "removeCapabilities");
    const addProtocols = listOf(changes.addProtocols, "addProtocols");
    const protocolsRemoved = listOf(changes.removeProtocols, "removeProtocols");
    for (const name of [...removed, ...protocolsRemoved]) {
      if (typeof name !== "string") throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "removed names must be strings");
    }
    for (const entry of [...addCapabilities, ...addProtocols]) {
      if (typeof entry !== "object" || entry === null || typeof entry.name !== "string") {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "added entries must be objects with a string name");
      }
    }
    const added = addCapabilities.map((c) => ({ name: c.name, version: c.version, required: false }));
    const removedNow = new Set(protocolsRemoved);
    const taken = new Set<number>();
    const protocolsAdded = addProtocols.map((p) => {
      if (!Array.isArray(p.versions) || p.versions.length === 0) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `protocol ${JSON.stringify(p.name)}: versions must be a non-empty uint32 list`);
      }
      const current = this.#local.protocols.get(p.name);
      const alias = current !== undefined && !removedNow.has(p.name) ? current.alias : this.#freshLocalAlias(taken);
      taken.add(alias);
      return { name: p.name, versions: [...p.versions], alias };
    });
    const update: CapabilityUpdateInput = { added, removed: [...removed], protocolsAdded, protocolsRemoved: [...protocolsRemoved] };
    const problem = this.check(update, "local");
    if (problem !== undefined) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `bad capability update: ${problem}`);
    return update;
  }

  /** The lowest alias at or above the next free one that this node never bound and `taken` does not hold. */
  #freshLocalAlias(taken: ReadonlySet<number>): number {
    const used = (a: number): boolean => this.#local.aliasOwner.has(a) || taken.has(a);
    for (let a = this.#nextLocalAlias; a <= UINT32_MAX; a++) if (!used(a)) return a;
    // The counter ran off the top (a Hello alias near 2^32): search from 0.
    for (let a = 0; a <= UINT32_MAX; a++) if (!used(a)) return a;
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "no protocol alias left on this connection");
  }

  #negotiate(): AgreedSets {
    const capabilities = negotiateCapabilities(this.#local.capabilitySpecs(), this.#remote.capabilitySpecs());
    return {
      // Without required flags the negotiation cannot fail.
      capabilities: capabilities.ok ? capabilities.agreed : [],
      protocols: negotiateProtocols(this.#local.protocolSpecs(), this.#remote.protocolSpecs()),
    };
  }
}

function listOf<T>(value: readonly T[] | undefined, what: string): readonly T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${what} must be an array`);
  return value;
}

function nameProblem(kind: "capability" | "protocol", name: string, maxBytes: number): string | undefined {
  const length = encoder.encode(name).length;
  return length === 0 || length > maxBytes ? `${kind} name of ${length} bytes (1-${maxBytes} allowed)` : undefined;
}

function sizeAfter(current: ReadonlyMap<string, unknown>, removed: readonly string[], added: ReadonlySet<string>): number {
  const names = new Set(current.keys());
  for (const name of removed) names.delete(name);
  for (const name of added) names.add(name);
  return names.size;
}

function sameSets(a: AgreedSets, b: AgreedSets): boolean {
  return (
    a.capabilities.length === b.capabilities.length &&
    a.protocols.length === b.protocols.length &&
    a.capabilities.every((c, i) => sameCapability(c, b.capabilities[i])) &&
    a.protocols.every((p, i) => sameProtocol(p, b.protocols[i]))
  );
}

function sameCapability(a: AgreedCapability, b: AgreedCapability | undefined): boolean {
  return b !== undefined && a.name === b.name && a.version === b.version;
}

function sameProtocol(a: AgreedProtocol, b: AgreedProtocol | undefined): boolean {
  return b !== undefined && a.name === b.name && a.version === b.version && a.localAlias === b.localAlias && a.remoteAlias === b.remoteAlias;
}
