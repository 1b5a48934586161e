/**
 * Turns user {@link TlsOptions} into a {@link ResolvedTls} shared by every dial and accept.
 *
 * @module
 */
import type { Identity } from "../identity/identity.js";
import { ErrorCode, PeerlinkError } from "../errors.js";
import type { ResolvedTls, TlsOptions } from "./types.js";

/** Builds the secure context (TLS 1.3 only, own certificate, optional CA) and session cache once per node. */
export function resolveTls(identity: Identity, options: TlsOptions = {}): Promise<ResolvedTls> {
  void identity;
  void options;
  return Promise.reject(new PeerlinkError(ErrorCode.INTERNAL, "resolveTls: not implemented yet"));
}
