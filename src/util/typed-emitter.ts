/**
 * A minimal typed event emitter. Listeners run synchronously in registration
 * order; a listener that throws cannot break the caller's state machine: the
 * error is reported with `process.emitWarning` and the other listeners still run.
 *
 * @module
 */

/**
 * Removes the listener it was returned for. Idempotent.
 *
 * @category Manager
 */
export type Unsubscribe = () => void;

/**
 * A listener of events of type `T`.
 *
 * @category Manager
 */
export type Listener<T> = (event: T) => void;

/** Typed `on`/`once`/`off` over an event map `{ "noun:verb": Payload }`. */
export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds `listener` for `type`; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): Unsubscribe {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  /** Adds `listener` for the next `type` event only. */
  once<K extends keyof Events>(type: K, listener: Listener<Events[K]>): Unsubscribe {
    const off = this.on(type, (event) => {
      off();
      listener(event);
    });
    return off;
  }

  /** Removes `listener` from `type`. */
  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    const set = this.#listeners.get(type);
    if (set?.delete(listener as Listener<never>) && set.size === 0) this.#listeners.delete(type);
  }

  /** Number of listeners of `type`. */
  listenerCount<K extends keyof Events>(type: K): number {
    return this.#listeners.get(type)?.size ?? 0;
  }

  /** Removes every listener (used when the owner is closed, so nothing can fire after). */
  protected removeAllListeners(): void {
    this.#listeners.clear();
  }

  /** Calls every listener of `type` with `event`; listener errors are reported, not thrown. */
  protected emit<K extends keyof Events>(type: K, event: Events[K]): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(event);
      } catch (error) {
        process.emitWarning(
          `peerlink: a listener of "${String(type)}" threw: ${error instanceof Error ? error.stack ?? error.message : String(error)}`,
          "PeerlinkListenerWarning",
        );
      }
    }
  }
}
