import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CapabilityUpdate, CapabilityUpdateSchema } from "../../generated/peerlink/v1/capability_pb.js";
import { FrameSchema } from "../../generated/peerlink/v1/frame_pb.js";
import { controlFrame } from "../../src/connection/connection-core.js";
import type { CapabilityChanges } from "../../src/connection/types.js";
import { ErrorCode } from "../../src/errors.js";
import { prefixWithLength } from "../../src/handshake/frame-bytes.js";
import type { CapabilitySpec, ChannelBindingInput, ProtocolSpec } from "../../src/handshake/types.js";
import { Identity } from "../../src/identity/identity.js";
import { DisconnectReason } from "../../src/reasons.js";
import { encodeDataFrame } from "../../src/wire/frame-encoder.js";
import { throwsWithCode } from "../helpers/error-code.js";
import { corePair, eventsOf, type CorePair, type CoreSide } from "./core-pair.js";

const alice = Identity.generate();
const bob = Identity.generate();
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const exporter = new Uint8Array(randomBytes(32));
const bindings: [string, ChannelBindingInput][] = [
  ["TLS", { type: "tls", exporter }],
  ["plain TCP", { type: "nonces" }],
];

interface Declared {
  readonly protocols?: readonly ProtocolSpec[];
  readonly capabilities?: readonly CapabilitySpec[];
}

/** Alice dials Bob; both speak /chat (alice alias 5, bob alias 9) unless told otherwise. The clock is `pair.now`. */
function openPair(dialer: Declared = {}, listener: Declared = {}, channel: ChannelBindingInput = { type: "nonces" }): CorePair {
  const secure = channel.type === "tls";
  const pair = corePair(
    { secure, handshake: { identity: alice, protocols: [{ name: "/chat", versions: [1], alias: 5 }], ...dialer } },
    { secure, handshake: { identity: bob, protocols: [{ name: "/chat", versions: [1], alias: 9 }], ...listener } },
    channel,
  );
  pair.pump();
  expect(pair.dialer.core.state).toBe("open");
  expect(pair.listener.core.state).toBe("open");
  return pair;
}

function update(pair: CorePair, s: CoreSide, changes: CapabilityChanges): void {
  pair.take(s, s.core.updateCapabilities(changes, pair.now));
}

function send(pair: CorePair, s: CoreSide, protocol: string, text: string): void {
  pair.take(s, s.core.send(protocol, enc(text), pair.now));
}

function received(s: CoreSide): string[][] {
  return eventsOf(s, "message").map((e) => [e.message.protocol, dec(e.message.data)]);
}

function protocolNames(s: CoreSide): string[] {
  return (s.core.agreed?.protocols ?? []).map((p) => p.name);
}

type UpdateInit = MessageInitShape<typeof CapabilityUpdateSchema>;

function updateFrame(value: UpdateInit): Uint8Array {
  return prefixWithLength(toBinary(FrameSchema, create(FrameSchema, { kind: { case: "capabilityUpdate", value } })));
}

describe.each(bindings)("a protocol added mid-connection over %s", (_name, binding) => {
  it("is agreed at once on the side that adds it when the peer already lists it, and carries messages both ways", () => {
    const pair = openPair({}, { protocols: [{ name: "/chat", versions: [1], alias: 9 }, { name: "/files", versions: [2, 3], alias: 3 }] }, binding);
    update(pair, pair.dialer, { addProtocols: [{ name: "/files", versions: [1, 2] }] });
    expect(pair.dialer.core.agreed?.protocols).toEqual([
      { name: "/chat", version: 1, localAlias: 5, remoteAlias: 9 },
      { name: "/files", version: 2, localAlias: 6, remoteAlias: 3 },
    ]);
    send(pair, pair.dialer, "/files", "report.pdf");
    pair.pump();
    expect(pair.listener.core.agreed?.protocols).toContainEqual({ name: "/files", version: 2, localAlias: 3, remoteAlias: 6 });
    expect(received(pair.listener)).toEqual([["/files", "report.pdf"]]);
    send(pair, pair.listener, "/files", "thanks");
    pair.pump();
    expect(received(pair.dialer)).toEqual([["/files", "thanks"]]);
    expect(pair.listener.core.stats.unknownProtocolFrames).toBe(0);
  });

  it("emits a capabilities event on both sides, local on the sender and remote on the receiver, before the raw control event", () => {
    const pair = openPair({}, { protocols: [{ name: "/chat", versions: [1], alias: 9 }, { name: "/files", versions: [1], alias: 3 }] }, binding);
    update(pair, pair.dialer, { addProtocols: [{ name: "/files", versions: [1] }] });
    pair.pump();
    const [mine] = eventsOf(pair.dialer, "capabilities");
    const [theirs] = eventsOf(pair.listener, "capabilities");
    expect(mine?.change.initiator).toBe("local");
    expect(mine?.change.protocols.map((p) => p.name)).toEqual(["/chat", "/files"]);
    expect(theirs?.change.initiator).toBe("remote");
    expect(theirs?.change.protocols.map((p) => p.name)).toEqual(["/chat", "/files"]);
    const kinds = pair.listener.events.filter((e) => e.type === "capabilities" || e.type === "control").map((e) => e.type);
    expect(kinds).toEqual(["capabilities", "control"]);
  });
});

