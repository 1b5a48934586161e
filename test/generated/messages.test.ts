import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { HelloSchema, AuthSchema, ChannelBinding, KeyType } from "../../generated/peerlink/v1/handshake_pb.js";
import { PingSchema, PongSchema } from "../../generated/peerlink/v1/ping_pb.js";
import { GoodbyeReason, GoodbyeSchema } from "../../generated/peerlink/v1/goodbye_pb.js";
import { CapabilitySchema, CapabilityUpdateSchema, ProtocolSupportSchema } from "../../generated/peerlink/v1/capability_pb.js";
import { DataSchema } from "../../generated/peerlink/v1/data_pb.js";
import { BandwidthProbeSchema, BandwidthReportSchema } from "../../generated/peerlink/v1/bandwidth_pb.js";
import { DisconnectReason, reasonFromWire, reasonToWire } from "../../src/reasons.js";

const bytes = (...b: number[]) => Uint8Array.from(b);

const hello: MessageInitShape<typeof HelloSchema> = {
  minVersion: 1,
  maxVersion: 3,
  peerId: new Uint8Array(32).fill(7),
  keyType: KeyType.ED25519,
  publicKey: new Uint8Array(32).fill(9),
  nonce: new Uint8Array(32).fill(1),
  protocols: [{ name: "/chat", versions: [1, 2], alias: 4 }],
  capabilities: [{ name: "peerlink.bandwidth-probe", version: 1, required: false }],
  listenAddrs: ["127.0.0.1:4001", "[::1]:4001"],
  binding: ChannelBinding.TLS_EXPORTER,
  proof: new Uint8Array(64).fill(3),
  earlyData: true,
  agent: "peerlink/0.1.0",
};

// One populated value per message type in proto/peerlink/v1.
const samples: [string, DescMessage, Record<string, unknown>][] = [
  ["Hello", HelloSchema, hello],
  ["Auth", AuthSchema, { proof: new Uint8Array(64).fill(5) }],
  ["Ping", PingSchema, { nonce: 0xffffffff, timestampUs: 0xfffffffe }],
  ["Pong", PongSchema, { nonce: 1, timestampUs: 123456789 }],
  ["Goodbye", GoodbyeSchema, { reason: GoodbyeReason.RATE_LIMITED, detail: "slow down", retryAfterMs: 30000 }],
  ["Capability", CapabilitySchema, { name: "x", version: 2, required: true }],
  ["ProtocolSupport", ProtocolSupportSchema, { name: "/sync", versions: [3], alias: 9 }],
  ["CapabilityUpdate", CapabilityUpdateSchema, { added: [{ name: "a", version: 1 }], removed: ["b"], protocolsAdded: [{ name: "/p", versions: [1], alias: 2 }], protocolsRemoved: ["/q"] }],
  ["Data", DataSchema, { protocol: 4, payload: bytes(1, 2, 3) }],
  ["BandwidthProbe", BandwidthProbeSchema, { probeId: 3, index: 1, count: 8, padding: new Uint8Array(100) }],
  ["BandwidthReport", BandwidthReportSchema, { probeId: 3, framesReceived: 8, bytesReceived: 64 * 1048576, elapsedUs: 1500 }],
];

describe("every wire message", () => {
  for (const [name, schema, init] of samples) {
    it(`${name} round-trips through its binary encoding`, () => {
      const message = create(schema, init as never);
      const encoded = toBinary(schema, message);
      expect(encoded.length).toBeGreaterThan(0);
      const decoded = fromBinary(schema, encoded);
      expect(decoded).toEqual(message);
      expect(toBinary(schema, decoded)).toEqual(encoded);
    });
  }

  it("every Frame kind round-trips inside the envelope", () => {
    const kinds = FrameSchema.oneofs[0]!.fields.map((f) => f.localName);
    expect(kinds).toEqual(["data", "ping", "pong", "hello", "auth", "goodbye", "capabilityUpdate", "bandwidthProbe", "bandwidthReport", "peerAddresses"]);
    for (const field of FrameSchema.oneofs[0]!.fields) {
      const frame = create(FrameSchema, { kind: { case: field.localName, value: {} } as never });
      const decoded = fromBinary(FrameSchema, toBinary(FrameSchema, frame));
      expect(decoded.kind.case).toBe(field.localName);
    }
  });
});

