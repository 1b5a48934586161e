/**
 * Prometheus metrics of a node (issue 13): what a scrape shows parses strictly as the text format, agrees
 * with prom-client's own JSON of the same registry, and the counters move as connections open, close and
 * are refused.
 */
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionManager } from "../../src/node/connection-manager.js";
import { ErrorCode } from "../../src/errors.js";
import { nextEvent, startNode, stopAll } from "./fixtures.js";
import { parsePrometheusText, sampleValue, type PromFamily } from "./prom-text.js";

afterEach(stopAll);

async function scrape(registry: Registry): Promise<Map<string, PromFamily>> {
  return parsePrometheusText(await registry.metrics());
}

describe("the strict exposition parser", () => {
  it("accepts a well-formed exposition and rejects malformed ones", () => {
    const good = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1",y="q\\"\\n"} 3\n';
    expect(sampleValue(parsePrometheusText(good), "a_total", { x: "1", y: 'q"\n' })).toBe(3);
    const bad = [
      "a_total 1\n", // no TYPE
      "# TYPE a_total counter\na_total 1", // no final newline
      "# TYPE a_total counter\na_total{x=1} 1\n", // unquoted label value
      "# TYPE a_total counter\na_total 1\na_total 2\n", // the same series twice
      "# TYPE a_total counter\na_total -1\n", // a negative counter
      "# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n", // a family's samples after another's
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // buckets not cumulative
      "# TYPE a gauge\na one\n", // not a number
    ];
    for (const text of bad) expect(() => parsePrometheusText(text), JSON.stringify(text)).toThrow();
  });
});

