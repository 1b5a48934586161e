/**
 * Test helpers for test/node/defects.test.ts: a raw dialer that completes the peerlink handshake and then
 * ignores whatever the node says (a refusal Goodbye and FIN included) while it keeps writing frames, and
 * a TCP relay whose sockets can be cut without a Goodbye, as a crashed peer's are.
 */
import { once } from "node:events";
import net from "node:net";
import { ConnectionCore } from "../../src/connection/connection-core.js";
import type { CoreAction } from "../../src/connection/types.js";
import type { Identity } from "../../src/identity/identity.js";

/** A dialer that finished the handshake and from then on only writes. */
export interface IgnoringPeer {
  /** Writes `bytes`; resolves true once handed to the kernel, false when the socket is gone. */
  write(bytes: Uint8Array): Promise<boolean>;
  /** True once the node ended the socket (FIN, reset or close). */
  readonly gone: boolean;
  /** The reason of the Goodbye the node sent during or right after the handshake, if one came. */
  readonly goodbyeReason: string | undefined;
  destroy(): void;
}

/**
 * Connects to `127.0.0.1:port` over plain TCP and runs the real handshake as a dialer speaking
 * `protocol` (alias 1). Resolves once the node's Hello was verified, even when the node's refusal
 * (Goodbye) came in the same read: from then on every byte the node sends is read and ignored and the
 * socket stays writable after the node's FIN (`allowHalfOpen`).
 */
export async function handshakeThenIgnoreRefusal(port: number, identity: Identity, protocol = "/test"): Promise<IgnoringPeer> {
  const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  socket.setNoDelay(true);
  socket.on("error", () => undefined);
  let gone = false;
  socket.once("end", () => (gone = true));
  socket.once("close", () => (gone = true));
  await once(socket, "connect");
  const core = new ConnectionCore({
    direction: "outbound",
    secure: false,
    handshake: { identity, protocols: [{ name: protocol, versions: [1], alias: 1 }] },
    now: Date.now(),
  });
  const apply = (actions: readonly CoreAction[]): void => {
    for (const a of actions) if (a.type === "write" && !socket.destroyed) socket.write(a.bytes);
  };
  const verified = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      apply(core.receive(chunk, Date.now()));
      if (core.state === "handshaking") return;
      socket.off("data", onData);
      socket.on("data", () => undefined); // keep reading, ignore everything
      if (core.result !== undefined) resolve();
      else reject(new Error(`raw peer handshake ended in ${core.state}: ${core.closeInfo?.error?.message ?? ""}`));
    };
    socket.on("data", onData);
  });
  apply(core.transportConnected(Date.now()));
  apply(core.transportSecured({ type: "nonces" }, Date.now()));
  await verified;
  return {
    get gone() {
      return gone || socket.destroyed;
    },
    get goodbyeReason() {
      return core.remoteGoodbye?.reason;
    },
    write(bytes) {
      if (socket.destroyed || !socket.writable) return Promise.resolve(false);
      return new Promise((resolve) => socket.write(bytes, (error) => resolve(error === undefined || error === null)));
    },
    destroy() {
      socket.destroy();
    },
  };
}

/** A TCP relay on 127.0.0.1 in front of `target`; `cut` ends every relayed pair without a Goodbye. */
export interface CuttableRelay {
  /** `"127.0.0.1:port"` to dial instead of the target. */
  readonly address: string;
  /** Relayed pairs open now. */
  readonly pairs: number;
  /**
   * Ends every relayed pair at once: `"reset"` sends RST both ways (a reset connection), `"end"` closes both
   * sockets with a FIN (a crashed process, whose kernel closes its sockets). No Goodbye is relayed.
   */
  cut(how: "reset" | "end"): void;
  close(): Promise<void>;
}

/** Starts a relay to `target` (`"host:port"`). */
export async function startRelay(target: string): Promise<CuttableRelay> {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host, port });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      s.setNoDelay(true);
      s.on("error", () => undefined);
      s.once("close", () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const cut = (how: "reset" | "end"): void => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      for (const s of pair) {
        s.unpipe();
        if (how === "reset") s.resetAndDestroy();
        else s.destroy();
      }
    }
  };
  return {
    address,
    get pairs() {
      return pairs.size;
    },
    cut,
    async close() {
      cut("end");
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
