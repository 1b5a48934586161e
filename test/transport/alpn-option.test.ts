// The ALPN option given to Node's TLS sockets: a node's frozen list in wire form, made once.
import * as tls from "node:tls";
import { describe, expect, it } from "vitest";
import { alpnOption } from "../../src/transport/alpn.js";

const nodeWireForm = (protocols: string[]): Buffer => {
  const out: { ALPNProtocols?: Buffer } = {};
  (tls as unknown as { convertALPNProtocols(p: string[], o: object): void }).convertALPNProtocols(protocols, out);
  return out.ALPNProtocols as Buffer;
};

describe("alpnOption", () => {
  it("gives a frozen list as the bytes Node would make of it, the same Buffer every time", () => {
    const list = Object.freeze(["peerlink/1+cert", "peerlink/1"]);
    const wire = alpnOption(list);
    expect(Buffer.isBuffer(wire) && wire.equals(nodeWireForm([...list]))).toBe(true);
    expect(alpnOption(list)).toBe(wire);
    expect((alpnOption(Object.freeze(["peerlink/1"])) as Buffer).equals(nodeWireForm(["peerlink/1"]))).toBe(true);
  });

  it("gives a list that can still change as a copy, read now", () => {
    const list = ["peerlink/1"];
    const option = alpnOption(list);
    expect(option).toEqual(["peerlink/1"]);
    list.push("x");
    expect(option).toEqual(["peerlink/1"]);
    expect(alpnOption(list)).toEqual(["peerlink/1", "x"]);
  });
});
