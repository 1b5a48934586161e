// A Dialer over real sockets whose node admits everything, for tests of the dialer's own work (cancelling,
// stopping, waiting): the handshake and the connection:open subscription are the test's; the slots it
// reserved and freed are counted.
import type { Connection } from "../../src/connection/connection.js";
import { Identity } from "../../src/identity/identity.js";
import { Dialer, type DialerHost } from "../../src/node/dialer.js";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";
import type { ResolvedTls } from "../../src/transport/types.js";

/** What a test gives the fake node host. */
export interface FakeDialerParts {
  /** Aborted when the node stops. */
  readonly stop: AbortSignal;
  /** The node's TLS (plain TCP when absent). */
  readonly tls?: ResolvedTls | undefined;
  readonly handshake: DialerHost["handshake"];
  readonly onOpen?: DialerHost["onOpen"];
}

/** Slots the dialer reserved and freed. */
export interface SlotCount {
  reserved: number;
  released: number;
}

/** The dialer and its slot count. */
export function fakeDialer(parts: FakeDialerParts): { dialer: Dialer; slots: SlotCount } {
  const ok = { allowed: true } as const;
  const slots: SlotCount = { reserved: 0, released: 0 };
  const dialer = new Dialer({
    core: {
      gateDialPeer: () => ok,
      gateDialAddress: () => ok,
      kept: () => undefined,
      reserveDial: () => {
        slots.reserved++;
        let held = true;
        return { ok: true, reservation: { release: () => (held ? ((held = false), slots.released++, true) : false) } };
      },
    },
    peers: new PeerDatabase({ store: new MemoryPeerStore() }),
    localId: Identity.generate().peerId,
    now: () => Date.now(),
    tls: () => parts.tls,
    signal: parts.stop,
    handshakeTimeoutMs: 600_000,
    dialing: { staggerMs: 250, backoff: undefined },
    maxRetryAfterMs: 0,
    enable0Rtt: false,
    handshake: parts.handshake,
    adopt: () => {
      throw new Error("not reached");
    },
    onOpen: parts.onOpen ?? (() => () => undefined),
    refused: () => undefined,
    journalLimit: () => undefined,
    failed: () => undefined,
    dialFailed: () => undefined,
    changed: () => undefined,
    closing: (_c: Connection, onClosed: () => void) => onClosed(),
  } as unknown as DialerHost);
  return { dialer, slots };
}
