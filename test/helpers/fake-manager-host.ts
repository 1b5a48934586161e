/**
 * The one fake manager host for service tests (maintenance, reconnect): the test plays the manager.
 * It holds a real in-memory peer database, records the events, journal entries and health the service
 * publishes, and records every dial the service asks for, which the test settles (or replaces with
 * `dial.mockImplementation`). Use with fake timers: `clock` reads `Date.now()`.
 */
import { randomBytes } from "node:crypto";
import { vi } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import type { HealthScore } from "../../src/health/types.js";
import { PeerId } from "../../src/identity/peer-id.js";
import type { JournalEntry } from "../../src/manager/journal.js";
import type { ManagedConnection, ManagerHost } from "../../src/manager/services.js";
import { PeerDatabase } from "../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../src/peers/peer-store.js";

/** A random printable peer id. */
export function randomPeer(): string {
  return PeerId.fromPublicKey(new Uint8Array(randomBytes(32))).toString();
}

/** One dial the service asked for, pending until the test settles it. */
export interface Dial {
  readonly peerId: string;
  readonly addresses: readonly string[];
  readonly signal: AbortSignal | undefined;
  resolve(connection?: Connection): void;
  reject(error: Error): void;
}

/** A fake host recording what a service asks of the manager; `E` types {@link FakeManagerHost.of}. */
export class FakeManagerHost<E extends object = Record<string, unknown>> implements ManagerHost {
  readonly peerId = PeerId.parse(randomPeer());
  readonly peers = new PeerDatabase({ store: new MemoryPeerStore(), flushDelayMs: 0 });
  readonly events: { type: string; event: unknown }[] = [];
  readonly journalEntries: (Omit<JournalEntry, "at"> & { kind: JournalEntry["kind"] })[] = [];
  /** What the service published per connection: a score, or a function making it (lazy publication). */
  readonly published = new Map<Connection, HealthScore | (() => HealthScore | undefined)>();
  readonly protectedPeers = new Set<string>();
  /** The kept connections, as `managed()` reports them. */
  readonly connections = new Map<Connection, ManagedConnection>();
  /** Every dial asked for while `dial` has its default implementation, in order. */
  readonly dials: Dial[] = [];
  /** Records a {@link Dial} and returns its pending promise; an aborted signal rejects it with ABORTED. */
  readonly dial = vi.fn<ManagerHost["dial"]>(
    (target, options = {}) =>
      new Promise<Connection>((resolve, reject) => {
        this.dials.push({
          peerId: typeof target === "string" ? "" : target.peerId,
          addresses: typeof target === "string" ? [target] : target.addresses,
          signal: options.signal,
          resolve: (connection) => resolve(connection ?? (undefined as never)),
          reject,
        });
        options.signal?.addEventListener("abort", () => reject(new PeerlinkError(ErrorCode.ABORTED, "aborted")), { once: true });
      }),
  );
  running = true;

  clock = (): number => Date.now();

  /** This host, typed for a service factory (`createXService(options)(fake.host)`). */
  get host(): this {
    return this;
  }

  managed(): readonly ManagedConnection[] {
    return [...this.connections.values()];
  }

  isProtected(peer: string): boolean {
    return this.protectedPeers.has(peer);
  }

  setHealth(connection: Connection, score: HealthScore | (() => HealthScore | undefined)): void {
    this.published.set(connection, score);
  }

  /** The published health of `connection`, made (and kept) first if it was published lazily, as `connection.health` does. */
  healthOf(connection: Connection): HealthScore | undefined {
    const value = this.published.get(connection);
    if (typeof value !== "function") return value;
    const score = value();
    if (score !== undefined) this.published.set(connection, score);
    return score;
  }

  journal(kind: JournalEntry["kind"], entry: Omit<JournalEntry, "at" | "kind">): void {
    this.journalEntries.push({ kind, ...entry });
  }

  emit(type: string, event: unknown): void {
    this.events.push({ type, event });
  }

  /** The events of one type, in order. */
  of<K extends keyof E & string>(type: K): E[K][] {
    return this.events.filter((e) => e.type === type).map((e) => e.event as E[K]);
  }

  /** Registers `managed` as kept (it shows in `managed()`) and returns it. */
  keep(managed: ManagedConnection): ManagedConnection {
    this.connections.set(managed.connection, managed);
    return managed;
  }

  /** The kept connection of `peer`, if any. */
  keptOf(peer: string): ManagedConnection | undefined {
    for (const m of this.connections.values()) if (m.peer === peer) return m;
    return undefined;
  }

  /** Forgets the kept connection `managed`. */
  release(managed: ManagedConnection): void {
    this.connections.delete(managed.connection);
  }
}