describe("a protocol only one side has added", () => {
  it("is not agreed and send refuses it with UNKNOWN_PROTOCOL until the peer adds it too", () => {
    const pair = openPair();
    update(pair, pair.dialer, { addProtocols: [{ name: "/files", versions: [1] }] });
    pair.pump();
    expect(eventsOf(pair.dialer, "capabilities")).toEqual([]);
    expect(eventsOf(pair.listener, "capabilities")).toEqual([]);
    throwsWithCode(() => pair.dialer.core.send("/files", enc("x"), pair.now), ErrorCode.UNKNOWN_PROTOCOL);
    update(pair, pair.listener, { addProtocols: [{ name: "/files", versions: [1] }] });
    expect(protocolNames(pair.listener)).toEqual(["/chat", "/files"]);
    pair.pump();
    expect(protocolNames(pair.dialer)).toEqual(["/chat", "/files"]);
    expect(eventsOf(pair.dialer, "capabilities").map((e) => e.change.initiator)).toEqual(["remote"]);
  });

  it("without a common version is left out, and a later update with a common version agrees on it", () => {
    const pair = openPair({}, { protocols: [{ name: "/chat", versions: [1], alias: 9 }, { name: "/files", versions: [3], alias: 3 }] });
    update(pair, pair.dialer, { addProtocols: [{ name: "/files", versions: [1, 2] }] });
    expect(protocolNames(pair.dialer)).toEqual(["/chat"]);
    update(pair, pair.dialer, { addProtocols: [{ name: "/files", versions: [1, 2, 3] }] });
    expect(pair.dialer.core.agreed?.protocols[1]).toEqual({ name: "/files", version: 3, localAlias: 6, remoteAlias: 3 });
  });
});

describe("a protocol removed mid-connection", () => {
  it("is refused by send on both sides with UNKNOWN_PROTOCOL", () => {
    const pair = openPair();
    update(pair, pair.dialer, { removeProtocols: ["/chat"] });
    expect(pair.dialer.core.agreed?.protocols).toEqual([]);
    throwsWithCode(() => pair.dialer.core.send("/chat", enc("x"), pair.now), ErrorCode.UNKNOWN_PROTOCOL);
    pair.pump();
    expect(eventsOf(pair.listener, "capabilities")[0]?.change).toEqual({ capabilities: [], protocols: [], initiator: "remote" });
    throwsWithCode(() => pair.listener.core.send("/chat", enc("x"), pair.now), ErrorCode.UNKNOWN_PROTOCOL);
  });

  it("drops and counts the peer's messages sent before the peer read the removal", () => {
    const pair = openPair();
    update(pair, pair.dialer, { removeProtocols: ["/chat"] });
    send(pair, pair.listener, "/chat", "in flight"); // the listener has not read the removal yet
    pair.pump();
    expect(received(pair.dialer)).toEqual([]);
    expect(pair.dialer.core.stats.unknownProtocolFrames).toBe(1);
    expect(pair.dialer.core.state).toBe("open");
  });

  it("retires the sender's alias: Data on it is dropped and counted by the receiver", () => {
    const pair = openPair();
    update(pair, pair.dialer, { removeProtocols: ["/chat"] });
    pair.pump();
    pair.take(pair.listener, pair.listener.core.receive(encodeDataFrame(5, enc("stale")), pair.now));
    expect(received(pair.listener)).toEqual([]);
    expect(pair.listener.core.stats.unknownProtocolFrames).toBe(1);
    expect(pair.listener.core.state).toBe("open");
  });

  it("gets a new alias when this side adds it again, never the retired one", () => {
    const pair = openPair();
    update(pair, pair.dialer, { removeProtocols: ["/chat"] });
    update(pair, pair.dialer, { addProtocols: [{ name: "/chat", versions: [1] }] });
    pair.pump();
    expect(pair.dialer.core.agreed?.protocols).toEqual([{ name: "/chat", version: 1, localAlias: 6, remoteAlias: 9 }]);
    pair.take(pair.listener, pair.listener.core.receive(encodeDataFrame(5, enc("old alias")), pair.now));
    send(pair, pair.dialer, "/chat", "new alias");
    pair.pump();
    expect(received(pair.listener)).toEqual([["/chat", "new alias"]]);
    expect(pair.listener.core.stats.unknownProtocolFrames).toBe(1);
  });
});

