/**
 * The checks of the manager's own option groups (listen, TLS, protocols,
 * capabilities, send buffer, metrics, peer store): each reads one raw value,
 * records its problems and returns the value to use. Called from the one
 * validation pass in manager-options.ts.
 *
 * @module
 */
import type { Registry } from "prom-client";
import { DEFAULT_SEND_BUFFER_HIGH_WATER_BYTES, DEFAULT_SEND_BUFFER_LIMIT_BYTES } from "../connection/defaults.js";
import { MAX_CAPABILITY_NAME_BYTES, MAX_HELLO_LIST_ENTRIES, MAX_PROTOCOL_NAME_BYTES } from "../handshake/defaults.js";
import type { PeerStore } from "../peers/peer-store.js";
import { TlsSessionCache } from "../transport/session-cache.js";
import type { TlsCredentials, TlsOptions } from "../transport/types.js";
import { describeValue, isOptionsObject, type KnownOptions, type OptionProblems } from "../util/option-checks.js";
import { parseHostPort } from "./ip.js";

/**
 * An application protocol this node speaks.
 *
 * @category Manager
 */
export interface ProtocolOption {
  /** Name, e.g. `"/chat"`. Case-sensitive, at most 128 bytes. */
  readonly name: string;
  /** Versions spoken; the highest common one is agreed per connection. @default [1] */
  readonly versions?: readonly number[];
}

/**
 * A capability this node supports or requires.
 *
 * @category Manager
 */
export interface CapabilityOption {
  /** Name, e.g. `"peerlink.bandwidth-probe"`. */
  readonly name: string;
  /** Feature version. @default 1 */
  readonly version?: number;
  /** When true, peers that do not list the capability are refused (INCOMPATIBLE_VERSION). @default false */
  readonly required?: boolean;
}

const TLS_NAMES: KnownOptions<TlsOptions> = { credentials: true, ca: true, sessionCache: true, certificateBinding: true, sessionTickets: true };
const CREDENTIAL_NAMES: KnownOptions<TlsCredentials> = { key: true, cert: true };
const PROTOCOL_NAMES: KnownOptions<ProtocolOption> = { name: true, versions: true };
const CAPABILITY_NAMES: KnownOptions<CapabilityOption> = { name: true, version: true, required: true };

/** Smallest `sendBufferHighWaterBytes`: Node's socket high-water mark, below which no `'drain'` is promised. */
const MIN_SEND_BUFFER_HIGH_WATER_BYTES = 16_384;
/** Largest `sendBufferHighWaterBytes` / `sendBufferLimitBytes` accepted: 1 GiB. */
const MAX_SEND_BUFFER_BYTES = 1_073_741_824;

