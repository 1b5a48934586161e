/**
 * Test helper: runs two sans-IO Handshakes against each other in memory,
 * splitting the bytes each returns into frames as a receiver would.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { Handshake } from "../../src/handshake/handshake.js";
import type { HandshakeAction, HandshakeOptions } from "../../src/handshake/types.js";

/** One decoded frame with its exact body bytes. */
export interface WireFrame {
  readonly frame: Frame;
  readonly body: Uint8Array;
}

/** Splits length-prefixed bytes into frames (test-only; assumes whole frames). */
export function splitFrames(bytes: Uint8Array): WireFrame[] {
  const out: WireFrame[] = [];
  let i = 0;
  while (i < bytes.length) {
    let length = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[i++] as number;
      length += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    const body = bytes.slice(i, i + length);
    i += length;
    out.push({ frame: fromBinary(FrameSchema, body), body });
  }
  return out;
}

/** Frames of every `send` action, in order. */
export function sentFrames(actions: readonly HandshakeAction[]): WireFrame[] {
  return actions.flatMap((a) => (a.type === "send" ? splitFrames(a.bytes) : []));
}

/** One side of a pair: its handshake and everything it returned. */
export interface Side {
  readonly hs: Handshake;
  readonly actions: HandshakeAction[];
}

/** A function that may rewrite or drop a frame in flight (a relay in the middle). */
export type Tamper = (from: "dialer" | "listener", wire: WireFrame) => WireFrame | undefined;

/**
 * Starts both handshakes and delivers frames alternately until neither has
 * anything left to deliver. Early messages given are sent by the dialer right
 * after its Hello, as Data frames with `alias`.
 */
export function runPair(
  dialer: Omit<HandshakeOptions, "role">,
  listener: Omit<HandshakeOptions, "role">,
  opts: { tamper?: Tamper; early?: { alias: number; payload: Uint8Array }[] } = {},
): { dialer: Side; listener: Side } {
  const d: Side = { hs: new Handshake({ ...dialer, role: "dialer" }), actions: [] };
  const l: Side = { hs: new Handshake({ ...listener, role: "listener" }), actions: [] };
  const toListener: WireFrame[] = [];
  const toDialer: WireFrame[] = [];
  const push = (from: "dialer" | "listener", actions: HandshakeAction[]) => {
    (from === "dialer" ? d : l).actions.push(...actions);
    for (const w of sentFrames(actions)) {
      const t = opts.tamper ? opts.tamper(from, w) : w;
      if (t) (from === "dialer" ? toListener : toDialer).push(t);
    }
  };
  push("dialer", d.hs.start());
  for (const e of opts.early ?? []) {
    toListener.push(dataFrame(e.alias, e.payload));
  }
  push("listener", l.hs.start());
  while (toListener.length > 0 || toDialer.length > 0) {
    const a = toListener.shift();
    if (a && (l.hs.phase === "awaiting-hello" || l.hs.phase === "awaiting-auth" || l.hs.phase === "failed")) {
      push("listener", l.hs.receive(a.frame, a.body));
    }
    const b = toDialer.shift();
    if (b && (d.hs.phase === "awaiting-hello" || d.hs.phase === "awaiting-auth" || d.hs.phase === "failed")) {
      push("dialer", d.hs.receive(b.frame, b.body));
    }
  }
  return { dialer: d, listener: l };
}

/** Builds a Data frame as the wire would carry it. */
export function dataFrame(alias: number, payload: Uint8Array): WireFrame {
  const frame = create(FrameSchema, { kind: { case: "data", value: { protocol: alias, payload } } });
  return { frame, body: toBinary(FrameSchema, frame) };
}

/** The single `open` or `fail` action of a side, or undefined. */
export function outcome(side: Side): HandshakeAction | undefined {
  return side.actions.find((a) => a.type === "open" || a.type === "fail");
}
