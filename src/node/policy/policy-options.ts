/**
 * Validation of the application-policy options (`allowList`, `gater`), called from the one validation
 * step of the manager's options so their problems are listed with every other.
 *
 * @module
 */
import { describeValue, isOptionsObject, type KnownOptions, OptionProblems } from "../../util/option-checks.js";
import { AllowList, type AllowListOptions } from "./allow-list.js";
import { GATER_HOOKS, type ConnectionGater } from "./gater.js";

const ALLOW_LIST_NAMES: KnownOptions<AllowListOptions> = { peers: true, addresses: true };
const GATER_NAMES: KnownOptions<ConnectionGater> = { denyInboundAddress: true, denyPeer: true, denyDialPeer: true, denyDialAddress: true };

/** The parsed `allowList` option (default: nobody), problems recorded. */
export function checkAllowList(value: unknown, problems: OptionProblems): AllowList {
  if (value === undefined) return AllowList.EMPTY;
  if (!isOptionsObject(value)) {
    problems.add(`allowList must be { peers?, addresses? }, got ${describeValue(value)}`);
    return AllowList.EMPTY;
  }
  problems.unknownKeys(value, ALLOW_LIST_NAMES, "allowList");
  return problems.capture("", () => new AllowList(value as AllowListOptions)) ?? AllowList.EMPTY;
}

/** The `gater` option (default: none), problems recorded: an object whose known hooks are functions. */
export function checkGater(value: unknown, problems: OptionProblems): ConnectionGater | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.add(`gater must be an object with deny… hooks, got ${describeValue(value)}`);
    return undefined;
  }
  const hooks = value as Record<string, unknown>;
  // A class instance keeps its hooks on the prototype: check the names it answers to, not its own keys.
  if (Object.getPrototypeOf(value) === Object.prototype) problems.unknownKeys(value, GATER_NAMES, "gater");
  for (const hook of GATER_HOOKS) {
    if (hooks[hook] !== undefined && typeof hooks[hook] !== "function") problems.add(`gater.${hook} must be a function, got ${describeValue(hooks[hook])}`);
  }
  return value as ConnectionGater;
}
