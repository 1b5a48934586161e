/**
 * Internal: the parts of a Hello that are the same on every connection of a node — its validated protocol
 * and capability lists, listen addresses and agent, with Hello fields 7–9 and the agent already encoded.
 * A node passes the same lists to every handshake; validating and encoding them on each connection would be
 * most of what a Handshake allocates before it sends anything.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { MAX_CAPABILITY_NAME_BYTES, MAX_HELLO_LIST_ENTRIES, MAX_PROTOCOL_NAME_BYTES } from "./defaults.js";
import { encodeHelloLists } from "./hello-encoder.js";
import { isUint32 } from "./list-checks.js";
import type { CapabilitySpec, ProtocolSpec } from "./types.js";

const utf8 = new TextEncoder();

/** Validated, frozen copies of a handshake's list options, with their encoding. */
export interface HelloTemplate {
  readonly protocols: readonly ProtocolSpec[];
  /** `required` is always a boolean here. */
  readonly capabilities: readonly Required<CapabilitySpec>[];
  readonly listenAddrs: readonly string[];
  readonly agent: string;
  /** Hello fields 7–9 as encoded by {@link encodeHelloLists}; never handed out (typed arrays cannot be frozen). */
  readonly lists: Uint8Array;
  /** The agent's UTF-8 bytes; never handed out. */
  readonly agentBytes: Uint8Array;
}

const NO_PROTOCOLS: readonly ProtocolSpec[] = Object.freeze([]);

/**
 * The last template built for each protocol list (weakly held: one entry per list alive). A hit is used only
 * when every value given now equals the template's copy, so a list or entry changed in place since is
 * validated and encoded again, never served stale.
 */
const templates = new WeakMap<readonly ProtocolSpec[], HelloTemplate>();

/**
 * Templates by content, shared by the nodes of a process whose options are equal (each node has lists of its
 * own, so {@link templates} alone would keep one template per node). Looked up only when a node's list has no
 * template yet; bounded (cleared when full), and a key too long is not kept.
 */
const byContent = new Map<string, HelloTemplate>();
const MAX_SHARED_TEMPLATES = 64;
const MAX_CONTENT_KEY_CHARS = 8192;

/**
 * The template for these options: validated (INVALID_ARGUMENT on a bad name, duplicate, alias, version or a
 * list longer than a Hello may carry: the checks a Handshake makes of its options) or the cached one when its
 * values are the same.
 */
export function helloTemplate(
  protocols: readonly ProtocolSpec[] = NO_PROTOCOLS,
  capabilities: readonly CapabilitySpec[],
  listenAddrs: readonly string[],
  agent: string,
): HelloTemplate {
  const cached = templates.get(protocols);
  if (cached !== undefined && matches(cached, protocols, capabilities, listenAddrs, agent)) return cached;
  const key = contentKey(protocols, capabilities, listenAddrs, agent);
  let template = key === undefined ? undefined : byContent.get(key);
  if (template === undefined || !matches(template, protocols, capabilities, listenAddrs, agent)) {
    template = buildTemplate(protocols, capabilities, listenAddrs, agent);
    if (key !== undefined) {
      if (byContent.size >= MAX_SHARED_TEMPLATES) byContent.clear();
      byContent.set(key, template);
    }
  }
  templates.set(protocols, template);
  return template;
}

/** The options' values as one string, or `undefined` when they do not serialize or the key would be too long. */
function contentKey(
  protocols: readonly ProtocolSpec[],
  capabilities: readonly CapabilitySpec[],
  listenAddrs: readonly string[],
  agent: string,
): string | undefined {
  let key: string;
  try {
    key = JSON.stringify([
      protocols.map((p) => [p.name, p.versions, p.alias]),
      capabilities.map((c) => [c.name, c.version, c.required === true]),
      listenAddrs,
      agent,
    ]);
  } catch {
    return undefined;
  }
  return key.length > MAX_CONTENT_KEY_CHARS ? undefined : key;
}

