import { describe, expect, it } from "vitest";
import { AUTO_BAN_FLAGS, INBOUND_RATE_FLAGS, LIMIT_FLAGS, MAINTENANCE_FLAGS, parseArgs } from "../../src/cli/args.js";
import { EVENT_SCHEMA } from "../../src/cli/events.js";
import { usage } from "../../src/cli/usage.js";
import { ErrorCode } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { resolveManagerOptions } from "../../src/manager/manager-options.js";
import { nodeOptions } from "../../src/cli/node.js";

const peerId = Identity.generate().peerId.toString();

describe("parsing `peerlink node` arguments", () => {
  it("defaults to TLS on 127.0.0.1 with a free port, the /chat protocol, human output, stdin read", () => {
    expect(parseArgs(["node"])).toMatchObject({
      command: "node",
      listen: { host: "127.0.0.1", port: 0 },
      dial: [],
      peers: [],
      protocols: ["/chat"],
      tls: true,
      identityFile: undefined,
      json: false,
      echo: false,
      table: undefined,
      stdin: true,
      metrics: undefined,
      limits: {},
      maintenance: {},
      reconnect: true,
    });
  });

  it("reads repeatable --dial, --peer and --protocol, IPv6 in brackets, --opt=value", () => {
    const cmd = parseArgs([
      "node",
      "--listen=[::1]:4001",
      "--dial",
      "127.0.0.1:4002",
      "--dial=[::1]:4003",
      "--peer",
      `${peerId}@127.0.0.1:4004`,
      "--protocol",
      "/a",
      "--protocol",
      "/b",
      "--no-tls",
      "--identity",
      "/tmp/id.pem",
      "--json",
      "--echo",
      "--metrics",
      "127.0.0.1:0",
      "--metrics-allowed-host",
      "node1.lan",
      "--metrics-allowed-host",
      "peerlink",
    ]);
    expect(cmd).toMatchObject({
      listen: { host: "::1", port: 4001 },
      dial: [
        { host: "127.0.0.1", port: 4002 },
        { host: "::1", port: 4003 },
      ],
      peers: [{ peerId, address: { host: "127.0.0.1", port: 4004 } }],
      protocols: ["/a", "/b"],
      tls: false,
      identityFile: "/tmp/id.pem",
      json: true,
      echo: true,
      metrics: { host: "127.0.0.1", port: 0 },
      metricsAllowedHosts: ["node1.lan", "peerlink"],
    });
  });

  it("refuses a --metrics-allowed-host that is not a host name", () => {
    for (const bad of ["node1.lan:9464", "", "a b", "[::1]"]) {
      expect(() => parseArgs(["node", "--metrics-allowed-host", bad])).toThrow(/--metrics-allowed-host/);
    }
  });

  it("maps every limit and interval flag to its option, and the node accepts them", () => {
    const argv = ["node"];
    for (const flag of [...Object.keys(LIMIT_FLAGS), ...Object.keys(MAINTENANCE_FLAGS)]) argv.push(`--${flag}`, "7");
    const cmd = parseArgs(argv);
    if (cmd.command !== "node") throw new Error("not a node command");
    expect(Object.keys(cmd.limits).sort()).toEqual(Object.values(LIMIT_FLAGS).sort());
    expect(Object.keys(cmd.maintenance).sort()).toEqual(Object.values(MAINTENANCE_FLAGS).sort());
    // A coherent set goes through the node's own validation.
    const ok = parseArgs(["node", "--max-per-ip", "2", "--ping-interval-ms", "500", "--ban-durations-ms", "1000,2000", "--redial-max-ms", "3000"]);
    if (ok.command !== "node") throw new Error("not a node command");
    const resolved = resolveManagerOptions(nodeOptions(ok, Identity.generate()));
    expect(resolved.limits.maxPerIp).toBe(2);
    expect(resolved.limits.banDurationsMs).toEqual([1000, 2000]);
    expect(resolved.maintenance).toMatchObject({ pingIntervalMs: 500 });
  });

  it("maps the misbehaviour flags to the misbehaviour option, and --no-inbound-rate / --no-auto-ban turn either off", () => {
    const argv = ["node"];
    for (const flag of [...Object.keys(INBOUND_RATE_FLAGS), ...Object.keys(AUTO_BAN_FLAGS)]) argv.push(`--${flag}`, "7");
    const all = parseArgs(argv);
    if (all.command !== "node") throw new Error("not a node command");
    const { inboundRate, autoBan } = all.misbehaviour;
    expect(Object.keys(inboundRate || {}).sort()).toEqual(Object.values(INBOUND_RATE_FLAGS).sort());
    expect(Object.keys(autoBan || {}).sort()).toEqual(Object.values(AUTO_BAN_FLAGS).sort());
    const some = parseArgs(["node", "--inbound-messages-per-second", "500", "--auto-ban-strikes", "3"]);
    if (some.command !== "node") throw new Error("not a node command");
    const resolved = resolveManagerOptions(nodeOptions(some, Identity.generate())).misbehaviour;
    expect(resolved.inboundRate?.messagesPerSecond).toBe(500);
    expect(resolved.autoBan?.strikes).toBe(3);
    const off = parseArgs(["node", "--no-inbound-rate", "--no-auto-ban"]);
    if (off.command !== "node") throw new Error("not a node command");
    expect(resolveManagerOptions(nodeOptions(off, Identity.generate())).misbehaviour).toEqual({ inboundRate: undefined, autoBan: undefined });
    expect(() => parseArgs(["node", "--no-auto-ban", "--auto-ban-strikes", "3"])).toThrow(/--auto-ban-strikes given with --no-auto-ban/);
  });

  it.each([
    [["node", "--tls", "--no-tls"], "contradict"],
    [["node", "--listen"], "argument missing"],
    [["node", "--dial", "localhost"], "--dial"],
    [["node", "--dial", "127.0.0.1:0"], "--dial"],
    [["node", "--listen", "127.0.0.1:70000"], "--listen"],
    [["node", "--listen", "::1:4001"], "brackets"],
    [["node", "--peer", "127.0.0.1:4001"], "PEERID@HOST:PORT"],
    [["node", "--peer", "nobody@127.0.0.1:4001"], "not a peer id"],
    [["node", "--peer", `${peerId}@127.0.0.1:1`, "--no-reconnect"], "--no-reconnect"],
    [["node", "--verbose"], "Unknown option"],
    [["node", "--max-per-ip", "many"], "--max-per-ip"],
    [["node", "extra"], "unexpected argument"],
    [["keygen"], "needs one key FILE"],
    [["serve"], "unknown command"],
    [[], "missing command"],
  ])("rejects %j with INVALID_ARGUMENT mentioning %s", (argv, fragment) => {
    expect(() => parseArgs(argv)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining(fragment) }));
  });

  it.each([[["--help"]], [["-h"]], [["help"]], [["node", "--listen", "x", "--help"]]])("treats %j as a request for help", (argv) => {
    expect(parseArgs(argv)).toEqual({ command: "help" });
  });

  it("reads keygen, id and --version", () => {
    expect(parseArgs(["keygen", "k.pem", "--force"])).toEqual({ command: "keygen", file: "k.pem", force: true, json: false });
    expect(parseArgs(["id", "k.pem", "--json"])).toEqual({ command: "id", file: "k.pem", json: true });
    expect(parseArgs(["--version"])).toEqual({ command: "version" });
  });

  it("documents every option, every limit and interval flag with its default, and every JSON event", () => {
    const text = usage();
    for (const option of ["--listen", "--dial", "--peer", "--protocol", "--tls", "--no-tls", "--identity", "--json", "--echo", "--metrics", "--version", "--help"]) {
      expect(text).toContain(option);
    }
    for (const flag of [...Object.keys(LIMIT_FLAGS), ...Object.keys(MAINTENANCE_FLAGS), ...Object.keys(INBOUND_RATE_FLAGS), ...Object.keys(AUTO_BAN_FLAGS)]) {
      expect(text).toMatch(new RegExp(`--${flag} N +\\[default: [0-9]`));
    }
    for (const option of ["--no-inbound-rate", "--no-auto-ban"]) expect(text).toContain(option);
    for (const event of Object.keys(EVENT_SCHEMA)) expect(text).toContain(`  ${event} `);
  });
});
