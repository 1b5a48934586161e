import { describe, expect, it } from "vitest";
import { parseArgs, USAGE } from "../../src/cli/args.js";
import { ErrorCode } from "../../src/errors.js";

describe("parsing `peerlink node` arguments", () => {
  it("defaults to TLS on 127.0.0.1 with a free port, no dials, human output", () => {
    expect(parseArgs(["node"])).toEqual({
      command: "node",
      listen: { host: "127.0.0.1", port: 0 },
      dial: [],
      tls: true,
      identityFile: undefined,
      json: false,
      handshakeTimeoutMs: 10_000,
    });
  });

  it("reads every option, with repeatable --dial and IPv6 in brackets", () => {
    const cmd = parseArgs([
      "node",
      "--listen",
      "[::1]:4001",
      "--dial",
      "127.0.0.1:4002",
      "--dial=[::1]:4003",
      "--no-tls",
      "--identity",
      "/tmp/id.pem",
      "--json",
      "--handshake-timeout",
      "1500",
    ]);
    expect(cmd).toEqual({
      command: "node",
      listen: { host: "::1", port: 4001 },
      dial: [
        { host: "127.0.0.1", port: 4002 },
        { host: "::1", port: 4003 },
      ],
      tls: false,
      identityFile: "/tmp/id.pem",
      json: true,
      handshakeTimeoutMs: 1_500,
    });
  });

  it("accepts --tls explicitly", () => {
    expect(parseArgs(["node", "--tls"])).toMatchObject({ tls: true });
  });

  it.each([
    [["node", "--tls", "--no-tls"], "contradict"],
    [["node", "--listen"], "needs a value"],
    [["node", "--listen", "--json"], "needs a value"],
    [["node", "--dial", "localhost"], "--dial"],
    [["node", "--dial", "127.0.0.1:0"], "--dial"],
    [["node", "--listen", "127.0.0.1:70000"], "--listen"],
    [["node", "--listen", "::1:4001"], "brackets"],
    [["node", "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2"], "twice"],
    [["node", "--verbose"], "unknown option"],
    [["node", "--json=yes"], "takes no value"],
    [["node", "--handshake-timeout", "soon"], "--handshake-timeout"],
    [["node", "--handshake-timeout", "0"], "--handshake-timeout"],
    [["serve"], "unknown command"],
    [[], "missing command"],
  ])("rejects %j with INVALID_ARGUMENT mentioning %s", (argv, fragment) => {
    expect(() => parseArgs(argv)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining(fragment) }));
  });

  it.each([[["--help"]], [["-h"]], [["help"]], [["node", "--listen", "x", "--help"]]])("treats %j as a request for help", (argv) => {
    expect(parseArgs(argv)).toEqual({ command: "help" });
  });

  it("documents every option and the JSON-lines contract in the usage text", () => {
    for (const option of ["--listen", "--dial", "--tls", "--no-tls", "--identity", "--json", "--handshake-timeout", "--help"]) {
      expect(USAGE).toContain(option);
    }
    expect(USAGE).toContain('"event":"connection:close"');
  });
});
