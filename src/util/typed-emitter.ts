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
  /**
   * `[type, listener, type, listener, …]` in registration order: one small array per emitter instead of a map
   * of sets (an emitter per connection held ~0.4 KiB of hash tables for 2–3 listeners). Never changed in
   * place: adding or removing a listener makes a new array of the exact size (by concat: a spread reserves
   * room to grow), so an emit in progress keeps the list it began with. An emitter has few listeners; a
   * lookup scans them.
   */
  #listeners: readonly unknown[] | undefined;
  /**
   * The type of the only listener, which is then {@link TypedEmitter.#listener}, not in a list: most emitters
   * (a connection's) have one listener, and its two-element list cost ~64 B.
   */
  #type: unknown = undefined;
  #listener: unknown = undefined;

  /** Adds `listener` for `type` (once: adding it again changes nothing); returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): Unsubscribe {
    const list = this.#listeners;
    if (list !== undefined) {
      if (indexOf(list, type, listener) < 0) this.#listeners = list.concat([type, listener]);
    } else if (this.#listener === undefined) {
      this.#type = type;
      this.#listener = listener;
    } else if (this.#type !== type || this.#listener !== listener) {
      this.#listeners = [this.#type, this.#listener, type, listener];
      this.#type = this.#listener = undefined;
    }
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
    const list = this.#listeners;
    if (list === undefined) {
      if (this.#type === type && this.#listener === listener) this.#type = this.#listener = undefined;
      return;
    }
    const i = indexOf(list, type, listener);
    if (i < 0) return;
    this.#listeners = list.length === 2 ? undefined : list.slice(0, i).concat(list.slice(i + 2));
  }

  /** Number of listeners of `type`. */
  listenerCount<K extends keyof Events>(type: K): number {
    const list = this.#listeners;
    let count = this.#listener !== undefined && this.#type === type ? 1 : 0;
    if (list !== undefined) for (let i = 0; i < list.length; i += 2) if (list[i] === type) count++;
    return count;
  }

  /** Removes every listener (used when the owner is closed, so nothing can fire after). */
  protected removeAllListeners(): void {
    this.#listeners = undefined;
    this.#type = this.#listener = undefined;
  }

  /**
   * Calls every listener of `type` with `event`, those registered when the emit began (a listener added or
   * removed meanwhile changes the next emit); listener errors are reported, not thrown.
   */
  protected emit<K extends keyof Events>(type: K, event: Events[K]): void {
    const list = this.#listeners;
    if (list === undefined) {
      if (this.#type === type) call(type, this.#listener as Listener<Events[K]>, event);
      return;
    }
    for (let i = 0; i < list.length; i += 2) if (list[i] === type) call(type, list[i + 1] as Listener<Events[K]>, event);
  }
}

/** The index of the pair (`type`, `listener`) in a listener list, or -1. */
function indexOf(list: readonly unknown[], type: unknown, listener: unknown): number {
  for (let i = 0; i < list.length; i += 2) if (list[i] === type && list[i + 1] === listener) return i;
  return -1;
}

function call<T>(type: unknown, listener: Listener<T>, event: T): void {
  try {
    listener(event);
  } catch (error) {
    process.emitWarning(
      `peerlink: a listener of "${String(type)}" threw: ${error instanceof Error ? error.stack ?? error.message : String(error)}`,
      "PeerlinkListenerWarning",
    );
  }
}
