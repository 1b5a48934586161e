import { EventEmitter } from "node:events";
import { PassThrough } from "node:stream";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main } from "../../src/cli/main.js";
import { Identity } from "../../src/identity/identity.js";
import { withTempDir } from "../helpers/temp-dir.js";

/** An in-process CLI run: captured output, a fake signal source, lines as they arrive. */
function harness() {
  const signals = new EventEmitter();
  const lines: string[] = [];
  const waiters: Array<{ test: (l: string) => boolean; resolve: (l: string) => void }> = [];
  let stderr = "";
  let pending = "";
  const stdout = {
    write(text: string) {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
      return true;
    },
  };
  return {
    io: { stdout, stderr: { write: (t: string) => (stderr += t) }, signals: signals as unknown as NodeJS.Process },
    lines,
    stderr: () => stderr,
    signal: (name: "SIGINT" | "SIGTERM") => signals.emit(name),
    listenerCount: () => signals.listenerCount("SIGINT") + signals.listenerCount("SIGTERM"),
    /** Resolves with the first line (already seen or future) that parses as JSON with `event`. */
    waitFor(event: string, extra: (o: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
      const test = (l: string) => {
        try {
          const o = JSON.parse(l) as Record<string, unknown>;
          return o.event === event && extra(o);
        } catch {
          return false;
        }
      };
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(JSON.parse(seen));
      return new Promise((resolve) => waiters.push({ test, resolve: (l) => resolve(JSON.parse(l)) }));
    },
  };
}

describe("the CLI entry point in-process", () => {
  it("prints the usage and exits 0 for --help", async () => {
    const h = harness();
    expect(await main(["--help"], h.io)).toBe(EXIT_OK);
    expect(h.lines[0]).toBe("Usage:");
    expect(h.lines.join("\n")).toContain("peerlink node [options]");
  });

  it("exits 2 with a message on stderr for bad arguments", async () => {
    const h = harness();
    expect(await main(["node", "--listen", "nowhere"], h.io)).toBe(EXIT_USAGE);
    expect(h.stderr()).toMatch(/^peerlink: --listen: /);
    expect(h.lines).toEqual([]);
  });

  it("exits 1 when the listen address is already taken", async () => {
    const first = harness();
    const running = main(["node", "--listen", "127.0.0.1:0", "--no-tls", "--json"], first.io);
    const listening = await first.waitFor("listening");
    const address = (listening.addresses as string[])[0] as string;
    const second = harness();
    expect(await main(["node", "--listen", address, "--no-tls", "--json", "--no-stdin"], second.io)).toBe(EXIT_FAILURE);
    // Under --json the failure is an event on stdout, not text on stderr.
    expect(second.stderr()).toBe("");
    expect(JSON.parse(second.lines.at(-1) as string)).toMatchObject({ event: "error", code: "INVALID_ARGUMENT", message: expect.stringContaining("EADDRINUSE") });
    const third = harness();
    expect(await main(["node", "--listen", address, "--no-tls", "--no-stdin"], third.io)).toBe(EXIT_FAILURE);
    expect(third.stderr()).toMatch(/^peerlink: \[INVALID_ARGUMENT\] .*EADDRINUSE/);
    first.signal("SIGTERM");
    expect(await running).toBe(EXIT_OK);
  });

  it("over plain TCP: two nodes connect, SIGINT says goodbye SHUTDOWN, both exit 0 and remove their signal handlers", async () => {
    const a = harness();
    const b = harness();
    const runA = main(["node", "--listen", "127.0.0.1:0", "--no-tls", "--json"], a.io);
    const listening = await a.waitFor("listening");
    expect(a.lines[0]).toBe(JSON.stringify(listening));
    const address = (listening.addresses as string[])[0] as string;
    expect(address).toMatch(/^127\.0\.0\.1:[1-9][0-9]*$/);
    const runB = main(["node", "--listen", "127.0.0.1:0", "--dial", address, "--no-tls", "--json"], b.io);
    const bListening = await b.waitFor("listening");
    const openA = await a.waitFor("connection:open");
    const openB = await b.waitFor("connection:open");
    expect(openA).toMatchObject({ direction: "inbound", peer: bListening.peerId, protocolVersion: 1, capabilities: [] });
    expect(openB).toMatchObject({ direction: "outbound", peer: listening.peerId, remoteAddress: address });

    b.signal("SIGINT");
    expect(await runB).toBe(EXIT_OK);
    expect(await b.waitFor("connection:close")).toEqual({ event: "connection:close", peer: listening.peerId, reason: "shutdown", initiator: "local" });
    expect(await a.waitFor("connection:close")).toEqual({ event: "connection:close", peer: bListening.peerId, reason: "shutdown", initiator: "remote" });
    expect(b.lines.at(-1)).toBe('{"event":"stopped"}');
    a.signal("SIGTERM");
    expect(await runA).toBe(EXIT_OK);
    expect(a.listenerCount() + b.listenerCount()).toBe(0);
  });

  it("exits 0 with stopped when a signal arrives during startup", async () => {
    const h = harness();
    const run = main(["node", "--listen", "127.0.0.1:0", "--no-tls", "--json"], h.io);
    h.signal("SIGTERM"); // before the listener is bound
    expect(await run).toBe(EXIT_OK);
    expect(h.lines.at(-1)).toBe(JSON.stringify({ event: "stopped" }));
    expect(h.stderr()).toBe("");
  });

  it("stops gracefully, and writes nothing more, when its output fails (EPIPE)", async () => {
    const h = harness();
    const out = new EventEmitter() as EventEmitter & { write(text: string): boolean };
    const written: string[] = [];
    out.write = (text: string) => {
      written.push(text);
      return h.io.stdout.write(text);
    };
    const run = main(["node", "--listen", "127.0.0.1:0", "--no-tls", "--json"], { ...h.io, stdout: out });
    await h.waitFor("listening");
    const before = written.length;
    out.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    expect(await run).toBe(EXIT_OK);
    expect(written.length).toBe(before);
    expect(h.listenerCount()).toBe(0);
    expect(out.listenerCount("error")).toBe(0);
  });

  it("reports a failed dial as connection:error and keeps running", async () => {
    const h = harness();
    const probe = harness();
    const runProbe = main(["node", "--listen", "127.0.0.1:0", "--no-tls", "--json"], probe.io);
    const address = ((await probe.waitFor("listening")).addresses as string[])[0] as string;
    probe.signal("SIGTERM");
    await runProbe; // the port is free again: dialing it is refused
    const run = main(["node", "--dial", address, "--no-tls", "--json"], h.io);
    const error = await h.waitFor("connection:error");
    expect(error).toMatchObject({ direction: "outbound", remoteAddress: address, code: "CONNECT_FAILED" });
    h.signal("SIGTERM");
    expect(await run).toBe(EXIT_OK);
  });

  it("creates the identity file with mode 0600 and reuses it on the next start", async () => {
    await withTempDir("peerlink-cli-", async (dir) => {
      const file = join(dir, "id.pem");
      const peerIds: unknown[] = [];
      for (let i = 0; i < 2; i++) {
        const h = harness();
        const run = main(["node", "--identity", file, "--no-tls", "--json"], h.io);
        peerIds.push((await h.waitFor("listening")).peerId);
        h.signal("SIGTERM");
        expect(await run).toBe(EXIT_OK);
      }
      expect(peerIds[0]).toBe(peerIds[1]);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await Identity.load(file)).peerId.toString()).toBe(peerIds[0]);
    });
  });
});

