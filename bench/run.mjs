// peerlink benchmark: `npm run bench` (builds build/*.wasm and dist/ first).
//
// Side by side, in one run, on this machine:
//   1. framing throughput on 64 B and 1 KiB frames arriving in 64 KiB chunks: WASM decoder (copy into
//      WASM memory included), JS decoder, it-length-prefixed (sync source), a minimal hand-written JS loop;
//   2. Data messages/s: fast path (WASM, JS) vs the generated decoder (fromBinary per frame);
//   3. receive path on a real loopback socket: 'data' events + push vs net.Socket onread straight into
//      the decoder's buffer (WASM memory for the wasm engine);
//   4. batch health scoring of 10k connections, WASM vs JS.
// Each figure is the median of several interleaved rounds. Prints a Markdown report on stdout.
import { fromBinary } from "@bufbuild/protobuf";
import * as lp from "it-length-prefixed";
import { once } from "node:events";
import net from "node:net";
import os from "node:os";
import { readFileSync } from "node:fs";
import { FrameSchema } from "../dist/generated/peerlink/v1/frame_pb.js";
import { createFrameDecoder, DEFAULT_FRAME_DECODER_ENGINE } from "../dist/src/wire/frame-decoder.js";
import { encodeDataFrame } from "../dist/src/wire/frame-encoder.js";
import { createHealthScorer, DEFAULT_HEALTH_ENGINE } from "../dist/src/health/scorer.js";
import { allocateFrameRegion, FRAMING_RECORDS_PER_SCAN, REGION_HEADER_BYTES } from "../dist/src/wire/wasm-frame-core.js";

const CHUNK = 64 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 21);
const STREAM_BYTES = Number(process.env.BENCH_STREAM_MIB ?? 32) * 1024 * 1024;
const SOCKET_ROUNDS = 7;
const WARMUP_MS = 250;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Data frames with `frameBytes` on the wire (prefix + body), concatenated and cut into 64 KiB chunks.
 * Aligned: 64 KiB is a multiple of both frame sizes, so no frame crosses a chunk boundary. Straddling
 * (what a socket gives): a first chunk of half a frame, then 64 KiB chunks, so every boundary cuts a
 * frame in two and the decoder must carry its start into the next chunk.
 */
function makeStream(frameBytes, straddle = false) {
  let payloadLen = frameBytes - 6;
  let frame = encodeDataFrame(1, new Uint8Array(payloadLen).fill(7));
  while (frame.length > frameBytes) frame = encodeDataFrame(1, new Uint8Array(--payloadLen).fill(7));
  while (frame.length < frameBytes) frame = encodeDataFrame(1, new Uint8Array(++payloadLen).fill(7));
  const count = Math.floor(STREAM_BYTES / frame.length);
  const stream = new Uint8Array(count * frame.length);
  for (let i = 0; i < count; i++) stream.set(frame, i * frame.length);
  const chunks = [];
  const first = straddle ? frame.length >> 1 : 0;
  if (first > 0) chunks.push(Buffer.from(stream.subarray(0, first)));
  for (let o = first; o < stream.length; o += CHUNK) chunks.push(Buffer.from(stream.subarray(o, o + CHUNK)));
  // Every frame here has a 1- or 2-byte prefix; the body is what follows it.
  const bodyBytes = count * (frame.length - (frame.length - 1 < 0x80 ? 1 : 2));
  return { chunks, count, frameBytes: frame.length, bodyBytes };
}

// Every framing contender does the same work per frame: find it, and hand its body (bytes, offset,
// length) to a consumer that counts it and sums the body lengths. race() checks both totals, so no
// contender can skip frames or have its per-frame work eliminated as dead code.
let framesSeen = 0;
let bodyBytesSeen = 0;
/** A fresh consumer closure per contender: each call site stays monomorphic. */
function frameConsumer() {
  return (bytes, offset, length) => {
    framesSeen++;
    bodyBytesSeen += length + (offset & 0);
  };
}

/**
 * The minimal hand-written JS framing loop: scans each chunk in place through a plain Uint8Array view
 * (one element kind: sockets hand out Buffer subclasses, which make element access polymorphic), reads
 * the LEB128 prefix with integer shifts (at most 5 bytes), hands each body to the consumer and carries
 * only the partial frame. No validation beyond what finding frames needs, no error paths.
 */
