// Setup CPU layer by layer, batch by batch, in fresh processes: where a fresh process's extra work per
// connection lies (BENCHMARKS.md, ninth pass). Informational: not a figure of `npm run bench:net`, and it reaches
// into dist/ past the public API for the two middle layers.
//
//   node bench/net/layers.mjs [--processes N] [--batches N]
//
// Layers: "raw" (raw Node TLS, the bench:net contender), "transport" (peerlink's TCP and TLS steps alone:
// listenTcp + secureInbound, dialChannel), "hello" (those plus a bare Hello exchange made of the library's own
// parts: each end writes its Hello from the node's layout, frames, decodes and checks the peer's as the handshake
// does on the certificate-bound path, and nothing else: no Handshake, Connection or core objects, no state machine
// or events, one timer; a floor for a design that reuses these parts), "connection" (the transport steps plus the
// handshake and Connection at both ends: openConnection), "node" (the bench:net peerlink contender: one listener
// node, one dialer node per connection).
// Every layer dials from one identity (key, certificate, TLS context) per connection of a batch, as the node does.
// Each process makes `batches` batches of 256 connections, 64 dials at a time, each batch closed before the next,
// and reports the CPU per connection (both ends) of each batch. Prints per layer the median over the processes,
// with the interquartile range. Processes are interleaved across layers.
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { cpuMs, numberOption, pool, quantile, sleep } from "./common.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const args = process.argv.slice(2);
const option = (name, fallback) => numberOption(args, name, fallback);
const LAYERS = ["raw", "transport", "hello", "connection", "node"];
const BATCH = 256;
const CONCURRENCY = 64;

if (args[0] === "--child") {
  console.log(JSON.stringify(await measure(args[1], Number(args[2]))));
  process.exit(0);
}

const processes = option("--processes", 5);
const batches = option("--batches", 4);
const run = promisify(execFile);
const results = Object.fromEntries(LAYERS.map((l) => [l, []]));
for (let p = 0; p < processes; p++) {
  for (const layer of LAYERS) {
    const { stdout } = await run(process.execPath, [fileURLToPath(import.meta.url), "--child", layer, String(batches)], { maxBuffer: 1 << 20 });
    results[layer].push(JSON.parse(stdout.trim().split("\n").at(-1)));
    process.stderr.write(`process ${p + 1}/${processes} ${layer}: ${JSON.stringify(results[layer].at(-1))}\n`);
  }
}
console.log(`| layer | ${Array.from({ length: batches }, (_, b) => `batch ${b + 1}`).join(" | ")} |`);
console.log(`|---|${"---:|".repeat(batches)}`);
for (const layer of LAYERS) {
  const cells = Array.from({ length: batches }, (_, b) => {
    const v = results[layer].map((r) => r[b]);
    return `${quantile(v, 0.5).toFixed(2)} (${quantile(v, 0.25).toFixed(2)}–${quantile(v, 0.75).toFixed(2)})`;
  });
  console.log(`| ${layer} | ${cells.join(" | ")} |`);
}

/** One process: the layer's CPU per connection (ms, both ends) in each of `batches` batches. */
async function measure(layer, batches) {
  const lib = await import(pathToFileURL(path.join(root, "dist/src/index.js")).href);
  const contender = await start(lib, layer);
  const cpu = [];
  for (let b = 0; b < batches; b++) {
    const conns = [];
    const cpu0 = cpuMs();
    await pool(BATCH, CONCURRENCY, async () => conns.push(await contender.dial()));
    while (contender.accepted() < BATCH) await sleep(1);
    cpu.push(Number(((cpuMs() - cpu0) / BATCH).toFixed(3)));
    await sleep(50);
    for (const conn of conns) conn.close();
    await contender.closeAll();
  }
  await contender.stop();
  return cpu;
}

/** A contender for `layer`: dial() → { close() }, accepted(), closeAll() (the listener's side), stop(). */
async function start(lib, layer) {
  if (layer === "raw" || layer === "node") {
    const makeCredentials = () => lib.createTlsCredentials(lib.Identity.generate());
    const node =
      layer === "raw"
        ? await (await import("./raw-tls.mjs")).start({ makeCredentials, resume: false, dialers: BATCH })
        : await (await import("./peerlink.mjs")).start({ lib, resume: false, dialers: BATCH });
    let accepted = 0;
    node.onAccept(() => accepted++);
    return {
      dial: () => node.dial(),
      accepted: () => accepted,
      async closeAll() {
        await node.settled?.();
        accepted = 0;
      },
      stop: () => node.stop(),
    };
  }
  const { listenTcp, secureInbound, dialChannel, resolveTls } = await import(pathToFileURL(path.join(root, "dist/src/transport/index.js")).href);
  const { openConnection } = await import(pathToFileURL(path.join(root, "dist/src/connection/index.js")).href);
  const protocols = [{ name: "/bench", versions: [1], alias: 1 }];
  const settings = (identity) => ({ identity, protocols, capabilities: [], listenAddrs: [], earlyData: false, agent: "bench" });
  const listenerId = lib.Identity.generate();
  const listenerTls = await resolveTls(listenerId, { sessionCache: false });
  const dialers = [];
  for (let i = 0; i < BATCH; i++) {
    const identity = lib.Identity.generate();
    dialers.push({ identity, tls: await resolveTls(identity, { sessionCache: false }) });
  }
  const bareHello = layer === "hello" ? await helloExchange(protocols) : undefined;
  let next = 0;
  let accepted = 0;
  const held = [];
  const listener = await listenTcp({
    host: "127.0.0.1",
    port: 0,
    onSocket(raw) {
      const deadline = Date.now() + 10_000;
      // A failed accept is the dialer's failure too (its dial rejects and ends the process): ignored here.
      secureInbound(raw, { tls: listenerTls, deadline })
        .then(async (channel) => {
          if (layer === "transport") held.push(() => channel.socket.destroy());
          else if (layer === "hello") {
            await bareHello(channel, listenerId, "listener", deadline);
            held.push(() => channel.socket.destroy());
          } else {
            const connection = await openConnection(channel, settings(listenerId), { deadline });
            held.push(() => connection.abort());
          }
          accepted++;
        })
        .catch(() => undefined);
    },
  });
  const port = listener.addresses[0].port;
  return {
    async dial() {
      const deadline = Date.now() + 10_000;
      const dialer = dialers[next++ % dialers.length];
      const channel = await dialChannel({ host: "127.0.0.1", port, tls: dialer.tls, deadline });
      if (layer === "transport") return { close: () => channel.socket.destroy() };
      if (layer === "hello") {
        await bareHello(channel, dialer.identity, "dialer", deadline);
        return { close: () => channel.socket.destroy() };
      }
      const connection = await openConnection(channel, settings(dialer.identity), { deadline });
      return { close: () => connection.abort() };
    },
    accepted: () => accepted,
    async closeAll() {
      for (const close of held.splice(0)) close();
      await sleep(100);
      accepted = 0;
    },
    stop: () => listener.close(),
  };
}

