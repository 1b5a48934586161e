/**
 * Test helpers for pending-slot abuse: attackers that open plain TCP sockets to a node's TLS port and send
 * nothing, and a sampler of how many pending sockets the node holds per source IP.
 *
 * Every socket is tracked in a module-wide set; {@link destroyAllSilentSockets} (call it in `afterEach`)
 * destroys whatever is left, so a failing test leaks nothing.
 */
import net from "node:net";

const everySocket = new Set<net.Socket>();

/** One attacker socket and what its owner saw of it. */
interface SilentSocket {
  readonly socket: net.Socket;
  readonly ip: string;
  /** TCP connected (the kernel finished the handshake). */
  connected: boolean;
  /** The node ended it (FIN, RST or close); from then on the node no longer holds it. */
  released: boolean;
}

/** Sockets that are open from the attacker's side, per source IP. */
export interface SilentSocketSource {
  /** Source IPs the sockets come from. */
  readonly sourceIps: readonly string[];
  /** Sockets from `ip` that connected and that the node has not ended yet. */
  heldFrom(ip: string): Set<net.Socket>;
  /** Called whenever one of its sockets connects or is ended by the node (for sampling). */
  onChange: (() => void) | undefined;
}

/** A silent socket from `localAddress` to `127.0.0.1:port`; `track` sees it connect and end. */
function openSilent(port: number, localAddress: string, track: (s: SilentSocket, what: "connect" | "end") => void): SilentSocket {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress });
  const entry: SilentSocket = { socket, ip: localAddress, connected: false, released: false };
  everySocket.add(socket);
  const end = (): void => {
    if (entry.released) return;
    entry.released = true;
    socket.destroy();
    track(entry, "end");
  };
  socket.once("connect", () => {
    entry.connected = true;
    track(entry, "connect");
  });
  socket.on("error", end);
  socket.on("end", end);
  socket.once("close", () => {
    everySocket.delete(socket);
    end();
  });
  // Read (and drop) whatever the node sends, e.g. a TLS alert, so its FIN is seen as 'end'.
  socket.resume();
  return entry;
}

/** Options of {@link SilentFlood}. */
export interface SilentFloodOptions {
  /** The node's TCP port on 127.0.0.1. */
  readonly port: number;
  /** Source addresses (127.0.0.0/8 works on Linux loopback without configuration). */
  readonly sourceIps: readonly string[];
  /** Sockets each source IP keeps open (connecting or connected) at most. */
  readonly socketsPerIp: number;
  /** Connection attempts per second over all source IPs. */
  readonly dialsPerSecond: number;
  /** Hard cap on sockets created over the flood's life. */
  readonly maxSockets: number;
}

/**
 * Source IPs that each keep up to `socketsPerIp` silent sockets open to the node and redial when the node
 * drops one, paced at `dialsPerSecond` in all (round robin over the IPs that have a free slot).
 */
export class SilentFlood implements SilentSocketSource {
  readonly sourceIps: readonly string[];
  onChange: (() => void) | undefined;
  readonly #options: SilentFloodOptions;
  readonly #live = new Map<string, Set<SilentSocket>>();
  readonly #held = new Map<string, Set<net.Socket>>();
  #timer: NodeJS.Timeout | undefined;
  #next = 0;
  #attempts = 0;
  #attemptWaiters: { count: number; resolve: () => void }[] = [];

  constructor(options: SilentFloodOptions) {
    this.#options = options;
    this.sourceIps = options.sourceIps;
    for (const ip of options.sourceIps) {
      this.#live.set(ip, new Set());
      this.#held.set(ip, new Set());
    }
  }

  /** Connection attempts made so far. */
  get attempts(): number {
    return this.#attempts;
  }

  /** Starts dialing. */
  start(): void {
    this.#timer = setInterval(() => this.#dialOne(), 1000 / this.#options.dialsPerSecond);
  }

