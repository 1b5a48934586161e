/**
 * Wire helpers for active bandwidth probing: build the BandwidthProbe and
 * BandwidthReport frames (proto/peerlink/v1/bandwidth.proto) and compute a
 * received probe frame's encoded size without re-encoding it.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import type { ProbeFrame, ProbeReport } from "./bandwidth-probe.js";

function varintLength(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 128)) n++;
  return n;
}

/** Bytes of one proto3 uint32 field with a one-byte tag (0 is not encoded). */
function uint32Field(value: number): number {
  return value === 0 ? 0 : 1 + varintLength(value);
}

/**
 * Encoded size in bytes of `Frame{bandwidth_probe: probe}` including its
 * length prefix, as the sender wrote it (deterministic proto3 encoding).
 */
export function encodedProbeFrameBytes(probe: {
  readonly probeId: number;
  readonly index: number;
  readonly count: number;
  readonly padding: Uint8Array;
}): number {
  const padding = probe.padding.length;
  const inner =
    uint32Field(probe.probeId) +
    uint32Field(probe.index) +
    uint32Field(probe.count) +
    (padding === 0 ? 0 : 1 + varintLength(padding) + padding);
  const body = 1 + varintLength(inner) + inner;
  return varintLength(body) + body;
}

/** The Frame carrying one probe of a burst, for `connection.sendControl`. */
export function probeFrame(frame: ProbeFrame): Frame {
  return create(FrameSchema, {
    kind: {
      case: "bandwidthProbe",
      value: { probeId: frame.probeId, index: frame.index, count: frame.count, padding: frame.padding },
    },
  });
}

/** The Frame carrying a BandwidthReport, for `connection.sendControl`. */
export function reportFrame(report: ProbeReport): Frame {
  return create(FrameSchema, {
    kind: {
      case: "bandwidthReport",
      value: {
        probeId: report.probeId,
        framesReceived: report.framesReceived,
        bytesReceived: Math.min(report.bytesReceived, 0xffff_ffff),
        elapsedUs: report.elapsedUs,
      },
    },
  });
}
