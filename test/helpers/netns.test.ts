import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  assertNetnsSupport,
  createNetns,
  deleteAllNetns,
  listNetns,
  type Netns,
  withNetns,
} from "./netns.js";

/**
 * Child script: a TCP server and client on 127.0.0.1 in one process; the client
 * sends argv[1] bytes, the server answers once it has them all. Prints
 * {"bytes", "ms"}. Exits on its own after 20 s whatever happens.
 */
const THROUGHPUT_SCRIPT = `
const net = require("net");
const total = Number(process.argv[1]);
setTimeout(() => { console.log(JSON.stringify({ error: "timeout" })); process.exit(2); }, 20000).unref();
const server = net.createServer((s) => {
  let got = 0;
  s.on("data", (d) => { got += d.length; if (got >= total) s.end(String(got)); });
});
server.listen(0, "127.0.0.1", () => {
  const t0 = process.hrtime.bigint();
  const c = net.connect(server.address().port, "127.0.0.1", () => {
    const chunk = Buffer.alloc(65536);
    let sent = 0;
    const pump = () => { while (sent < total) { sent += chunk.length; if (!c.write(chunk)) return void c.once("drain", pump); } };
    pump();
  });
  c.once("data", () => {
    console.log(JSON.stringify({ bytes: total, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    c.destroy();
    server.close();
  });
});
`;

/**
 * Child script: listens on argv[1] (and argv[2] if given, default argv[1]) and
 * connects to argv[3] with a connect timeout of argv[4] ms; prints "connected",
 * "timeout" or "error CODE".
 */
const CONNECT_SCRIPT = `
const net = require("net");
const [listenA, listenB, target, timeoutMs] = process.argv.slice(1).map(Number);
const servers = [...new Set([listenA, listenB])].map((p) => net.createServer((s) => s.destroy()).listen(p, "127.0.0.1"));
let pending = servers.length;
const done = (result) => { console.log(result); for (const s of servers) s.close(); };
for (const s of servers) s.on("listening", () => {
  if (--pending > 0) return;
  const c = net.connect(target, "127.0.0.1");
  const t = setTimeout(() => { c.destroy(); done("timeout"); }, timeoutMs);
  c.on("connect", () => { clearTimeout(t); c.destroy(); done("connected"); });
  c.on("error", (e) => { clearTimeout(t); done("error " + e.code); });
});
`;

async function throughput(ns: Netns, bytes: number): Promise<number> {
  const { stdout } = await ns.exec(process.execPath, ["-e", THROUGHPUT_SCRIPT, String(bytes)], { timeoutMs: 25_000 });
  const result = JSON.parse(stdout.trim()) as { bytes: number; ms: number };
  return result.bytes / (result.ms / 1000);
}

async function tryConnect(ns: Netns, listen: [number, number], target: number, timeoutMs: number): Promise<string> {
  const { stdout } = await ns.exec(
    process.execPath,
    ["-e", CONNECT_SCRIPT, String(listen[0]), String(listen[1]), String(target), String(timeoutMs)],
    { timeoutMs: 15_000 },
  );
  return stdout.trim();
}

beforeAll(() => {
  // Fails the whole file loudly (never skips) on a machine without root, iproute2 or nftables.
  assertNetnsSupport();
});

afterAll(async () => {
  await deleteAllNetns();
});

describe("checking for network-namespace support", () => {
  it("names every missing tool", () => {
    expect(() => assertNetnsSupport({ uid: 0, searchPath: "/nonexistent" })).toThrow(
      /`ip` not found.*`tc` not found.*`nft` not found \(apt-get install -y nftables\)/,
    );
  });

  it("refuses a non-root user", () => {
    expect(() => assertNetnsSupport({ uid: 1000 })).toThrow(/must run as root \(uid 0\), running as uid 1000/);
  });

  it("returns absolute tool paths on this machine", () => {
    const tools = assertNetnsSupport();
    for (const p of [tools.ip, tools.tc, tools.nft]) expect(p.startsWith("/")).toBe(true);
  });
});