describe("re-adding a protocol this side still speaks", () => {
  it("keeps its alias and changes the agreed version", () => {
    const pair = openPair({ protocols: [{ name: "/chat", versions: [1, 2], alias: 5 }] }, { protocols: [{ name: "/chat", versions: [1, 2], alias: 9 }] });
    expect(pair.dialer.core.agreed?.protocols[0]?.version).toBe(2);
    update(pair, pair.dialer, { addProtocols: [{ name: "/chat", versions: [1] }] });
    pair.pump();
    expect(pair.dialer.core.agreed?.protocols).toEqual([{ name: "/chat", version: 1, localAlias: 5, remoteAlias: 9 }]);
    expect(pair.listener.core.agreed?.protocols).toEqual([{ name: "/chat", version: 1, localAlias: 9, remoteAlias: 5 }]);
  });
});

describe("a peer that moves a protocol to a new alias", () => {
  it("retires the old alias and delivers on the new one", () => {
    const pair = openPair();
    pair.take(pair.listener, pair.listener.core.receive(updateFrame({ protocolsAdded: [{ name: "/chat", versions: [1], alias: 77 }] }), pair.now));
    expect(pair.listener.core.agreed?.protocols).toEqual([{ name: "/chat", version: 1, localAlias: 9, remoteAlias: 77 }]);
    pair.take(pair.listener, pair.listener.core.receive(encodeDataFrame(5, enc("old")), pair.now));
    pair.take(pair.listener, pair.listener.core.receive(encodeDataFrame(77, enc("new")), pair.now));
    expect(received(pair.listener)).toEqual([["/chat", "new"]]);
    expect(pair.listener.core.stats.unknownProtocolFrames).toBe(1);
  });

  it("may bind the protocol back to its own retired alias", () => {
    const pair = openPair();
    for (const alias of [77, 5]) {
      pair.take(pair.listener, pair.listener.core.receive(updateFrame({ protocolsAdded: [{ name: "/chat", versions: [1], alias }] }), pair.now));
    }
    expect(pair.listener.core.state).toBe("open");
    expect(pair.listener.core.agreed?.protocols[0]?.remoteAlias).toBe(5);
  });
});

