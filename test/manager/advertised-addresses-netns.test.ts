/**
 * Which advertised listen addresses the ConnectionManager records for a peer, end to end on real sockets
 * between two network namespaces joined by a veth pair, so the peer is seen at a non-loopback address.
 * Both ends carry a private (10.77.0.0/24) and a public (198.51.100.0/24, TEST-NET-2) address; the peer
 * binds its socket to one scope and dials the manager's listener in the OTHER scope, so only the
 * address the peer was seen at (the connection's remote address) gives the expected result: judging by
 * the manager's local address would flip it. The test process cannot enter a namespace, so each side
 * runs in a child process (fixtures/advertise-node.mjs, which imports dist/). Needs root and iproute2;
 * fails loudly (never skips) without them.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertNetnsSupport, createNetns, deleteAllNetns, type Netns, runCommand } from "../helpers/netns.js";
import { ensureDist } from "../helpers/dist.js";
import { jsonLine, LineChild } from "../helpers/line-child.js";

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures/advertise-node.mjs");

/** Addresses on the veth end of each namespace, by scope. */
const MANAGER_IP = { private: "10.77.0.1", public: "198.51.100.1" } as const;
const PEER_IP = { private: "10.77.0.2", public: "198.51.100.2" } as const;

type PeerScope = "private" | "public";
type AdvertisedScope = "loopback" | "private" | "link-local" | "public" | "name" | "multicast" | "unspecified";

/** What the peer advertises in its Hello, each with the scope that decides whether it may be recorded. */
const ADVERTISED: readonly { readonly address: string; readonly scope: AdvertisedScope }[] = [
  { address: "127.0.0.1:22", scope: "loopback" },
  { address: "10.0.0.5:6379", scope: "private" },
  { address: "169.254.1.1:4001", scope: "link-local" },
  { address: "203.0.113.7:4001", scope: "public" },
  { address: "peer.example.com:4001", scope: "name" },
  { address: "224.0.0.1:4001", scope: "multicast" },
  { address: "0.0.0.0:4555", scope: "unspecified" },
];

/**
 * The rule (address-scope.ts): a public peer may advertise public IP addresses only (a name could resolve
 * to the manager's own networks); a private-network peer also private ones and names; link-local needs a link-local peer, loopback a loopback peer; multicast never.
 * An unspecified host means "where you see me": it is recorded under the peer's remote IP, whose scope
 * is the peer's own and therefore always allowed.
 */
const RECORDABLE: Readonly<Record<PeerScope, readonly AdvertisedScope[]>> = {
  public: ["public", "unspecified"],
  private: ["public", "name", "private", "unspecified"],
};

/**
 * The list a peer of scope `from` advertises: ADVERTISED with every port moved by one for the private peer,
 * so the two peers (same manager) never advertise the same address (an address another peer already holds
 * is not recorded again: advertisements never move an address between peers).
 */
function advertisedBy(from: PeerScope): { address: string; scope: AdvertisedScope }[] {
  const shift = from === "public" ? 0 : 1;
  return ADVERTISED.map((a) => {
    const at = a.address.lastIndexOf(":");
    return { address: `${a.address.slice(0, at)}:${Number(a.address.slice(at + 1)) + shift}`, scope: a.scope };
  });
}

function expectedRecorded(from: PeerScope): string[] {
  return advertisedBy(from)
    .filter((a) => RECORDABLE[from].includes(a.scope))
    .map((a) => (a.scope === "unspecified" ? a.address.replace("0.0.0.0", PEER_IP[from]) : a.address))
    .sort();
}

type Line = { readonly type: string; readonly [key: string]: unknown };

/** A fixture child in a namespace, read as JSON lines (test/helpers/line-child.ts). */
class Child {
  readonly #child: LineChild<Line>;

  constructor(ns: Netns, role: "manager" | "peer", config: unknown) {
    this.#child = new LineChild<Line>(ns.spawn(process.execPath, [SCRIPT, role, JSON.stringify(config)], { stdio: ["pipe", "pipe", "pipe"] }), jsonLine);
  }

  /** The first line matching `match`; rejects on an `error` line, on exit, or after `timeoutMs`. */
  waitFor(match: (line: Line) => boolean, timeoutMs = 5_000): Promise<Line> {
    return this.#child.waitFor(match, timeoutMs, { failOn: (l) => l.type === "error" });
  }