export function checkSendBuffer(
  o: Record<string, unknown>,
  problems: OptionProblems,
): { sendBufferHighWaterBytes: number; sendBufferLimitBytes: number } {
  const valid = (v: unknown, min: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= min && v <= MAX_SEND_BUFFER_BYTES;
  let sendBufferHighWaterBytes = DEFAULT_SEND_BUFFER_HIGH_WATER_BYTES;
  if (valid(o.sendBufferHighWaterBytes, MIN_SEND_BUFFER_HIGH_WATER_BYTES)) sendBufferHighWaterBytes = o.sendBufferHighWaterBytes;
  else if (o.sendBufferHighWaterBytes !== undefined) {
    problems.add(
      `sendBufferHighWaterBytes must be an integer in [${MIN_SEND_BUFFER_HIGH_WATER_BYTES}, ${MAX_SEND_BUFFER_BYTES}], got ${describeValue(o.sendBufferHighWaterBytes)}`,
    );
  }
  // An unset limit follows an explicit high-water mark above the default limit.
  let sendBufferLimitBytes = Math.max(DEFAULT_SEND_BUFFER_LIMIT_BYTES, sendBufferHighWaterBytes);
  if (valid(o.sendBufferLimitBytes, 1)) sendBufferLimitBytes = o.sendBufferLimitBytes;
  else if (o.sendBufferLimitBytes !== undefined) {
    problems.add(`sendBufferLimitBytes must be an integer in [1, ${MAX_SEND_BUFFER_BYTES}], got ${describeValue(o.sendBufferLimitBytes)}`);
  }
  if (sendBufferLimitBytes < sendBufferHighWaterBytes) {
    problems.add(
      `sendBufferLimitBytes (${sendBufferLimitBytes}) must be >= sendBufferHighWaterBytes (${sendBufferHighWaterBytes}): ` +
        "sends would be refused before they ever waited",
    );
  }
  return { sendBufferHighWaterBytes, sendBufferLimitBytes };
}

export function isMethodHolder(value: unknown, methods: readonly string[]): boolean {
  return (typeof value === "object" || typeof value === "function") && value !== null && methods.every((m) => typeof (value as Record<string, unknown>)[m] === "function");
}

/** A prom-client Registry, recognised by its methods (the application's prom-client may be another copy). */
export function checkMetrics(value: unknown, problems: OptionProblems): Registry | undefined {
  if (value === undefined) return undefined;
  if (isMethodHolder(value, ["registerMetric", "metrics", "getSingleMetric"])) return value as Registry;
  problems.add(`metrics must be a prom-client Registry, got ${describeValue(value)}`);
  return undefined;
}

export function booleanOption(o: Record<string, unknown>, key: string, fallback: boolean, problems: OptionProblems): boolean {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v === "boolean") return v;
  problems.add(`${key} must be a boolean, got ${describeValue(v)}`);
  return fallback;
}

export function checkListen(value: unknown, problems: OptionProblems): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.add(`listen must be an array of "host:port" strings, got ${describeValue(value)}`);
    return [];
  }
  value.forEach((address: unknown, i) => {
    if (typeof address !== "string") problems.add(`listen[${i}] must be a "host:port" string, got ${describeValue(address)}`);
    else problems.capture(`listen[${i}]`, () => parseHostPort(address, { allowPortZero: true }));
  });
  return [...(value as string[])];
}

export function checkTls(value: unknown, problems: OptionProblems): TlsOptions | false {
  if (value === undefined || value === true) return {};
  if (value === false) return false;
  if (!isOptionsObject(value)) {
    problems.add(`tls must be a boolean or TLS options, got ${describeValue(value)}`);
    return {};
  }
  problems.unknownKeys(value, TLS_NAMES, "tls");
  const credentials = value["credentials"];
  if (credentials !== undefined) {
    if (!isOptionsObject(credentials)) problems.add(`tls.credentials must be { key, cert } PEM strings, got ${describeValue(credentials)}`);
    else {
      problems.unknownKeys(credentials, CREDENTIAL_NAMES, "tls.credentials");
      for (const key of ["key", "cert"] as const) {
        if (typeof credentials[key] !== "string" || credentials[key] === "") problems.add(`tls.credentials.${key} must be a PEM string`);
      }
    }
  }
  const ca = value["ca"];
  if (ca !== undefined && !(Array.isArray(ca) && ca.length > 0 && ca.every((c) => typeof c === "string" && c !== ""))) {
    problems.add(`tls.ca must be a non-empty array of PEM strings, got ${describeValue(ca)}`);
  }
  const cache = value["sessionCache"];
  if (cache !== undefined && cache !== false && !(cache instanceof TlsSessionCache)) {
    problems.add(`tls.sessionCache must be a TlsSessionCache or false, got ${describeValue(cache)}`);
  }
  const certificateBinding = value["certificateBinding"];
  if (certificateBinding !== undefined && typeof certificateBinding !== "boolean") {
    problems.add(`tls.certificateBinding must be a boolean, got ${describeValue(certificateBinding)}`);
  }
  const sessionTickets = value["sessionTickets"];
  if (sessionTickets !== undefined && typeof sessionTickets !== "boolean") {
    problems.add(`tls.sessionTickets must be a boolean, got ${describeValue(sessionTickets)}`);
  }
  return value as TlsOptions;
}

