/**
 * Pending-slot exhaustion (issue 11, defect 1 and its CI acceptance test): silent sockets from a few source
 * IPs must not keep a legitimate peer from connecting to a node with default options.
 */
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { PeerlinkError } from "../../src/errors.js";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import { cleanup, startManager } from "../manager/fixtures.js";
import { destroyAllSilentSockets, PendingPerIpSampler, SilentFlood, silentBurst, type SilentSocketSource } from "./silent-flood.js";

afterEach(async () => {
  destroyAllSilentSockets();
  await cleanup();
});

const ATTACKER_IPS = [1, 2, 3, 4, 5].map((n) => `127.11.${n}.1`);
const LEGIT_IP = "127.12.0.1";
/** "Open within 2 s" is the behaviour under test, so it is the one wall-clock bound here. */
const OPEN_WITHIN_MS = 2_000;

/** One dial by the legitimate peer: whether it opened within {@link OPEN_WITHIN_MS}, and how long it took. */
interface DialResult {
  readonly opened: boolean;
  readonly ms: number;
  readonly code?: string;
}

/**
 * Dials `target` once from {@link LEGIT_IP}, giving up at {@link OPEN_WITHIN_MS}. `force` keeps every dial a new
 * connection (no joining an earlier attempt, no reusing an open connection); an opened one is closed again,
 * so the next dial starts from nothing.
 */
async function dialOnce(legit: ConnectionManager, target: ConnectionManager): Promise<DialResult> {
  const started = performance.now();
  try {
    const connection = await legit.dial(target.addresses[0]!, {
      localAddress: LEGIT_IP,
      force: true,
      signal: AbortSignal.timeout(OPEN_WITHIN_MS),
    });
    const ms = performance.now() - started;
    void connection.close();
    return { opened: ms <= OPEN_WITHIN_MS, ms };
  } catch (error) {
    return { opened: false, ms: performance.now() - started, code: PeerlinkError.from(error).code };
  }
}

/** The node's per-IP pending bound, or undefined when it has none (the defect). */
function pendingPerIpBound(node: ConnectionManager): number | undefined {
  const value = (node.options.limits as { maxPendingPerIp?: unknown }).maxPendingPerIp;
  return typeof value === "number" ? value : undefined;
}

/** Samples `sampler` at every inbound event of `node`, every attacker socket change and every 50 ms. */
function sampleContinuously(
  node: ConnectionManager,
  attackers: SilentSocketSource,
  sampler: PendingPerIpSampler,
): { stop(): void; refusals: ReadonlyMap<string, number> } {
  const refusals = new Map<string, number>();
  const offs = [
    node.on("inbound:refused", (e) => {
      refusals.set(e.reason, (refusals.get(e.reason) ?? 0) + 1);
      sampler.sample();
    }),
    node.on("handshake:failed", () => sampler.sample()),
    node.on("connection:open", () => sampler.sample()),
  ];
  attackers.onChange = () => sampler.sample();
  const interval = setInterval(() => sampler.sample(), 50);
  const stop = (): void => {
    clearInterval(interval);
    attackers.onChange = undefined;
    for (const off of offs) off();
  };
  return { stop, refusals };
}

function describeDials(results: readonly DialResult[]): string {
  const failures = new Map<string, number>();
  for (const r of results) if (!r.opened) failures.set(r.code ?? "late", (failures.get(r.code ?? "late") ?? 0) + 1);
  const opened = results.filter((r) => r.opened).map((r) => r.ms);
  const worst = opened.length > 0 ? Math.max(...opened).toFixed(0) : "-";
  return `${opened.length}/${results.length} dials open within ${OPEN_WITHIN_MS} ms (slowest ${worst} ms); failures ${JSON.stringify(Object.fromEntries(failures))}`;
}

