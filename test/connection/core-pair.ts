/**
 * Test helper: two ConnectionCores joined by an in-memory "wire" with a
 * manual clock. Writes of one side become `receive` on the other, a
 * half-close becomes `transportEnded`, a destroy becomes `transportClosed`.
 */
import { ConnectionCore, type ConnectionCoreOptions } from "../../src/connection/connection-core.js";
import type { CoreAction, CoreEvent } from "../../src/connection/types.js";
import type { ChannelBindingInput } from "../../src/handshake/types.js";

export interface CoreSide {
  readonly core: ConnectionCore;
  readonly events: CoreEvent[];
  readonly actions: CoreAction[];
  /** Bytes written and not yet delivered to the peer. */
  readonly outbox: Uint8Array[];
  ended: boolean;
  destroyed: boolean;
}

export interface CorePair {
  readonly dialer: CoreSide;
  readonly listener: CoreSide;
  now: number;
  /** Records actions of `side` (queueing writes for the peer). */
  take(side: CoreSide, actions: CoreAction[]): void;
  /** Delivers queued bytes and closes both ways until nothing moves. */
  pump(): void;
}

export function side(core: ConnectionCore): CoreSide {
  return { core, events: [], actions: [], outbox: [], ended: false, destroyed: false };
}

/** Builds both cores and runs them up to `handshaking` (Hellos queued, not delivered). */
export function corePair(
  dialerOptions: Omit<ConnectionCoreOptions, "direction" | "now">,
  listenerOptions: Omit<ConnectionCoreOptions, "direction" | "now">,
  binding: ChannelBindingInput,
  start = 1_000,
): CorePair {
  const dialer = side(new ConnectionCore({ ...dialerOptions, direction: "outbound", now: start }));
  const listener = side(new ConnectionCore({ ...listenerOptions, direction: "inbound", now: start }));
  const pair: CorePair = {
    dialer,
    listener,
    now: start,
    take(s, actions) {
      for (const a of actions) {
        s.actions.push(a);
        if (a.type === "write") s.outbox.push(a.bytes);
        if (a.type === "half-close") s.ended = true;
        if (a.type === "destroy") s.destroyed = true;
        if (a.type === "event") s.events.push(a.event);
      }
    },
    pump() {
      const peers: [CoreSide, CoreSide][] = [
        [dialer, listener],
        [listener, dialer],
      ];
      const delivered = new Set<CoreSide>();
      const closedSeen = new Set<CoreSide>();
      for (let moved = true; moved; ) {
        moved = false;
        for (const [from, to] of peers) {
          while (from.outbox.length > 0) {
            const bytes = from.outbox.shift() as Uint8Array;
            if (!to.destroyed) pair.take(to, to.core.receive(bytes, pair.now));
            moved = true;
          }
          if (from.ended && !delivered.has(from) && !to.destroyed) {
            delivered.add(from);
            pair.take(to, to.core.transportEnded(pair.now));
            moved = true;
          }
          if (from.destroyed && !closedSeen.has(from) && !to.destroyed) {
            closedSeen.add(from);
            pair.take(to, to.core.transportClosed(pair.now));
            moved = true;
          }
        }
      }
    },
  };
  for (const s of [dialer, listener]) {
    pair.take(s, s.core.transportConnected(start));
    pair.take(s, s.core.transportSecured(binding, start));
  }
  return pair;
}

export function eventsOf<T extends CoreEvent["type"]>(s: CoreSide, type: T): Extract<CoreEvent, { type: T }>[] {
  return s.events.filter((e): e is Extract<CoreEvent, { type: T }> => e.type === type);
}

export function transitionsOf(s: CoreSide): string[] {
  return eventsOf(s, "state").map((e) => `${e.change.from}->${e.change.to}:${e.change.transition}`);
}
