/**
 * The maintenance service driven by fake timers, a fake host and fake
 * connections: timer discipline, keepalive decisions, probe answering, health
 * publication and the replacement rules, deterministically.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { HealthGrade } from "../../src/health/types.js";
import { createMaintenanceService, type MaintenanceService } from "../../src/maintenance/maintenance-service.js";
import type { MaintenanceOptions } from "../../src/maintenance/maintenance-options.js";
import type { HealthChangeEvent } from "../../src/maintenance/maintenance-types.js";
import { FakeConnection, FakeHost, randomPeer } from "./fixtures/fake-host.js";

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});

afterEach(() => {
  vi.useRealTimers();
});

function startService(options: MaintenanceOptions, host = new FakeHost()): { host: FakeHost; service: MaintenanceService } {
  const service = createMaintenanceService({ engine: "js", ...options })(host);
  service.start?.();
  return { host, service };
}

function open(host: FakeHost, service: MaintenanceService, fake: FakeConnection): FakeConnection {
  service.onOpen?.(host.adopt(fake));
  return fake;
}

function probe(probeId: number, index: number, count: number, padding = 1000): Frame {
  return create(FrameSchema, {
    kind: { case: "bandwidthProbe", value: { probeId, index, count, padding: new Uint8Array(padding) } },
  });
}

function encodedLength(frame: Frame): number {
  const body = toBinary(FrameSchema, frame).length;
  return body + (body < 128 ? 1 : body < 16_384 ? 2 : 3);
}

describe("creating the service", () => {
  it("rejects bad options with INVALID_ARGUMENT naming the option", () => {
    const cases: [MaintenanceOptions, RegExp][] = [
      [{ pingIntervalMs: 0 }, /pingIntervalMs/],
      [{ maxMissedPongs: 1.5 }, /maxMissedPongs/],
      [{ minPongTimeoutMs: 5_000, maxPongTimeoutMs: 1_000 }, /minPongTimeoutMs \(5000\) exceeds maxPongTimeoutMs/],
      [{ healthCheckIntervalMs: Number.NaN }, /healthCheckIntervalMs/],
      [{ referenceLatencyMs: -1 }, /referenceLatencyMs/],
      [{ engine: "gpu" as "js" }, /engine/],
      [{ bandwidthProbe: { frameCount: 1 } }, /frameCount/],
    ];
    for (const [options, message] of cases) {
      let error: unknown;
      try {
        createMaintenanceService(options);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(PeerlinkError);
      expect((error as PeerlinkError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect((error as PeerlinkError).message).toMatch(message);
    }
  });
});

describe("the maintenance timer", () => {
  it("is one timer for a thousand connections, and none after stop()", () => {
    // The sleep watch's own timer (one per node, see wake-watch.test.ts) is off here: this counts the connections' timer.
    const { host, service } = startService({ pingIntervalMs: 1_000, healthCheckIntervalMs: 500, wakeDetection: false });
    const fakes = Array.from({ length: 1_000 }, () => open(host, service, new FakeConnection({ rttMs: 0 })));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(5_000);
    expect(vi.getTimerCount()).toBe(1);
    expect(service.size).toBe(1_000);
    // Every connection was scored in the checks.
    expect(host.published.size).toBe(1_000);
    service.stop?.();
    expect(vi.getTimerCount()).toBe(0);
    expect(service.size).toBe(0);
    expect(fakes.every((f) => f.listenerCount === 0)).toBe(true);
    const pings = fakes[0]!.pings.length;
    vi.advanceTimersByTime(10_000);
    expect(fakes[0]!.pings.length).toBe(pings);
  });
});

describe("keepalive through the service", () => {
  it("pings only after a quiet ping interval and closes a silent peer with timeout after the missed pongs", () => {
    const { host, service } = startService({ pingIntervalMs: 1_000, maxMissedPongs: 3, minPongTimeoutMs: 500, maxPongTimeoutMs: 500 });
    const start = Date.now();
    const fake = open(host, service, new FakeConnection({ rttMs: undefined }));
    vi.advanceTimersByTime(0);
    expect(fake.pings).toHaveLength(1); // the RTT ping at open
    vi.advanceTimersByTime(999);
    expect(fake.pings).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(fake.pings).toHaveLength(2); // first keepalive ping, 1000 ms of silence
    vi.advanceTimersByTime(1_499);
    expect(fake.closes).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(Date.now() - start).toBe(2_500); // ping at 1000, misses at 1500, 2000, 2500
    expect(fake.pings).toHaveLength(4);
    expect(fake.closes).toEqual([{ reason: "timeout", options: { detail: "keepalive: 3 consecutive pings unanswered", timeoutMs: 0 } }]);
    expect(host.journalEntries).toContainEqual(
      expect.objectContaining({ kind: "closed", peerId: fake.peer, code: "timeout", detail: "keepalive: 3 consecutive pings unanswered", value: 3 }),
    );
    service.stop?.();
  });

  it("measures the RTT of a busy connection with occasional pings although keepalive pings are skipped", () => {
    const { host, service } = startService({ pingIntervalMs: 1_000, rttSampleIntervalMs: 2_000 });
    const fake = open(host, service, new FakeConnection({ rttMs: 30 }));
    const traffic = setInterval(() => fake.receive(1_000), 100);
    vi.advanceTimersByTime(10_000);
    clearInterval(traffic);
    // At open, then every 2 s after the last sample: never a keepalive ping (traffic every 100 ms).
    expect(fake.pings.length).toBeGreaterThanOrEqual(5);
    expect(fake.pings.length).toBeLessThanOrEqual(6);
    expect(service.rttOf(fake.asConnection)).toBe(30);
    expect(service.inspect(fake.asConnection)?.rateInBps).toBeGreaterThan(5_000);
    service.stop?.();
  });

  it("sends only uint32 ping timestamps on the wire and matches their pongs", () => {
    const { host, service } = startService({ pingIntervalMs: 200 });
    const fake = open(host, service, new FakeConnection({ rttMs: 5 }));
    vi.advanceTimersByTime(2_000);
    expect(fake.pings.length).toBeGreaterThan(5);
    expect(service.inspect(fake.asConnection)?.pongsReceived).toBe(fake.pings.length);
    service.stop?.();
  });
});

describe("answering the peer's bandwidth probes", () => {
  it("reports a complete burst with its exact encoded size, even with probing off locally", () => {
    const { host, service } = startService({ bandwidthProbe: false });
    const fake = open(host, service, new FakeConnection());
    const frames = [0, 1, 2, 3].map((i) => probe(42, i, 4, 1_000 + i));
    for (const frame of frames) {
      fake.emit("control", frame);
      vi.advanceTimersByTime(1);
    }
    const reports = fake.controls.filter((f) => f.kind.case === "bandwidthReport");
    expect(reports).toHaveLength(1);
    const report = reports[0]!.kind.value as { probeId: number; framesReceived: number; bytesReceived: number };
    expect(report.probeId).toBe(42);
    expect(report.framesReceived).toBe(4);
    expect(report.bytesReceived).toBe(frames.reduce((n, f) => n + encodedLength(f), 0));
    service.stop?.();
  });

  it("closes the connection with protocol_violation on an impossible probe", () => {
    const { host, service } = startService({});
    const fake = open(host, service, new FakeConnection());
    fake.emit("control", probe(1, 5, 4));
    expect(fake.closes[0]?.reason).toBe("protocol_violation");
    expect(host.journalEntries).toContainEqual(expect.objectContaining({ kind: "closed", code: "protocol_violation" }));
    service.stop?.();
  });
});

describe("publishing health", () => {
  it("emits health:change for the first grade and for each published change, and sets the health every check", () => {
    const { host, service } = startService({ pingIntervalMs: 100, healthCheckIntervalMs: 500, hysteresisSamples: 2 });
    const fake = open(host, service, new FakeConnection({ rttMs: 1 }));
    vi.advanceTimersByTime(3_000);
    const changes = host.events.filter((e) => e.type === "health:change").map((e) => e.event as HealthChangeEvent);
    expect(changes.length).toBeGreaterThanOrEqual(1);
    expect(changes[0]!.from).toBeUndefined();
    expect(changes[0]!.connection).toBe(fake.asConnection);
    expect(changes[0]!.peer).toBe(fake.peer);
    const last = changes[changes.length - 1]!;
    expect(last.to).toBe(HealthGrade.EXCELLENT);
    expect(service.healthOf(fake.asConnection)?.grade).toBe(HealthGrade.EXCELLENT);
    expect(host.healthOf(fake.asConnection)).toBe(service.healthOf(fake.asConnection));

    // Pongs now take 2 s: latency collapses; two checks later the published grade follows.
    fake.rttMs = 2_000;
    vi.advanceTimersByTime(4_000);
    const after = host.events.filter((e) => e.type === "health:change").map((e) => e.event as HealthChangeEvent);
    const drop = after[after.length - 1]!;
    expect(drop.from).toBe(HealthGrade.EXCELLENT);
    expect(drop.score.grade).toBe(drop.to);
    expect(drop.score.latency).toBeLessThan(0.2);
    service.stop?.();
  });
});

describe("publishing health lazily when only the components move", () => {
  /** A connection settled at Excellent (1 ms pongs), then its RTT moves to 20 ms: still Excellent. */
  function settledThenMoving(): { host: FakeHost; service: MaintenanceService; fake: FakeConnection } {
    const { host, service } = startService({ pingIntervalMs: 100, healthCheckIntervalMs: 500, hysteresisSamples: 2 });
    const fake = open(host, service, new FakeConnection({ rttMs: 1 }));
    vi.advanceTimersByTime(3_000);
    expect(service.healthOf(fake.asConnection)?.grade).toBe(HealthGrade.EXCELLENT);
    fake.rttMs = 20;
    vi.advanceTimersByTime(500);
    return { host, service, fake };
  }

  it("publishes a function, not an object, and makes the same object for every reader on first read", () => {
    const { host, service, fake } = settledThenMoving();
    expect(typeof host.published.get(fake.asConnection)).toBe("function");
    const score = host.healthOf(fake.asConnection);
    expect(score?.grade).toBe(HealthGrade.EXCELLENT);
    expect(service.healthOf(fake.asConnection)).toBe(score);
    expect(service.inspect(fake.asConnection)?.health).toBe(score);
    service.stop?.();
  });

  it("replaces the published function with the object once anyone reads it, the service included", () => {
    const { host, service, fake } = settledThenMoving();
    expect(typeof host.published.get(fake.asConnection)).toBe("function");
    const score = service.healthOf(fake.asConnection);
    expect(host.published.get(fake.asConnection)).toBe(score);
    service.onClose?.(host.connections.get(fake.asConnection)!, { reason: "normal", initiator: "local" } as never);
    service.stop?.();
    expect(host.published.get(fake.asConnection)).toBe(score);
  });

  it("gives the latest components, and leaves a snapshot taken earlier unchanged", () => {
    const { service, fake } = settledThenMoving();
    const earlier = service.healthOf(fake.asConnection);
    const frozen = { ...earlier };
    vi.advanceTimersByTime(2_000);
    const later = service.healthOf(fake.asConnection);
    expect(later).not.toBe(earlier);
    expect(later?.grade).toBe(HealthGrade.EXCELLENT);
    expect(later!.latency).toBeLessThan(earlier!.latency - 0.005);
    expect(later!.overall).not.toBe(earlier!.overall);
    expect({ ...earlier }).toEqual(frozen);
    service.stop?.();
  });

  it("turns into a plain score when the connection closes or the service stops, so its last health stays readable", () => {
    const { host, service, fake } = settledThenMoving();
    const other = open(host, service, new FakeConnection({ rttMs: 1 }));
    vi.advanceTimersByTime(3_000);
    other.rttMs = 20;
    vi.advanceTimersByTime(500);
    expect(typeof host.published.get(fake.asConnection)).toBe("function");
    expect(typeof host.published.get(other.asConnection)).toBe("function");

    service.onClose?.(host.connections.get(fake.asConnection)!, { reason: "normal", initiator: "local" } as never);
    const closed = host.published.get(fake.asConnection);
    expect(typeof closed).toBe("object");
    expect(closed).toMatchObject({ grade: HealthGrade.EXCELLENT });
    expect(service.healthOf(fake.asConnection)).toBeUndefined(); // no longer tracked

    service.stop?.();
    const stopped = host.published.get(other.asConnection);
    expect(typeof stopped).toBe("object");
    expect((stopped as { latency: number }).latency).toBeGreaterThan(0.5);
  });
});