export function checkProtocols(value: unknown, problems: OptionProblems): readonly { name: string; versions: readonly number[]; alias: number }[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.add(`protocols must be an array, got ${describeValue(value)}`);
    return [];
  }
  if (value.length > MAX_HELLO_LIST_ENTRIES) problems.add(`protocols has ${value.length} entries; peers refuse a Hello with more than ${MAX_HELLO_LIST_ENTRIES}`);
  const seen = new Set<string>();
  const out: { name: string; versions: readonly number[]; alias: number }[] = [];
  value.forEach((p: unknown, index) => {
    const path = `protocols[${index}]`;
    if (!isOptionsObject(p)) {
      problems.add(`${path} must be { name, versions? }, got ${describeValue(p)}`);
      return;
    }
    problems.unknownKeys(p, PROTOCOL_NAMES, path);
    const name = p["name"];
    if (typeof name !== "string" || name.length === 0 || Buffer.byteLength(name) > MAX_PROTOCOL_NAME_BYTES) {
      problems.add(`${path}.name must be 1..${MAX_PROTOCOL_NAME_BYTES} bytes, got ${describeValue(name)}`);
      return;
    }
    if (seen.has(name)) problems.add(`${path}: protocol ${name} is listed twice`);
    seen.add(name);
    const versions: unknown = p["versions"] ?? [1];
    if (
      !Array.isArray(versions) ||
      versions.length === 0 ||
      versions.length > MAX_HELLO_LIST_ENTRIES ||
      versions.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)
    ) {
      problems.add(`${path}.versions must be 1..${MAX_HELLO_LIST_ENTRIES} uint32 values, got ${describeValue(versions)}`);
      return;
    }
    out.push({ name, versions: [...(versions as number[])], alias: index + 1 });
  });
  return out;
}

export function checkCapabilities(value: unknown, problems: OptionProblems): readonly { name: string; version: number; required: boolean }[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.add(`capabilities must be an array, got ${describeValue(value)}`);
    return [];
  }
  if (value.length > MAX_HELLO_LIST_ENTRIES) {
    problems.add(`capabilities has ${value.length} entries; peers refuse a Hello with more than ${MAX_HELLO_LIST_ENTRIES}`);
  }
  const seen = new Set<string>();
  const out: { name: string; version: number; required: boolean }[] = [];
  value.forEach((c: unknown, index) => {
    const path = `capabilities[${index}]`;
    if (!isOptionsObject(c)) {
      problems.add(`${path} must be { name, version?, required? }, got ${describeValue(c)}`);
      return;
    }
    problems.unknownKeys(c, CAPABILITY_NAMES, path);
    const name = c["name"];
    if (typeof name !== "string" || name.length === 0 || Buffer.byteLength(name) > MAX_CAPABILITY_NAME_BYTES) {
      problems.add(`${path}.name must be 1..${MAX_CAPABILITY_NAME_BYTES} bytes, got ${describeValue(name)}`);
      return;
    }
    // Peers refuse a Hello that lists a capability twice.
    if (seen.has(name)) problems.add(`${path}: capability ${name} is listed twice`);
    seen.add(name);
    const version = c["version"] ?? 1;
    if (!Number.isInteger(version) || (version as number) < 0 || (version as number) > 0xffffffff) {
      problems.add(`${path}.version must be a uint32, got ${describeValue(version)}`);
    }
    const required = c["required"] ?? false;
    if (typeof required !== "boolean") problems.add(`${path}.required must be a boolean, got ${describeValue(required)}`);
    out.push({ name, version: version as number, required: required as boolean });
  });
  return out;
}

export function checkPeerStore(value: unknown, problems: OptionProblems): void {
  if (value === undefined) return;
  if (typeof value === "string") {
    if (value.length === 0) problems.add("peerStore must be a non-empty file path or a PeerStore");
    return;
  }
  const store = value as Partial<Record<keyof PeerStore, unknown>> | null;
  if (store === null || typeof store !== "object" || ["load", "save", "close"].some((m) => typeof store[m as keyof PeerStore] !== "function")) {
    problems.add(`peerStore must be a file path or a PeerStore (load, save, close), got ${describeValue(value)}`);
  }
}
