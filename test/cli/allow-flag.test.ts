/** `peerlink node --allow`: IPs, CIDR blocks and peer ids into the allow-list option. */
import { describe, expect, it } from "vitest";
import { parseArgs, type NodeCommand } from "../../src/cli/args.js";
import { nodeOptions } from "../../src/cli/node.js";
import { usage } from "../../src/cli/usage.js";
import { ErrorCode, PeerlinkError } from "../../src/errors.js";
import { Identity } from "../../src/identity/identity.js";
import { resolveManagerOptions } from "../../src/manager/manager-options.js";

describe("--allow", () => {
  it("sorts IPs and CIDR blocks from peer ids, and the node's allow-list matches them", () => {
    const peer = Identity.generate().peerId.toString();
    const command = parseArgs(["node", "--allow", "10.0.0.0/8", "--allow", peer, "--allow=::1", "--allow", "192.168.1.7"]) as NodeCommand;
    expect(command.allowList).toEqual({ peers: [peer], addresses: ["10.0.0.0/8", "::1", "192.168.1.7"] });
    const allow = resolveManagerOptions(nodeOptions(command, Identity.generate())).allowList;
    expect([allow.allowsAddress("10.9.9.9"), allow.allowsAddress("::1"), allow.allowsAddress("192.168.1.8"), allow.allowsPeer(peer)]).toEqual([true, true, false, true]);
    expect((parseArgs(["node"]) as NodeCommand).allowList).toEqual({ peers: [], addresses: [] });
  });

  it("refuses a value that is neither, naming it, as a usage error", () => {
    for (const bad of ["10.0.0.0/33", "not-a-peer", "example.com"]) {
      let error: unknown;
      try {
        parseArgs(["node", "--allow", bad]);
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(PeerlinkError);
      expect((error as PeerlinkError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect((error as PeerlinkError).message).toContain(`--allow: ${JSON.stringify(bad)}`);
    }
  });

  it("is documented in the usage text", () => {
    expect(usage()).toMatch(/--allow IP\|CIDR\|PEERID +exempt from limits/);
  });
});
