/**
 * Self-signed X.509 certificates for a node's Ed25519 identity key.
 *
 * @module
 */
import type { Identity } from "../identity/identity.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { TlsCredentials } from "./types.js";

/** Options of {@link createTlsCredentials}. */
export interface TlsCredentialsOptions {
  /** Certificate validity in milliseconds from now. @default 604_800_000 (7 days) */
  readonly validityMs?: number;
}

/** Creates (or returns the cached) self-signed certificate for `identity`'s Ed25519 key, CN = its printable peer id. */
export function createTlsCredentials(identity: Identity, options: TlsCredentialsOptions = {}): Promise<TlsCredentials> {
  void identity;
  void options;
  return Promise.reject(new PeerlinkError(ErrorCode.INTERNAL, "createTlsCredentials: not implemented yet"));
}
