/**
 * The connection side of stopping a node: goodbye to every kept connection,
 * bounded by a deadline, then abort whatever is left, handshakes included.
 *
 * @module
 */
import type { Connection } from "../connection/index.js";
import type { ManagerService } from "../manager/services.js";
import { DisconnectReason } from "../reasons.js";
import type { Managed } from "./adopter.js";
import type { NodeCore } from "./core/node-core.js";
import type { InboundAdapter } from "./inbound.js";

/**
 * Says Goodbye SHUTDOWN to every adopted connection and waits for them up to `timeoutMs`, then aborts the
 * rest and every pending handshake; resolves once every one of their sockets is closed. Connections already
 * closing after a refusal or a failed handshake (`closing`: their Goodbye is sent, the peer may never
 * answer it) are aborted at once.
 */
export async function closeAllConnections(
  core: NodeCore<Managed>,
  inbound: InboundAdapter,
  closing: () => Connection[],
  timeoutMs: number,
): Promise<void> {
  const abortClosing = (): Connection[] => {
    const refused = closing();
    for (const connection of refused) connection.abort();
    return refused;
  };
  const handshaking = [...inbound.destroyAll(), ...abortClosing()];
  const all = core.adoptedConnections();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([Promise.allSettled(all.map((m) => m.connection.close(DisconnectReason.SHUTDOWN, { timeoutMs }))), deadline]);
  clearTimeout(timer);
  for (const m of all) m.connection.abort();
  await settleAll([...handshaking, ...all.map((m) => m.connection)]);
  // Connections that finished their handshake while we waited (adoption refuses them) are aborted too.
  for (let round = 0; round < 3 && (core.adoptedConnections().length > 0 || inbound.size > 0 || closing().length > 0); round++) {
    const late = [...inbound.destroyAll(), ...abortClosing(), ...core.adoptedConnections().map((m) => m.connection)];
    for (const connection of late) connection.abort();
    await settleAll(late);
  }
}

/** Stops every service in turn; a failing one is reported and does not keep the others from stopping. */
export async function stopServices(services: readonly ManagerService[]): Promise<void> {
  for (const service of services) {
    try {
      await service.stop?.();
    } catch (error) {
      process.emitWarning(`peerlink: a manager service failed to stop: ${String(error)}`, "PeerlinkServiceWarning");
    }
  }
}

function settleAll(connections: readonly Connection[]): Promise<unknown> {
  return Promise.all(connections.map((c) => c.closed.catch(() => undefined)));
}
