import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError, reportedError } from "../src/errors.js";

describe("reportedError", () => {
  it("is a PeerlinkError with its code, message, cause and initiator, and no stack frames", () => {
    const cause = new Error("socket hang up");
    const error = reportedError(ErrorCode.CONNECTION_CLOSED, "peer closed the connection", { cause, initiator: "remote" });
    expect(error).toBeInstanceOf(PeerlinkError);
    expect(error).toMatchObject({ code: ErrorCode.CONNECTION_CLOSED, rawMessage: "peer closed the connection", initiator: "remote", cause });
    expect(error.stack).toBe("PeerlinkError: [CONNECTION_CLOSED] peer closed the connection");
    // An ordinary PeerlinkError made right after still has its frames: the limit was put back.
    expect(new PeerlinkError(ErrorCode.INTERNAL, "x").stack?.split("\n").length).toBeGreaterThan(1);
  });

  it("puts the stack trace limit back when construction throws", () => {
    const before = Error.stackTraceLimit;
    const hostile = { get cause(): never { throw new Error("hostile options"); } };
    expect(() => reportedError(ErrorCode.INTERNAL, "x", hostile as never)).toThrow("hostile options");
    expect(Error.stackTraceLimit).toBe(before);
  });
});
