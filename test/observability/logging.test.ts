/**
 * Structured logs of a node (issue 13): decisions and events reach an injected logger with their
 * subsystem; NODE_DEBUG / DEBUG choose the debug namespaces.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createDebugLogger, debugSubsystems, formatLogLine, type LogRecord } from "../../src/observability/logger.js";
import { nextEvent, startNode, stopAll } from "./fixtures.js";

afterEach(stopAll);

describe("debug namespaces from the environment", () => {
  it("follow NODE_DEBUG names and the debug package's DEBUG patterns", () => {
    const set = (env: { NODE_DEBUG?: string; DEBUG?: string }): string[] => [...debugSubsystems(env)].sort();
    expect(set({})).toEqual([]);
    expect(set({ NODE_DEBUG: "net,peerlink" })).toEqual(["handshake", "maintenance", "node", "peers", "reconnect", "transport"]);
    expect(set({ NODE_DEBUG: "PEERLINK:node" })).toEqual(["node"]);
    expect(set({ DEBUG: "peerlink:*" })).toHaveLength(6);
    expect(set({ DEBUG: "peerlink:node peerlink:reconnect" })).toEqual(["node", "reconnect"]);
    expect(set({ DEBUG: "*,-peerlink:peers,-peerlink:maintenance" })).toEqual(["handshake", "node", "reconnect", "transport"]);
    expect(set({ DEBUG: "libp2p:*" })).toEqual([]);
  });

  it("write one line per record of an enabled subsystem, none for the others", () => {
    const lines: string[] = [];
    const logger = createDebugLogger({ subsystems: new Set(["node"]), write: (l) => lines.push(l) })!;
    logger.log({ at: 0, level: "info", subsystem: "node", event: "decision.refused", fields: { address: "127.0.0.1:9", detail: "per IP limit (2) reached" } });
    logger.log({ at: 0, level: "info", subsystem: "peers", event: "decision.banned", fields: {} });
    expect(lines).toEqual(['1970-01-01T00:00:00.000Z peerlink:node info decision.refused address=127.0.0.1:9 detail="per IP limit (2) reached"']);
    expect(createDebugLogger({ subsystems: new Set() })).toBeUndefined();
  });
});

describe("a node's logger", () => {
  it("gets every decision at info (bans at warn) and the events at debug, each with its subsystem", async () => {
    const records: LogRecord[] = [];
    const node = await startNode({ logger: { log: (r) => records.push(r) } });
    const peer = await startNode({ listen: [], reconnect: false });
    const opened = nextEvent(node, "connection:open");
    await peer.dial(node.addresses[0]!);
    await opened;
    const closed = nextEvent(node, "connection:close");
    node.ban(peer.peerId, { reason: "spam" });
    await closed;

    const find = (event: string): LogRecord | undefined => records.find((r) => r.event === event);
    expect(find("connection.open")).toMatchObject({ level: "debug", subsystem: "node", fields: { peer: peer.peerId.toString(), direction: "inbound" } });
    expect(find("decision.opened")).toMatchObject({ level: "info", subsystem: "node", fields: { peer: peer.peerId.toString() } });
    expect(find("decision.banned")).toMatchObject({ level: "warn", subsystem: "peers", fields: { peer: peer.peerId.toString(), code: "PEER_BANNED" } });
    expect(find("decision.banned")?.fields["detail"]).toContain("spam");
    expect(find("ban.issued")).toMatchObject({ level: "debug", subsystem: "peers", fields: { kind: "peer" } });
    expect(find("connection.close")).toMatchObject({ subsystem: "node", fields: { reason: "peer_banned", initiator: "local" } });
    for (const r of records) for (const v of Object.values(r.fields)) expect(["string", "number", "boolean"].includes(typeof v) || v === null).toBe(true);
    expect(formatLogLine(find("decision.banned")!)).toMatch(/ peerlink:peers warn decision\.banned peer=\S+ code=PEER_BANNED /);
  });

  it("that throws does not break the node", async () => {
    const node = await startNode({
      logger: {
        log: () => {
          throw new Error("broken sink");
        },
      },
    });
    const peer = await startNode({ listen: [], reconnect: false });
    const opened = nextEvent(node, "connection:open");
    const connection = await peer.dial(node.addresses[0]!);
    await opened;
    expect(connection.state).toBe("open");
    expect(node.connections()).toHaveLength(1);
  });
});