describe("a network namespace", () => {
  it("exists with loopback up at MTU 1500 and is gone after delete", async () => {
    const ns = await createNetns();
    try {
      expect(await listNetns()).toContain(ns.name);
      const { stdout } = await ns.exec(ns.tools.ip, ["link", "show", "lo"]);
      expect(stdout).toMatch(/mtu 1500/);
      expect(stdout).toMatch(/<[^>]*\bUP\b[^>]*>/);
    } finally {
      await ns.delete();
    }
    expect(await listNetns()).not.toContain(ns.name);
    await ns.delete(); // idempotent
    expect(() => ns.exec("true")).toThrow(/was deleted/);
  });

  it("reports a failing command with its stderr", async () => {
    await withNetns(async (ns) => {
      await expect(ns.exec(ns.tools.ip, ["link", "show", "no-such-device"])).rejects.toThrow(
        /command failed \(exit code \d+\).*\n.*no-such-device/s,
      );
    });
  });

  it("kills a long-running process it spawned when deleted", async () => {
    const ns = await createNetns();
    const child = ns.spawn(process.execPath, ["-e", "setInterval(() => {}, 1000); console.log('ready')"]);
    const exited = once(child, "exit");
    try {
      const [ready] = (await once(child.stdout ?? child, "data")) as [Buffer];
      expect(ready.toString()).toMatch(/ready/);
      expect(child.exitCode).toBeNull();
    } finally {
      await ns.delete();
    }
    const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    expect(signal).toBe("SIGKILL");
  });
});

describe("a tbf bandwidth cap inside a namespace", () => {
  it("makes TCP throughput on loopback drop to about 8 mbit/s and recovers when removed", async () => {
    await withNetns(async (ns) => {
      const bytes = 512 * 1024;
      const uncapped = await throughput(ns, bytes);
      await ns.addBandwidthCap("8mbit");
      const capped = await throughput(ns, bytes);
      await ns.removeBandwidthCap();
      const after = await throughput(ns, bytes);
      // 8 mbit/s = 1 MB/s, plus the 16 kB burst
      expect(capped).toBeLessThan(1_300_000);
      expect(capped).toBeGreaterThan(500_000);
      expect(uncapped).toBeGreaterThan(3 * capped);
      expect(after).toBeGreaterThan(3 * capped);
    });
  });
});

describe("an nftables random-drop rule inside a namespace", () => {
  it("at 100 % makes a TCP connect time out, and connects again once removed", async () => {
    await withNetns(async (ns) => {
      expect(await tryConnect(ns, [4001, 4001], 4001, 2_000)).toBe("connected");
      await ns.addRandomDrop(100);
      expect(await tryConnect(ns, [4001, 4001], 4001, 500)).toBe("timeout");
      await ns.removeRandomDrop();
      expect(await tryConnect(ns, [4001, 4001], 4001, 2_000)).toBe("connected");
    });
  });

  it("limited to one port leaves other ports alone", async () => {
    await withNetns(async (ns) => {
      await ns.addRandomDrop(100, { port: 4001, hooks: ["input", "output"] });
      expect(await tryConnect(ns, [4001, 4002], 4001, 500)).toBe("timeout");
      expect(await tryConnect(ns, [4001, 4002], 4002, 2_000)).toBe("connected");
    });
  });

  it("replaces an earlier rule instead of stacking on it", async () => {
    await withNetns(async (ns) => {
      await ns.addRandomDrop(100);
      await ns.addRandomDrop(50);
      await ns.addRandomDrop(0);
      expect(await tryConnect(ns, [4001, 4001], 4001, 2_000)).toBe("connected");
      const { stdout } = await ns.exec(ns.tools.nft, ["list", "ruleset"]);
      expect(stdout.match(/drop/g)).toHaveLength(1);
      expect(stdout).toMatch(/< 0 drop/);
    });
  });

  it("rejects a percentage outside 0..100", async () => {
    await withNetns(async (ns) => {
      await expect(ns.addRandomDrop(101)).rejects.toThrow(/integer 0..100/);
    });
  });
});