describe("capabilities changed mid-connection", () => {
  it("are agreed when both sides list them, at the lower version, sorted by name, and dropped when one removes them", () => {
    const pair = openPair({ capabilities: [{ name: "zeta", version: 1 }] }, { capabilities: [{ name: "zeta", version: 1 }, { name: "compress", version: 2 }] });
    expect(pair.dialer.core.agreed?.capabilities).toEqual([{ name: "zeta", version: 1 }]);
    update(pair, pair.dialer, { addCapabilities: [{ name: "compress", version: 5 }] });
    pair.pump();
    const both = [
      { name: "compress", version: 2 },
      { name: "zeta", version: 1 },
    ];
    expect(pair.dialer.core.agreed?.capabilities).toEqual(both);
    expect(pair.listener.core.agreed?.capabilities).toEqual(both);
    update(pair, pair.listener, { removeCapabilities: ["zeta"] });
    pair.pump();
    expect(pair.dialer.core.agreed?.capabilities).toEqual([{ name: "compress", version: 2 }]);
    expect(eventsOf(pair.dialer, "capabilities").map((e) => [e.change.initiator, e.change.capabilities.length])).toEqual([
      ["local", 2],
      ["remote", 1],
    ]);
  });

  it("treat a required flag in an update as false: the peer may remove such a capability later", () => {
    const pair = openPair({ capabilities: [{ name: "compress", version: 1 }] });
    const added = updateFrame({ added: [{ name: "compress", version: 1, required: true }] });
    pair.take(pair.dialer, pair.dialer.core.receive(added, pair.now));
    expect(pair.dialer.core.agreed?.capabilities).toEqual([{ name: "compress", version: 1 }]);
    pair.take(pair.dialer, pair.dialer.core.receive(updateFrame({ removed: ["compress"] }), pair.now));
    expect(pair.dialer.core.state).toBe("open");
    expect(pair.dialer.core.agreed?.capabilities).toEqual([]);
  });

  it("that a Hello required cannot be removed by this side (INVALID_ARGUMENT, nothing sent)", () => {
    const pair = openPair({ capabilities: [{ name: "auth2", version: 1 }] }, { capabilities: [{ name: "auth2", version: 1, required: true }] });
    const framesOut = pair.dialer.core.stats.framesOut;
    throwsWithCode(() => pair.dialer.core.updateCapabilities({ removeCapabilities: ["auth2"] }, pair.now), ErrorCode.INVALID_ARGUMENT);
    expect(pair.dialer.core.stats.framesOut).toBe(framesOut);
    expect(pair.dialer.core.agreed?.capabilities).toEqual([{ name: "auth2", version: 1 }]);
  });
});

