/**
 * Pins the points of docs/PROTOCOL.md that an independent implementation found
 * ambiguous, silent or contradicted by the node (§1 plain-TCP Hello at once,
 * §2 TLS without ALPN, §5 keepalive schedule, §6 report timing, §10 timing),
 * each against the node itself: over a real socket where a peer can see it,
 * with a fake clock where it is a schedule.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { ConnectionMonitor } from "../../src/maintenance/connection-monitor.js";
import { ProbeReceiver } from "../../src/maintenance/bandwidth-probe.js";
import { resolveMaintenanceOptions } from "../../src/maintenance/maintenance-options.js";
import { resolveManagerOptions } from "../../src/manager/manager-options.js";
import { DEFAULT_GRACEFUL_CLOSE_TIMEOUT_MS } from "../../src/connection/defaults.js";
import { CAPACITY_RETRY_AFTER_MS } from "../../src/node/defaults.js";
import { DEFAULT_MAX_RETRY_AFTER_MS } from "../../src/reconnect/defaults.js";
import { PREFIX_INCOMPLETE, PREFIX_MALFORMED, prefixBytesOf, prefixValueOf, readLengthPrefix } from "../../src/wire/varint.js";
import { nextHandshakeFailure, portOf, PYTHON, startManager, stopManagers } from "./matrix-fixtures.js";

afterEach(async () => {
  await stopManagers();
  await PYTHON.killAll();
});

/** Connects to `port`, writes nothing, and collects the frames received until `until` says stop (or the close). */
function listenOnly(port: number, until: (frames: Frame[]) => boolean): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const frames: Frame[] = [];
    let buffer = Buffer.alloc(0);
    const socket = connect(port, "127.0.0.1");
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const r = readLengthPrefix(buffer, 0, buffer.length);
        if (r === PREFIX_INCOMPLETE) break;
        if (r === PREFIX_MALFORMED) return socket.destroy(new Error("malformed prefix from the node"));
        const end = prefixBytesOf(r) + prefixValueOf(r);
        if (buffer.length < end) break;
        frames.push(fromBinary(FrameSchema, buffer.subarray(prefixBytesOf(r), end)));
        buffer = buffer.subarray(end);
      }
      if (until(frames)) {
        socket.destroy();
        resolve(frames);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(frames));
  });
}

describe("§3.2: a plain-TCP listener sends its Hello at once", () => {
  it("before the dialer sent a single byte", async () => {
    const manager = await startManager(false);
    const frames = await listenOnly(portOf(manager), (f) => f.length >= 1);
    expect(frames[0]?.kind.case).toBe("hello");
  });
});

describe("§2: a TLS client that offers no ALPN", () => {
  beforeAll(() => PYTHON.prepare());

  it("completes TLS, then is closed by the listener without a frame", async () => {
    const manager = await startManager(true);
    const failure = nextHandshakeFailure(manager);
    const proc = PYTHON.start(["dial", "--addr", `127.0.0.1:${portOf(manager)}`, "--tls", "--no-alpn"]);
    const verdict = await proc.waitFor((e) => e.event === "handshake-failed", "the dialer's failure");
    // TLS completed (no TLS_FAILED at the dialer); the listener then closed before any frame.
    expect(verdict["code"]).toBe("AUTHENTICATION_FAILED");
    expect(proc.events.filter((e) => e.event === "goodbye")).toEqual([]);
    expect((await failure).message).toMatch(/ALPN/i);
  });
});

describe("§5: the keepalive schedule against a peer that answers nothing (defaults)", () => {
  it("pings at 0, 15, 25 and 35 s and declares the peer dead at 45 s", () => {
    const monitor = new ConnectionMonitor(resolveMaintenanceOptions({}), 0);
    const pings: number[] = [];
    let dead: number | undefined;
    let now = 0;
    for (let i = 0; i < 1_000 && dead === undefined; i++) {
      const action = monitor.poll(now);
      if (action.type === "ping") pings.push(now);
      else if (action.type === "dead") dead = now;
      else now = Math.max(now + 1, monitor.pingDeadline());
    }
    expect(pings).toEqual([0, 15_000, 25_000, 35_000]);
    expect(dead).toBe(45_000);
  });
});

describe("§6: the report of an incomplete probe burst", () => {
  it("comes 5 s after the latest probe frame that arrived, not after the first", () => {
    const rx = new ProbeReceiver();
    expect(rx.onProbe({ probeId: 1, index: 0, count: 8 }, 1_000, 0)).toBeUndefined();
    expect(rx.onProbe({ probeId: 1, index: 1, count: 8 }, 1_000, 4_000)).toBeUndefined();
    expect(rx.poll(8_999).type).toBe("none");
    expect(rx.poll(9_000)).toMatchObject({ type: "report", report: { probeId: 1, framesReceived: 2, bytesReceived: 2_000 } });
  });

  it("is refused for a count above 64", () => {
    expect(() => new ProbeReceiver().onProbe({ probeId: 1, index: 0, count: 65 }, 100, 0)).toThrow(/1\.\.64/);
    expect(new ProbeReceiver().onProbe({ probeId: 1, index: 0, count: 64 }, 100, 0)).toBeUndefined();
  });
});

describe("§10: the timing table states the node's own defaults", () => {
  const table = readFileSync(new URL("../../docs/PROTOCOL.md", import.meta.url), "utf8").split("## 10. Timing")[1]!;
  /** The default column of the row whose first cell starts with `what`, in milliseconds. */
  function stated(what: string): number {
    const row = table.split("\n").find((l) => l.startsWith(`| ${what}`));
    if (row === undefined) throw new Error(`no §10 row for "${what}"`);
    const m = /^\s*([\d.]+) (s|h)\s*$/.exec(row.split("|")[2]!);
    if (m === null) throw new Error(`§10 row "${what}" has no single default: ${row}`);
    return Number(m[1]) * (m[2] === "h" ? 3_600_000 : 1_000);
  }

  it("for the first flight, the handshake, the close wait, capacity refusals and the largest retry-after", () => {
    const limits = resolveManagerOptions({}).limits;
    expect(stated("first flight")).toBe(limits.firstFlightTimeoutMs);
    expect(stated("pending pool full")).toBe(limits.firstFlightTimeoutMs / 2);
    expect(stated("handshake")).toBe(limits.handshakeTimeoutMs);
    expect(stated("closing")).toBe(DEFAULT_GRACEFUL_CLOSE_TIMEOUT_MS);
    expect(stated("capacity refusal")).toBe(CAPACITY_RETRY_AFTER_MS);
    expect(stated("largest `retry_after_ms`")).toBe(DEFAULT_MAX_RETRY_AFTER_MS);
  });

  it("for the RATE_LIMITED retry-after and the first automatic ban", () => {
    const misbehaviour = resolveManagerOptions({}).misbehaviour;
    expect(stated("rate bound broken")).toBe(misbehaviour.inboundRate?.retryAfterMs);
    expect(stated("automatic ban")).toBe(misbehaviour.autoBan?.banMs);
  });
});