describe("the CLI as an operator tool", () => {
  it("sends stdin lines as messages; --echo answers; --json prints base64 and utf8", async () => {
    const a = harness();
    const b = harness();
    const inB = new PassThrough();
    const runA = main(["node", "--no-tls", "--json", "--echo", "--no-stdin"], a.io);
    const listening = await a.waitFor("listening");
    const address = (listening.addresses as string[])[0] as string;
    // Typed before the peer is connected: held, then sent at the first connection.
    inB.write("hello before connecting\n");
    const runB = main(["node", "--no-tls", "--json", "--peer", `${String(listening.peerId)}@${address}`], { ...b.io, stdin: inB });
    const bListening = await b.waitFor("listening");
    expect(await a.waitFor("message")).toEqual({
      event: "message",
      peer: bListening.peerId,
      protocol: "/chat",
      size: 23,
      base64: Buffer.from("hello before connecting").toString("base64"),
      utf8: "hello before connecting",
    });
    inB.write("héllo\n");
    expect(await b.waitFor("message", (o) => o.utf8 === "héllo")).toMatchObject({ peer: listening.peerId, size: 6, base64: Buffer.from("héllo").toString("base64") });
    expect(await b.waitFor("sent", (o) => o.size === 6)).toEqual({ event: "sent", protocol: "/chat", size: 6, peers: [listening.peerId] });
    inB.write("!peers\n");
    const peers = await b.waitFor("peers");
    expect(peers.peers).toEqual([expect.objectContaining({ peer: listening.peerId, direction: "outbound", state: "open", address })]);
    b.signal("SIGTERM");
    a.signal("SIGTERM");
    expect(await runB).toBe(EXIT_OK);
    expect(await runA).toBe(EXIT_OK);
  });

  it.each([
    [true, false],
    [false, true],
  ])("says a TLS/plain mismatch in one line (listener TLS %s)", async (listenerTls, dialerTls) => {
    const l = harness();
    const d = harness();
    const runL = main(["node", "--json", "--no-stdin", ...(listenerTls ? [] : ["--no-tls"])], l.io);
    const address = ((await l.waitFor("listening")).addresses as string[])[0] as string;
    const runD = main(["node", "--json", "--no-stdin", "--dial", address, ...(dialerTls ? [] : ["--no-tls"])], d.io);
    const errors = await Promise.all([l.waitFor("connection:error"), d.waitFor("connection:error")]);
    const tlsSide = errors[listenerTls ? 0 : 1];
    expect(tlsSide.message).toMatch(/^TLS\/plain mismatch: .*--no-tls/);
    expect(tlsSide.message).not.toContain("\n");
    expect(errors.every((e) => /mismatch/.test(String(e.message)))).toBe(true);
    l.signal("SIGTERM");
    d.signal("SIGTERM");
    expect(await runL).toBe(EXIT_OK);
    expect(await runD).toBe(EXIT_OK);
  });

  it("keygen writes a 0600 key and prints its peer id; id prints the same; keygen refuses to overwrite", async () => {
    await withTempDir("peerlink-cli-", async (dir) => {
      const file = join(dir, "k.pem");
      const h = harness();
      expect(await main(["keygen", file], h.io)).toBe(EXIT_OK);
      const peerId = h.lines[0];
      expect(peerId).toBe((await Identity.load(file)).peerId.toString());
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const id = harness();
      expect(await main(["id", file, "--json"], id.io)).toBe(EXIT_OK);
      expect(JSON.parse(id.lines[0] as string)).toEqual({ event: "id", peerId, file });
      const again = harness();
      expect(await main(["keygen", file], again.io)).toBe(EXIT_FAILURE);
      expect(again.stderr()).toContain("--force");
    });
  });

  it("prints the package version", async () => {
    const h = harness();
    expect(await main(["--version"], h.io)).toBe(EXIT_OK);
    expect(h.lines).toEqual([JSON.parse(await import("node:fs/promises").then((fs) => fs.readFile(join(import.meta.dirname, "../../package.json"), "utf8"))).version]);
  });

  it("draws the peer table in place on a terminal, with the peer's row, and ends with plain lines", async () => {
    const frames: string[] = [];
    let waiter: { test: (f: string) => boolean; resolve: () => void } | undefined;
    const stdout = {
      isTTY: true,
      write(text: string) {
        frames.push(text);
        if (waiter?.test(text)) waiter.resolve();
        return true;
      },
    };
    const until = (test: (f: string) => boolean) =>
      frames.some(test) ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { test, resolve }));
    const t = harness();
    const runT = main(["node", "--no-tls", "--no-stdin", "--table-interval-ms", "50"], { ...t.io, stdout });
    await until((f) => f.startsWith("\x1b[H\x1b[J") && f.includes("PEER"));
    const header = frames.find((f) => f.includes("PEER")) as string;
    const address = /peerlink [a-z2-7]{52} {2}(127\.0\.0\.1:\d+)/.exec(header)?.[1] as string;
    expect(address).toBeDefined();
    const other = harness();
    const runO = main(["node", "--no-tls", "--no-stdin", "--json", "--dial", address], other.io);
    const peerId = String((await other.waitFor("listening")).peerId);
    await until((f) => f.startsWith("\x1b[H\x1b[J") && new RegExp(`${peerId.slice(0, 12)} +in +open +127\\.0\\.0\\.1:`).test(f));
    t.signal("SIGTERM");
    expect(await runT).toBe(EXIT_OK);
    expect(frames.at(-1)).toBe("stopped\n");
    other.signal("SIGTERM");
    expect(await runO).toBe(EXIT_OK);
  });

  it("--metrics serves the status page and Prometheus metrics, and closes them at stop", async () => {
    const h = harness();
    const run = main(["node", "--no-tls", "--no-stdin", "--json", "--metrics", "127.0.0.1:0"], h.io);
    const { url } = (await h.waitFor("metrics")) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const text = await (await fetch(`${url}metrics`)).text();
    expect(text).toContain("# TYPE peerlink_connections gauge");
    h.signal("SIGTERM");
    expect(await run).toBe(EXIT_OK);
    await expect(fetch(`${url}metrics`)).rejects.toThrow();
  });
});

