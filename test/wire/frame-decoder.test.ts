import { create, toBinary } from "@bufbuild/protobuf";
import { once } from "node:events";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { HelloSchema } from "../../generated/peerlink/v1/handshake_pb.js";
import { isPeerlinkError } from "../../src/errors.js";
import { encodeDataFrame, encodeFrame, encodePingFrame, encodePongFrame } from "../../src/wire/frame-encoder.js";
import { createFrameDecoder, type FrameDecoder, type FrameSink } from "../../src/wire/frame-decoder.js";
import { MAX_OTHER_FIELDS } from "../../src/wire/frame-shape.js";
import { currentFrameCore } from "../../src/wire/wasm-frame-core.js";
import { concat, hex, lengthDelimited, recordingSink, runDecoder, tag, varintBytes, type Event } from "./frame-fixtures.js";

const ENGINES = ["wasm", "js"] as const;

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (error) {
    return isPeerlinkError(error) ? error.code : `not a PeerlinkError: ${String(error)}`;
  }
  return undefined;
}

describe.each(ENGINES)("a %s frame decoder", (engine) => {
  const make = (maxFrameSize?: number): FrameDecoder =>
    createFrameDecoder(maxFrameSize === undefined ? { engine } : { engine, maxFrameSize });

  describe("receiving an oversized length prefix", () => {
    it("rejects it with FRAME_TOO_LARGE before buffering any of the body, and memory does not grow", () => {
      const decoder = make();
      const memoryBefore = currentFrameCore()?.memory.buffer.byteLength;
      const prefix = [0x81, 0x80, 0x80, 0x01]; // 2 MiB + 1
      expect(codeOf(() => decoder.push(concat([prefix, new Uint8Array(60_000)]), recordingSink([])))).toBe(
        "FRAME_TOO_LARGE",
      );
      expect(decoder.bufferedBytes).toBe(0);
      expect(currentFrameCore()?.memory.buffer.byteLength).toBe(memoryBefore);
      decoder.dispose();
    });

    it("rejects it as soon as a prefix split across chunks is complete", () => {
      const decoder = make(1000);
      const sink = recordingSink([]);
      decoder.push(Uint8Array.from([0xe9]), sink);
      expect(decoder.bufferedBytes).toBe(1);
      expect(codeOf(() => decoder.push(Uint8Array.from([0x07, 1, 2, 3]), sink))).toBe("FRAME_TOO_LARGE"); // 1001
      expect(decoder.bufferedBytes).toBe(0);
      decoder.dispose();
    });

    it("accepts a frame of exactly the maximum size", () => {
      const body = toBinary(FrameSchema, create(FrameSchema, { kind: { case: "data", value: { payload: new Uint8Array(100) } } }));
      const decoder = make(body.length);
      expect(runDecoder(decoder, [encodeDataFrame(0, new Uint8Array(100))]).events).toHaveLength(1);
      decoder.dispose();
      const smaller = make(body.length - 1);
      expect(runDecoder(smaller, [encodeDataFrame(0, new Uint8Array(100))]).error).toBe("FRAME_TOO_LARGE");
      smaller.dispose();
    });
  });

  describe("reassembling a frame whose bytes trickle in", () => {
    it("grows its buffer with the bytes received, never with the declared length, and shrinks back after the frame", () => {
      const decoder = make();
      const base = decoder.bufferCapacity;
      expect(base).toBeLessThanOrEqual(64 * 1024);
      const payload = new Uint8Array(1_000_000).map((_, i) => i % 253);
      const wire = encodeDataFrame(3, payload); // declares about 1 MB
      const events: Event[] = [];
      const sink = recordingSink(events);
      decoder.push(wire.subarray(0, 10), sink);
      expect(decoder.bufferedBytes).toBe(10);
      expect(decoder.bufferCapacity).toBeLessThanOrEqual(base + 20);
      let received = 10;
      let largest = 0;
      while (received < 300_000) {
        decoder.push(wire.subarray(received, received + 1000), sink);
        received += 1000;
        largest = Math.max(largest, decoder.bufferCapacity);
        expect(decoder.bufferCapacity).toBeLessThanOrEqual(Math.max(base, 2 * received));
      }
      expect(largest).toBeLessThan(700_000);
      decoder.push(wire.subarray(received), sink);
      expect(events).toEqual([["data", 3, hex(payload)]]);
      expect(decoder.bufferCapacity).toBeLessThanOrEqual(64 * 1024);
      decoder.dispose();
    });

    it("applies a lowered frame limit to the next prefix, and a limit raised by the sink to the rest of the same push", () => {
      const decoder = createFrameDecoder({ engine, frameLimit: 100 });
      expect(decoder.frameLimit).toBe(100);
      const big = encodeDataFrame(1, new Uint8Array(500));
      expect(runDecoder(decoder, [big]).error).toBe("FRAME_TOO_LARGE");
      decoder.dispose();

      const raising = createFrameDecoder({ engine, frameLimit: 100 });
      const events: Event[] = [];
      const record = recordingSink(events);
      const sink = { ...record, onPing: (n: number, t: number) => (record.onPing(n, t), raising.setFrameLimit(1_048_576)) };
      raising.push(concat([encodePingFrame(1, 1), big]), sink);
      expect(events.map((e) => e[0])).toEqual(["ping", "data"]);
      raising.setFrameLimit(10);
      expect(codeOf(() => raising.push(big, sink))).toBe("FRAME_TOO_LARGE");
      raising.dispose();
    });

    it("refuses a frame limit outside [0, maxFrameSize] with INVALID_ARGUMENT", () => {
      const decoder = make(1000);
      for (const limit of [-1, 1.5, 1001, NaN]) expect(codeOf(() => decoder.setFrameLimit(limit))).toBe("INVALID_ARGUMENT");
      expect(decoder.frameLimit).toBe(1000);
      decoder.dispose();
      expect(codeOf(() => createFrameDecoder({ engine, maxFrameSize: 10, frameLimit: 11 }))).toBe("INVALID_ARGUMENT");
    });
  });

  describe("after an error", () => {
    it("has delivered the frames before it and throws the same error on every later push", () => {
      const decoder = make();
      const events: Event[] = [];
      const sink = recordingSink(events);
      let first: unknown;
      try {
        decoder.push(concat([encodePingFrame(1, 2), [0x80, 0x00], encodePingFrame(3, 4)]), sink);
      } catch (error) {
        first = error;
      }
      expect(isPeerlinkError(first, "MALFORMED_FRAME")).toBe(true);
      expect(events).toEqual([["ping", 1, 2]]);
      expect(decoder.failed).toBe(true);
      expect(() => decoder.push(encodePingFrame(5, 6), sink)).toThrow(first as Error);
      expect(events).toHaveLength(1);
      decoder.dispose();
    });

    it("fails with the sink's own error when a sink method throws", () => {
      const decoder = make();
      const boom = new Error("sink failed");
      const sink = { ...recordingSink([]), onPong: () => { throw boom; } };
      expect(() => decoder.push(concat([encodePongFrame(1, 1), encodePongFrame(2, 2)]), sink)).toThrow(boom);
      expect(() => decoder.push(encodePongFrame(3, 3), sink)).toThrow(boom);
      decoder.dispose();
    });

    it("reports a malformed protobuf body as MALFORMED_FRAME", () => {
      const decoder = make();
      expect(runDecoder(decoder, [Uint8Array.from([2, 0x0a, 0x05])]).error).toBe("MALFORMED_FRAME");
      decoder.dispose();
    });
  });

  describe("receiving frames", () => {
    it("reassembles a 1 MiB Data frame that arrives in 64 KiB chunks", () => {
      const payload = new Uint8Array(1_048_000).map((_, i) => i % 251);
      const wire = encodeDataFrame(7, payload);
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < wire.length; i += 65_536) chunks.push(wire.subarray(i, i + 65_536));
      const decoder = make();
      const events: Event[] = [];
      for (const chunk of chunks) decoder.push(chunk, recordingSink(events));
      expect(events).toEqual([["data", 7, hex(payload)]]);
      expect(decoder.bufferedBytes).toBe(0);
      decoder.dispose();
    });

    it("hands payloads over as copies that neither the caller's Buffer nor later pushes overwrite", () => {
      const decoder = make();
      const payloads: Uint8Array[] = [];
      const sink = { ...recordingSink([]), onData: (_: number, p: Uint8Array) => payloads.push(p) };
      const chunk = Buffer.from(encodeDataFrame(1, Uint8Array.from([1, 2, 3])));
      decoder.push(chunk, sink);
      chunk.fill(0xee);
      const big = Buffer.from(encodeDataFrame(1, new Uint8Array(300).fill(5)));
      decoder.push(big, sink);
      big.fill(0xee);
      decoder.push(encodeDataFrame(1, Uint8Array.from([9, 9, 9])), sink);
      expect(payloads.map(hex)).toEqual(["010203", "05".repeat(300), "090909"]);
      decoder.dispose();
    });

    it("keeps reassembled payloads of every size intact while later frames are reassembled after them", () => {
      // Sizes around the carry's reuse and hand-over thresholds; each frame is cut by 16 KiB chunks as TLS
      // records cut them, so every one is reassembled, and later frames must not write into earlier payloads.
      const sizes = [70_000, 100, 5_000, 65_000, 3_000, 40_000, 20, 64 * 1024, 9_000];
      const expected = sizes.map((n, k) => new Uint8Array(n).map((_, i) => (i + k * 7) % 249));
      const wire = concat(expected.map((p) => encodeDataFrame(2, p)));
      const decoder = make();
      const payloads: Uint8Array[] = [];
      const sink = { ...recordingSink([]), onData: (_: number, p: Uint8Array) => payloads.push(p) };
      for (let i = 0; i < wire.length; i += 16_384) {
        const chunk = Buffer.from(wire.subarray(i, i + 16_384));
        decoder.push(chunk, sink);
        chunk.fill(0xee);
      }
      expect(payloads.map(hex)).toEqual(expected.map(hex));
      expect(decoder.bufferedBytes).toBe(0);
      decoder.dispose();
    });

    it("hands over a small payload of a frame the generated decoder parses (padded with a field it skips) as its own bytes", () => {
      // Field 100's two-byte tag keeps the frame off the fast path; the generated decoder's payload is a view
      // of the whole body, which a kept 1-byte message would otherwise pin (1 MB each, counted as 1 byte).
      const padded = (payload: Uint8Array, padBytes: number): Uint8Array => {
        const frame = encodeDataFrame(3, payload);
        let p = 0;
        while (((frame[p] as number) & 0x80) !== 0) p++;
        const body = concat([frame.subarray(p + 1), lengthDelimited(100, new Uint8Array(padBytes).fill(0x61))]);
        return concat([varintBytes(BigInt(body.length)), body]);
      };
      const decoder = make();
      const got: Array<[number, Uint8Array]> = [];
      // The generated decoder's Data arrives through onControl, with what decoding it cost.
      const sink = {
        ...recordingSink([]),
        onControl: (f: Parameters<FrameSink["onControl"]>[0]) => void (f.kind.case === "data" && got.push([f.kind.value.protocol, f.kind.value.payload])),
      };
      const payloads = [Uint8Array.of(0x78), new Uint8Array(100).fill(2), new Uint8Array(5_000).fill(3)];
      for (const payload of payloads) decoder.push(padded(payload, 1_000_000), sink);
      expect(got.map(([alias, data]) => [alias, hex(data)])).toEqual(payloads.map((p) => [3, hex(p)]));
      for (const [, data] of got) expect(data.buffer.byteLength).toBeLessThanOrEqual(2 * data.length);
      decoder.dispose();
    });

    it("leaves a Data of many fields to the walk: a few are decoded, more than a message may hold are refused", () => {
      // Field 10 is kept free for hot messages, so the fast path skips it as unknown: past 16 fields it stops.
      const data = (unknown: number): Uint8Array =>
        concat([lengthDelimited(1, [...tag(1, 0), 5, ...lengthDelimited(2, [7])]), ...Array.from({ length: unknown }, () => [0x50, 0x01])]);
      const framed = (body: Uint8Array): Uint8Array => concat([varintBytes(BigInt(body.length)), body]);
      const decoder = make();
      expect(runDecoder(decoder, [framed(data(20)), framed(data(MAX_OTHER_FIELDS))])).toEqual({
        events: [
          ["data", 5, "07"],
          ["data", 5, "07"],
        ],
      });
      expect(runDecoder(decoder, [framed(data(MAX_OTHER_FIELDS + 1))])).toEqual({ events: [], error: "PROTOCOL_VIOLATION" });
      decoder.dispose();
    });

    it("merges repeated occurrences of the same oneof message, and refuses a different case after it (one kind)", () => {
      const body = concat([
        lengthDelimited(1, [...tag(1, 0), 5]), // data{protocol: 5}
        lengthDelimited(99, [1, 2]), // unknown field
        lengthDelimited(1, lengthDelimited(2, [7, 7])), // data{payload: 0707} merges
      ]);
      // Replacing, the Data would be decoded and the frame taken as a Pong (PROTOCOL.md §1).
      const replaced = concat([lengthDelimited(1, [...tag(1, 0), 5]), lengthDelimited(3, [...tag(2, 0), 9])]);
      const decoder = make();
      expect(runDecoder(decoder, [concat([[body.length], body, [replaced.length], replaced])])).toEqual({
        events: [["data", 5, "0707"]],
        error: "PROTOCOL_VIOLATION",
      });
      decoder.dispose();
    });

    it("passes control frames with their exact body bytes, and an empty frame as a Frame without kind", () => {
      const hello = create(FrameSchema, { kind: { case: "hello", value: create(HelloSchema, { agent: "t/1", minVersion: 1, maxVersion: 1 }) } });
      const wire = encodeFrame(hello);
      const decoder = make();
      const controls: [string | undefined, string][] = [];
      const sink = { ...recordingSink([]), onControl: (f: typeof hello, b: Uint8Array) => controls.push([f.kind.case, hex(b)]) };
      decoder.push(concat([wire, [0]]), sink);
      expect(controls).toEqual([
        ["hello", hex(wire.subarray(1))],
        [undefined, ""],
      ]);
      decoder.dispose();
    });

    it("passes a frame of an unknown kind without keeping its fields (a million of them cost what known ones do)", () => {
      // Frame field 20, varint, 1,024 times (the most a message may hold besides lists): a kind from a later
      // version, ignored by the connection.
      const body = concat(Array.from({ length: MAX_OTHER_FIELDS }, () => [0xa0, 0x01, 0x01]));
      const decoder = make();
      const controls: Array<{ kind: string | undefined; unknown: number; bytes: number }> = [];
      const sink = {
        ...recordingSink([]),
        onControl: (f: { kind: { case: string | undefined }; $unknown?: unknown[] | undefined }, b: Uint8Array) =>
          void controls.push({ kind: f.kind.case, unknown: f.$unknown?.length ?? 0, bytes: b.length }),
      };
      decoder.push(concat([varintBytes(BigInt(body.length)), body]), sink);
      expect(controls).toEqual([{ kind: undefined, unknown: 0, bytes: 3 * MAX_OTHER_FIELDS }]);
      decoder.dispose();
    });

    it("fails with PROTOCOL_VIOLATION on a frame of more fields than a message may hold, before decoding them", () => {
      const body = concat(Array.from({ length: MAX_OTHER_FIELDS + 1 }, () => [0xa0, 0x01, 0x01]));
      const decoder = make();
      const controls: unknown[] = [];
      const sink = { ...recordingSink([]), onControl: (f: unknown) => void controls.push(f) };
      expect(codeOf(() => decoder.push(concat([varintBytes(BigInt(body.length)), body]), sink))).toBe("PROTOCOL_VIOLATION");
      expect(controls).toEqual([]);
      decoder.dispose();
    });

    it("hands raw frame bodies to pushFrames without parsing them", () => {
      const decoder = make();
      const bodies: string[] = [];
      decoder.pushFrames(concat([[2, 0xaa, 0xbb], [0], [1]]), (b, o, l) => bodies.push(hex(b.subarray(o, o + l))));
      decoder.pushFrames(Uint8Array.from([0xcc]), (b, o, l) => bodies.push(hex(b.subarray(o, o + l))));
      expect(bodies).toEqual(["aabb", "", "cc"]);
      decoder.dispose();
    });
  });

  describe("being disposed", () => {
    it("throws CONNECTION_CLOSED on later pushes", () => {
      const decoder = make();
      decoder.dispose();
      decoder.dispose();
      expect(codeOf(() => decoder.push(encodePingFrame(1, 1), recordingSink([])))).toBe("CONNECTION_CLOSED");
    });
  });

  describe("reading a real socket through onread into its receive buffer", () => {
    it("delivers every frame a peer on 127.0.0.1 writes", async () => {
      const frames = Array.from({ length: 2000 }, (_, i) =>
        i % 3 === 0 ? encodePingFrame(i, i * 3) : encodeDataFrame(i, new Uint8Array(i % 700).fill(i & 0xff)),
      );
      const server = net.createServer((socket) => {
        socket.end(concat(frames));
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as net.AddressInfo;
      const decoder = make();
      const events: Event[] = [];
      const sink = recordingSink(events);
      const socket = net.connect({
        port,
        host: "127.0.0.1",
        onread: {
          buffer: () => decoder.receiveBuffer(),
          callback: (n) => {
            decoder.commit(n, sink);
            return true;
          },
        },
      });
      try {
        await once(socket, "end");
      } finally {
        socket.destroy();
        server.close();
        await once(server, "close");
        decoder.dispose();
      }
      expect(events).toHaveLength(2000);
      expect(events[3]).toEqual(["ping", 3, 9]);
      expect(events[700]).toEqual(["data", 700, ""]);
      expect(events[701]).toEqual(["data", 701, hex(new Uint8Array(1).fill(701 & 0xff))]);
    });
  });
});

describe("the JS frame decoder fed owned chunks (a socket's reads)", () => {
  const make = (): FrameDecoder => createFrameDecoder({ engine: "js" });

  it("holds a large frame cut across chunks as views, and copies it once into a buffer of its own size", () => {
    const decoder = make();
    const payload = new Uint8Array(65_536).map((_, i) => i % 251);
    const wire = Uint8Array.from(encodeDataFrame(2, payload)); // slice() copies: each read its own buffer
    const got: Uint8Array[] = [];
    const sink = { ...recordingSink([]), onData: (_p: number, data: Uint8Array) => void got.push(data) };
    for (let at = 0; at < wire.length; at += 16_384) {
      const chunk = wire.slice(at, at + 16_384);
      decoder.pushOwned(chunk, sink);
      if (at + 16_384 < wire.length) {
        expect(decoder.bufferedBytes).toBe(at + 16_384);
        // Nothing allocated while the frame is held: what is held is the chunks themselves.
        expect(decoder.bufferCapacity).toBe(at + 16_384);
      }
    }
    expect(got).toHaveLength(1);
    expect(hex(got[0] as Uint8Array)).toBe(hex(payload));
    // The payload is a view of one buffer the size of the frame: no carry grown on the way.
    expect((got[0] as Uint8Array).buffer.byteLength).toBe(wire.length);
    expect((got[0] as Uint8Array).constructor).toBe(Uint8Array);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.bufferCapacity).toBe(0);
    decoder.dispose();
  });

  it("hands on a payload that fills at least half its chunk as a view of it, and copies a smaller one", () => {
    const decoder = make();
    const big = encodeDataFrame(1, new Uint8Array(8_000).fill(9));
    const small = encodeDataFrame(1, new Uint8Array(5_000).fill(8));
    const got: Uint8Array[] = [];
    const sink = { ...recordingSink([]), onData: (_p: number, data: Uint8Array) => void got.push(data) };
    const alone = big.slice();
    decoder.pushOwned(alone, sink);
    const shared = concat([small, new Uint8Array(encodeDataFrame(1, new Uint8Array(6_000)))]);
    decoder.pushOwned(shared, sink);
    expect(got.map((d) => d.length)).toEqual([8_000, 5_000, 6_000]);
    expect((got[0] as Uint8Array).buffer).toBe(alone.buffer);
    expect((got[1] as Uint8Array).buffer).not.toBe(shared.buffer); // 5,000 of 11,000 bytes: copied
    expect((got[2] as Uint8Array).buffer).toBe(shared.buffer);
    decoder.dispose();
  });

  it("stops holding views when pieces get small: what is held is copied into a carry bounded by twice the bytes received", () => {
    const decoder = make();
    const payload = new Uint8Array(1_000_000).map((_, i) => i % 253);
    const wire = Uint8Array.from(encodeDataFrame(3, payload));
    const events: Event[] = [];
    const sink = recordingSink(events);
    decoder.pushOwned(wire.slice(0, 20_000), sink);
    expect(decoder.bufferCapacity).toBe(20_000);
    let received = 20_000;
    while (received < 300_000) {
      decoder.pushOwned(wire.slice(received, received + 100), sink);
      received += 100;
      expect(decoder.bufferedBytes).toBe(received);
      expect(decoder.bufferCapacity).toBeLessThanOrEqual(2 * received);
    }
    decoder.pushOwned(wire.slice(received), sink);
    expect(events).toEqual([["data", 3, hex(payload)]]);
    decoder.dispose();
  });

  it("holds at most 128 views of one frame, then copies them into a carry", () => {
    const decoder = make();
    const payload = new Uint8Array(1_000_000).map((_, i) => i % 241);
    const wire = Uint8Array.from(encodeDataFrame(4, payload));
    const events: Event[] = [];
    const sink = recordingSink(events);
    let received = 0;
    for (let i = 0; i < 128; i++, received += 2_000) decoder.pushOwned(wire.slice(received, received + 2_000), sink);
    expect(decoder.bufferCapacity).toBe(received); // 128 views, no carry
    decoder.pushOwned(wire.slice(received, received + 2_000), sink);
    received += 2_000;
    expect(decoder.bufferCapacity).toBeGreaterThan(received); // the carry, grown ahead of the bytes
    expect(decoder.bufferCapacity).toBeLessThanOrEqual(2 * received);
    decoder.pushOwned(wire.slice(received), sink);
    expect(events).toEqual([["data", 4, hex(payload)]]);
    decoder.dispose();
  });

  it("holds the start of a frame only when it is at least half its read, so a few held bytes never pin a whole read", () => {
    const decoder = make();
    const small = encodeDataFrame(1, new Uint8Array(100));
    const big = Uint8Array.from(encodeDataFrame(1, new Uint8Array(200_000).map((_, i) => i % 249)));
    const smalls = Array.from({ length: 500 }, () => small);
    const read = concat([...smalls, big.subarray(0, 65_536 - 500 * small.length)]);
    const events: Event[] = [];
    decoder.pushOwned(read, recordingSink(events));
    // Under half of the read: copied into a carry of at most twice its bytes, the read itself let go (detaching
    // it, as a transfer to a worker would, leaves the decoder unharmed).
    expect(decoder.bufferedBytes).toBe(65_536 - 500 * small.length);
    expect(decoder.bufferCapacity).toBeLessThanOrEqual(2 * decoder.bufferedBytes);
    structuredClone(read.buffer, { transfer: [read.buffer] });
    decoder.pushOwned(big.slice(65_536 - 500 * small.length), recordingSink(events));
    expect(events).toHaveLength(501);
    expect(events[500]).toEqual(["data", 1, hex(new Uint8Array(200_000).map((_, i) => i % 249))]);
    decoder.dispose();
  });

  it("keeps nothing of a delivered payload's buffer: the application may transfer it and the stream goes on", () => {
    const decoder = make();
    const first = encodeDataFrame(1, new Uint8Array(9_000).fill(1));
    const secondPayload = new Uint8Array(20_000).map((_, i) => i & 0xff);
    const second = Uint8Array.from(encodeDataFrame(1, secondPayload));
    const got: Uint8Array[] = [];
    const sink = { ...recordingSink([]), onData: (_p: number, data: Uint8Array) => void got.push(data) };
    decoder.pushOwned(concat([first, second.subarray(0, 16_384 - first.length)]), sink);
    expect(got).toHaveLength(1);
    // A worker gets the payload's buffer without a copy (this detaches it here).
    structuredClone(got[0], { transfer: [(got[0] as Uint8Array).buffer] });
    decoder.pushOwned(second.slice(16_384 - first.length), sink);
    expect(got).toHaveLength(2);
    expect(hex(got[1] as Uint8Array)).toBe(hex(secondPayload));
    decoder.dispose();
  });

  it("copies a small payload padded out to a large frame: a kept message pins at most twice its size", () => {
    // A Data frame whose 5,000-byte payload is followed by an unknown top-level field the parser skips. (Copies
    // of up to 4 KiB are carved from shared 64 KiB slabs, as Node pools small Buffers: not this case.)
    const padded = (padBytes: number): Uint8Array => {
      const frame = encodeDataFrame(1, new Uint8Array(5_000).fill(7));
      let p = 0;
      while (((frame[p] as number) & 0x80) !== 0) p++;
      const body = concat([frame.subarray(p + 1), lengthDelimited(10, new Uint8Array(padBytes))]);
      return concat([varintBytes(BigInt(body.length)), body]);
    };
    const oneRead = make();
    const got: Uint8Array[] = [];
    const sink = { ...recordingSink([]), onData: (_p: number, data: Uint8Array) => void got.push(data) };
    oneRead.pushOwned(padded(60_000).slice(), sink);
    const reassembled = make();
    const wire = padded(1_000_000);
    for (let at = 0; at < wire.length; at += 16_384) reassembled.pushOwned(wire.slice(at, at + 16_384), sink);
    const carried = make();
    for (let at = 0; at < wire.length; at += 16_384) carried.push(wire.slice(at, at + 16_384), sink);
    expect(got.map((d) => d.length)).toEqual([5_000, 5_000, 5_000]);
    for (const data of got) expect(data.buffer.byteLength).toBeLessThanOrEqual(2 * data.length);
    oneRead.dispose();
    reassembled.dispose();
    carried.dispose();
  });

  it("stops at once when a sink disposes of it in the middle of a read", () => {
    const decoder = make();
    const events: Event[] = [];
    const record = recordingSink(events);
    const sink = { ...record, onData: (p: number, d: Uint8Array) => (record.onData(p, d), decoder.dispose()) };
    const big = encodeDataFrame(2, new Uint8Array(50_000));
    decoder.pushOwned(concat([encodeDataFrame(1, new Uint8Array(10)), encodeDataFrame(1, new Uint8Array(10)), big.subarray(0, 40_000)]), sink);
    expect(events).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.bufferCapacity).toBe(0);
  });

  it("drops what it holds on dispose, and a frame too large is refused before any of it is held", () => {
    const decoder = createFrameDecoder({ engine: "js", frameLimit: 10_000 });
    expect(codeOf(() => decoder.pushOwned(encodeDataFrame(1, new Uint8Array(20_000)).slice(0, 15_000), recordingSink([])))).toBe("FRAME_TOO_LARGE");
    expect(decoder.bufferCapacity).toBe(0);
    const other = make();
    other.pushOwned(encodeDataFrame(1, new Uint8Array(20_000)).slice(0, 15_000), recordingSink([]));
    expect(other.bufferedBytes).toBe(15_000);
    other.dispose();
    expect(other.bufferedBytes).toBe(0);
    expect(other.bufferCapacity).toBe(0);
    decoder.dispose();
  });
});