describe("stopping the service from a health:change listener", () => {
  it("ends the check quietly: no cycle failure, no events after the stop", () => {
    const { host, service } = startService({ pingIntervalMs: 100, healthCheckIntervalMs: 500, hysteresisSamples: 1 });
    const fakes = [1, 2, 3].map(() => open(host, service, new FakeConnection({ rttMs: 1 })));
    const warnings = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const emit = host.emit.bind(host);
    let stopped = 0;
    host.emit = (type, event) => {
      emit(type, event);
      if (type === "health:change" && stopped === 0) {
        stopped = host.events.length;
        service.stop?.();
      }
    };
    vi.advanceTimersByTime(3_000);
    expect(stopped).toBeGreaterThan(0);
    expect(host.events.length).toBe(stopped);
    expect(warnings).not.toHaveBeenCalled();
    expect(service.size).toBe(0);
    expect(fakes.every((f) => f.closes.length === 0)).toBe(true);
    warnings.mockRestore();
  });
});

describe("replacing a degraded connection", () => {
  /** Latency ~0 (2 s pongs) and most frames rejected: overall capped at latency + 0.3, Poor. */
  function degraded(host: FakeHost, service: MaintenanceService): FakeConnection {
    const fake = open(host, service, new FakeConnection({ rttMs: 2_000 }));
    fake.failedFrames = 1_000;
    return fake;
  }
  const options: MaintenanceOptions = {
    pingIntervalMs: 500,
    healthCheckIntervalMs: 500,
    hysteresisSamples: 1,
    degradedReplaceAfterMs: 1_000,
    maxPongTimeoutMs: 5_000,
  };

  /** A degraded connection whose replacement dial (to one candidate) is in flight; `resolve` opens it. */
  function replacementInFlight() {
    const { host, service } = startService(options);
    const candidate = randomPeer();
    host.peers.upsert(candidate, { addresses: ["127.0.0.1:9"] }, Date.now());
    let resolve!: (c: Connection) => void;
    host.dial.mockImplementation(() => new Promise<Connection>((r) => (resolve = r)));
    const fake = degraded(host, service);
    vi.advanceTimersByTime(6_000);
    return { host, service, candidate, fake, resolve: (c: Connection) => resolve(c) };
  }

  it("dials one candidate at a time and closes the degraded connection only once the replacement is open", async () => {
    const { host, service, candidate, fake, resolve } = replacementInFlight();
    expect([HealthGrade.POOR, HealthGrade.CRITICAL]).toContain(service.healthOf(fake.asConnection)?.grade);
    expect(host.dial).toHaveBeenCalledTimes(1); // many checks, one replacement in flight
    expect(host.dial.mock.calls[0]![0]).toEqual({ peerId: candidate, addresses: ["127.0.0.1:9"] });
    expect(service.inspect(fake.asConnection)?.replacingWith).toBe(candidate);
    expect(fake.closes).toHaveLength(0); // not before the replacement is open

    resolve(new FakeConnection({ peer: candidate }).asConnection);
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.closes).toHaveLength(1);
    expect(fake.closes[0]!.reason).toBe("network_restructure");
    const replaced = host.journalEntries.find((e) => e.kind === "replaced");
    expect(replaced).toMatchObject({ peerId: fake.peer, code: "network_restructure" });
    expect(replaced!.detail).toMatch(new RegExp(`replaced by ${candidate}`));
    service.stop?.();
  });

  it("keeps a connection that recovered while its replacement was being dialed", async () => {
    const { host, service, candidate, fake, resolve } = replacementInFlight();
    expect(host.dial).toHaveBeenCalledTimes(1);
    // It recovers: fast pongs and plenty of good frames; once the RTT average has forgotten the 2 s
    // samples (latency caps the grade), it is no longer degraded.
    fake.rttMs = 1;
    for (let i = 0; i < 100_000; i++) fake.receive();
    vi.advanceTimersByTime(30_000);
    expect([HealthGrade.POOR, HealthGrade.CRITICAL]).not.toContain(service.healthOf(fake.asConnection)?.grade);
    resolve(new FakeConnection({ peer: candidate }).asConnection);
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.closes).toHaveLength(0);
    expect(host.journalEntries.find((e) => e.kind === "replaced")).toBeUndefined();
    service.stop?.();
  });

  it("tries again at a later check when the dial fails", async () => {
    const { host, service } = startService(options);
    host.peers.upsert(randomPeer(), { addresses: ["127.0.0.1:9"] }, Date.now());
    host.dial.mockImplementation(() => Promise.reject(new PeerlinkError(ErrorCode.CONNECT_FAILED, "refused")));
    const fake = degraded(host, service);
    await vi.advanceTimersByTimeAsync(6_000);
    expect(host.dial.mock.calls.length).toBeGreaterThan(1);
    expect(fake.closes).toHaveLength(0);
    service.stop?.();
  });

  it("does nothing without a candidate, for a protected peer, or when replacement is off", async () => {
    for (const variant of ["no candidate", "protected", "off"] as const) {
      const { host, service } = startService({ ...options, replaceDegraded: variant !== "off" });
      if (variant !== "no candidate") host.peers.upsert(randomPeer(), { addresses: ["127.0.0.1:9"] }, Date.now());
      const fake = degraded(host, service);
      if (variant === "protected") host.protectedPeers.add(fake.peer);
      await vi.advanceTimersByTimeAsync(6_000);
      expect(service.inspect(fake.asConnection)!.degradedForMs, variant).toBeGreaterThan(3_000);
      expect(host.dial, variant).not.toHaveBeenCalled();
      expect(fake.closes, variant).toHaveLength(0);
      service.stop?.();
    }
  });
});
