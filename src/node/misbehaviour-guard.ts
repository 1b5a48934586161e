/**
 * The node's adapter of the misbehaviour policy: it hears of violations (a kept connection this node ended
 * for a protocol violation or a broken rate bound, an inbound handshake it failed for a bad proof or frame),
 * counts them in the peer database through the sans-IO {@link MisbehaviourPolicy}, and has the manager issue
 * the automatic bans it decides. Allow-listed peers and addresses are exempt: their connections are not
 * rate-bounded and their violations are not counted.
 *
 * @module
 */
import { exemptFromInboundRate } from "../connection/connection.js";
import type { PeerlinkError } from "../errors.js";
import type { BanTarget } from "../manager/ban-list.js";
import type { ResolvedMisbehaviour } from "../manager/misbehaviour-options.js";
import type { ManagedClose, ManagedConnection, ManagerService } from "../manager/services.js";
import type { PeerDatabase } from "../peers/peer-database.js";
import type { MisbehaviourEvidence } from "../peers/strike-ledger.js";
import { ipOf } from "../manager/ip.js";
import { MisbehaviourPolicy, violationOfClose, violationOfHandshake, type Violation } from "./policy/misbehaviour.js";

/** Who is exempt: the node's allow-list. */
export interface MisbehaviourExemptions {
  /** True when the proved peer id is allow-listed. */
  allowsPeer(peerId: string): boolean;
  /** True when the IP address is allow-listed. */
  allowsAddress(ip: string): boolean;
}

/** What the guard needs from the manager. */
export interface MisbehaviourGuardHost {
  /** The peer database: the owner of strikes, offences and bans. */
  readonly peers: PeerDatabase;
  /** The manager's clock (ms). */
  now(): number;
  /** The allow-list, read when needed (so a list changed at run time is honoured). */
  exemptions(): MisbehaviourExemptions;
  /** Issues an automatic ban: journaled and announced with its evidence, covered connections closed. */
  ban(target: BanTarget, options: { reason: string; durationMs: number }, evidence: MisbehaviourEvidence): void;
}

/** A manager service (open and close hooks) plus the inbound handshake failures the manager reports. */
export class MisbehaviourGuard implements ManagerService {
  readonly #host: MisbehaviourGuardHost;
  readonly #policy: MisbehaviourPolicy | undefined;
  readonly #rateBounded: boolean;

  constructor(host: MisbehaviourGuardHost, settings: ResolvedMisbehaviour) {
    this.#host = host;
    this.#policy = settings.autoBan === undefined ? undefined : new MisbehaviourPolicy(settings.autoBan);
    this.#rateBounded = settings.inboundRate !== undefined;
  }

  /** A kept connection opened: an allow-listed peer or address gets no rate bounds. */
  onOpen(managed: ManagedConnection): void {
    if (this.#rateBounded && this.#exempt(managed.peer, managed.connection.remoteAddress)) exemptFromInboundRate(managed.connection);
  }

  /** A kept connection closed: a protocol violation or a broken rate bound counts against the peer id. */
  onClose(managed: ManagedConnection, close: ManagedClose): void {
    const address = managed.connection.remoteAddress;
    const violation = violationOfClose(managed.peer, address, close);
    if (violation !== undefined && !this.#exempt(managed.peer, address)) this.#count(violation);
  }

  /** An inbound handshake failed: a failed proof or a bad frame counts against the source IP. */
  handshakeFailed(address: string, error: PeerlinkError): void {
    const ip = safeIp(address);
    if (ip === undefined) return;
    const violation = violationOfHandshake(ip, address, error);
    if (violation !== undefined && !this.#exempt(undefined, address)) this.#count(violation);
  }

  #exempt(peer: string | undefined, address: string): boolean {
    const allow = this.#host.exemptions();
    const ip = safeIp(address);
    return (peer !== undefined && allow.allowsPeer(peer)) || (ip !== undefined && allow.allowsAddress(ip));
  }

  #count(violation: Violation): void {
    if (this.#policy === undefined) return;
    const decision = this.#policy.onViolation(this.#host.peers, violation, this.#host.now());
    if (decision === undefined) return;
    this.#host.ban(decision.target, { reason: decision.reason, durationMs: decision.durationMs }, decision.evidence);
  }
}

function safeIp(address: string): string | undefined {
  try {
    return ipOf(address);
  } catch {
    return undefined;
  }
}