function buildTemplate(
  protocolOptions: readonly ProtocolSpec[],
  capabilityOptions: readonly CapabilitySpec[],
  listenAddrOptions: readonly string[],
  agent: string,
): HelloTemplate {
  const protocols = validateProtocols(protocolOptions);
  const capabilities = validateCapabilities(capabilityOptions);
  const listenAddrs = Object.freeze([...listenAddrOptions]);
  // The peer rejects a Hello with longer lists (§3.2): refuse to build one here, with a clear error.
  for (const [name, list] of [
    ["protocols", protocols],
    ["capabilities", capabilities],
    ["listenAddrs", listenAddrs],
  ] as const) {
    if (list.length > MAX_HELLO_LIST_ENTRIES) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `at most ${MAX_HELLO_LIST_ENTRIES} ${name} fit in a Hello, got ${list.length}`);
    }
  }
  return Object.freeze({
    protocols,
    capabilities,
    listenAddrs,
    agent,
    lists: encodeHelloLists(protocols, capabilities, listenAddrs),
    agentBytes: utf8.encode(agent),
  });
}

/** True when the options hold the same values as the template's copies (no allocation). */
function matches(
  t: HelloTemplate,
  protocols: readonly ProtocolSpec[],
  capabilities: readonly CapabilitySpec[],
  listenAddrs: readonly string[],
  agent: string,
): boolean {
  if (t.agent !== agent) return false;
  if (protocols.length !== t.protocols.length || capabilities.length !== t.capabilities.length || listenAddrs.length !== t.listenAddrs.length) {
    return false;
  }
  for (let i = 0; i < protocols.length; i++) {
    const p = protocols[i] as ProtocolSpec;
    const q = t.protocols[i] as ProtocolSpec;
    if (p.name !== q.name || p.alias !== q.alias || !sameNumbers(p.versions, q.versions)) return false;
  }
  for (let i = 0; i < capabilities.length; i++) {
    const c = capabilities[i] as CapabilitySpec;
    const d = t.capabilities[i] as Required<CapabilitySpec>;
    if (c.name !== d.name || c.version !== d.version || (c.required === true) !== d.required) return false;
  }
  for (let i = 0; i < listenAddrs.length; i++) if (listenAddrs[i] !== t.listenAddrs[i]) return false;
  return true;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (!Array.isArray(a) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function validateProtocols(protocols: readonly ProtocolSpec[]): readonly ProtocolSpec[] {
  const names = new Set<string>();
  const aliases = new Set<number>();
  return Object.freeze(
    protocols.map((p) => {
      const length = utf8.encode(p.name).length;
      if (length === 0 || length > MAX_PROTOCOL_NAME_BYTES) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `protocol name must be 1-${MAX_PROTOCOL_NAME_BYTES} bytes`);
      }
      if (names.has(p.name)) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `protocol ${p.name} listed twice`);
      if (!isUint32(p.alias) || aliases.has(p.alias)) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `protocol ${p.name}: alias must be a unique uint32`);
      }
      if (p.versions.length === 0 || p.versions.length > MAX_HELLO_LIST_ENTRIES || !p.versions.every(isUint32)) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `protocol ${p.name}: versions must be a uint32 list of 1-${MAX_HELLO_LIST_ENTRIES} entries`);
      }
      names.add(p.name);
      aliases.add(p.alias);
      return Object.freeze({ name: p.name, versions: Object.freeze([...p.versions]), alias: p.alias });
    }),
  );
}

function validateCapabilities(capabilities: readonly CapabilitySpec[]): readonly Required<CapabilitySpec>[] {
  const names = new Set<string>();
  return Object.freeze(
    capabilities.map((c) => {
      const length = utf8.encode(c.name).length;
      if (length === 0 || length > MAX_CAPABILITY_NAME_BYTES) {
        throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `capability name must be 1-${MAX_CAPABILITY_NAME_BYTES} bytes`);
      }
      if (names.has(c.name)) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `capability ${c.name} listed twice`);
      if (!isUint32(c.version)) throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `capability ${c.name}: bad version`);
      names.add(c.name);
      return Object.freeze({ name: c.name, version: c.version, required: c.required === true });
    }),
  );
}
