/**
 * The reconnect service on the shared fake manager host (test/helpers/fake-manager-host.ts): the test
 * plays the manager (connections, dial outcomes, a real in-memory peer database) and reads the events.
 * Use with fake timers started at {@link T0}.
 */
import type { ManagedClose, ManagedConnection } from "../../src/manager/services.js";
import type { DisconnectReason } from "../../src/reasons.js";
import {
  createReconnectService,
  type ReconnectOptions,
  type ReconnectService,
  type ReconnectServiceEvents,
} from "../../src/reconnect/reconnect-service.js";
import { FakeManagerHost } from "../helpers/fake-manager-host.js";

/** The fake clock's start. */
export const T0 = 1_700_000_000_000;

/** The shared fake host, its events typed as the reconnect service's. */
export class FakeHost extends FakeManagerHost<ReconnectServiceEvents> {}

/** A kept connection of `peer` as the manager would report it (not registered). */
export function managedFor(peer: string, direction: "inbound" | "outbound" = "outbound", healthy?: boolean): ManagedConnection {
  return { peer, connection: { direction } as never, openedAt: Date.now(), health: healthy === undefined ? undefined : ({} as never) };
}

/** Creates and starts a service on `fake` (jitter 0.5 unless `options` say otherwise). */
export function start(options: ReconnectOptions = {}, fake = new FakeHost()): { fake: FakeHost; service: ReconnectService } {
  const service = createReconnectService({ random: () => 0.5, ...options })(fake.host);
  service.start?.();
  return { fake, service };
}

/** The manager's sequence for a kept connection that opened. */
export function open(fake: FakeHost, service: ReconnectService, peer: string, direction: "inbound" | "outbound" = "outbound"): void {
  const m = managedFor(peer, direction);
  fake.peers.upsert(peer, { addresses: [`10.0.0.${fake.connections.size + 1}:4001`] }, Date.now());
  fake.keep(m);
  service.onOpen?.(m);
}

/** The manager's sequence for a kept connection that closed: onClose, then onSlotFreed. */
export function close(
  fake: FakeHost,
  service: ReconnectService,
  peer: string,
  reason: DisconnectReason,
  extra: Partial<ManagedClose> = {},
): void {
  const m = fake.keptOf(peer) ?? managedFor(peer);
  fake.release(m);
  service.onClose?.(m, { reason, initiator: "remote", remoteRetryAfterMs: undefined, wasHealthy: undefined, ...extra });
  service.onSlotFreed?.();
}
