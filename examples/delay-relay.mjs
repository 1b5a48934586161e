// A TCP relay on 127.0.0.1 that delays every chunk by a one-way delay and caps each direction's byte
// rate: a degraded link for the demo, since loopback has neither latency nor a bandwidth limit.
// `relay.set({ delayMs, bytesPerSecond })` changes the link while connections run.
import net from "node:net";

export class DelayRelay {
  #server;
  #sockets = new Set();
  delayMs = 0;
  bytesPerSecond = Infinity;

  /** Listens on 127.0.0.1 (a free port) and forwards every connection to 127.0.0.1:targetPort. */
  static async start(targetPort) {
    const relay = new DelayRelay();
    relay.#server = net.createServer((client) => relay.#relay(client, targetPort));
    await new Promise((resolve) => relay.#server.listen(0, "127.0.0.1", resolve));
    return relay;
  }

  get port() {
    return this.#server.address().port;
  }

  set({ delayMs = this.delayMs, bytesPerSecond = this.bytesPerSecond }) {
    this.delayMs = delayMs;
    this.bytesPerSecond = bytesPerSecond;
  }

  #relay(client, targetPort) {
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on("close", () => this.#sockets.delete(s));
      s.on("error", () => {});
    }
    this.#pipe(client, upstream);
    this.#pipe(upstream, client);
    // A side that closes ends the other once what is in flight has been delivered.
    client.on("close", () => setTimeout(() => upstream.destroy(), this.delayMs + 1_000));
    upstream.on("close", () => setTimeout(() => client.destroy(), this.delayMs + 1_000));
  }

  /** Forwards src to dst in order: each chunk leaves after the delay and after the previous one has been paced out. */
  #pipe(src, dst) {
    let linkFreeAt = 0;
    src.on("data", (chunk) => {
      const now = performance.now();
      const sendAt = Math.max(now + this.delayMs, linkFreeAt);
      linkFreeAt = sendAt + (chunk.length / this.bytesPerSecond) * 1000;
      setTimeout(() => dst.writable && dst.write(chunk), Math.max(0, linkFreeAt - now));
    });
    src.on("end", () => setTimeout(() => dst.end(), Math.max(0, linkFreeAt - performance.now())));
  }

  async close() {
    for (const s of this.#sockets) s.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
