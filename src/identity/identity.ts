/**
 * A node's long-term Ed25519 identity: key pair, peer id, signing, and save
 * and load to a file readable only by its owner.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { link, readFile, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { errorCode, fsyncDirectory, writeExclusiveTemp } from "../util/fs-durable.js";
import { KEY_TYPE_ED25519, PeerId } from "./peer-id.js";

/**
 * The key pair and peer id of a node. Create with {@link Identity.generate} or {@link Identity.load}.
 *
 * @category Identity
 */
export class Identity {
  /** This node's peer id. */
  readonly peerId: PeerId;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** Wire KeyType of {@link Identity.publicKey} (1 = Ed25519). */
  readonly keyType = KEY_TYPE_ED25519;
  readonly #privateKey: KeyObject;

  private constructor(privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== "ed25519") {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, "identity key must be Ed25519");
    }
    this.#privateKey = privateKey;
    const jwk = createPublicKey(privateKey).export({ format: "jwk" });
    this.publicKey = new Uint8Array(Buffer.from(jwk.x ?? "", "base64url"));
    this.peerId = PeerId.fromPublicKey(this.publicKey);
  }

  /** Generates a fresh random identity. */
  static generate(): Identity {
    return new Identity(generateKeyPairSync("ed25519").privateKey);
  }

  /** Builds an identity from a PKCS#8 PEM private key. */
  static fromPem(pem: string): Identity {
    try {
      return new Identity(createPrivateKey(pem));
    } catch (cause) {
      throw PeerlinkError.from(cause, ErrorCode.INVALID_ARGUMENT);
    }
  }

  /**
   * Loads an identity saved by {@link Identity.save}. Throws INVALID_ARGUMENT if the file cannot be read
   * (the message names it and the system error) or is not an Ed25519 key.
   */
  static async load(path: string): Promise<Identity> {
    let pem: string;
    try {
      pem = await readFile(path, "utf8");
    } catch (cause) {
      throw fileError("cannot read", path, cause);
    }
    return Identity.fromPem(pem);
  }

  /**
   * Loads the identity at `path`, or generates one and saves it there if the file does not exist. Safe
   * when several processes (or calls) start at once on the same path: the file is created exclusively,
   * and whoever loses the race loads the winner's key, so all of them end up with the same identity.
   */
  static async loadOrCreate(path: string): Promise<Identity> {
    try {
      return await Identity.load(path);
    } catch (error) {
      if (errorCode((error as PeerlinkError).cause) !== "ENOENT") throw error;
    }
    const identity = Identity.generate();
    let tmp: string;
    try {
      tmp = await writeExclusiveTemp(path, identity.toPem(), 0o600);
    } catch (cause) {
      throw fileError("cannot create", path, cause);
    }
    try {
      await link(tmp, path); // atomic, and fails with EEXIST if another creator got there first
      await fsyncDirectory(dirname(path));
      return identity;
    } catch (cause) {
      if (errorCode(cause) === "EEXIST") return Identity.load(path);
      throw fileError("cannot create", path, cause);
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** The private key as PKCS#8 PEM. Handle with care. */
  toPem(): string {
    return this.#privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  }

  /** The private key object, for building TLS credentials. */
  get privateKey(): KeyObject {
    return this.#privateKey;
  }

  /**
   * Saves the private key as PEM with mode 0600, atomically and durably (an exclusively created temp file
   * with an unguessable name, fsync, rename, directory fsync), replacing any file at `path`.
   * Throws INVALID_ARGUMENT naming the file when it cannot be written.
   */
  async save(path: string): Promise<void> {
    let tmp: string | undefined;
    try {
      tmp = await writeExclusiveTemp(path, this.toPem(), 0o600);
      await rename(tmp, path);
      tmp = undefined;
      await fsyncDirectory(dirname(path));
    } catch (cause) {
      throw fileError("cannot write", path, cause);
    } finally {
      if (tmp !== undefined) await unlink(tmp).catch(() => undefined);
    }
  }

  /** Signs `data` with the identity key (Ed25519, 64-byte signature). */
  sign(data: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, data, this.#privateKey));
  }
}

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the raw 32-byte key follows it. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
/** Imported peer keys kept for reuse: a peer that reconnects is verified without importing its key again. */
const KEY_CACHE_SIZE = 1024;
const keyCache = new Map<string, KeyObject>();

/**
 * The KeyObject of a raw Ed25519 public key, from a bounded cache (least recently used evicted). Importing
 * a key costs about as much as the verification itself, and every handshake verifies the peer's key.
 */
function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString("latin1");
  const cached = keyCache.get(id);
  if (cached !== undefined) {
    keyCache.delete(id);
    keyCache.set(id, cached);
    return cached;
  }
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
  keyCache.set(id, key);
  if (keyCache.size > KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value as string);
  return key;
}

/**
 * Verifies an Ed25519 `signature` over `data` by the raw 32-byte `publicKey`. Never throws; false on any bad input.
 *
 * @category Identity
 */
export function verifySignature(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, data, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/** A PeerlinkError naming the identity file and the system error. */
function fileError(what: string, path: string, cause: unknown): PeerlinkError {
  const code = errorCode(cause);
  return new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${what} identity file ${path}${code ? ` (${code})` : ""}`, { cause });
}