describe("unknown fields from a newer peer", () => {
  it("are preserved through decode and re-encode", () => {
    // A Ping with an extra field 15 (varint 42) and field 16 (bytes "hi"), as a later minor version could add.
    const wire = bytes(0x08, 0x07, 0x78, 0x2a, 0x82, 0x01, 0x02, 0x68, 0x69);
    const ping = fromBinary(PingSchema, wire);
    expect(ping.nonce).toBe(7);
    expect(toBinary(PingSchema, ping)).toEqual(wire);
  });

  it("inside a Frame do not prevent decoding the known kind", () => {
    const wire = bytes(0x12, 0x02, 0x08, 0x05, 0xf8, 0x01, 0x01); // ping{nonce 5} + Frame field 31 varint 1
    const frame = fromBinary(FrameSchema, wire);
    expect(frame.kind).toEqual({ case: "ping", value: expect.objectContaining({ nonce: 5 }) });
    expect(toBinary(FrameSchema, frame)).toEqual(wire);
  });
});

describe("bytes written out by hand (the wire format is pinned)", () => {
  it("decode the PROTOCOL.md example: Frame{ping{nonce 7, timestamp_us 1000}}", () => {
    const wire = bytes(0x07, 0x12, 0x05, 0x08, 0x07, 0x10, 0xe8, 0x07);
    expect(wire[0]).toBe(wire.length - 1);
    const frame = fromBinary(FrameSchema, wire.subarray(1));
    expect(frame.kind.case).toBe("ping");
    expect(frame.kind.value).toMatchObject({ nonce: 7, timestampUs: 1000 });
    expect(toBinary(FrameSchema, create(FrameSchema, { kind: { case: "ping", value: { nonce: 7, timestampUs: 1000 } } }))).toEqual(wire.subarray(1));
  });

  it("decode a Data frame and a Goodbye frame", () => {
    // Frame.data (field 1, LEN) { protocol: 3, payload: "ok" }
    const data = fromBinary(FrameSchema, bytes(0x0a, 0x06, 0x08, 0x03, 0x12, 0x02, 0x6f, 0x6b));
    expect(data.kind.case).toBe("data");
    expect(data.kind.value).toMatchObject({ protocol: 3, payload: bytes(0x6f, 0x6b) });
    // Frame.goodbye (field 6) { reason: PEER_BANNED (6), retry_after_ms: 300 }
    const bye = fromBinary(FrameSchema, bytes(0x32, 0x05, 0x08, 0x06, 0x18, 0xac, 0x02));
    expect(bye.kind.case).toBe("goodbye");
    expect(bye.kind.value).toMatchObject({ reason: GoodbyeReason.PEER_BANNED, retryAfterMs: 300, detail: "" });
  });

  it("keep the goodbye reason numbers other languages rely on", () => {
    expect([GoodbyeReason.NORMAL, GoodbyeReason.SHUTDOWN, GoodbyeReason.TIMEOUT, GoodbyeReason.PROTOCOL_VIOLATION,
      GoodbyeReason.RESOURCE_CONSTRAINT, GoodbyeReason.PEER_BANNED, GoodbyeReason.NETWORK_RESTRUCTURE,
      GoodbyeReason.ALREADY_CONNECTED, GoodbyeReason.INCOMPATIBLE_VERSION, GoodbyeReason.SELF_CONNECTION,
      GoodbyeReason.UNEXPECTED_IDENTITY, GoodbyeReason.RATE_LIMITED, GoodbyeReason.AUTHENTICATION_FAILED,
      GoodbyeReason.CONNECTION_LOST]).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });
});

describe("the disconnect reasons and the wire's GoodbyeReason", () => {
  const sendable = Object.values(DisconnectReason).filter((r) => r !== DisconnectReason.CONNECTION_LOST);

  it("map one to one for every reason a Goodbye may carry", () => {
    const wire = sendable.map(reasonToWire);
    expect(new Set(wire).size).toBe(sendable.length);
    expect(wire.map(reasonFromWire)).toEqual(sendable);
    expect(GoodbyeReason[reasonToWire(DisconnectReason.RESOURCE_CONSTRAINT)]).toBe("RESOURCE_CONSTRAINT");
  });

  it("never put connection_lost in a Goodbye, and read a received CONNECTION_LOST as normal (PROTOCOL.md §8)", () => {
    expect(reasonToWire(DisconnectReason.CONNECTION_LOST)).toBe(GoodbyeReason.NORMAL);
    expect(reasonFromWire(GoodbyeReason.CONNECTION_LOST)).toBe(DisconnectReason.NORMAL);
    const bye = fromBinary(FrameSchema, bytes(0x32, 0x02, 0x08, 0x0e));
    expect(bye.kind.value).toMatchObject({ reason: GoodbyeReason.CONNECTION_LOST });
  });

  it("read unknown and unspecified values as normal", () => {
    expect(reasonFromWire(99 as GoodbyeReason)).toBe("normal");
    expect(reasonFromWire(GoodbyeReason.UNSPECIFIED)).toBe("normal");
  });
});
