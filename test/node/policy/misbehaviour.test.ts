/**
 * The sans-IO misbehaviour policy on a fake clock, over a real peer database (the owner of strikes and
 * ban offences): which failures count and against whom, the window, the threshold, the doubling ban
 * capped, and a pardon that clears strikes.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, PeerlinkError } from "../../../src/errors.js";
import { Identity } from "../../../src/identity/identity.js";
import { checkManagerOptions } from "../../../src/manager/manager-options.js";
import { PeerDatabase } from "../../../src/peers/peer-database.js";
import { MemoryPeerStore } from "../../../src/peers/peer-store.js";
import { StrikeLedger } from "../../../src/peers/strike-ledger.js";
import { describeEvidence, MisbehaviourPolicy, violationOfClose, violationOfHandshake, type Violation } from "../../../src/node/policy/misbehaviour.js";
import { DisconnectReason } from "../../../src/reasons.js";

const SETTINGS = { strikes: 3, windowMs: 60_000, banMs: 600_000, maxBanMs: 2_400_000 };
const peer = Identity.generate().peerId.toString();

function database(): PeerDatabase {
  return new PeerDatabase({ store: new MemoryPeerStore() });
}

const fromIp = (ip: string, code: string = ErrorCode.AUTHENTICATION_FAILED): Violation => ({ subject: { ip }, code, detail: "bad proof", address: `${ip}:4000` });
const fromPeer = (code: string = ErrorCode.RATE_LIMITED): Violation => ({ subject: { peerId: peer }, code, detail: "flood" });

describe("which failures are violations", () => {
  it("counts this node's verdicts on frames, proofs and rates; never timeouts, closes, TLS failures or the peer's own verdicts", () => {
    const local = (code: ErrorCode): PeerlinkError => new PeerlinkError(code, "x", { initiator: "local" });
    for (const code of [ErrorCode.AUTHENTICATION_FAILED, ErrorCode.PROTOCOL_VIOLATION, ErrorCode.MALFORMED_FRAME, ErrorCode.FRAME_TOO_LARGE]) {
      expect(violationOfHandshake("10.0.0.1", "10.0.0.1:1", local(code))).toMatchObject({ subject: { ip: "10.0.0.1" }, code });
    }
    for (const code of [ErrorCode.HANDSHAKE_TIMEOUT, ErrorCode.TLS_FAILED, ErrorCode.CONNECTION_CLOSED, ErrorCode.PROTOCOL_MISMATCH]) {
      expect(violationOfHandshake("10.0.0.1", "10.0.0.1:1", local(code))).toBeUndefined();
    }
    // The dialer rejected us, or closed before its Hello: its verdict, not its misbehaviour.
    const remote = new PeerlinkError(ErrorCode.AUTHENTICATION_FAILED, "x", { initiator: "remote" });
    expect(violationOfHandshake("10.0.0.1", "10.0.0.1:1", remote)).toBeUndefined();

    const close = (reason: DisconnectReason, initiator: "local" | "remote", code?: ErrorCode) => ({
      reason,
      initiator,
      error: code === undefined ? undefined : new PeerlinkError(code, "why", { initiator }),
    });
    expect(violationOfClose(peer, "a:1", close(DisconnectReason.RATE_LIMITED, "local", ErrorCode.RATE_LIMITED))).toMatchObject({ subject: { peerId: peer }, code: ErrorCode.RATE_LIMITED, detail: "why" });
    expect(violationOfClose(peer, "a:1", close(DisconnectReason.PROTOCOL_VIOLATION, "local", ErrorCode.MALFORMED_FRAME))).toMatchObject({ code: ErrorCode.MALFORMED_FRAME });
    expect(violationOfClose(peer, "a:1", close(DisconnectReason.PROTOCOL_VIOLATION, "remote", ErrorCode.PROTOCOL_VIOLATION))).toBeUndefined();
    expect(violationOfClose(peer, "a:1", close(DisconnectReason.TIMEOUT, "local", ErrorCode.TIMEOUT))).toBeUndefined();
    expect(violationOfClose(peer, "a:1", close(DisconnectReason.NORMAL, "local"))).toBeUndefined();
  });
});

describe("MisbehaviourPolicy on a fake clock", () => {
  it("bans at the threshold within the window, not before, and only violations inside the window count", () => {
    const db = database();
    const policy = new MisbehaviourPolicy(SETTINGS);
    let now = 1_000_000;
    expect(policy.onViolation(db, fromIp("10.0.0.1"), now)).toBeUndefined();
    now += 59_999;
    expect(policy.onViolation(db, fromIp("10.0.0.1"), now)).toBeUndefined();
    now += 2; // the first strike left the window
    expect(policy.onViolation(db, fromIp("10.0.0.1"), now)).toBeUndefined();
    expect(db.strikesOf({ ip: "10.0.0.1" }, now - 60_000)).toHaveLength(2);
    const ban = policy.onViolation(db, fromIp("10.0.0.1", ErrorCode.MALFORMED_FRAME), now + 1);
    expect(ban).toMatchObject({ target: { ip: "10.0.0.1" }, durationMs: 600_000 });
    expect(ban!.evidence).toMatchObject({ windowMs: 60_000, threshold: 3, offence: 1 });
    expect(ban!.evidence.strikes.map((s) => s.code)).toEqual([ErrorCode.AUTHENTICATION_FAILED, ErrorCode.AUTHENTICATION_FAILED, ErrorCode.MALFORMED_FRAME]);
    expect(ban!.reason).toBe("automatic ban (offence 1, 600 s): 3 violations within 60 s: AUTHENTICATION_FAILED ×2, MALFORMED_FRAME ×1");
    // The ban consumed its evidence.
    expect(db.strikesOf({ ip: "10.0.0.1" }, 0)).toEqual([]);
    // Another source is counted apart.
    expect(db.strikesOf({ ip: "10.0.0.2" }, 0)).toEqual([]);
  });

  it("doubles the ban of a repeat offender up to the cap, while the ban list remembers its offences", () => {
    const db = database();
    const policy = new MisbehaviourPolicy(SETTINGS);
    let now = 5_000_000;
    const durations: number[] = [];
    for (let round = 0; round < 5; round++) {
      let ban;
      for (let i = 0; i < 3; i++) ban = policy.onViolation(db, fromPeer(), now + i);
      expect(ban?.evidence.offence).toBe(round + 1);
      durations.push(ban!.durationMs);
      // The node issues it; the ban list counts the offence.
      db.ban(ban!.target, now, { reason: ban!.reason, durationMs: ban!.durationMs });
      now += ban!.durationMs + 1;
    }
    expect(durations).toEqual([600_000, 1_200_000, 2_400_000, 2_400_000, 2_400_000]);
  });

  it("a pardon (unban) clears the strikes and the offences: the next pattern starts from the base again", () => {
    const db = database();
    const policy = new MisbehaviourPolicy(SETTINGS);
    const now = 9_000_000;
    for (let i = 0; i < 3; i++) policy.onViolation(db, fromPeer(), now);
    db.ban({ peerId: peer }, now, { reason: "auto", durationMs: 600_000 });
    policy.onViolation(db, fromPeer(), now + 1);
    policy.onViolation(db, fromPeer(), now + 2);
    expect(db.strikesOf({ peerId: peer }, 0)).toHaveLength(2);
    db.unban({ peerId: peer });
    expect(db.strikesOf({ peerId: peer }, 0)).toEqual([]);
    expect(db.banOffences({ peerId: peer }, now)).toBe(0);
    expect(policy.onViolation(db, fromPeer(), now + 3)).toBeUndefined();
    expect(policy.onViolation(db, fromPeer(), now + 4)).toBeUndefined();
    expect(policy.onViolation(db, fromPeer(), now + 5)?.durationMs).toBe(600_000);
  });

  it("words the evidence in one line", () => {
    const strikes = [
      { at: 1, code: "RATE_LIMITED", detail: "" },
      { at: 2, code: "RATE_LIMITED", detail: "" },
    ];
    expect(describeEvidence({ strikes, windowMs: 600_000, threshold: 2, offence: 3 }, 2_400_000)).toBe(
      "automatic ban (offence 3, 2400 s): 2 violations within 600 s: RATE_LIMITED ×2",
    );
  });
});

describe("StrikeLedger bounds", () => {
  it("keeps at most maxPerSubject strikes per subject and maxSubjects subjects, forgetting the least recently struck", () => {
    const ledger = new StrikeLedger(3, 2);
    for (let i = 0; i < 5; i++) ledger.add("ip:a", { at: i, code: "X", detail: "d".repeat(500) }, 0);
    expect(ledger.get("ip:a", 0).map((s) => s.at)).toEqual([3, 4]);
    expect(ledger.get("ip:a", 0)[0]!.detail).toHaveLength(120);
    ledger.add("ip:b", { at: 10, code: "X", detail: "" }, 0);
    ledger.add("ip:c", { at: 11, code: "X", detail: "" }, 0);
    ledger.add("ip:a", { at: 12, code: "X", detail: "" }, 0); // a is now the most recent
    ledger.add("ip:d", { at: 13, code: "X", detail: "" }, 0); // b goes
    expect(ledger.size).toBe(3);
    expect(ledger.get("ip:b", 0)).toEqual([]);
    expect(ledger.get("ip:a", 0)).toHaveLength(2);
  });
});

describe("misbehaviour options", () => {
  it("are validated in the manager's one pass, every problem named", () => {
    expect(checkManagerOptions({ misbehaviour: {} })).toEqual([]);
    expect(checkManagerOptions({ misbehaviour: { inboundRate: false, autoBan: false } })).toEqual([]);
    const problems = checkManagerOptions({
      misbehaviour: {
        inboundRate: { messageBurst: 0, pingsPerSecond: -1, retryAfterMs: 1.5, bogus: 1 },
        autoBan: { strikes: 65, banMs: 10, maxBanMs: 5 },
        extra: true,
      },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        "unknown option misbehaviour.extra",
        "unknown option misbehaviour.inboundRate.bogus",
        expect.stringMatching(/^misbehaviour\.inboundRate\.messageBurst must be/),
        expect.stringMatching(/^misbehaviour\.inboundRate\.pingsPerSecond must be/),
        expect.stringMatching(/^misbehaviour\.inboundRate\.retryAfterMs must be/),
        expect.stringMatching(/^misbehaviour\.autoBan\.strikes must be an integer in \[1, 64\]/),
        "misbehaviour.autoBan.banMs (10) must be <= misbehaviour.autoBan.maxBanMs (5)",
      ]),
    );
    expect(checkManagerOptions({ misbehaviour: { autoBan: { maxBanMs: 60_000 } } })).toEqual([]);
  });
});