describe("sending an update", () => {
  it("writes one CapabilityUpdate frame with the assigned aliases and no required flag", () => {
    const pair = openPair();
    const actions = pair.dialer.core.updateCapabilities(
      { addCapabilities: [{ name: "c", version: 2 }], removeCapabilities: ["d"], addProtocols: [{ name: "/a", versions: [1] }, { name: "/b", versions: [2] }], removeProtocols: ["/z"] },
      pair.now,
    );
    pair.take(pair.dialer, actions);
    expect(actions.filter((a) => a.type === "write")).toHaveLength(1);
    pair.pump();
    const control = eventsOf(pair.listener, "control")[0]?.frame.kind;
    expect(control?.case).toBe("capabilityUpdate");
    const value = control?.value as CapabilityUpdate;
    expect(value.added.map((c) => [c.name, c.version, c.required])).toEqual([["c", 2, false]]);
    expect(value.removed).toEqual(["d"]);
    expect(value.protocolsAdded.map((p) => [p.name, p.versions, p.alias])).toEqual([
      ["/a", [1], 6],
      ["/b", [2], 7],
    ]);
    expect(value.protocolsRemoved).toEqual(["/z"]);
  });

  it("with nothing in it writes nothing", () => {
    const pair = openPair();
    expect(pair.dialer.core.updateCapabilities({}, pair.now)).toEqual([]);
  });

  it.each<[string, CapabilityChanges]>([
    ["an empty protocol name", { addProtocols: [{ name: "", versions: [1] }] }],
    ["a 129-byte protocol name", { addProtocols: [{ name: "p".repeat(129), versions: [1] }] }],
    ["a protocol without versions", { addProtocols: [{ name: "/a", versions: [] }] }],
    ["a negative version", { addProtocols: [{ name: "/a", versions: [-1] }] }],
    ["the same protocol twice", { addProtocols: [{ name: "/a", versions: [1] }, { name: "/a", versions: [2] }] }],
    ["a 65-byte capability name", { addCapabilities: [{ name: "c".repeat(65), version: 1 }] }],
    ["a fractional capability version", { addCapabilities: [{ name: "c", version: 1.5 }] }],
    ["257 capabilities", { addCapabilities: Array.from({ length: 257 }, (_, i) => ({ name: `c${i}`, version: 1 })) }],
    ["256 more protocols than the limit allows", { addProtocols: Array.from({ length: 256 }, (_, i) => ({ name: `/p${i}`, versions: [1] })) }],
    ["a list that is not an array", { removeProtocols: "/chat" as never }],
  ])("with %s throws INVALID_ARGUMENT and changes nothing", (_what, changes) => {
    const pair = openPair();
    const framesOut = pair.dialer.core.stats.framesOut;
    const before = pair.dialer.core.agreed;
    throwsWithCode(() => pair.dialer.core.updateCapabilities(changes, pair.now), ErrorCode.INVALID_ARGUMENT);
    expect(pair.dialer.core.stats.framesOut).toBe(framesOut);
    expect(pair.dialer.core.agreed).toBe(before);
    // The next fresh alias was not consumed either.
    update(pair, pair.dialer, { addProtocols: [{ name: "/next", versions: [1] }] });
    pair.pump();
    const sent = eventsOf(pair.listener, "control")[0]?.frame.kind.value as CapabilityUpdate;
    expect(sent.protocolsAdded[0]?.alias).toBe(6);
  });

  it("larger than the maximum frame size throws FRAME_TOO_LARGE and changes nothing", () => {
    const pair = corePair(
      { secure: false, maxFrameSize: 200, handshake: { identity: alice, protocols: [{ name: "/chat", versions: [1], alias: 5 }] } },
      { secure: false, handshake: { identity: bob, protocols: [{ name: "/chat", versions: [1], alias: 9 }] } },
      { type: "nonces" },
    );
    pair.pump();
    expect(pair.dialer.core.state).toBe("open");
    throwsWithCode(() => pair.dialer.core.updateCapabilities({ removeProtocols: ["/chat"], addCapabilities: [{ name: "x".repeat(64), version: 1 }, { name: "y".repeat(64), version: 1 }, { name: "z".repeat(64), version: 1 }] }, pair.now), ErrorCode.FRAME_TOO_LARGE);
    expect(protocolNames(pair.dialer)).toEqual(["/chat"]);
  });

  it("before open or after close throws CONNECTION_CLOSED", () => {
    const pair = corePair({ secure: false, handshake: { identity: alice } }, { secure: false, handshake: { identity: bob } }, { type: "nonces" });
    throwsWithCode(() => pair.dialer.core.updateCapabilities({ removeProtocols: ["/chat"] }, pair.now), ErrorCode.CONNECTION_CLOSED);
    pair.pump();
    pair.take(pair.dialer, pair.dialer.core.close(DisconnectReason.NORMAL, {}, pair.now));
    throwsWithCode(() => pair.dialer.core.updateCapabilities({ removeProtocols: ["/chat"] }, pair.now), ErrorCode.CONNECTION_CLOSED);
  });

  it("through sendControl applies the frame's aliases to this side's view as well", () => {
    const pair = openPair({}, { protocols: [{ name: "/chat", versions: [1], alias: 9 }, { name: "/raw", versions: [1], alias: 4 }] });
    const frame = controlFrame({ kind: { case: "capabilityUpdate", value: { protocolsAdded: [{ name: "/raw", versions: [1], alias: 40 }] } } });
    pair.take(pair.dialer, pair.dialer.core.sendControl(frame, pair.now));
    expect(pair.dialer.core.agreed?.protocols).toContainEqual({ name: "/raw", version: 1, localAlias: 40, remoteAlias: 4 });
    send(pair, pair.dialer, "/raw", "via raw");
    pair.pump();
    expect(received(pair.listener)).toEqual([["/raw", "via raw"]]);
    // The connection's own next alias skips the one the raw frame used.
    update(pair, pair.dialer, { addProtocols: [{ name: "/next", versions: [1] }] });
    pair.pump();
    const sent = eventsOf(pair.listener, "control")[1]?.frame.kind.value as CapabilityUpdate;
    expect(sent.protocolsAdded[0]?.alias).toBe(41);
  });

  it("through sendControl that reuses an alias for another protocol throws INVALID_ARGUMENT", () => {
    const pair = openPair();
    const frame = controlFrame({ kind: { case: "capabilityUpdate", value: { protocolsAdded: [{ name: "/other", versions: [1], alias: 5 }] } } });
    throwsWithCode(() => pair.dialer.core.sendControl(frame, pair.now), ErrorCode.INVALID_ARGUMENT);
    expect(pair.dialer.core.stats.framesOut).toBe(2);
  });
});