describe("the WASM frame decoder pool", () => {
  it("reuses released regions, so creating and disposing decoders does not grow memory", () => {
    createFrameDecoder({ engine: "wasm" }).dispose();
    const core = currentFrameCore();
    const before = core?.memory.buffer.byteLength;
    for (let i = 0; i < 200; i++) createFrameDecoder({ engine: "wasm" }).dispose();
    expect(currentFrameCore()).toBe(core);
    expect(core?.memory.buffer.byteLength).toBe(before);
  });

  it("fails the decoders of an instance with WASM_FAILURE when it traps, and uses a fresh instance afterwards", () => {
    const decoder = createFrameDecoder({ engine: "wasm" });
    const sibling = createFrameDecoder({ engine: "wasm" });
    const core = currentFrameCore();
    if (core === undefined) throw new Error("no core");
    const scan = core.scan;
    (core as { scan: typeof scan }).scan = () => {
      throw new WebAssembly.RuntimeError("unreachable");
    };
    try {
      expect(codeOf(() => decoder.push(encodePingFrame(1, 1), recordingSink([])))).toBe("WASM_FAILURE");
      expect(core.poisoned).toBe(true);
      expect(codeOf(() => decoder.push(encodePingFrame(1, 1), recordingSink([])))).toBe("WASM_FAILURE");
      expect(codeOf(() => sibling.push(encodePingFrame(1, 1), recordingSink([])))).toBe("WASM_FAILURE");
    } finally {
      (core as { scan: typeof scan }).scan = scan;
      decoder.dispose();
      sibling.dispose();
    }
    const next = createFrameDecoder({ engine: "wasm" });
    expect(currentFrameCore()).not.toBe(core);
    expect(runDecoder(next, [encodePingFrame(4, 5)]).events).toEqual([["ping", 4, 5]]);
    next.dispose();
  });
});

describe("creating a frame decoder", () => {
  it("rejects a bad maximum frame size or engine with INVALID_ARGUMENT", () => {
    for (const maxFrameSize of [-1, 1.5, NaN, 2 ** 31]) {
      expect(codeOf(() => createFrameDecoder({ maxFrameSize }))).toBe("INVALID_ARGUMENT");
    }
    expect(codeOf(() => createFrameDecoder({ engine: "gpu" as "js" }))).toBe("INVALID_ARGUMENT");
  });

  it("uses the js engine (the faster one in BENCHMARKS.md) and a 1 MiB maximum frame size by default", () => {
    const decoder = createFrameDecoder();
    expect(decoder.maxFrameSize).toBe(1_048_576);
    expect(decoder.engine).toBe("js");
    decoder.dispose();
  });
});
