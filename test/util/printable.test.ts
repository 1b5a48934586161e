/**
 * Peer text on an operator's terminal and in logs (src/util/printable.ts), and where the CLI and the debug log
 * use it: a peer's Goodbye detail or message must not move the cursor, retitle the terminal, forge a line or
 * reorder text.
 */
import { describe, expect, it } from "vitest";
import { formatNodeEvent } from "../../src/cli/events.js";
import { formatLogLine } from "../../src/observability/logger.js";
import { printable, printableJson } from "../../src/util/printable.js";

/** What a hostile peer puts in its Goodbye detail: clear screen, a terminal title (OSC), a forged line, C1 CSI, RLO. */
const HOSTILE = "bye\u001b[2J\u001b]0;owned\u0007\r\nopen  inbound FORGEDPEERID 6.6.6.6:1\u009b31m\u202eevil\u2028x\u007f";
const RAW = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe("printable", () => {
  it("escapes every control, separator and bidi character, and leaves other text as it is", () => {
    expect(printable(HOSTILE)).toBe(
      "bye\\x1b[2J\\x1b]0;owned\\x07\\x0d\\x0aopen  inbound FORGEDPEERID 6.6.6.6:1\\x9b31m\\u202eevil\\u2028x\\x7f",
    );
    expect(printable("héllo wörld ✓ 你好 🙂")).toBe("héllo wörld ✓ 你好 🙂");
  });

  it("keeps JSON the same value", () => {
    const json = printableJson(JSON.stringify({ detail: HOSTILE }));
    expect(json).not.toMatch(RAW);
    expect(JSON.parse(json)).toEqual({ detail: HOSTILE });
  });
});

describe("what the CLI prints of a peer's text", () => {
  const close = { event: "connection:close", peer: "p".repeat(52), reason: "normal", initiator: "remote", detail: HOSTILE } as const;

  it("prints one line per event, with no raw control character, as text and as JSON", () => {
    const text = formatNodeEvent(close, false);
    expect(text.split("\n")).toHaveLength(1);
    expect(text).not.toMatch(RAW);
    expect(text).toContain("\\x1b[2J");
    const json = formatNodeEvent(close, true);
    expect(json).not.toMatch(RAW);
    expect(JSON.parse(json)).toEqual(close);
    const message = formatNodeEvent({ event: "message", peer: "p".repeat(52), protocol: "/chat", size: 3, base64: "", utf8: HOSTILE }, false);
    expect(message).not.toMatch(RAW);
  });

  it("keeps the peer list's lines", () => {
    const row = { peer: "p".repeat(52), state: "open", direction: "inbound", address: "127.0.0.1:1", rttMs: 1, health: null } as const;
    expect(formatNodeEvent({ event: "peers", peers: [row, row] } as never, false).split("\n")).toHaveLength(2);
  });

  it("writes the debug log's values escaped too", () => {
    const line = formatLogLine({ at: 0, subsystem: "node", level: "info", event: "closed", fields: { detail: HOSTILE } } as never);
    expect(line).not.toMatch(RAW);
    expect(line).toContain("\\u001b[2J");
  });
});
