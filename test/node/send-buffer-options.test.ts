// The manager's send-buffer options reach its connections: a burst of unawaited sends in one turn (held in
// the connection until the turn ends, whether or not the peer reads) is cut at `sendBufferLimitBytes`, and
// with the defaults the same burst is accepted whole.
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import type { ConnectionManager } from "../../src/node/connection-manager.js";
import { cleanup, nextEvent, startManager } from "../manager/fixtures.js";

afterEach(cleanup);

const MESSAGE = 4_096;
const BURST = 64; // 256 KiB in one turn

async function burst(a: ConnectionManager, b: ConnectionManager): Promise<{ sent: number; refused: number; received: number }> {
  let received = 0;
  b.on("message", () => received++);
  const conn = await a.dial({ peerId: b.peerId, addresses: b.addresses });
  const results = await Promise.allSettled(Array.from({ length: BURST }, () => conn.send("/test", new Uint8Array(MESSAGE))));
  const refused = results.filter((r) => r.status === "rejected" && r.reason instanceof PeerlinkError && r.reason.code === ErrorCode.SEND_BUFFER_FULL).length;
  const sent = results.filter((r) => r.status === "fulfilled").length;
  // One message after the burst, awaited: once it arrived, everything sent before it has.
  const last = nextEvent(b, "message", (m) => m.data.length === 1);
  await conn.send("/test", new Uint8Array(1));
  await last;
  return { sent, refused, received: received - 1 };
}

describe("send buffer options", () => {
  it("cut a burst of unawaited sends at sendBufferLimitBytes; what was not refused is delivered", async () => {
    const a = await startManager({ sendBufferHighWaterBytes: 16_384, sendBufferLimitBytes: 65_536 });
    const b = await startManager();
    const { sent, refused, received } = await burst(a, b);
    expect(refused).toBeGreaterThan(0);
    expect(sent + refused).toBe(BURST);
    expect(sent * MESSAGE).toBeLessThanOrEqual(65_536 + MESSAGE);
    expect(received).toBe(sent);
  });

  it("accept the same burst whole with the defaults (1 MiB high-water mark, 8 MiB limit)", async () => {
    const a = await startManager();
    const b = await startManager();
    const { sent, refused, received } = await burst(a, b);
    expect(refused).toBe(0);
    expect(sent).toBe(BURST);
    expect(received).toBe(BURST);
  });
});