/**
 * The "hello" layer's exchange: `exchange(channel, identity, role, deadline)` writes the end's Hello (copied from the
 * node's layout, certificate-bound, with a fresh nonce) as soon as TLS is done, as a `Connection` does, and resolves
 * once the peer's Hello was read, decoded and checked as the handshake checks it on this path (the Hello's own
 * checks, the binding, an empty proof, the certificate's key, not this node, a common version, the capabilities
 * and protocols negotiated). It rejects, with the socket destroyed, on a bad Hello, a close or error before it, or
 * at `deadline`.
 */
async function helloExchange(protocols) {
  const part = (file) => import(pathToFileURL(path.join(root, "dist", file)).href);
  const { helloTemplate } = await part("src/handshake/hello-template.js");
  const { ownHelloFrame } = await part("src/handshake/own-hello.js");
  const { checkHello } = await part("src/handshake/hello-check.js");
  const { sameBytes } = await part("src/handshake/list-checks.js");
  const { negotiateVersion, negotiateProtocols, negotiateCapabilities } = await part("src/handshake/negotiate.js");
  const { decodeHelloFrame } = await part("src/wire/hello-fast-path.js");
  const { createFrameDecoder } = await part("src/wire/frame-decoder.js");
  const { pooledRandomBytes } = await part("src/util/random-pool.js");
  const { ChannelBinding } = await part("generated/peerlink/v1/handshake_pb.js");
  const template = helloTemplate(protocols, [], [], "bench");
  const versions = { min: 1, max: 1 };
  const NO_PROOF = new Uint8Array(0);
  return (channel, identity, role, deadline) =>
    new Promise((resolve, reject) => {
      const { socket } = channel;
      const decoder = createFrameDecoder();
      let timer;
      let settled = false;
      const end = () => {
        settled = true;
        clearTimeout(timer);
        socket.off("data", onData);
        socket.off("close", onClose);
      };
      const fail = (why) => {
        end();
        socket.destroy();
        reject(new Error(`${role}: ${why}`));
      };
      const check = (hello) => {
        const checked = checkHello(hello, role === "dialer" ? "listener" : "dialer");
        if (!checked.ok) return checked.error.message;
        if (hello.binding !== ChannelBinding.TLS_CERTIFICATE) return "not bound to the certificate";
        if (hello.proof.length !== 0) return "a proof with TLS_CERTIFICATE";
        if (!sameBytes(channel.peerCertificateKey, hello.publicKey)) return "the Hello's key is not the certificate's";
        if (checked.peerId.equals(identity.peerId)) return "a connection to itself";
        if (negotiateVersion(versions, { min: hello.minVersion, max: hello.maxVersion }) === undefined) return "no common version";
        if (!negotiateCapabilities(template.capabilities, hello.capabilities).ok) return "a required capability missing";
        if (negotiateProtocols(template.protocols, hello.protocols).length === 0) return "no common protocol";
        return undefined;
      };
      const onData = (chunk) => {
        try {
          decoder.pushFrames(chunk, (bytes, offset, length) => {
            if (settled) return; // a frame behind the Hello in the same read
            const hello = decodeHelloFrame(bytes.subarray(offset, offset + length))?.kind.value;
            const refusal = hello === undefined ? "not a Hello" : check(hello);
            if (refusal !== undefined) return fail(refusal);
            end();
            resolve();
          });
        } catch (error) {
          fail(error.message);
        }
      };
      const onClose = () => fail("closed before its Hello");
      socket.on("error", () => undefined);
      socket.on("data", onData);
      socket.on("close", onClose);
      timer = setTimeout(() => fail("no Hello by the deadline"), Math.max(0, deadline - Date.now()));
      socket.write(ownHelloFrame(template, identity, versions, ChannelBinding.TLS_CERTIFICATE, false, pooledRandomBytes(32), NO_PROOF).bytes);
    });
}