function minimalLoop() {
  const onFrame = frameConsumer();
  return (chunks) => {
    let carry = null;
    for (const c of chunks) {
      let chunk = new Uint8Array(c.buffer, c.byteOffset, c.length);
      if (carry !== null) {
        const joined = new Uint8Array(carry.length + chunk.length);
        joined.set(carry);
        joined.set(chunk, carry.length);
        chunk = joined;
        carry = null;
      }
      const end = chunk.length;
      let pos = 0;
      while (pos < end) {
        let p = pos;
        let b = chunk[p++];
        let len = b & 0x7f;
        for (let shift = 7; b >= 0x80 && p < end && shift <= 28; shift += 7) {
          b = chunk[p++];
          len |= (b & 0x7f) << shift;
        }
        if (b >= 0x80 || p + len > end) break;
        onFrame(chunk, p, len);
        pos = p + len;
      }
      if (pos < end) carry = chunk.slice(pos);
    }
  };
}

function itLengthPrefixed() {
  const onFrame = frameConsumer();
  return (chunks) => {
    for (const f of lp.decode(chunks)) onFrame(f, 0, f.byteLength);
  };
}

function decoderFraming(engine) {
  const decoder = createFrameDecoder({ engine });
  const onFrame = frameConsumer();
  return (chunks) => {
    for (const c of chunks) decoder.pushFrames(c, onFrame);
  };
}

function decoderData(engine) {
  const decoder = createFrameDecoder({ engine });
  let frames = 0;
  let bytes = 0;
  const sink = {
    onData(protocol, payload) {
      frames++;
      bytes += payload.length + protocol * 0;
    },
    onPing() {},
    onPong() {},
    onControl() {},
  };
  return (chunks) => {
    frames = 0;
    for (const c of chunks) decoder.push(c, sink);
    return frames;
  };
}

/** The generated decoder: JS framing, then fromBinary(FrameSchema) for every body. */
function generatedData() {
  const decoder = createFrameDecoder({ engine: "js" });
  let frames = 0;
  const onFrame = (buf, offset, length) => {
    const f = fromBinary(FrameSchema, buf.subarray(offset, offset + length));
    if (f.kind.case === "data") frames++;
  };
  return (chunks) => {
    frames = 0;
    for (const c of chunks) decoder.pushFrames(c, onFrame);
    return frames;
  };
}

/**
 * Runs the contenders round-robin; returns frames/s (median) per contender. A contender returns its
 * frame count, or nothing when it reports through frameConsumer() (then the body bytes are checked too).
 */
function race(contenders, chunks, expected, expectedBodyBytes) {
  const times = new Map(contenders.map(([name]) => [name, []]));
  // Warm-up until each contender has run for WARMUP_MS (at most 400 passes): a 32 MiB stream of 1 KiB
  // frames takes well under a millisecond, too little for V8 to reach its optimizing tier in one pass.
  for (const [, fn] of contenders) {
    const start = performance.now();
    for (let i = 0; i < 400 && performance.now() - start < WARMUP_MS; i++) fn(chunks);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of contenders) {
      framesSeen = 0;
      bodyBytesSeen = 0;
      const t0 = process.hrtime.bigint();
      const ret = fn(chunks);
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      const n = ret ?? framesSeen;
      if (n !== expected) throw new Error(`${name}: ${n} frames, expected ${expected}`);
      if (ret === undefined && bodyBytesSeen !== expectedBodyBytes) {
        throw new Error(`${name}: ${bodyBytesSeen} body bytes, expected ${expectedBodyBytes}`);
      }
      times.get(name).push(expected / dt);
    }
  }
  return new Map([...times].map(([k, v]) => [k, median(v)]));
}

const fmtRate = (r) => (r >= 1e6 ? `${(r / 1e6).toFixed(2)} M/s` : `${(r / 1e3).toFixed(1)} k/s`);
const fmtGBs = (r, frameBytes) => `${((r * frameBytes) / 1e9).toFixed(2)} GB/s`;

const out = [];
const log = (line = "") => {
  out.push(line);
  console.log(line);
};

