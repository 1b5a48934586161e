// The parts of a Hello that are the same on every connection of a node are validated and encoded once, and
// shared by the nodes of a process whose options are equal; a list changed in place is never served stale.
import { describe, expect, it } from "vitest";
import { ErrorCode, isPeerlinkError } from "../../src/errors.js";
import { helloTemplate } from "../../src/handshake/hello-template.js";

const protocols = () => [{ name: "/chat", versions: [1, 2], alias: 1 }];
const capabilities = () => [{ name: "relay", version: 1 }];

describe("the Hello template", () => {
  it("is one object for nodes whose lists are different arrays with equal values", () => {
    const a = helloTemplate(protocols(), capabilities(), [], "agent/1");
    const b = helloTemplate(protocols(), capabilities(), [], "agent/1");
    expect(b).toBe(a);
  });

  it("is another for other values, and for a list changed in place", () => {
    const list = protocols();
    const first = helloTemplate(list, capabilities(), [], "agent/2");
    expect(helloTemplate(protocols(), capabilities(), ["127.0.0.1:1"], "agent/2")).not.toBe(first);
    expect(helloTemplate(protocols(), capabilities(), [], "agent/3")).not.toBe(first);
    list[0]!.versions.push(3);
    const changed = helloTemplate(list, capabilities(), [], "agent/2");
    expect(changed).not.toBe(first);
    expect(changed.protocols[0]!.versions).toEqual([1, 2, 3]);
  });

  it("still validates a list whose values equal no valid template", () => {
    let error: unknown;
    try {
      helloTemplate([{ name: "/chat", versions: [1], alias: 1 }, { name: "/chat", versions: [1], alias: 2 }], [], [], "agent/4");
    } catch (e) {
      error = e;
    }
    expect(isPeerlinkError(error, ErrorCode.INVALID_ARGUMENT)).toBe(true);
  });
});
