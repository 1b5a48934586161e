/**
 * The application's pings (src/connection/ping-waiter.ts): each nonce is drawn afresh, so a peer streaming Pongs
 * for the nonce to come cannot make `Connection.ping()` read a round trip it did not make.
 */
import { describe, expect, it } from "vitest";
import { PingWaiter } from "../../src/connection/ping-waiter.js";

describe("a ping waiter", () => {
  it("resolves a ping only with the Pong of its own nonce, and the next nonce cannot be told from the last", async () => {
    const waiter = new PingWaiter();
    const sent: number[] = [];
    const pings = Array.from({ length: 4 }, () => waiter.start((nonce) => sent.push(nonce), undefined));
    expect(new Set(sent).size).toBe(4);
    // Sequential nonces (what a forging peer would guess) differ by 1 each time; random ones almost never do.
    expect(sent.slice(1).every((n, i) => n === ((sent[i]! + 1) >>> 0))).toBe(false);
    // A Pong for the nonce after the last one sent resolves nothing.
    waiter.pong((sent[3]! + 1) >>> 0);
    for (const nonce of sent) waiter.pong(nonce);
    const rtts = await Promise.all(pings);
    expect(rtts.every((rtt) => rtt >= 0)).toBe(true);
  });
});