const cpu = (readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? os.cpus()[0]?.model;
log(`## Run ${new Date().toISOString()}`);
log();
log(`Machine: ${os.availableParallelism()} cores (nproc), CPU "${cpu}", Node ${process.version}, ${os.platform()} ${os.release()}.`);
log(`Median of ${ROUNDS} interleaved rounds over ${STREAM_BYTES / 1048576} MiB streams cut into 64 KiB chunks.`);
log();

// 1 + 2: framing and Data delivery
const framingRates = {};
const dataRates = {};
for (const [size, straddle] of [[64, false], [64, true], [1024, false], [1024, true]]) {
  const key = `${size}${straddle ? " straddling" : ""}`;
  const { chunks, count, frameBytes, bodyBytes } = makeStream(size, straddle);
  const framing = race(
    [
      ["wasm decoder (pushFrames)", decoderFraming("wasm")],
      ["js decoder (pushFrames)", decoderFraming("js")],
      ["it-length-prefixed", itLengthPrefixed()],
      ["minimal JS loop", minimalLoop()],
    ],
    chunks,
    count,
    bodyBytes,
  );
  framingRates[key] = framing;
  const data = race(
    [
      ["wasm fast path (push)", decoderData("wasm")],
      ["js fast path (push)", decoderData("js")],
      ["generated decoder (fromBinary)", generatedData()],
    ],
    chunks,
    count,
  );
  dataRates[key] = data;
  log(`### ${frameBytes} B frames (${count} frames), ${straddle ? "straddling chunk boundaries" : "aligned to chunks"}`);
  log();
  log("| framing | frames/s | bytes/s |");
  log("|---|---:|---:|");
  for (const [k, v] of framing) log(`| ${k} | ${fmtRate(v)} | ${fmtGBs(v, frameBytes)} |`);
  log();
  log("| Data messages (payload copied out for the fast path) | messages/s |");
  log("|---|---:|");
  for (const [k, v] of data) log(`| ${k} | ${fmtRate(v)} |`);
  log();
}

// 2b: where the wasm engine's framing time goes (64 B frames), built up step by step on its own region
{
  const { chunks, count, bodyBytes } = makeStream(64);
  const { core, region } = allocateFrameRegion(256 * 1024, 1 << 20);
  const word = region >>> 2;
  const data = region + REGION_HEADER_BYTES;
  /** Steps: 0 copy only, 1 + scan (records not read), 2 + JS walk of the records (no callback). */
  const step = (level) => () => {
    const u8 = core.u8;
    const i32 = core.i32;
    let frames = 0;
    let bodies = 0;
    for (const c of chunks) {
      core.reserve(region);
      const used = i32[word + 1];
      u8.set(c, data + used);
      i32[word + 1] = used + c.length;
      if (level === 0) {
        i32[word + 2] = i32[word + 1]; // consume everything: the next reserve() empties the region
        continue;
      }
      for (;;) {
        const n = core.scan(region, core.records, FRAMING_RECORDS_PER_SCAN, 0);
        frames += n;
        if (level === 2) {
          const end = (core.records >>> 2) + 2 * n;
          for (let r = core.records >>> 2; r < end; r += 2) bodies += i32[r + 1];
        }
        if (i32[word + 4] !== 1) break;
      }
    }
    if (level === 2 && bodies !== bodyBytes) throw new Error(`walk: ${bodies} body bytes, expected ${bodyBytes}`);
    return level === 0 ? count : frames;
  };
  const breakdown = race(
    [
      ["copy each chunk into WASM memory", step(0)],
      ["+ WASM scan (one call per chunk, records not read)", step(1)],
      ["+ JS walk of the (offset, length) records", step(2)],
      ["+ callback per frame = pushFrames", decoderFraming("wasm")],
      ["minimal JS loop (in place, callback per frame)", minimalLoop()],
    ],
    chunks,
    count,
    bodyBytes,
  );
  log("### Where the wasm framing time goes (64 B frames, cumulative)");
  log();
  log("| step | ns per frame | frames/s |");
  log("|---|---:|---:|");
  for (const [k, v] of breakdown) log(`| ${k} | ${(1e9 / v).toFixed(2)} | ${fmtRate(v)} |`);
  log();
}

// 3: receive path on a loopback socket
async function socketRun(engine, mode, frameBytes) {
  const { chunks, count } = makeStream(frameBytes);
  const payload = Buffer.concat(chunks);
  const server = net.createServer((s) => s.end(payload));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  const decoder = createFrameDecoder({ engine });
  let frames = 0;
  const sink = { onData: () => void frames++, onPing() {}, onPong() {}, onControl() {} };
  const t0 = process.hrtime.bigint();
  const socket =
    mode === "onread"
      ? net.connect({
          port,
          host: "127.0.0.1",
          onread: { buffer: () => decoder.receiveBuffer(), callback: (n) => void decoder.commit(n, sink) },
        })
      : net.connect({ port, host: "127.0.0.1" }).on("data", (c) => decoder.push(c, sink));
  await once(socket, "end");
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  socket.destroy();
  server.close();
  await once(server, "close");
  decoder.dispose();
  if (frames !== count) throw new Error(`socket ${engine}/${mode}: ${frames} of ${count}`);
  return count / dt;
}

log(`### Receive path: loopback TCP, 1 KiB Data frames, ${STREAM_BYTES / 1048576} MiB per run, median of ${SOCKET_ROUNDS}`);
log();
const socketTimes = new Map();
for (let round = -1; round < SOCKET_ROUNDS; round++) {
  for (const engine of ["wasm", "js"]) {
    for (const mode of ["data events + push", "onread"]) {
      const rate = await socketRun(engine, mode === "onread" ? "onread" : "data", 1024);
      const key = `${engine} decoder, ${mode}`;
      if (round >= 0) socketTimes.set(key, [...(socketTimes.get(key) ?? []), rate]);
    }
  }
}
log("| receive path | messages/s | bytes/s |");
log("|---|---:|---:|");
for (const [k, v] of socketTimes) log(`| ${k} | ${fmtRate(median(v))} | ${fmtGBs(median(v), 1024)} |`);
log();

// 4: batch health scoring
log("### Health scoring, 10,000 connections per batch call");
log();
const scorers = ["wasm", "js"].map((engine) => {
  const s = createHealthScorer({ engine, capacity: 10_000 });
  for (let i = 0; i < 10_000; i++) {
    s.batch.rttMs[i] = i % 7 === 0 ? NaN : (i % 400) + 0.5;
    s.batch.jitterMs[i] = i % 13;
    s.batch.pingsSent[i] = 100;
    s.batch.pingsAnswered[i] = 100 - (i % 9);
    s.batch.framesOk[i] = 10_000 + i;
    s.batch.framesFailed[i] = i % 5;
    s.batch.bandwidthBps[i] = i % 11 === 0 ? NaN : i * 1000;
  }
  return s;
});
const scoreTimes = new Map(scorers.map((s) => [s.engine, []]));
for (let round = -50; round < 400; round++) {
  for (const s of scorers) {
    const t0 = process.hrtime.bigint();
    s.scoreBatch();
    const dt = Number(process.hrtime.bigint() - t0) / 1e3;
    if (round >= 0) scoreTimes.get(s.engine).push(dt);
  }
}
log("| engine | µs per 10k batch (median of 400) | µs (best) |");
log("|---|---:|---:|");
for (const [k, v] of scoreTimes) log(`| ${k} | ${median(v).toFixed(1)} | ${Math.min(...v).toFixed(1)} |`);
log();

// Targets
const generated = dataRates["64"].get("generated decoder (fromBinary)");
const check = (ok) => (ok ? "met" : "NOT met");
const scoreUs = (engine) => median(scoreTimes.get(engine));
log(`### Targets (64 B frames; defaults: frame decoder "${DEFAULT_FRAME_DECODER_ENGINE}", health scorer "${DEFAULT_HEALTH_ENGINE}")`);
log();
for (const engine of ["wasm", "js"]) {
  const parts = [];
  for (const key of ["64", "64 straddling"]) {
    const f = framingRates[key];
    const fr = f.get(`${engine} decoder (pushFrames)`);
    const itlp = f.get("it-length-prefixed");
    const minimal = f.get("minimal JS loop");
    parts.push(`${key === "64" ? "aligned" : "straddling"}: framing ${(fr / itlp).toFixed(1)}× it-length-prefixed (target ≥ 5×: ${check(fr >= 5 * itlp)}), ` +
      `${(fr / minimal).toFixed(2)}× the minimal JS loop (target ≥ 1×: ${check(fr >= minimal)})`);
  }
  const dr = dataRates["64"].get(`${engine} fast path (push)`);
  const def = [engine === DEFAULT_FRAME_DECODER_ENGINE ? "default frame decoder" : "", engine === DEFAULT_HEALTH_ENGINE ? "default scorer" : ""].filter(Boolean).join(", ");
  log(`- ${engine}${def ? ` (${def})` : ""}: ${parts.join("; ")}; ` +
    `Data ${(dr / generated).toFixed(1)}× the generated decoder (target ≥ 3×: ${check(dr >= 3 * generated)}); ` +
    `10k scored in ${scoreUs(engine).toFixed(0)} µs (target < 1000 µs: ${check(scoreUs(engine) < 1000)}).`);
}
const ratio = (rates, what) => (rates.get(`wasm ${what}`) / rates.get(`js ${what}`)).toFixed(2);
log(`- wasm ÷ js: framing ${Object.keys(framingRates).map((k) => `${k} B ${ratio(framingRates[k], "decoder (pushFrames)")}×`).join(", ")}; ` +
  `Data ${Object.keys(dataRates).map((k) => `${k} B ${ratio(dataRates[k], "fast path (push)")}×`).join(", ")}; ` +
  `scoring ${(scoreUs("js") / scoreUs("wasm")).toFixed(2)}× (js time ÷ wasm time).`);
