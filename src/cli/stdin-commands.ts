/**
 * What a CLI node does with a line read on stdin: plain text is a message to
 * every connected peer that speaks the node's first protocol; a line starting
 * with `!` is a command (`!help` lists them). Lines typed before any peer is
 * connected are held and sent at the first connection.
 *
 * @module
 */
import type { ConnectionManager } from "../node/connection-manager.js";
import { DisconnectReason } from "../reasons.js";
import type { NodeEvent } from "./events.js";
import type { PeerBook } from "./peer-book.js";

/** Lines held while no peer is connected; older ones are dropped beyond it. */
export const MAX_HELD_LINES = 100;

/** The help text of `!help`. */
export const STDIN_HELP = [
  "TEXT                 send TEXT to every connected peer on the first --protocol",
  "!to PREFIX TEXT      send TEXT to the peer whose id starts with PREFIX",
  "!dial HOST:PORT      dial once",
  "!close PREFIX        close the connection (goodbye normal)",
  "!ban PREFIX [WHY]    ban the peer (escalating duration); WHY stays local",
  "!unban PREFIX        lift the ban",
  "!peers               print the peer table as lines",
  "!!TEXT               send !TEXT",
].join("\n");

const enc = new TextEncoder();

/** Interprets stdin lines for a running node. */
export class StdinCommands {
  readonly #held: string[] = [];

  constructor(
    private readonly manager: ConnectionManager,
    private readonly book: PeerBook,
    private readonly protocol: string,
    private readonly emit: (event: NodeEvent) => void,
  ) {}

  /** Handles one line (without its newline). */
  handle(line: string): void {
    if (line.startsWith("!!")) return this.#send(line.slice(1));
    if (!line.startsWith("!")) return this.#send(line);
    const [name = "", ...args] = line.slice(1).trim().split(/\s+/);
    switch (name) {
      case "help":
        return this.#notice(STDIN_HELP);
      case "peers":
        return this.emit({ event: "peers", peers: this.book.rows() });
      case "dial":
        if (args[0] === undefined) return this.#notice("usage: !dial HOST:PORT");
        this.manager.dial(args[0]).then(
          (c) => this.#notice(`dialed ${c.remotePeer.toString()}`),
          () => {}, // reported by the handshake:failed and dial:refused events
        );
        return;
      case "to": {
        const peer = this.#one(args[0]);
        if (peer !== undefined) this.#send(line.slice(1).trim().split(/\s+/).slice(2).join(" "), peer);
        return;
      }
      case "close": {
        const peer = this.#one(args[0]);
        const conn = peer === undefined ? undefined : this.manager.getConnection(peer);
        if (peer !== undefined && conn === undefined) return this.#notice(`not connected to ${peer}`);
        conn?.close(DisconnectReason.NORMAL).catch(() => {});
        return;
      }
      case "ban": {
        const peer = this.#one(args[0]);
        if (peer !== undefined) this.manager.ban({ peerId: peer }, { reason: args.slice(1).join(" ") || "banned from the command line" });
        return;
      }
      case "unban": {
        const peer = this.#one(args[0]);
        if (peer !== undefined && this.manager.unban({ peerId: peer }) === undefined) this.#notice(`${peer} is not banned`);
        return;
      }
      default:
        return this.#notice(`unknown command !${name} (!help lists them)`);
    }
  }

  /** Sends the lines held while no peer was connected. */
  flush(): void {
    for (const line of this.#held.splice(0)) this.#send(line);
  }

  #one(prefix: string | undefined): string | undefined {
    if (prefix === undefined || prefix === "") {
      this.#notice("name a peer by the start of its id");
      return undefined;
    }
    const found = this.book.match(prefix);
    if (found.length === 1) return found[0];
    this.#notice(found.length === 0 ? `no peer id starts with ${prefix}` : `${prefix} matches ${found.length} peers`);
    return undefined;
  }

  #send(text: string, only?: string): void {
    const targets = this.manager
      .connections()
      .filter((c) => c.canSend && c.protocols.some((p) => p.name === this.protocol) && (only === undefined || c.remotePeer.toString() === only));
    if (targets.length === 0 && only === undefined && this.manager.connections().length === 0) {
      this.#held.push(text);
      if (this.#held.length > MAX_HELD_LINES) this.#held.shift();
      return;
    }
    const data = enc.encode(text);
    for (const c of targets) c.send(this.protocol, data).catch(() => {});
    this.emit({ event: "sent", protocol: this.protocol, size: data.length, peers: targets.map((c) => c.remotePeer.toString()) });
  }

  #notice(message: string): void {
    this.emit({ event: "notice", message });
  }
}