describe("a CapabilityUpdate that breaks the rules", () => {
  const long = (n: number) => "x".repeat(n);
  it.each<[string, UpdateInit]>([
    ["an alias already bound to another protocol", { protocolsAdded: [{ name: "/other", versions: [1], alias: 5 }] }],
    ["the same alias twice", { protocolsAdded: [{ name: "/a", versions: [1], alias: 20 }, { name: "/b", versions: [1], alias: 20 }] }],
    ["the same protocol twice", { protocolsAdded: [{ name: "/a", versions: [1], alias: 20 }, { name: "/a", versions: [1], alias: 21 }] }],
    ["the same capability twice", { added: [{ name: "c", version: 1 }, { name: "c", version: 2 }] }],
    ["a 129-byte protocol name", { protocolsAdded: [{ name: long(129), versions: [1], alias: 20 }] }],
    ["an empty protocol name", { protocolsAdded: [{ name: "", versions: [1], alias: 20 }] }],
    ["a 65-byte capability name", { added: [{ name: long(65), version: 1 }] }],
    ["a 129-byte removed protocol name", { protocolsRemoved: [long(129)] }],
    ["257 added capabilities", { added: Array.from({ length: 257 }, (_, i) => ({ name: `c${i}`, version: 1 })) }],
    ["257 versions of a protocol", { protocolsAdded: [{ name: "/a", versions: Array.from({ length: 257 }, (_, i) => i), alias: 20 }] }],
    ["257 protocols in total", { protocolsAdded: Array.from({ length: 256 }, (_, i) => ({ name: `/p${i}`, versions: [1], alias: 100 + i })) }],
    ["the removal of a capability the receiver required", { removed: ["must"] }],
  ])("with %s is a PROTOCOL_VIOLATION: Goodbye, closing, closed after the failure linger", (_what, value) => {
    const pair = openPair({ capabilities: [{ name: "must", version: 1 }] }, { capabilities: [{ name: "must", version: 1, required: true }] });
    pair.now = 5_000;
    pair.take(pair.listener, pair.listener.core.receive(updateFrame(value), pair.now));
    expect(pair.listener.core.closeInfo?.error?.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    expect(pair.listener.core.closeInfo?.reason).toBe(DisconnectReason.PROTOCOL_VIOLATION);
    expect(pair.listener.core.state).toBe("closing");
    expect(eventsOf(pair.listener, "capabilities")).toEqual([]);
    expect(eventsOf(pair.listener, "control")).toEqual([]);
    expect(pair.listener.core.agreed?.protocols.map((p) => p.remoteAlias)).toEqual([5]);
    // The dialer stays silent (a peer that ignores the Goodbye): the listener gives up after the 1 s linger.
    expect(pair.listener.core.nextDeadline()).toBe(6_000);
    expect(pair.listener.core.tick(5_999)).toEqual([]);
    pair.take(pair.listener, pair.listener.core.tick(6_000));
    expect(pair.listener.core.state).toBe("closed");
    expect(pair.listener.destroyed).toBe(true);
  });

  it("reusing a retired alias for another protocol is a PROTOCOL_VIOLATION the peer learns from the Goodbye", () => {
    const pair = openPair();
    pair.take(pair.listener, pair.listener.core.receive(updateFrame({ protocolsRemoved: ["/chat"] }), pair.now));
    expect(pair.listener.core.state).toBe("open");
    pair.take(pair.listener, pair.listener.core.receive(updateFrame({ protocolsAdded: [{ name: "/files", versions: [1], alias: 5 }] }), pair.now));
    expect(pair.listener.core.closeInfo?.error?.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    pair.pump();
    expect(eventsOf(pair.dialer, "goodbye")[0]?.goodbye.reason).toBe(DisconnectReason.PROTOCOL_VIOLATION);
    expect(pair.dialer.core.state).toBe("closed");
    expect(pair.listener.core.state).toBe("closed");
  });

  it("removing names the sender never listed is not an error", () => {
    const pair = openPair();
    pair.take(pair.listener, pair.listener.core.receive(updateFrame({ removed: ["nope"], protocolsRemoved: ["/nope"] }), pair.now));
    expect(pair.listener.core.state).toBe("open");
    expect(eventsOf(pair.listener, "capabilities")).toEqual([]);
    expect(eventsOf(pair.listener, "control")).toHaveLength(1);
  });
});

describe("the agreed sets at open", () => {
  it("equal the handshake result on both sides", () => {
    const pair = openPair(
      { capabilities: [{ name: "a", version: 3 }, { name: "b", version: 1 }], protocols: [{ name: "/chat", versions: [1, 2], alias: 5 }, { name: "/x", versions: [1], alias: 6 }] },
      { capabilities: [{ name: "a", version: 2 }], protocols: [{ name: "/chat", versions: [2], alias: 9 }] },
    );
    for (const s of [pair.dialer, pair.listener]) {
      expect(s.core.agreed).toEqual({ capabilities: s.core.result?.capabilities, protocols: s.core.result?.protocols });
    }
  });
});
