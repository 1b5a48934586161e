/**
 * Validation of {@link ReconnectOptions} for the manager's one validation
 * step: every problem of every part (policy, budget, dampening, the service's
 * own settings) is reported, each naming its option path, and unknown option
 * names are rejected at every level.
 *
 * @module
 */
import { isIp } from "../manager/ip.js";
import { isDisconnectReason } from "../reasons.js";
import { TokenBucket } from "../util/token-bucket.js";
import { describeValue, isOptionsObject, type KnownOptions, type OptionProblems, optionPath } from "../util/option-checks.js";
import { FlapDamping, type FlapDampingOptions } from "./flap-damping.js";
import { type BackoffConfig, ReconnectPolicy, type ReconnectPolicyOptions } from "./policy.js";
import type { ReconnectOptions } from "./reconnect-service.js";

const OPTION_NAMES: KnownOptions<ReconnectOptions> = {
  policy: true,
  budget: true,
  dampening: true,
  random: true,
  redialInbound: true,
  maxWantedPeers: true,
  resumeOnStart: true,
  persist: true,
  localAddress: true,
};

const POLICY_NAMES: KnownOptions<ReconnectPolicyOptions> = {
  strategies: true,
  remoteResourceConstraint: true,
  dialFailureBackoff: true,
  maxRetryAfterMs: true,
};

const DAMPING_NAMES: KnownOptions<FlapDampingOptions> = {
  penalty: true,
  penaltyByReason: true,
  halfLifeMs: true,
  suppressThreshold: true,
  reuseThreshold: true,
  maxSuppressMs: true,
};

const BUDGET_NAMES: KnownOptions<NonNullable<ReconnectOptions["budget"]>> = { capacity: true, refillPerSecond: true };

const BACKOFF_NAMES: KnownOptions<BackoffConfig> = { baseMs: true, factor: true, maxMs: true, minMs: true, jitter: true };

/** Fields each strategy kind may carry besides `kind`. */
const STRATEGY_NAMES: Readonly<Record<string, Readonly<Record<string, true>>>> = {
  immediate: { kind: true },
  never: { kind: true },
  none: { kind: true },
  backoff: { kind: true, backoff: true },
  after_resources: { kind: true, maxWaitMs: true },
};

/**
 * Adds every problem of reconnect `options` to `problems`, naming options under
 * `prefix` (e.g. `"reconnect"`). Values are checked by the classes that use
 * them (`ReconnectPolicy`, `FlapDamping`, the budget's token bucket), one part
 * at a time so each part's problem is reported.
 */
export function checkReconnectOptions(options: unknown, problems: OptionProblems, prefix: string): void {
  const name = (key: string): string => optionPath(prefix, key);
  if (!isOptionsObject(options)) {
    problems.add(`${prefix === "" ? "reconnect options" : prefix} must be an object, got ${describeValue(options)}`);
    return;
  }
  problems.unknownKeys(options, OPTION_NAMES, prefix);
  const o = options as Record<keyof ReconnectOptions, unknown>;

  if (o.policy !== undefined && !(o.policy instanceof ReconnectPolicy)) checkPolicy(o.policy, problems, name("policy"));

  if (o.budget !== undefined) {
    if (!isOptionsObject(o.budget)) problems.add(`${name("budget")} must be an object, got ${describeValue(o.budget)}`);
    else {
      problems.unknownKeys(o.budget, BUDGET_NAMES, name("budget"));
      const budget = o.budget as { capacity: number; refillPerSecond: number };
      problems.capture(name("budget"), () => new TokenBucket({ capacity: budget.capacity, refillPerSecond: budget.refillPerSecond }, 0));
    }
  }

  if (o.dampening !== undefined && o.dampening !== false) {
    if (!isOptionsObject(o.dampening)) problems.add(`${name("dampening")} must be false or an object, got ${describeValue(o.dampening)}`);
    else {
      problems.unknownKeys(o.dampening, DAMPING_NAMES, name("dampening"));
      const penalties = o.dampening["penaltyByReason"];
      if (isOptionsObject(penalties)) {
        for (const reason of Object.keys(penalties)) {
          if (!isDisconnectReason(reason)) problems.add(`${name("dampening.penaltyByReason")}: unknown disconnect reason ${JSON.stringify(reason)}`);
        }
      }
      const dampening = o.dampening as FlapDampingOptions;
      problems.capture(name("dampening"), () => new FlapDamping(dampening));
    }
  }

  if (o.random !== undefined && typeof o.random !== "function") problems.add(`${name("random")} must be a function, got ${describeValue(o.random)}`);
  for (const key of ["redialInbound", "resumeOnStart", "persist"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "boolean") problems.add(`${name(key)} must be a boolean, got ${describeValue(o[key])}`);
  }
  if (o.localAddress !== undefined && !(typeof o.localAddress === "string" && isIp(o.localAddress))) {
    problems.add(`${name("localAddress")} must be an IP address string, got ${describeValue(o.localAddress)}`);
  }
  if (o.maxWantedPeers !== undefined && !(Number.isSafeInteger(o.maxWantedPeers) && (o.maxWantedPeers as number) > 0)) {
    problems.add(`${name("maxWantedPeers")} must be a positive integer, got ${describeValue(o.maxWantedPeers)}`);
  }
}

function checkPolicy(policy: unknown, problems: OptionProblems, path: string): void {
  if (!isOptionsObject(policy)) {
    problems.add(`${path} must be a ReconnectPolicy or its options, got ${describeValue(policy)}`);
    return;
  }
  problems.unknownKeys(policy, POLICY_NAMES, path);
  const p = policy as ReconnectPolicyOptions;
  const strategies: unknown = p.strategies;
  if (strategies !== undefined) {
    if (!isOptionsObject(strategies)) problems.add(`${path}.strategies must be an object, got ${describeValue(strategies)}`);
    else {
      for (const [reason, strategy] of Object.entries(strategies)) {
        checkStrategyKeys(strategy, problems, `${path}.strategies.${reason}`);
        problems.capture(path, () => new ReconnectPolicy({ strategies: { [reason]: strategy } }));
      }
    }
  }
  if (p.remoteResourceConstraint !== undefined) {
    checkStrategyKeys(p.remoteResourceConstraint, problems, `${path}.remoteResourceConstraint`);
    problems.capture(path, () => new ReconnectPolicy({ remoteResourceConstraint: p.remoteResourceConstraint! }));
  }
  if (p.dialFailureBackoff !== undefined) {
    if (isOptionsObject(p.dialFailureBackoff)) problems.unknownKeys(p.dialFailureBackoff, BACKOFF_NAMES, `${path}.dialFailureBackoff`);
    problems.capture(path, () => new ReconnectPolicy({ dialFailureBackoff: p.dialFailureBackoff! }));
  }
  if (p.maxRetryAfterMs !== undefined) problems.capture(path, () => new ReconnectPolicy({ maxRetryAfterMs: p.maxRetryAfterMs! }));
}

function checkStrategyKeys(strategy: unknown, problems: OptionProblems, path: string): void {
  if (!isOptionsObject(strategy)) return; // the policy reports it
  const known = STRATEGY_NAMES[String(strategy["kind"])];
  if (known === undefined) return;
  problems.unknownKeys(strategy, known, path);
  if (strategy["kind"] === "backoff" && isOptionsObject(strategy["backoff"])) {
    problems.unknownKeys(strategy["backoff"], BACKOFF_NAMES, `${path}.backoff`);
  }
}
