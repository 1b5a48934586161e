import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import type { CapabilitiesChange, InboundMessage } from "../../src/connection/types.js";
import { ErrorCode } from "../../src/errors.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { activeHandles, handlesAfterClose, startNode, trackTimers, type TestNode } from "./nodes.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const nodes: TestNode[] = [];
let baseline: Record<string, number>;
let timers: ReturnType<typeof trackTimers>;

beforeEach(() => {
  baseline = activeHandles({ timers: false });
  timers = trackTimers();
});

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  timers.restore();
  expect(await handlesAfterClose({ timers: false })).toEqual(baseline);
  expect(timers.pending()).toEqual([]);
});

/** Two TLS nodes and one connection between them: `dialer` and the listener's `inbound` side. */
async function tlsPair(): Promise<{ dialer: Connection; inbound: Connection }> {
  const a = await startNode({ tls: true });
  const b = await startNode({ tls: true });
  nodes.push(a, b);
  const dialer = await b.dial(a.port);
  const accepted = await a.nextInbound();
  if (accepted.connection === undefined) throw accepted.error;
  expect(dialer.secure).toBe(true);
  return { dialer, inbound: accepted.connection };
}

/** Resolves with the first `capabilities` event of `conn` that satisfies `test`. */
function nextChange(conn: Connection, test: (c: CapabilitiesChange) => boolean): Promise<CapabilitiesChange> {
  return new Promise((resolve) => {
    const off = conn.on("capabilities", (change) => {
      if (!test(change)) return;
      off();
      resolve(change);
    });
  });
}

/** Resolves with the next message of `conn`. */
function nextMessage(conn: Connection): Promise<InboundMessage> {
  return new Promise((resolve) => conn.once("message", resolve));
}

const hasFiles = (c: CapabilitiesChange): boolean => c.protocols.some((p) => p.name === "/files");

describe("two TLS connections changing protocols mid-connection", () => {
  it("agree on a protocol both add, exchange messages on it, and refuse it on both sides once one removes it", async () => {
    const { dialer, inbound } = await tlsPair();
    const dialerAgrees = nextChange(dialer, hasFiles);
    const inboundAgrees = nextChange(inbound, hasFiles);
    expect(inbound.updateCapabilities({ addProtocols: [{ name: "/files", versions: [1, 2] }] }).protocols.map((p) => p.name)).toEqual(["/chat"]);
    dialer.updateCapabilities({ addProtocols: [{ name: "/files", versions: [2, 3] }] });
    const [fromDialer, fromInbound] = await Promise.all([dialerAgrees, inboundAgrees]);
    expect(fromDialer.protocols.find((p) => p.name === "/files")?.version).toBe(2);
    expect(fromInbound.protocols.find((p) => p.name === "/files")?.version).toBe(2);
    expect(dialer.protocols).toEqual(fromDialer.protocols);

    const atInbound = nextMessage(inbound);
    await dialer.send("/files", enc("chunk 1"));
    expect(await atInbound).toEqual({ protocol: "/files", data: enc("chunk 1") });
    const atDialer = nextMessage(dialer);
    await inbound.send("/files", enc("ack 1"));
    const reply = await atDialer;
    expect([reply.protocol, dec(reply.data)]).toEqual(["/files", "ack 1"]);

    const inboundForgets = nextChange(inbound, (c) => !hasFiles(c) && c.initiator === "remote");
    expect(dialer.updateCapabilities({ removeProtocols: ["/files"] }).protocols.map((p) => p.name)).toEqual(["/chat"]);
    await rejectsWithCode(dialer.send("/files", enc("chunk 2")), ErrorCode.UNKNOWN_PROTOCOL);
    await inboundForgets;
    expect(inbound.protocols.map((p) => p.name)).toEqual(["/chat"]);
    await rejectsWithCode(inbound.send("/files", enc("ack 2")), ErrorCode.UNKNOWN_PROTOCOL);

    // The protocols agreed in the handshake are untouched.
    const onChat = nextMessage(dialer);
    await inbound.send("/chat", enc("still here"));
    expect(dec((await onChat).data)).toBe("still here");
    expect(dialer.state).toBe("open");
    expect(inbound.state).toBe("open");
  });

  it("drop and count what the peer sent on a protocol before it read the removal", async () => {
    const { dialer, inbound } = await tlsPair();
    const inboundAgrees = nextChange(inbound, hasFiles);
    dialer.updateCapabilities({ addProtocols: [{ name: "/files", versions: [1] }] });
    inbound.updateCapabilities({ addProtocols: [{ name: "/files", versions: [1] }] });
    await inboundAgrees;
    expect(inbound.protocols.map((p) => p.name)).toEqual(["/chat", "/files"]);
    const received: string[] = [];
    dialer.on("message", (m) => received.push(`${m.protocol} ${dec(m.data)}`));
    const marker = new Promise<void>((resolve) => dialer.on("message", (m) => m.protocol === "/chat" && resolve()));

    dialer.updateCapabilities({ removeProtocols: ["/files"] });
    // Same tick: the inbound side has not read the removal yet, so it still sends on /files.
    const late = inbound.send("/files", enc("late"));
    const after = inbound.send("/chat", enc("marker"));
    await Promise.all([late, after, marker]);
    expect(received).toEqual(["/chat marker"]);
    expect(dialer.stats.unknownProtocolFrames).toBe(1);
    expect(dialer.state).toBe("open");
  });
});
