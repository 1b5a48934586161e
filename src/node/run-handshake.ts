/**
 * The node's call into the connection layer: runs the peerlink handshake on a
 * secure channel with the node's identity, protocols and per-connection
 * options.
 *
 * @module
 */
import { openConnection, type Connection } from "../connection/index.js";
import type { PeerId } from "../identity/peer-id.js";
import type { ResolvedManagerOptions } from "../manager/manager-options.js";
import type { SecureChannel } from "../transport/types.js";
import type { DialOptions } from "./events.js";

/** How long a handshake may take, what cancels it, and what the dialer expects and sends early. */
export interface HandshakeBounds {
  signal: AbortSignal;
  deadline: number;
  expected?: PeerId | undefined;
  early?: DialOptions["earlyMessages"];
}

/**
 * Runs the handshake on `channel` as `role`; `track` gets the Connection as soon as it exists. Early
 * messages are a dialer's only.
 */
export function runHandshake(
  o: ResolvedManagerOptions,
  listenAddrs: readonly string[],
  channel: SecureChannel,
  role: "dialer" | "listener",
  bounds: HandshakeBounds,
  track: (connection: Connection) => void,
): Promise<Connection> {
  const early = role === "dialer" ? (bounds.early ?? []) : [];
  return openConnection(
    channel,
    {
      identity: o.identity,
      protocols: o.protocols,
      capabilities: o.capabilities,
      listenAddrs,
      expectedPeerId: bounds.expected,
      earlyData: early.length > 0,
      agent: o.agent,
    },
    {
      signal: bounds.signal,
      deadline: bounds.deadline,
      maxFrameSize: o.maxFrameSize,
      inboundRate: o.misbehaviour.inboundRate,
      sendBufferHighWaterBytes: o.sendBufferHighWaterBytes,
      sendBufferLimitBytes: o.sendBufferLimitBytes,
      gracefulTimeoutMs: o.gracefulShutdownTimeoutMs,
      earlyMessages: early,
      onConnection: track,
      engine: o.engine,
    },
  );
}
