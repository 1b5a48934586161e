/**
 * Building blocks of option validation: a collector that gathers every
 * problem of a nested options object, each naming the option's path
 * (`maintenance.pingIntervalMs`), so one error can list them all.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";

/**
 * The option names of an options interface `T`, one entry each. Declaring a
 * group's names as `KnownOptions<SomeOptions>` makes the compiler fail when an
 * option is added to the interface but not to the list, so a new option is
 * never rejected as unknown.
 */
export type KnownOptions<T> = { readonly [K in keyof Required<T>]: true };

/** Joins an option path and a name: `join("limits", "maxPerIp")` → `"limits.maxPerIp"`; `join("", "x")` → `"x"`. */
export function optionPath(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

/** A short, printable form of an option value for error messages (at most 80 characters). */
export function describeValue(value: unknown): string {
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value);
  if (value === undefined) return "undefined";
  if (typeof value === "function") return "a function";
  try {
    return (JSON.stringify(value) ?? typeof value).slice(0, 80);
  } catch {
    return typeof value;
  }
}

/** True for a plain options object: not null, not an array. */
export function isOptionsObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Collects the problems of one validation pass. Checks add problems instead of
 * throwing, so a single {@link OptionProblems.throwIfAny} reports all of them.
 */
export class OptionProblems {
  readonly #list: string[] = [];

  /** Every problem found so far, in the order found. */
  get list(): readonly string[] {
    return this.#list;
  }

  /** Number of problems found so far. */
  get size(): number {
    return this.#list.length;
  }

  /** Records one problem; `problem` must name the option path. */
  add(problem: string): void {
    this.#list.push(problem);
  }

  /**
   * Records `unknown option <path>` for every own key of `value` not in
   * `known`. Typos such as `maxPeers` or `pingInterval` would otherwise be
   * ignored silently and the default used.
   */
  unknownKeys(value: object, known: Readonly<Record<string, unknown>>, prefix: string): void {
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(known, key)) this.add(`unknown option ${optionPath(prefix, key)}`);
    }
  }

  /**
   * Runs `check` (typically a constructor that throws PeerlinkError on its
   * first bad option) and records what it throws, prefixed with `path`.
   * Returns its result, or undefined when it threw.
   */
  capture<T>(path: string, check: () => T): T | undefined {
    try {
      return check();
    } catch (error) {
      const message = error instanceof PeerlinkError ? error.rawMessage : error instanceof Error ? error.message : String(error);
      this.add(path === "" ? message : `${path}: ${message}`);
      return undefined;
    }
  }

  /**
   * Throws one PeerlinkError INVALID_ARGUMENT, `<what>: <problem>; <problem>; …`,
   * when any problem was recorded.
   */
  throwIfAny(what: string): void {
    if (this.#list.length === 0) return;
    throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${what}: ${this.#list.join("; ")}`);
  }
}