describe("a node's metrics", () => {
  it("parse strictly, match prom-client's JSON, and move as connections open, close and are refused", async () => {
    const registry = new Registry();
    const node = await startNode({ metrics: registry });
    const peer = await startNode({ listen: [], reconnect: false });

    const before = await scrape(registry);
    expect(sampleValue(before, "peerlink_connections", { direction: "inbound" })).toBe(0);
    expect(sampleValue(before, "peerlink_connections_opened_total", { direction: "inbound" })).toBeUndefined();

    // Open: one inbound connection, its handshake timed, traffic counted.
    const opened = nextEvent(node, "connection:open");
    const connection = await peer.dial(node.addresses[0]!);
    await opened;
    const received = nextEvent(node, "message");
    await connection.send("/test", new Uint8Array(10_000));
    await received;
    const open = await scrape(registry);
    expect(sampleValue(open, "peerlink_connections", { direction: "inbound" })).toBe(1);
    expect(sampleValue(open, "peerlink_connections_opened_total", { direction: "inbound" })).toBe(1);
    expect(sampleValue(open, "peerlink_handshake_duration_seconds_count", { direction: "inbound" })).toBe(1);
    const bytesIn = sampleValue(open, "peerlink_received_bytes_total")!;
    expect(bytesIn).toBeGreaterThan(10_000);
    expect(sampleValue(open, "peerlink_received_frames_total")).toBeGreaterThanOrEqual(2);
    expect(sampleValue(open, "peerlink_health_grade_connections", { grade: "none" })).toBe(1);

    // prom-client's own view of the same registry agrees with the text, series by series.
    const json = await registry.getMetricsAsJSON();
    const now = await scrape(registry);
    for (const metric of json) {
      for (const value of metric.values) {
        const name = (value as { metricName?: string }).metricName ?? metric.name;
        const labels = Object.fromEntries(Object.entries(value.labels).map(([k, v]) => [k, String(v)]));
        if (metric.name.startsWith("peerlink_received") || metric.name.startsWith("peerlink_sent")) continue; // moved by keepalive meanwhile
        expect(sampleValue(now, name, labels), `${name} ${JSON.stringify(labels)}`).toBe(value.value);
      }
    }

    // Close: counted by reason and initiator; traffic of the closed connection stays counted.
    const closed = nextEvent(node, "connection:close");
    await connection.close();
    const close = await closed;
    const afterClose = await scrape(registry);
    expect(sampleValue(afterClose, "peerlink_connections", { direction: "inbound" })).toBe(0);
    expect(sampleValue(afterClose, "peerlink_connections_closed_total", { reason: close.reason, initiator: "remote" })).toBe(1);
    expect(sampleValue(afterClose, "peerlink_received_bytes_total")).toBeGreaterThanOrEqual(bytesIn);

    // Refused: a banned peer dials again and is refused after its handshake.
    node.ban(peer.peerId, { durationMs: 60_000 });
    const refused = nextEvent(node, "inbound:refused");
    // The refusal comes after the handshake (a PEER_BANNED Goodbye): the dial may resolve before it arrives.
    await peer.dial(node.addresses[0]!).catch(() => undefined);
    expect((await refused).reason).toBe("banned");
    const afterBan = await scrape(registry);
    expect(sampleValue(afterBan, "peerlink_bans_issued_total", { kind: "peer" })).toBe(1);
    expect(sampleValue(afterBan, "peerlink_bans_active", { kind: "peer" })).toBe(1);
    expect(sampleValue(afterBan, "peerlink_refusals_total", { direction: "inbound", reason: "banned" })).toBe(1);
    expect(sampleValue(afterBan, "peerlink_decisions_total", { kind: "banned", code: "peer_banned" })).toBe(1);
    expect(sampleValue(afterBan, "peerlink_connections_opened_total", { direction: "inbound" })).toBe(1);
  });

  it("count dials by outcome on the dialing side", async () => {
    const registry = new Registry();
    const listener = await startNode();
    const dialer = await startNode({ listen: [], reconnect: false, metrics: registry });
    await dialer.dial(listener.addresses[0]!);
    await expect(dialer.dial("127.0.0.1:1")).rejects.toMatchObject({ code: ErrorCode.CONNECT_FAILED });
    dialer.ban({ ip: "127.0.0.2" });
    await expect(dialer.dial("127.0.0.2:9")).rejects.toMatchObject({ code: ErrorCode.PEER_BANNED });
    const m = await scrape(registry);
    expect(sampleValue(m, "peerlink_dials_total", { outcome: "success" })).toBe(1);
    expect(sampleValue(m, "peerlink_dials_total", { outcome: "failed" })).toBe(1);
    expect(sampleValue(m, "peerlink_dials_total", { outcome: "refused" })).toBe(1);
    expect(sampleValue(m, "peerlink_refusals_total", { direction: "outbound", reason: "peer_banned" })).toBe(1);
    expect(sampleValue(m, "peerlink_handshake_failures_total", { direction: "outbound", code: "connect_failed" })).toBe(1);
  });

  it("sum over the nodes sharing a registry, and keep their counts when one stops", async () => {
    const registry = new Registry();
    const a = await startNode({ metrics: registry });
    const b = await startNode({ metrics: registry, reconnect: false });
    const opened = nextEvent(a, "connection:open");
    await b.dial(a.addresses[0]!);
    await opened;
    const both = await scrape(registry);
    expect(sampleValue(both, "peerlink_connections", { direction: "inbound" })).toBe(1);
    expect(sampleValue(both, "peerlink_connections", { direction: "outbound" })).toBe(1);
    const sent = sampleValue(both, "peerlink_sent_bytes_total")!;
    await b.stop();
    const after = await scrape(registry);
    expect(sampleValue(after, "peerlink_connections", { direction: "outbound" })).toBe(0);
    expect(sampleValue(after, "peerlink_connections_opened_total", { direction: "outbound" })).toBe(1);
    expect(sampleValue(after, "peerlink_sent_bytes_total")).toBeGreaterThanOrEqual(sent);
  });

  it("are not created without a registry, and a registry is checked", async () => {
    const node = new ConnectionManager({ listen: [] });
    expect(node.options.metrics).toBeUndefined();
    expect(() => new ConnectionManager({ metrics: {} as Registry })).toThrow(/metrics must be a prom-client Registry/);
    expect(() => new ConnectionManager({ logger: { info() {} } as never })).toThrow(/logger must be an object with a log\(record\) method/);
  });
});
