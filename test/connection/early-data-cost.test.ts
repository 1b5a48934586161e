/**
 * Early data (0-RTT, plain TCP) before the dialer is verified, held by a real sans-IO listener core: what it
 * holds is counted as the bytes that arrived, however the frames were encoded.
 */
import { describe, expect, it } from "vitest";
import { ConnectionCore } from "../../src/connection/connection-core.js";
import { ErrorCode } from "../../src/errors.js";
import { prefixWithLength } from "../../src/handshake/frame-bytes.js";
import { Identity } from "../../src/identity/identity.js";

const alice = Identity.generate();
const bob = Identity.generate();
const chat = { name: "/chat", versions: [1], alias: 5 };

/** A listener core that has read a dialer's Hello announcing early data. */
function listenerAfterHello(): ConnectionCore {
  const dialer = new ConnectionCore({ direction: "outbound", secure: false, handshake: { identity: alice, protocols: [chat], earlyData: true }, now: 0 });
  const listener = new ConnectionCore({ direction: "inbound", secure: false, handshake: { identity: bob, protocols: [chat] }, now: 0 });
  const writes = [...dialer.transportConnected(0), ...dialer.transportSecured({ type: "nonces" }, 0)].flatMap((a) => (a.type === "write" ? [a.bytes] : []));
  listener.transportConnected(0);
  listener.transportSecured({ type: "nonces" }, 0);
  for (const bytes of writes) listener.receive(bytes, 0);
  return listener;
}

describe("early data held for an unverified dialer", () => {
  it("counts a padded Data frame at the bytes it took, not at a plain encoding's size", () => {
    // Frame{data{protocol: 5, payload: "x"}} then an unknown field of 4,000 bytes: 4,010 bytes each, 7 if counted
    // as the plain encoding; 16 fit in 64 KiB, the 17th does not.
    const body = Uint8Array.from([0x0a, 0x05, 0x08, 0x05, 0x12, 0x01, 0x78, 0xa2, 0x01, 0xa0, 0x1f, ...new Uint8Array(4_000)]);
    const listener = listenerAfterHello();
    for (let i = 0; i < 16; i++) listener.receive(prefixWithLength(body), 0);
    expect(listener.state).toBe("handshaking");
    listener.receive(prefixWithLength(body), 0);
    expect(listener.closeInfo?.error?.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    expect(listener.closeInfo?.error?.message).toContain("early data exceeds the limit");
  });
});
