/** The `gater` and `allowList` options are validated in the one validation step, every problem named at once. */
import { describe, expect, it } from "vitest";
import { Identity } from "../../../src/identity/identity.js";
import { checkManagerOptions, resolveManagerOptions } from "../../../src/manager/manager-options.js";

describe("gater and allowList options", () => {
  it("lists every problem of both options together with the others", () => {
    const problems = checkManagerOptions({
      gater: { denyPeer: "yes", denyEverything: () => true },
      allowList: { peers: ["not-a-peer"], subnets: [] },
      maxFrameSize: -1,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        "unknown option gater.denyEverything",
        expect.stringMatching(/^gater\.denyPeer must be a function/),
        "unknown option allowList.subnets",
        expect.stringMatching(/^allowList\.peers\[0\] is not a peer id/),
        expect.stringMatching(/^maxFrameSize/),
      ]),
    );
    expect(checkManagerOptions({ gater: 5 })).toEqual([expect.stringMatching(/^gater must be an object/)]);
    expect(checkManagerOptions({ allowList: ["10.0.0.1"] })).toEqual([expect.stringMatching(/^allowList must be/)]);
  });

  it("defaults to no gater and an empty allow-list; accepts a gater class instance and CIDR entries", () => {
    const identity = Identity.generate();
    const defaults = resolveManagerOptions({ identity });
    expect(defaults.gater).toBeUndefined();
    expect(defaults.allowList.empty).toBe(true);
    class Gater {
      denyPeer(): boolean {
        return false;
      }
    }
    const resolved = resolveManagerOptions({ identity, gater: new Gater(), allowList: { addresses: ["10.0.0.0/8", "::1"], peers: [identity.peerId.toString()] } });
    expect(resolved.gater).toBeInstanceOf(Gater);
    expect(resolved.allowList.allowsAddress("10.1.2.3")).toBe(true);
    expect(resolved.allowList.allowsPeer(identity.peerId)).toBe(true);
  });
});
