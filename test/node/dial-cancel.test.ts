// A dial of one address is cancelled by the dialer itself, without an AbortSignal: when every caller left,
// the step in progress ends (the TLS socket is destroyed, or the connection in its handshake aborted) and
// the slot is freed; nothing of the dial stays in the node's stop signal.
import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import type { Connection } from "../../src/connection/connection.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import type { DialerHost } from "../../src/node/dialer.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import type { ResolvedTls } from "../../src/transport/types.js";
import { rejectsWithCode } from "../helpers/error-code.js";
import { fakeDialer, useSilentServers } from "../helpers/fake-dialer-host.js";

const servers = useSilentServers();

/** A dialer whose node admits everything; counts the slots it reserved and freed. */
function dialerWith(stop: AbortSignal, tls: ResolvedTls | undefined, handshake: DialerHost["handshake"]): ReturnType<typeof fakeDialer> {
  return fakeDialer({ stop, tls, handshake });
}

const notReached: DialerHost["handshake"] = () => Promise.reject(new Error("not reached"));

describe("a dial every caller left", () => {
  it("in TLS: its socket is destroyed, its slot freed, and each caller rejects with ABORTED", async () => {
    const server = await servers.silent();
    const stop = new AbortController();
    const { dialer, slots } = dialerWith(stop.signal, await resolveTls(Identity.generate()), notReached);
    const target = { peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${server.port}`] };
    const first = new AbortController();
    const second = new AbortController();
    const dials = [dialer.dial(target, { signal: first.signal }), dialer.dial(target, { signal: second.signal })];
    await server.accepted();
    first.abort(new Error("first gave up"));
    expect(slots.released).toBe(0); // one caller is still waiting
    second.abort(new Error("second gave up"));
    await rejectsWithCode(dials[0]!, ErrorCode.ABORTED);
    await rejectsWithCode(dials[1]!, ErrorCode.ABORTED);
    await server.closed();
    expect(slots).toEqual({ reserved: 1, released: 1 });
    expect(dialer.size).toBe(0);
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });

  it("in its handshake: the connection is aborted with the reason as the cause", async () => {
    const server = await servers.silent();
    const stop = new AbortController();
    const aborts: PeerlinkError[] = [];
    let started!: () => void;
    const inHandshake = new Promise<void>((r) => (started = r));
    const { dialer, slots } = dialerWith(stop.signal, undefined, (channel, _bounds, track) => {
      return new Promise<Connection>((_resolve, reject) => {
        const connection = {
          state: "handshaking",
          abort(error: PeerlinkError) {
            aborts.push(error);
            this.state = "closed";
            channel.socket.destroy();
            reject(error);
          },
        };
        track(connection as unknown as Connection);
        started();
      });
    });
    const caller = new AbortController();
    const dialing = dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${server.port}`] }, { signal: caller.signal });
    await inHandshake;
    const reason = new Error("gave up");
    caller.abort(reason);
    await rejectsWithCode(dialing, ErrorCode.ABORTED);
    await server.closed();
    expect(aborts).toHaveLength(1);
    expect(aborts[0]!.code).toBe(ErrorCode.ABORTED);
    expect(aborts[0]!.cause).toBe(reason);
    expect(slots).toEqual({ reserved: 1, released: 1 });
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });

  it("when the node stops in TLS: the dial rejects with ABORTED, the stop's reason as the cause", async () => {
    const server = await servers.silent();
    const stop = new AbortController();
    const { dialer, slots } = dialerWith(stop.signal, await resolveTls(Identity.generate()), notReached);
    const dialing = dialer.dial({ peerId: Identity.generate().peerId, addresses: [`127.0.0.1:${server.port}`] });
    await server.accepted();
    const reason = new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping");
    stop.abort(reason);
    dialer.stop();
    const error = await dialing.then(
      () => undefined,
      (e: unknown) => e as PeerlinkError,
    );
    expect(error?.code).toBe(ErrorCode.ABORTED);
    expect(error?.cause).toBe(reason);
    await server.closed();
    expect(slots).toEqual({ reserved: 1, released: 1 });
  });
});

describe("a dial of a host name", () => {
  it("looks the name up under the dial's own signal and dials the address found", async () => {
    // Where Node's default lookup puts localhost, as the dialer's lookup does.
    const { port } = await servers.silent("localhost");
    const stop = new AbortController();
    let reached = false;
    const { dialer, slots } = dialerWith(stop.signal, undefined, async (channel) => {
      reached = true;
      channel.socket.destroy();
      throw new PeerlinkError(ErrorCode.PROTOCOL_VIOLATION, "refused by the test", { initiator: "remote" });
    });
    await rejectsWithCode(dialer.dial({ peerId: Identity.generate().peerId, addresses: [`localhost:${port}`] }), ErrorCode.PROTOCOL_VIOLATION);
    expect(reached).toBe(true);
    expect(slots).toEqual({ reserved: 1, released: 1 });
    expect(getEventListeners(stop.signal, "abort")).toHaveLength(0);
  });

  it("already stopped, ends with ABORTED before any lookup or socket", async () => {
    const stop = new AbortController();
    const { dialer, slots } = dialerWith(stop.signal, undefined, notReached);
    stop.abort(new PeerlinkError(ErrorCode.STOPPED, "the manager is stopping"));
    await rejectsWithCode(dialer.dial({ peerId: Identity.generate().peerId, addresses: ["localhost:1"] }), ErrorCode.ABORTED);
    expect(slots.reserved).toBe(0);
  });
});