  /** Resolves once `count` attempts were made (or at once if the cap makes that impossible). */
  attempted(count: number): Promise<void> {
    if (this.#attempts >= count || count > this.#options.maxSockets) return Promise.resolve();
    return new Promise((resolve) => this.#attemptWaiters.push({ count, resolve }));
  }

  heldFrom(ip: string): Set<net.Socket> {
    return this.#held.get(ip) ?? new Set();
  }

  /** Stops dialing and destroys every socket of the flood. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const sockets of this.#live.values()) for (const s of sockets) s.socket.destroy();
  }

  #dialOne(): void {
    if (this.#attempts >= this.#options.maxSockets) {
      this.stop();
      return;
    }
    const ips = this.sourceIps;
    for (let tried = 0; tried < ips.length; tried++) {
      const ip = ips[this.#next++ % ips.length]!;
      const live = this.#live.get(ip)!;
      if (live.size >= this.#options.socketsPerIp) continue;
      const entry = openSilent(this.#options.port, ip, (s, what) => {
        if (what === "connect") this.#held.get(s.ip)!.add(s.socket);
        else {
          this.#held.get(s.ip)!.delete(s.socket);
          live.delete(s);
        }
        this.onChange?.();
      });
      live.add(entry);
      this.#attempts++;
      this.#attemptWaiters = this.#attemptWaiters.filter((w) => {
        if (this.#attempts < w.count) return true;
        w.resolve();
        return false;
      });
      return;
    }
  }
}

/**
 * A one-off burst: `count` silent sockets spread round robin over `sourceIps`, created in batches over about
 * `overMs`. Resolves once every socket was created (connect called), not once connected.
 */
export async function silentBurst(options: {
  readonly port: number;
  readonly sourceIps: readonly string[];
  readonly count: number;
  readonly overMs: number;
  readonly onChange?: () => void;
}): Promise<SilentSocketSource & { destroy(): void }> {
  const held = new Map<string, Set<net.Socket>>(options.sourceIps.map((ip) => [ip, new Set()]));
  const all: SilentSocket[] = [];
  const source: SilentSocketSource & { destroy(): void } = {
    sourceIps: options.sourceIps,
    onChange: options.onChange,
    heldFrom: (ip) => held.get(ip) ?? new Set(),
    destroy: () => {
      for (const s of all) s.socket.destroy();
    },
  };
  const batches = 40;
  const perBatch = Math.ceil(options.count / batches);
  let made = 0;
  for (let b = 0; b < batches && made < options.count; b++) {
    for (let i = 0; i < perBatch && made < options.count; i++, made++) {
      const ip = options.sourceIps[made % options.sourceIps.length]!;
      all.push(
        openSilent(options.port, ip, (s, what) => {
          if (what === "connect") held.get(s.ip)!.add(s.socket);
          else held.get(s.ip)!.delete(s.socket);
          source.onChange?.();
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.overMs / batches));
  }
  return source;
}

/** Destroys every socket the helpers of this module created and that is still open. */
export function destroyAllSilentSockets(): void {
  for (const socket of everySocket) socket.destroy();
  everySocket.clear();
}

/** The node's own count of pending inbound sockets from one IP, if it exposes one. */
type NodePendingCounter = (ip: string) => number;

/**
 * Records the most pending sockets the node held from each attacker IP.
 *
 * Preferred source: the node's own per-IP count (`pendingInbound(ip)`), read synchronously at every
 * sample. Without it, an attacker-side upper bound: sockets from the IP that connected and that the node
 * has not ended, counted only if they are still open three event-loop turns later. The wait matters because
 * node and attacker share this process: a socket the node has just reset (or not yet accepted) still looks
 * open to the attacker until its next poll phase, and counting it would blame the node for a socket it
 * does not hold.
 */
export class PendingPerIpSampler {
  /** Where the counts come from, for the test log. */
  readonly source: "node" | "attacker";
  readonly #max = new Map<string, number>();
  readonly #nodeCount: NodePendingCounter | undefined;
  readonly #attackers: SilentSocketSource;
  #confirming = false;
  #again = false;
  samples = 0;

  constructor(node: object, attackers: SilentSocketSource) {
    const counter = (node as { pendingInbound?: unknown }).pendingInbound;
    this.#nodeCount = typeof counter === "function" ? (ip: string) => (counter as NodePendingCounter).call(node, ip) : undefined;
    this.source = this.#nodeCount ? "node" : "attacker";
    this.#attackers = attackers;
  }

  /** Largest count seen per IP. */
  get max(): ReadonlyMap<string, number> {
    return this.#max;
  }

  /** Largest count seen over all IPs. */
  get maxOverIps(): number {
    return Math.max(0, ...this.#max.values());
  }

  /** Takes one sample now (node source) or starts a confirmed one (attacker source). */
  sample(): void {
    this.samples++;
    if (this.#nodeCount) {
      for (const ip of this.#attackers.sourceIps) this.#record(ip, this.#nodeCount(ip));
      return;
    }
    if (this.#confirming) {
      this.#again = true;
      return;
    }
    this.#confirming = true;
    const snapshot = this.#attackers.sourceIps.map((ip) => [ip, [...this.#attackers.heldFrom(ip)]] as const);
    const turns = (n: number, then: () => void): void => {
      if (n === 0) then();
      else setImmediate(() => turns(n - 1, then));
    };
    turns(3, () => {
      for (const [ip, sockets] of snapshot) {
        const held = this.#attackers.heldFrom(ip);
        this.#record(ip, sockets.filter((s) => held.has(s)).length);
      }
      this.#confirming = false;
      if (this.#again) {
        this.#again = false;
        this.sample();
      }
    });
  }

  #record(ip: string, count: number): void {
    if (count > (this.#max.get(ip) ?? 0)) this.#max.set(ip, count);
  }
}
