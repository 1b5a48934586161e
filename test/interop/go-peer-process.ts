/**
 * Test helper: one running `peerlink-go` process, driven through its JSON-line
 * stdout events and stdin commands (see interop/README.md and {@link PeerProcess}).
 *
 * @module
 */
import { PeerProcess } from "./peer-process.js";

/** A `peerlink-go listen|dial` process and everything it reported. */
export class GoPeerProcess extends PeerProcess {
  private constructor(binary: string, args: readonly string[]) {
    super("peerlink-go", binary, args);
  }

  /** Starts `binary` with `args` (e.g. `["listen", "--tls"]`). */
  static start(binary: string, args: readonly string[]): GoPeerProcess {
    return new GoPeerProcess(binary, args);
  }

  /** Starts a listener and resolves once it reported its address and peer id. */
  static async listen(binary: string, args: readonly string[] = []): Promise<GoPeerProcess & { addr: string; host: string; port: number; peerId: string }> {
    const p = new GoPeerProcess(binary, ["listen", "--addr", "127.0.0.1:0", ...args]);
    const ev = await p.waitFor((e) => e.event === "listening", "listening");
    const addr = String(ev["addr"]);
    const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
    return Object.assign(p, { addr, host: "127.0.0.1", port, peerId: String(ev["peerId"]) });
  }
}
