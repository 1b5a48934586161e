import { describe, expect, it } from "vitest";
import net from "node:net";
import { ErrorCode } from "../../src/errors.js";
import { classifyEarlyClose, isCertificateRejectedAlert, tlsFailed } from "../../src/transport/early-close.js";
import type { SecureChannel } from "../../src/transport/types.js";

function channel(secure: boolean, direction: "inbound" | "outbound"): SecureChannel {
  return {
    socket: new net.Socket(),
    direction,
    secure,
    tlsExporter: secure ? new Uint8Array(32) : undefined,
    sessionReused: false,
    certificateBinding: false,
    peerCertificateKey: undefined,
    ownCertificateKey: undefined,
    remoteAddress: "127.0.0.1",
    remotePort: 4001,
    localAddress: "127.0.0.1",
    localPort: 50000,
  };
}

const alert = (code: string): Error => Object.assign(new Error(code.toLowerCase()), { code });
const reset = (): Error => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });

describe("a channel that closes before the peer's Hello", () => {
  it.each(["outbound", "inbound"] as const)("is an AUTHENTICATION_FAILED from the peer when secure (%s)", (direction) => {
    const error = classifyEarlyClose(channel(true, direction));
    expect(error.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(error.initiator).toBe("remote");
  });

  it("is an AUTHENTICATION_FAILED when secure and reset, keeping the cause", () => {
    const cause = reset();
    const error = classifyEarlyClose(channel(true, "outbound"), cause);
    expect(error.code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(error.cause).toBe(cause);
  });

  it("is a CONNECTION_CLOSED from the peer when outbound and nothing arrived since our TLS finished (the listener's TLS was unfinished)", () => {
    const dropped = { ...channel(true, "outbound"), receivedSinceSecure: () => 0 };
    const error = classifyEarlyClose(dropped, reset());
    expect(error.code).toBe(ErrorCode.CONNECTION_CLOSED);
    expect(error.initiator).toBe("remote");
    expect(error.message).toMatch(/before finishing its side of the TLS handshake/);
  });

  it("stays an AUTHENTICATION_FAILED when outbound and the listener sent bytes after our TLS finished (tickets, close_notify)", () => {
    const judged = { ...channel(true, "outbound"), receivedSinceSecure: () => 24 };
    expect(classifyEarlyClose(judged).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
    expect(classifyEarlyClose(judged, reset()).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("stays an AUTHENTICATION_FAILED when inbound, whatever arrived since TLS (a dialer sends nothing between its Finished and its Hello)", () => {
    const inbound = { ...channel(true, "inbound"), receivedSinceSecure: () => 0 };
    expect(classifyEarlyClose(inbound).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it("is a CONNECTION_CLOSED on plain TCP", () => {
    expect(classifyEarlyClose(channel(false, "outbound"), reset()).code).toBe(ErrorCode.CONNECTION_CLOSED);
  });

  it("is an AUTHENTICATION_FAILED on plain TCP only for a certificate alert (never happens without TLS, but is consistent)", () => {
    expect(classifyEarlyClose(channel(false, "outbound"), alert("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA")).code).toBe(
      ErrorCode.AUTHENTICATION_FAILED,
    );
  });
});

describe("TLS errors during the handshake", () => {
  it.each([
    "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
    "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
    "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED",
  ])("map the received alert %s to AUTHENTICATION_FAILED", (code) => {
    expect(isCertificateRejectedAlert(alert(code))).toBe(true);
    expect(tlsFailed("dial", alert(code)).code).toBe(ErrorCode.AUTHENTICATION_FAILED);
  });

  it.each(["ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION", "ECONNRESET", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"])(
    "map %s to TLS_FAILED",
    (code) => {
      expect(tlsFailed("dial", alert(code)).code).toBe(ErrorCode.TLS_FAILED);
    },
  );
});
