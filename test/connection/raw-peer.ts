/**
 * Test helper: a hostile dialer over plain TCP on 127.0.0.1. It runs the real handshake with a
 * ConnectionCore on a half-open-capable socket, then stops listening to the node (its Goodbye and FIN
 * included) and writes whatever frames the test wants.
 */
import { once } from "node:events";
import net from "node:net";
import { ConnectionCore } from "../../src/connection/connection-core.js";
import type { CoreAction } from "../../src/connection/types.js";
import type { Identity } from "../../src/identity/identity.js";

export interface RawPeer {
  readonly socket: net.Socket;
  /** Writes `bytes`; resolves true once handed to the kernel, false when the socket is gone. */
  write(bytes: Uint8Array): Promise<boolean>;
  /** True once the node closed the socket (FIN or reset). */
  readonly gone: boolean;
  destroy(): void;
}

/**
 * Connects to `port` and completes the peerlink handshake as a dialer speaking `/chat` (alias 1); from
 * then on everything the node sends is read and ignored, and the socket stays open for writing after
 * the node's FIN (`allowHalfOpen`).
 */
export async function handshakeThenIgnore(port: number, identity: Identity): Promise<RawPeer> {
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
    handshake: { identity, protocols: [{ name: "/chat", versions: [1], alias: 1 }] },
    now: Date.now(),
  });
  const apply = (actions: readonly CoreAction[]): void => {
    for (const a of actions) if (a.type === "write") socket.write(a.bytes);
  };
  const opened = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      apply(core.receive(chunk, Date.now()));
      if (core.state === "open") {
        socket.off("data", onData);
        socket.on("data", () => undefined); // keep reading, ignore everything
        resolve();
      } else if (core.state !== "handshaking") {
        reject(new Error(`raw peer handshake ended in ${core.state}: ${core.closeInfo?.error?.message ?? ""}`));
      }
    };
    socket.on("data", onData);
  });
  apply(core.transportConnected(Date.now()));
  apply(core.transportSecured({ type: "nonces" }, Date.now()));
  await opened;
  return {
    socket,
    get gone() {
      return gone || socket.destroyed;
    },
    write(bytes) {
      if (socket.destroyed || !socket.writable) return Promise.resolve(false);
      // The callback runs once the bytes are handed to the kernel, or with an error when the socket is destroyed.
      return new Promise((resolve) => socket.write(bytes, (error) => resolve(error === undefined || error === null)));
    },
    destroy() {
      socket.destroy();
    },
  };
}
