import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import * as D from "../../src/manager/defaults.js";
import {
  checkManagerOptions,
  type ConnectionManagerOptions,
  resolveManagerOptions,
} from "../../src/manager/manager-options.js";
import { resolveMaintenanceOptions } from "../../src/maintenance/maintenance-options.js";
import { Identity } from "../../src/identity/identity.js";

const identity = Identity.generate();

/** Resolves `options` (with a fixed identity, so no key is generated per case) and returns the rejection. */
function rejection(options: unknown): PeerlinkError {
  try {
    resolveManagerOptions({ identity, ...(options as ConnectionManagerOptions) });
  } catch (error) {
    expect(error).toBeInstanceOf(PeerlinkError);
    expect((error as PeerlinkError).code).toBe(ErrorCode.INVALID_ARGUMENT);
    return error as PeerlinkError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be rejected`);
}

describe("defect 11: option groups are validated together", () => {
  it("rejects an inactivity timeout shorter than the ping interval, which closed live idle connections", () => {
    const error = rejection({ maintenance: { pingIntervalMs: 15_000, inactivityTimeoutMs: 5_000 } });
    expect(error.message).toContain("maintenance.inactivityTimeoutMs (5000) must be greater than maintenance.pingIntervalMs (15000)");
  });

  it("rejects an inactivity timeout that a ping answered within the pong timeout could still reach", () => {
    // Ping after 15 s of silence, Pong up to 10 s later: 20 s of inactivity could close a healthy connection.
    const error = rejection({ maintenance: { inactivityTimeoutMs: 20_000 } });
    expect(error.message).toContain("maintenance.inactivityTimeoutMs (20000)");
    expect(error.message).toContain("maintenance.maxPongTimeoutMs (10000)");
    expect(checkManagerOptions({ maintenance: { inactivityTimeoutMs: 25_001 } })).toEqual([]);
  });

  it("rejects a graceful shutdown timeout longer than the stop deadline", () => {
    const error = rejection({ gracefulShutdownTimeoutMs: 10_000, limits: { stopDeadlineMs: 5_000 } });
    expect(error.message).toContain("gracefulShutdownTimeoutMs (10000) must be <= limits.stopDeadlineMs (5000)");
  });

  it("rejects a tls.sessionTickets that is not a boolean", () => {
    expect(rejection({ tls: { sessionTickets: "no" } }).message).toContain('tls.sessionTickets must be a boolean, got "no"');
  });

  it("rejects an unknown top-level option", () => {
    expect(rejection({ bogusOption: 1 }).message).toContain("unknown option bogusOption");
  });
});

describe("unknown option names", () => {
  it.each<[string, unknown]>([
    ["limits.maxPeers", { limits: { maxPeers: 10 } }],
    ["maintenance.pingInterval", { maintenance: { pingInterval: 1_000 } }],
    ["maintenance.bandwidthProbe.interval", { maintenance: { bandwidthProbe: { interval: 1_000 } } }],
    ["reconnect.maxWanted", { reconnect: { maxWanted: 5 } }],
    ["reconnect.budget.burst", { reconnect: { budget: { capacity: 1, refillPerSecond: 1, burst: 2 } } }],
    ["reconnect.dampening.halfLife", { reconnect: { dampening: { halfLife: 1 } } }],
    ["reconnect.policy.maxRetryAfter", { reconnect: { policy: { maxRetryAfter: 1 } } }],
    [
      "reconnect.policy.strategies.timeout.backoff.base",
      { reconnect: { policy: { strategies: { timeout: { kind: "backoff", backoff: { baseMs: 1, factor: 2, maxMs: 2, minMs: 0, jitter: "full", base: 1 } } } } } },
    ],
    ["reconnect.policy.strategies.normal.maxWaitMs", { reconnect: { policy: { strategies: { normal: { kind: "immediate", maxWaitMs: 5 } } } } }],
    ["tls.verify", { tls: { verify: true } }],
    ["tls.credentials.password", { tls: { credentials: { key: "k", cert: "c", password: "x" } } }],
    ["protocols[0].version", { protocols: [{ name: "/chat", version: 2 }] }],
    ["capabilities[0].optional", { capabilities: [{ name: "x", optional: true }] }],
  ])("rejects %s", (path, options) => {
    expect(rejection(options).message).toContain(`unknown option ${path}`);
  });

  it("accepts every documented option name at once", () => {
    const options: ConnectionManagerOptions = {
      identity,
      listen: ["127.0.0.1:0"],
      tls: { sessionCache: false, sessionTickets: false },
      enable0Rtt: true,
      protocols: [{ name: "/chat", versions: [1, 2] }],
      capabilities: [{ name: "cap", version: 1, required: false }],
      limits: { firstFlightTimeoutMs: 2_000, maxPendingPerIp: 2, maxPendingPerSubnet: 4 },
      gracefulShutdownTimeoutMs: 1_000,
      maxFrameSize: 65_536,
      sendBufferHighWaterBytes: 65_536,
      sendBufferLimitBytes: 1_048_576,
      engine: "js",
      agent: "test",
      peerStore: "/tmp/unused-peers.json",
      maintenance: { pingIntervalMs: 1_000, inactivityTimeoutMs: 30_000, bandwidthProbe: { paddingBytes: 1_024 } },
      reconnect: { budget: { capacity: 2, refillPerSecond: 1 }, dampening: false, maxWantedPeers: 10, persist: false },
      services: [],
      clock: () => 0,
    };
    expect(checkManagerOptions(options)).toEqual([]);
  });
});

describe("one error naming every problem", () => {
  it("lists the problems of every group in one error, and checkManagerOptions returns them", () => {
    const options = {
      bogusOption: 1,
      gracefulShutdownTimeoutMs: 10_000,
      limits: { stopDeadlineMs: 5_000, lowWatermark: 50, highWatermark: 40, maxInbound: -1 },
      maintenance: { pingIntervalMs: 15_000, inactivityTimeoutMs: 5_000, maxMissedPongs: 0 },
      reconnect: { budget: { capacity: 0, refillPerSecond: 1 }, dampening: { halfLifeMs: 0 }, maxWantedPeers: 0 },
      protocols: [{ name: "" }],
    };
    const problems = checkManagerOptions(options);
    const expected = [
      "unknown option bogusOption",
      "limits.maxInbound must be",
      "limits.lowWatermark (50) must be <= limits.highWatermark (40)",
      "gracefulShutdownTimeoutMs (10000) must be <= limits.stopDeadlineMs (5000)",
      "maintenance.inactivityTimeoutMs (5000) must be greater than maintenance.pingIntervalMs (15000)",
      "maintenance.maxMissedPongs must be",
      "reconnect.budget:",
      "reconnect.dampening:",
      "reconnect.maxWantedPeers must be",
      "protocols[0].name must be",
    ];
    for (const fragment of expected) expect(problems.some((p) => p.includes(fragment)), fragment).toBe(true);
    expect(problems).toHaveLength(expected.length);
    const message = rejection(options).message;
    for (const problem of problems) expect(message).toContain(problem);
  });

  it("accepts the defaults and fills the new limits", () => {
    expect(checkManagerOptions({})).toEqual([]);
    const resolved = resolveManagerOptions({ identity });
    expect(resolved.limits).toMatchObject({
      firstFlightTimeoutMs: D.FIRST_FLIGHT_TIMEOUT_MS,
      maxPendingPerIp: D.MAX_PENDING_PER_IP,
      maxPendingPerSubnet: D.MAX_PENDING_PER_SUBNET,
    });
    expect(resolved.gracefulShutdownTimeoutMs).toBeLessThanOrEqual(resolved.limits.stopDeadlineMs);
  });

  it("rejects a non-object", () => {
    expect(checkManagerOptions(5)).toEqual(["options must be an object, got 5"]);
    expect(checkManagerOptions([])).toHaveLength(1);
  });
});

describe("rules across options", () => {
  it.each<[string, unknown, string]>([
    [
      "first-flight timeout above the handshake timeout",
      { limits: { firstFlightTimeoutMs: 5_000, handshakeTimeoutMs: 4_000 } },
      "limits.firstFlightTimeoutMs (5000) must be <= limits.handshakeTimeoutMs (4000)",
    ],
    ["low watermark above the high watermark", { limits: { lowWatermark: 100, highWatermark: 90 } }, "limits.lowWatermark (100) must be <= limits.highWatermark (90)"],
    ["high watermark above max connections", { limits: { highWatermark: 200, maxConnections: 100 } }, "limits.highWatermark (200) must be <= limits.maxConnections (100)"],
    ["per-IP pending bound above the per-IP bound", { limits: { maxPendingPerIp: 5, maxPerIp: 3 } }, "limits.maxPendingPerIp (5) must be <= limits.maxPerIp (3)"],
    ["min pong timeout above max", { maintenance: { minPongTimeoutMs: 5_000, maxPongTimeoutMs: 1_000 } }, "maintenance.minPongTimeoutMs (5000) exceeds maintenance.maxPongTimeoutMs (1000)"],
    [
      "probe frames larger than the maximum frame size",
      { maxFrameSize: 16_384, maintenance: { bandwidthProbe: true } },
      "maintenance.bandwidthProbe.paddingBytes (32768) + 32 bytes of framing must be <= maxFrameSize (16384)",
    ],
    ["listening while refusing every inbound connection", { listen: ["127.0.0.1:0"], limits: { maxInbound: 0 } }, "limits.maxInbound is 0"],
    ["a capability listed twice (peers refuse such a Hello)", { capabilities: [{ name: "a" }, { name: "a", version: 2 }] }, "capabilities[1]: capability a is listed twice"],
    ["more protocols than a Hello may carry", { protocols: Array.from({ length: 257 }, (_, i) => ({ name: `/p${i}` })) }, "protocols has 257 entries"],
    ["an unparseable listen address", { listen: ["localhost"] }, "listen[0]"],
    ["a send high-water mark below the socket's own", { sendBufferHighWaterBytes: 1_024 }, "sendBufferHighWaterBytes must be an integer in [16384,"],
    ["a send limit that is not a byte count", { sendBufferLimitBytes: -1 }, "sendBufferLimitBytes must be an integer"],
    [
      "a send limit below the high-water mark",
      { sendBufferHighWaterBytes: 65_536, sendBufferLimitBytes: 32_768 },
      "sendBufferLimitBytes (32768) must be >= sendBufferHighWaterBytes (65536)",
    ],
  ])("rejects %s", (_name, options, fragment) => {
    expect(rejection(options).message).toContain(fragment);
  });

  it("fits unset values to the explicit ones instead of failing on a value the caller never set", () => {
    // A long ping interval raises the unset inactivity timeout: 2 × (60 s + 10 s).
    expect(checkManagerOptions({ maintenance: { pingIntervalMs: 60_000 } })).toEqual([]);
    expect(resolveMaintenanceOptions({ pingIntervalMs: 60_000 }).inactivityTimeoutMs).toBe(140_000);
    // A short max pong timeout lowers the unset min, and a long min raises the unset max.
    expect(resolveMaintenanceOptions({ maxPongTimeoutMs: 500 }).minPongTimeoutMs).toBe(500);
    expect(resolveMaintenanceOptions({ minPongTimeoutMs: 15_000 }).maxPongTimeoutMs).toBe(15_000);
    // A long graceful timeout raises the unset stop deadline; a short stop deadline lowers the unset graceful timeout.
    expect(resolveManagerOptions({ identity, gracefulShutdownTimeoutMs: 8_000 }).limits.stopDeadlineMs).toBe(8_000);
    expect(resolveManagerOptions({ identity, limits: { stopDeadlineMs: 1_000 } }).gracefulShutdownTimeoutMs).toBe(1_000);
    // A high-water mark above the default send limit raises the unset limit.
    expect(resolveManagerOptions({ identity, sendBufferHighWaterBytes: 16_777_216 }).sendBufferLimitBytes).toBe(16_777_216);
    expect(resolveManagerOptions({ identity }).sendBufferLimitBytes).toBe(8_388_608);
    // A short handshake timeout lowers the unset first-flight timeout.
    expect(resolveManagerOptions({ identity, limits: { handshakeTimeoutMs: 1_000 } }).limits.firstFlightTimeoutMs).toBe(1_000);
  });

  it("skips the checks of a group that is turned off", () => {
    expect(checkManagerOptions({ maintenance: false, reconnect: false })).toEqual([]);
  });
});
