/**
 * A fake manager host for the reconnect service tests: the test plays the
 * manager (connections, dial outcomes, a real in-memory peer database) and
 * reads the events. Use with fake timers started at {@link T0}.
 */
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import type { ManagedClose, ManagedConnection, ManagerHost } from "../../src/manager/services.js";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";
import type { DisconnectReason } from "../../src/reasons.js";
import {
  createReconnectService,
  type ReconnectOptions,
  type ReconnectService,
  type ReconnectServiceEvents,
} from "../../src/reconnect/reconnect-service.js";

/** The fake clock's start. */
export const T0 = 1_700_000_000_000;

/** One dial the service asked for; the test settles it. */
export interface Dial {
  peerId: string;
  addresses: readonly string[];
  signal: AbortSignal | undefined;
  resolve(): void;
  reject(error: Error): void;
}

/** A fake host: the test plays the manager (connections, dial outcomes) and reads the events. */
export class FakeHost {
  readonly peers = new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0 });
  readonly dials: Dial[] = [];
  readonly events: Array<{ type: string; event: unknown }> = [];
  readonly connected = new Map<string, ManagedConnection>();

  readonly host: ManagerHost = {
    clock: () => Date.now(),
    peerId: undefined as never,
    peers: this.peers,
    managed: () => [...this.connected.values()],
    isProtected: () => false,
    dial: (target, options = {}) =>
      new Promise((resolve, reject) => {
        this.dials.push({
          peerId: target.peerId,
          addresses: target.addresses,
          signal: options.signal,
          resolve: () => resolve(undefined as never),
          reject,
        });
        options.signal?.addEventListener("abort", () => reject(new PeerlinkError(ErrorCode.ABORTED, "aborted")), { once: true });
      }),
    setHealth: () => undefined,
    journal: () => undefined,
    emit: (type, event) => this.events.push({ type, event }),
    get running() {
      return true;
    },
  };

  of<K extends keyof ReconnectServiceEvents>(type: K): ReconnectServiceEvents[K][] {
    return this.events.filter((e) => e.type === type).map((e) => e.event as ReconnectServiceEvents[K]);
  }

  managed(peer: string, direction: "inbound" | "outbound" = "outbound", healthy?: boolean): ManagedConnection {
    return { peer, connection: { direction } as never, openedAt: Date.now(), health: healthy === undefined ? undefined : ({} as never) };
  }
}

/** Creates and starts a service on `fake` (jitter 0.5 unless `options` say otherwise). */
export function start(options: ReconnectOptions = {}, fake = new FakeHost()): { fake: FakeHost; service: ReconnectService } {
  const service = createReconnectService({ random: () => 0.5, ...options })(fake.host);
  service.start?.();
  return { fake, service };
}

/** The manager's sequence for a kept connection that opened. */
export function open(fake: FakeHost, service: ReconnectService, peer: string, direction: "inbound" | "outbound" = "outbound"): void {
  const m = fake.managed(peer, direction);
  fake.peers.upsert(peer, { addresses: [`10.0.0.${fake.connected.size + 1}:4001`] }, Date.now());
  fake.connected.set(peer, m);
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
  const m = fake.connected.get(peer) ?? fake.managed(peer);
  fake.connected.delete(peer);
  service.onClose?.(m, { reason, initiator: "remote", remoteRetryAfterMs: undefined, wasHealthy: undefined, ...extra });
  service.onSlotFreed?.();
}
