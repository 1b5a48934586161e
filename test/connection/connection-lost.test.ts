/**
 * A connection that ends without the peer's Goodbye (the peer crashed, the
 * connection was reset, or it closed its direction without a word) is
 * reported as `connection_lost`, over real sockets (PROTOCOL.md §8). Before
 * this reason existed such a close read as `normal`, which the reconnect
 * policy redials at once.
 *
 * A relay between the two nodes plays the crash: it resets or half-closes the
 * TCP connection of one side while the connection is open, so neither node
 * sends a Goodbye.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode } from "../../src/errors.js";
import { DisconnectReason } from "../../src/reasons.js";
import { ReconnectPolicy } from "../../src/reconnect/policy.js";
import { TsNode } from "../interop/ts-node.js";

/** A TCP relay on 127.0.0.1 that keeps both sockets of each relayed connection, to break them on purpose. */
class BreakableRelay {
  readonly server: net.Server;
  /** [from the dialer, to the listener] per relayed connection, in accept order. */
  readonly pairs: Array<[net.Socket, net.Socket]> = [];

  private constructor(server: net.Server) {
    this.server = server;
  }

  static async start(targetPort: number): Promise<BreakableRelay> {
    const server = net.createServer();
    const relay = new BreakableRelay(server);
    server.on("connection", (down) => {
      const up = net.connect(targetPort, "127.0.0.1");
      for (const s of [down, up]) s.on("error", () => undefined); // resets are the point of this relay
      down.pipe(up);
      up.pipe(down);
      relay.pairs.push([down, up]);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return relay;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let nodes: TsNode[] = [];
let relay: BreakableRelay | undefined;

afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await Promise.all(nodes.map((n) => n.close()));
  nodes = [];
});

/** Opens dialer → relay → listener and returns both ends of the open connection. */
async function openThroughRelay(secure: boolean): Promise<{ dialer: Connection; listener: Connection; relay: BreakableRelay }> {
  const a = await TsNode.create(secure);
  const b = await TsNode.create(secure);
  nodes.push(a, b);
  await b.listen();
  relay = await BreakableRelay.start(b.port);
  const dialer = await a.dial(relay.port);
  const listener = await b.nextConnection();
  expect([dialer.state, listener.state]).toEqual(["open", "open"]);
  return { dialer, listener, relay };
}

describe.each([
  { transport: "plain TCP", secure: false },
  { transport: "TLS 1.3", secure: true },
])("a connection over $transport that ends without a Goodbye", ({ secure }) => {
  it("is reported as connection_lost on both sides when the connection is reset (the peer crashed)", async () => {
    const { dialer, listener, relay } = await openThroughRelay(secure);
    const [down, up] = relay.pairs[0]!;
    down.resetAndDestroy();
    up.resetAndDestroy();
    for (const conn of [dialer, listener]) {
      const info = await conn.closed;
      expect(info).toMatchObject({ reason: DisconnectReason.CONNECTION_LOST, initiator: "remote" });
      expect(info.error?.code).toBe(ErrorCode.CONNECTION_CLOSED);
      expect(conn.remoteGoodbye).toBeUndefined();
    }
  });

  it("is reported as connection_lost when the peer closes its direction (EOF) without a Goodbye", async () => {
    const { listener, relay } = await openThroughRelay(secure);
    const [, up] = relay.pairs[0]!;
    up.end(); // FIN towards the listener, no Goodbye frame before it
    expect(await listener.closed).toMatchObject({ reason: DisconnectReason.CONNECTION_LOST, initiator: "remote" });
  });
});

describe("the reason of a close that had a Goodbye", () => {
  it("stays the Goodbye's reason, not connection_lost", async () => {
    const { dialer, listener } = await openThroughRelay(false);
    await dialer.close(DisconnectReason.NORMAL);
    expect(await listener.closed).toMatchObject({ reason: DisconnectReason.NORMAL, initiator: "remote" });
    expect(dialer.closeInfo).toMatchObject({ reason: DisconnectReason.NORMAL, initiator: "local" });
  });
});

describe("the reconnect policy for connection_lost", () => {
  it("backs off (never an immediate redial as for normal)", () => {
    const policy = new ReconnectPolicy();
    expect(policy.strategyFor(DisconnectReason.NORMAL, "remote").kind).toBe("immediate");
    const lost = policy.strategyFor(DisconnectReason.CONNECTION_LOST, "remote");
    expect(lost.kind).toBe("backoff");
    expect(lost.kind === "backoff" && lost.backoff.minMs).toBeGreaterThan(0);
  });
});
