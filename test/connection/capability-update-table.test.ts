import { describe, expect, it } from "vitest";
import { CapabilityTable, type CapabilityUpdateInput } from "../../src/connection/capability-update.js";
import { ErrorCode } from "../../src/errors.js";
import { throwsWithCode } from "../helpers/error-code.js";

const none: CapabilityUpdateInput = { added: [], removed: [], protocolsAdded: [], protocolsRemoved: [] };
const chatLocal = { capabilities: [], protocols: [{ name: "/chat", versions: [1], alias: 5 }] };
const chatRemote = { capabilities: [], protocols: [{ name: "/chat", versions: [1], alias: 9 }] };

describe("a capability table", () => {
  it("applies removals before additions, so one update can move a protocol to a new alias", () => {
    const table = new CapabilityTable(chatLocal, chatRemote);
    const move = { ...none, protocolsRemoved: ["/chat"], protocolsAdded: [{ name: "/chat", versions: [1], alias: 10 }] };
    expect(table.check(move, "remote")).toBeUndefined();
    expect(table.apply(move, "remote")).toBe(true);
    expect(table.agreed.protocols).toEqual([{ name: "/chat", version: 1, localAlias: 5, remoteAlias: 10 }]);
  });

  it("reports no change when an update leaves the agreed sets as they were", () => {
    const table = new CapabilityTable(chatLocal, chatRemote);
    expect(table.apply({ ...none, added: [{ name: "only-theirs", version: 1 }], protocolsRemoved: ["/nope"] }, "remote")).toBe(false);
  });

  it("weighs an update by the lists before it and its own entries: a fill costs what the empty after it does", () => {
    // Counted by the lists before it alone, a fill cost 1 and only the empty after it paid for both.
    const table = new CapabilityTable(chatLocal, chatRemote);
    const versions = Array.from({ length: 16 }, (_, v) => v + 1);
    const names = Array.from({ length: 100 }, (_, i) => `/p${i}`);
    const fill = { ...none, protocolsAdded: names.map((name, i) => ({ name, versions, alias: 100 + i })) };
    // 2 entries before it, 100 protocols of 16 versions: 1 + (2 + 1,700) / 16.
    expect(table.updateWeight(fill)).toBe(107);
    table.apply(fill, "remote");
    // 1,602 entries before it, 100 names.
    expect(table.updateWeight({ ...none, protocolsRemoved: names })).toBe(107);
    expect(table.updateWeight(none)).toBe(1 + Math.floor(1_602 / 16));
  });

  it("checks without changing anything", () => {
    const table = new CapabilityTable(chatLocal, chatRemote);
    const before = table.agreed;
    expect(table.check({ ...none, protocolsRemoved: ["/chat"] }, "remote")).toBeUndefined();
    expect(table.agreed).toBe(before);
  });

  it("refuses a peer's alias beyond its lifetime alias budget, counting retired aliases but not re-bound ones", () => {
    const table = new CapabilityTable(chatLocal, chatRemote, { maxPeerAliases: 3 });
    const add = (alias: number): CapabilityUpdateInput => ({ ...none, protocolsAdded: [{ name: "/chat", versions: [1], alias }] });
    for (const alias of [10, 11]) {
      expect(table.check(add(alias), "remote")).toBeUndefined();
      table.apply(add(alias), "remote");
    }
    expect(table.check(add(9), "remote")).toBeUndefined();
    expect(table.check(add(12), "remote")).toMatch(/more than 3 protocol aliases/);
  });

  it("picks a never-used alias for a new local protocol even when the aliases wrapped past 2^32 - 1", () => {
    const table = new CapabilityTable(
      { capabilities: [], protocols: [{ name: "/top", versions: [1], alias: 0xffff_ffff }, { name: "/zero", versions: [1], alias: 0 }] },
      { capabilities: [], protocols: [] },
    );
    const update = table.plan({ addProtocols: [{ name: "/a", versions: [1] }, { name: "/b", versions: [1] }] });
    expect(update.protocolsAdded.map((p) => p.alias)).toEqual([1, 2]);
  });

  it("keeps the alias of a protocol this side still speaks and re-declares it with the new versions", () => {
    const table = new CapabilityTable(chatLocal, chatRemote);
    expect(table.plan({ addProtocols: [{ name: "/chat", versions: [1, 2] }] }).protocolsAdded).toEqual([{ name: "/chat", versions: [1, 2], alias: 5 }]);
  });

  it("refuses a plan that is not an object with INVALID_ARGUMENT", () => {
    const table = new CapabilityTable(chatLocal, chatRemote);
    throwsWithCode(() => table.plan(null as never), ErrorCode.INVALID_ARGUMENT);
    throwsWithCode(() => table.plan({ addProtocols: [null as never] }), ErrorCode.INVALID_ARGUMENT);
  });
});