describe("a node with default options under a silent-socket flood", () => {
  it("keeps admitting a peer that dials once a second for 30 s, and never holds more pending sockets per IP than its bound", async () => {
    // The node under test: default options except the listen address.
    const node = await startManager();
    const port = Number(node.addresses[0]!.split(":")[1]);
    const legit = await startManager({ listen: [], reconnect: false });

    const flood = new SilentFlood({ port, sourceIps: ATTACKER_IPS, socketsPerIp: 8, dialsPerSecond: 12, maxSockets: 1_200 });
    const sampler = new PendingPerIpSampler(node, flood);
    const sampling = sampleContinuously(node, flood, sampler);
    const results: DialResult[] = [];
    try {
      flood.start();
      // Let the attackers fill their slots first (8 × 5 attempts at 12/s): the peer arrives at a full node.
      await flood.attempted(ATTACKER_IPS.length * 8);
      const t0 = performance.now();
      for (let i = 0; i < 30; i++) {
        const wait = t0 + i * 1_000 - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        results.push(await dialOnce(legit, node));
      }
    } finally {
      sampling.stop();
      flood.stop();
    }
    const bound = pendingPerIpBound(node);
    console.log(
      `flood: ${flood.attempts} silent attempts from ${ATTACKER_IPS.length} IPs; ${describeDials(results)}; ` +
        `max pending per attacker IP ${sampler.maxOverIps} (${sampler.source} count, ${sampler.samples} samples, bound ${bound ?? "none"}); ` +
        `node refusals ${JSON.stringify(Object.fromEntries(sampling.refusals))}`,
    );

    expect.soft(results.filter((r) => r.opened).length, describeDials(results)).toBeGreaterThanOrEqual(29);
    expect.soft(bound, "the node has no per-IP pending bound: limits.maxPendingPerIp is missing").toBeTypeOf("number");
    expect.soft(sampler.samples).toBeGreaterThan(100);
    for (const ip of ATTACKER_IPS) {
      expect.soft(sampler.max.get(ip) ?? 0, `pending sockets held from ${ip} (${sampler.source} count)`).toBeLessThanOrEqual(bound ?? 0);
    }
  }, 60_000);

  it("admits a peer within 2 s after a one-off burst of 2,000 silent sockets", async () => {
    const node = await startManager();
    const port = Number(node.addresses[0]!.split(":")[1]);
    const legit = await startManager({ listen: [], reconnect: false });

    let sampler: PendingPerIpSampler | undefined;
    const burst = await silentBurst({ port, sourceIps: ATTACKER_IPS, count: 2_000, overMs: 1_000, onChange: () => sampler?.sample() });
    sampler = new PendingPerIpSampler(node, burst);
    const sampling = sampleContinuously(node, burst, sampler);
    const burstEnd = performance.now();
    const first = await dialOnce(legit, node);
    // Only to report how long the peer stays locked out: once a second, up to 15 more tries.
    let lockedOutMs = first.opened ? 0 : Number.NaN;
    try {
      for (let i = 1; !first.opened && i <= 15; i++) {
        const wait = burstEnd + i * 1_000 - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const r = await dialOnce(legit, node);
        if (r.opened) {
          lockedOutMs = performance.now() - r.ms - burstEnd;
          break;
        }
      }
    } finally {
      sampling.stop();
      burst.destroy();
    }
    const bound = pendingPerIpBound(node);
    console.log(
      `burst: first dial ${first.opened ? "opened" : `failed (${first.code ?? "late"})`} in ${first.ms.toFixed(0)} ms; ` +
        `locked out ${Number.isNaN(lockedOutMs) ? "> 15 s" : `${lockedOutMs.toFixed(0)} ms`}; ` +
        `max pending per attacker IP ${sampler.maxOverIps} (${sampler.source} count, bound ${bound ?? "none"})`,
    );

    expect.soft(first.opened, `first dial after the burst: ${JSON.stringify(first)}; locked out ${lockedOutMs.toFixed(0)} ms`).toBe(true);
    expect.soft(bound, "the node has no per-IP pending bound: limits.maxPendingPerIp is missing").toBeTypeOf("number");
    for (const ip of ATTACKER_IPS) {
      expect.soft(sampler.max.get(ip) ?? 0, `pending sockets held from ${ip} (${sampler.source} count)`).toBeLessThanOrEqual(bound ?? 0);
    }
  }, 60_000);
});