  /** Ends the child's stdin (it stops and exits), kills it if still running after 2 s, and waits for it. */
  async dispose(): Promise<void> {
    if (this.#child.finished) return;
    this.#child.proc.stdin?.end();
    const timer = setTimeout(() => this.#child.proc.kill("SIGKILL"), 2_000);
    await this.#child.exited;
    clearTimeout(timer);
  }
}

let managerNs: Netns | undefined;
let peerNs: Netns | undefined;
let manager: Child | undefined;
let listeners: Record<PeerScope, string> = { private: "", public: "" };
const peers = new Set<Child>();

beforeAll(async () => {
  const { ip } = assertNetnsSupport();
  await ensureDist();
  managerNs = await createNetns({ prefix: "pl-adv-m" });
  peerNs = await createNetns({ prefix: "pl-adv-p" });
  const m = managerNs.name;
  const p = peerNs.name;
  await runCommand(ip, ["-n", m, "link", "add", "veth-m", "type", "veth", "peer", "name", "veth-p", "netns", p]);
  for (const scope of ["private", "public"] as const) {
    await runCommand(ip, ["-n", m, "addr", "add", `${MANAGER_IP[scope]}/24`, "dev", "veth-m"]);
    await runCommand(ip, ["-n", p, "addr", "add", `${PEER_IP[scope]}/24`, "dev", "veth-p"]);
  }
  await runCommand(ip, ["-n", m, "link", "set", "veth-m", "up"]);
  await runCommand(ip, ["-n", p, "link", "set", "veth-p", "up"]);
  manager = new Child(managerNs, "manager", { listen: [`${MANAGER_IP.private}:0`, `${MANAGER_IP.public}:0`] });
  const ready = await manager.waitFor((l) => l.type === "ready", 10_000);
  const addresses = ready.addresses as string[];
  const find = (ipAddress: string): string => {
    const address = addresses.find((a) => a.startsWith(`${ipAddress}:`));
    if (address === undefined) throw new Error(`manager is not listening on ${ipAddress}: ${addresses.join(", ")}`);
    return address;
  };
  listeners = { private: find(MANAGER_IP.private), public: find(MANAGER_IP.public) };
}, 120_000);

afterEach(async () => {
  await Promise.all([...peers].map((c) => c.dispose()));
  peers.clear();
});

afterAll(async () => {
  await manager?.dispose();
  await Promise.all([managerNs?.delete(), peerNs?.delete()]);
  await deleteAllNetns();
});

/** Connects a fresh peer from its `from`-scope address to the manager's `to`-scope listener; returns what the manager recorded. */
async function advertiseFrom(from: PeerScope, to: PeerScope): Promise<{ recorded: string[]; seenAt: string; boundTo: string }> {
  const peer = new Child(peerNs!, "peer", {
    target: listeners[to],
    localAddress: PEER_IP[from],
    listenAddrs: advertisedBy(from).map((a) => a.address),
  });
  peers.add(peer);
  const connected = await peer.waitFor((l) => l.type === "connected");
  const line = await manager!.waitFor((l) => l.type === "recorded" && l.peer === connected.peerId);
  return {
    recorded: [...(line.addresses as string[])].sort(),
    seenAt: line.remoteAddress as string,
    boundTo: connected.localAddress as string,
  };
}

describe("a manager recording the listen addresses a peer on another host advertises", () => {
  it("records only public IP addresses and its own address for a peer seen at a public address, even on a private listener", async () => {
    const { recorded, seenAt, boundTo } = await advertiseFrom("public", "private");
    expect(boundTo).toBe(PEER_IP.public);
    expect(seenAt.startsWith(`${PEER_IP.public}:`)).toBe(true);
    expect(recorded).toEqual(expectedRecorded("public"));
    expect(recorded).toEqual(["198.51.100.2:4555", "203.0.113.7:4001"]);
  });

  it("also records private addresses for a peer seen at a private address, even on a public listener", async () => {
    const { recorded, seenAt, boundTo } = await advertiseFrom("private", "public");
    expect(boundTo).toBe(PEER_IP.private);
    expect(seenAt.startsWith(`${PEER_IP.private}:`)).toBe(true);
    expect(recorded).toEqual(expectedRecorded("private"));
    expect(recorded).toContain("10.0.0.5:6380");
    expect(recorded).not.toContain("127.0.0.1:23");
    expect(recorded).not.toContain("169.254.1.1:4002");
  });
});
