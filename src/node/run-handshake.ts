/**
 * The node's call into the connection layer: runs the peerlink handshake on a
 * secure channel with the node's identity, protocols and per-connection
 * options.
 *
 * @module
 */
import { openConnection, type Connection, type ConnectionHandshakeOptions } from "../connection/index.js";
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
  const early = role === "dialer" ? (bounds.early ?? NO_EARLY) : NO_EARLY;
  const expected = bounds.expected;
  return openConnection(
    channel,
    expected === undefined && early.length === 0
      ? plainSettings(o, listenAddrs)
      : {
          identity: o.identity,
          protocols: o.protocols,
          capabilities: o.capabilities,
          listenAddrs,
          expectedPeerId: expected,
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

const NO_EARLY: NonNullable<DialOptions["earlyMessages"]> = Object.freeze([]);

/**
 * The handshake settings of a connection that expects no particular peer and sends no early data (every
 * inbound one): the same for all of them while the node's listen addresses stay, so made once per node.
 */
const plainSettingsOf = new WeakMap<ResolvedManagerOptions, ConnectionHandshakeOptions>();

function plainSettings(o: ResolvedManagerOptions, listenAddrs: readonly string[]): ConnectionHandshakeOptions {
  const known = plainSettingsOf.get(o);
  if (known !== undefined && known.listenAddrs === listenAddrs) return known;
  const settings: ConnectionHandshakeOptions = Object.freeze({
    identity: o.identity,
    protocols: o.protocols,
    capabilities: o.capabilities,
    listenAddrs,
    expectedPeerId: undefined,
    earlyData: false,
    agent: o.agent,
  });
  plainSettingsOf.set(o, settings);
  return settings;
}
